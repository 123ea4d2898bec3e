// Drawing a segmentation mask over a frame: a translucent colour fill plus a solid outline.

/// Mask overlays for result videos and pictures.
public enum Overlay {
    /// Blends `colour` over the pixels where `mask` is nonzero (fill at `opacity`) and paints the mask's
    /// boundary band of `outlineWidth` pixels solid. Frame H×W×3, mask H×W of the same size.
    public static func blend(_ frame: RGBImage, mask: GrayImage, colour: (UInt8, UInt8, UInt8) = (255, 32, 32),
                             opacity: Double = 0.45, outlineWidth: Int = 2) throws -> RGBImage {
        guard frame.width == mask.width, frame.height == mask.height,
              frame.pixels.count == frame.width * frame.height * 3, mask.pixels.count == mask.width * mask.height else {
            throw VideoError(.invalidArgument, path: "Overlay",
                             "mask \(mask.width)×\(mask.height) does not match frame \(frame.width)×\(frame.height)")
        }
        guard opacity >= 0, opacity <= 1, outlineWidth >= 0, outlineWidth <= 64 else {
            throw VideoError(.invalidArgument, path: "Overlay",
                             "opacity \(opacity) must be in 0…1 and outline width \(outlineWidth) in 0…64")
        }
        let (w, h) = (frame.width, frame.height)
        var out = frame
        let c = [Double(colour.0), Double(colour.1), Double(colour.2)]
        let solid = [colour.0, colour.1, colour.2]
        let r = outlineWidth
        mask.pixels.withUnsafeBufferPointer { m in
            out.pixels.withUnsafeMutableBufferPointer { p in
                func inside(_ x: Int, _ y: Int) -> Bool { x >= 0 && y >= 0 && x < w && y < h && m[y * w + x] != 0 }
                for y in 0..<h {
                    for x in 0..<w where m[y * w + x] != 0 {
                        var edge = false
                        if r > 0 {
                            search: for dy in -r...r {
                                for dx in -r...r where !inside(x + dx, y + dy) { edge = true; break search }
                            }
                        }
                        let i = (y * w + x) * 3
                        for k in 0..<3 {
                            if edge {
                                p[i + k] = solid[k]
                            } else {
                                let v = (1 - opacity) * Double(p[i + k]) + opacity * c[k]
                                p[i + k] = UInt8(max(0, min(255, v.rounded())))
                            }
                        }
                    }
                }
            }
        }
        return out
    }
}
