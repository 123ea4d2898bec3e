// PixelMask: the project's one binary mask type — ground truth read by the dataset readers, predictions scored
// by the evaluation runner, targets padded by training. Row-major, one byte a pixel, 0 or 1.

/// A binary mask of `height` rows and `width` columns, row-major, one byte per pixel (0 or 1).
///
///     var m = PixelMask(width: 4, height: 2)
///     m[1, 3] = 1                              // row 1, column 3
///     m.area                                   // 1
public struct PixelMask: Equatable, Sendable {
    public private(set) var width: Int
    public private(set) var height: Int
    /// `height * width` values, 0 or 1, row by row.
    public var pixels: [UInt8]

    /// An all-zero mask of the given size (negative sizes count as 0).
    public init(width: Int, height: Int) {
        self.width = max(0, width)
        self.height = max(0, height)
        self.pixels = [UInt8](repeating: 0, count: self.width * self.height)
    }

    /// A mask from row-major values (anything non-zero becomes 1); `pixels` must hold height × width values.
    public init(width: Int, height: Int, pixels: [UInt8]) throws {
        guard width >= 0, height >= 0, width.multipliedReportingOverflow(by: height).overflow == false else {
            throw RLEError.badSize(height: height, width: width)
        }
        guard pixels.count == width * height else {
            throw RLEError.maskSize(count: pixels.count, height: height, width: width)
        }
        self.width = width
        self.height = height
        self.pixels = pixels.contains { $0 > 1 } ? pixels.map { $0 != 0 ? 1 : 0 } : pixels
    }

    /// The number of foreground pixels.
    public var area: Int { pixels.reduce(0) { $0 + Int($1) } }

    /// True when no pixel is set.
    public var isEmpty: Bool { !pixels.contains { $0 != 0 } }

    /// The pixel at row `y`, column `x` (0 or 1); setting stores 1 for any non-zero value.
    public subscript(y: Int, x: Int) -> UInt8 {
        get { pixels[y * width + x] }
        set { pixels[y * width + x] = newValue != 0 ? 1 : 0 }
    }

    /// The mask as COCO RLE.
    public func rle() throws -> RLE { try RLE(mask: pixels, height: height, width: width) }
}
