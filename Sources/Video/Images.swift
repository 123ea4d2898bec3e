// Plain Swift pictures: 8-bit RGB frames and 8-bit grey masks, row-major, no FFmpeg types.

/// An 8-bit RGB picture, `pixels` is H×W×3 row-major (red, green, blue per pixel).
public struct RGBImage: Equatable, Sendable {
    public var width: Int
    public var height: Int
    /// H×W×3 bytes, row-major.
    public var pixels: [UInt8]

    /// A picture filled with one colour.
    public init(width: Int, height: Int, fill: (UInt8, UInt8, UInt8) = (0, 0, 0)) {
        self.width = max(0, width)
        self.height = max(0, height)
        var p = [UInt8](repeating: 0, count: self.width * self.height * 3)
        for i in stride(from: 0, to: p.count, by: 3) { p[i] = fill.0; p[i + 1] = fill.1; p[i + 2] = fill.2 }
        pixels = p
    }

    /// Wraps H×W×3 bytes; throws when the count does not match the size.
    public init(width: Int, height: Int, pixels: [UInt8]) throws {
        guard width > 0, height > 0, pixels.count == width * height * 3 else {
            throw VideoError(.invalidArgument, path: "RGBImage",
                             "\(pixels.count) bytes do not make a \(width)×\(height)×3 picture")
        }
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    init(width: Int, height: Int, unchecked pixels: [UInt8]) {
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// The (r, g, b) at column x, row y (no bounds check beyond the array's own).
    public subscript(x: Int, y: Int) -> (UInt8, UInt8, UInt8) {
        let i = (y * width + x) * 3
        return (pixels[i], pixels[i + 1], pixels[i + 2])
    }

    /// The picture turned clockwise by 0, 90, 180 or 270 degrees (other angles round to the nearest): the EXIF
    /// orientations 1, 6, 3 and 8 (Orientation.swift).
    public func rotated(clockwise degrees: Int) -> RGBImage {
        let quarter = ((Int((Double(degrees) / 90).rounded()) % 4) + 4) % 4
        return oriented(exif: [1, 6, 3, 8][quarter])
    }
}

/// An 8-bit grey picture, `pixels` is H×W row-major; masks hold 0 and 255.
public struct GrayImage: Equatable, Sendable {
    public var width: Int
    public var height: Int
    /// H×W bytes, row-major.
    public var pixels: [UInt8]

    /// A picture filled with one value.
    public init(width: Int, height: Int, fill: UInt8 = 0) {
        self.width = max(0, width)
        self.height = max(0, height)
        pixels = [UInt8](repeating: fill, count: self.width * self.height)
    }

    /// Wraps H×W bytes; throws when the count does not match the size.
    public init(width: Int, height: Int, pixels: [UInt8]) throws {
        guard width > 0, height > 0, pixels.count == width * height else {
            throw VideoError(.invalidArgument, path: "GrayImage",
                             "\(pixels.count) bytes do not make a \(width)×\(height) picture")
        }
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// A 0/255 mask from H×W booleans (or any values: nonzero → 255).
    public static func mask(width: Int, height: Int, _ inside: (Int, Int) -> Bool) -> GrayImage {
        var m = GrayImage(width: width, height: height)
        for y in 0..<m.height { for x in 0..<m.width where inside(x, y) { m.pixels[y * width + x] = 255 } }
        return m
    }

    /// The value at column x, row y.
    public subscript(x: Int, y: Int) -> UInt8 { pixels[y * width + x] }
}

/// The largest side the module accepts, in pixels (declared or requested).
public let maximumSide = 16384
