// Preprocessing as the original: resize_and_pad the RGB frame to H×W, RGB→BGR, minus the Caffe
// mean; the ground-truth mask resize_and_pad'ded the same way; and the way back: the H×W prediction
// resize_and_crop'ped to the frame's size.
// Port of util/im_processing.py (resize_and_pad, resize_and_crop) with skimage.transform.resize's
// semantics: bilinear (order 1), pixel-centre coordinates, 'reflect' borders, Gaussian
// anti-aliasing when shrinking (σ = (scale − 1)/2), then img_as_ubyte rounding (images) or > 0 (masks).

import Tensor

/// The Caffe ImageNet mean in BGR order, as the original subtracts it.
public let caffeMeanBGR: (Float, Float, Float) = (104.00698793, 116.66876762, 122.67891434)

/// Where the frame sits inside the padded network input.
public struct PadGeometry: Sendable, Equatable {
    /// The frame's own size.
    public var frameHeight: Int
    public var frameWidth: Int
    /// The frame's size inside the input, scaled to fit H×W with its aspect ratio kept.
    public var resizedHeight: Int
    public var resizedWidth: Int
    /// Rows above and columns left of the frame (zeros).
    public var padTop: Int
    public var padLeft: Int
}

/// A network input made from one RGB frame.
public struct PreparedImage: Sendable {
    /// [H, W, 3], BGR minus the mean (what the network reads).
    public var tensor: Tensor
    /// The padded 8-bit RGB image [H·W·3] (what DenseCRF's bilateral kernel reads).
    public var rgb: [UInt8]
    /// Where the frame sits in the input.
    public var geometry: PadGeometry
}

/// The original's resize_and_pad (frames and masks into the network input) and resize_and_crop
/// (predictions back to the frame).
public enum Preprocess {
    /// resize_and_pad: scale the frame to fit H×W keeping its aspect ratio, centre it, pad with 0.
    /// rgb is height×width×3 bytes.
    public static func prepare(rgb: [UInt8], width: Int, height: Int, H: Int, W: Int) throws -> PreparedImage {
        guard width > 0, height > 0, rgb.count == width * height * 3 else {
            throw TensorError.invalidArgument(op: "Preprocess.prepare",
                                              reason: "\(rgb.count) bytes do not make a \(width)×\(height) RGB image")
        }
        let geometry = padGeometry(width: width, height: height, H: H, W: W)
        let planes = (0..<3).map { ch in
            resizeAndPad((0..<(width * height)).map { Float(rgb[$0 * 3 + ch]) / 255 }, geometry, H: H, W: W)
        }
        var padded = [UInt8](repeating: 0, count: H * W * 3)
        for i in 0..<(H * W) {
            for ch in 0..<3 {
                padded[i * 3 + ch] = UInt8(max(0, min(255, (planes[ch][i] * 255).rounded(.toNearestOrEven))))
            }
        }
        let mean = [caffeMeanBGR.0, caffeMeanBGR.1, caffeMeanBGR.2]
        let tensor = Tensor(shape: [H, W, 3]) { buf in
            for i in 0..<(H * W) {
                for ch in 0..<3 { buf[i * 3 + ch] = Float(padded[i * 3 + (2 - ch)]) - mean[ch] }   // RGB→BGR − mean
            }
        }
        return PreparedImage(tensor: tensor, rgb: padded, geometry: geometry)
    }

    /// resize_and_pad of a 0/1 mask (height×width values, non-zero = foreground) to H×W, then > 0:
    /// [H,W] of 0/1, aligned with `prepare`'s image of the same frame.
    public static func padMask(pixels: [UInt8], width: Int, height: Int, H: Int, W: Int) throws -> Tensor {
        guard width > 0, height > 0, pixels.count == width * height else {
            throw TensorError.invalidArgument(op: "Preprocess.padMask",
                                              reason: "\(pixels.count) values do not make a \(width)×\(height) mask")
        }
        let geometry = padGeometry(width: width, height: height, H: H, W: W)
        let plane = resizeAndPad(pixels.map { $0 != 0 ? 1 : 0 }, geometry, H: H, W: W)
        return Tensor(shape: [H, W]) { buf in
            for i in 0..<(H * W) { buf[i] = plane[i] > 0 ? 1 : 0 }
        }
    }

    /// Where a width×height frame goes in the H×W input: scaled to fit (aspect kept), centred.
    public static func padGeometry(width: Int, height: Int, H: Int, W: Int) -> PadGeometry {
        let scale = min(Double(H) / Double(height), Double(W) / Double(width))
        let rh = max(1, Int((Double(height) * scale).rounded(.toNearestOrEven)))
        let rw = max(1, Int((Double(width) * scale).rounded(.toNearestOrEven)))
        return PadGeometry(frameHeight: height, frameWidth: width, resizedHeight: rh, resizedWidth: rw,
                           padTop: (H - rh) / 2, padLeft: (W - rw) / 2)
    }

    /// resize_and_pad of one plane (frameHeight×frameWidth values) to H×W: resized to the geometry's
    /// size, placed at its offset, 0 around it.
    static func resizeAndPad(_ plane: [Float], _ g: PadGeometry, H: Int, W: Int) -> [Float] {
        let resized = resize(plane: plane, width: g.frameWidth, height: g.frameHeight,
                             toWidth: g.resizedWidth, toHeight: g.resizedHeight)
        var out = [Float](repeating: 0, count: H * W)
        for y in 0..<g.resizedHeight {
            for x in 0..<g.resizedWidth {
                out[(y + g.padTop) * W + x + g.padLeft] = resized[y * g.resizedWidth + x]
            }
        }
        return out
    }

    /// resize_and_crop of an H×W map back to the frame: scale to cover the frame, crop the centre.
    /// The original resizes the 0/1 prediction and counts every non-zero pixel as foreground.
    public static func maskToFrame(_ binary: [Float], H: Int, W: Int, frameHeight: Int, frameWidth: Int) -> [UInt8] {
        let scale = max(Double(frameHeight) / Double(H), Double(frameWidth) / Double(W))
        let rh = max(1, Int((Double(H) * scale).rounded(.toNearestOrEven)))
        let rw = max(1, Int((Double(W) * scale).rounded(.toNearestOrEven)))
        let cropTop = (rh - frameHeight) / 2
        let cropLeft = (rw - frameWidth) / 2
        let resized = resize(plane: binary, width: W, height: H, toWidth: rw, toHeight: rh)
        var out = [UInt8](repeating: 0, count: frameHeight * frameWidth)
        for y in 0..<frameHeight {
            let sy = min(rh - 1, max(0, y + cropTop))
            for x in 0..<frameWidth {
                let sx = min(rw - 1, max(0, x + cropLeft))
                out[y * frameWidth + x] = resized[sy * rw + sx] != 0 ? 1 : 0
            }
        }
        return out
    }

    /// The original's prediction: logits ≥ threshold at H×W, resize_and_crop'ped back to the frame (0/1).
    public static func maskFromLogits(_ logits: [Float], threshold: Float = 0, H: Int, W: Int, geometry g: PadGeometry) -> [UInt8] {
        maskToFrame(logits.map { $0 >= threshold ? 1 : 0 }, H: H, W: W, frameHeight: g.frameHeight, frameWidth: g.frameWidth)
    }

    /// skimage.transform.resize(order=1, mode='reflect', anti_aliasing when shrinking) of one plane.
    public static func resize(plane: [Float], width: Int, height: Int, toWidth: Int, toHeight: Int) -> [Float] {
        if width == toWidth && height == toHeight { return plane }
        var src = plane
        let sy = Double(height) / Double(toHeight), sx = Double(width) / Double(toWidth)
        if sy > 1 || sx > 1 {
            src = gaussianBlur(src, width: width, height: height,
                               sigmaY: max(0, (sy - 1) / 2), sigmaX: max(0, (sx - 1) / 2))
        }
        func reflect(_ i: Int, _ n: Int) -> Int {
            if n == 1 { return 0 }
            let period = 2 * (n - 1)
            var k = i % period
            if k < 0 { k += period }
            return k < n ? k : period - k
        }
        var out = [Float](repeating: 0, count: toWidth * toHeight)
        for y in 0..<toHeight {
            let fy = (Double(y) + 0.5) * sy - 0.5
            let y0 = Int(fy.rounded(.down)), wy = Float(fy - Double(y0))
            let ya = reflect(y0, height), yb = reflect(y0 + 1, height)
            for x in 0..<toWidth {
                let fx = (Double(x) + 0.5) * sx - 0.5
                let x0 = Int(fx.rounded(.down)), wx = Float(fx - Double(x0))
                let xa = reflect(x0, width), xb = reflect(x0 + 1, width)
                let top = src[ya * width + xa] * (1 - wx) + src[ya * width + xb] * wx
                let bottom = src[yb * width + xa] * (1 - wx) + src[yb * width + xb] * wx
                out[y * toWidth + x] = top * (1 - wy) + bottom * wy
            }
        }
        return out
    }

    /// Separable Gaussian blur (truncate at 4σ, 'reflect' borders), as scipy.ndimage.gaussian_filter.
    static func gaussianBlur(_ plane: [Float], width: Int, height: Int, sigmaY: Double, sigmaX: Double) -> [Float] {
        func kernel(_ sigma: Double) -> [Float] {
            guard sigma > 0 else { return [1] }
            let r = Int(4 * sigma + 0.5)
            var k = (-r...r).map { Float(Foundation_exp(-Double($0 * $0) / (2 * sigma * sigma))) }
            let s = k.reduce(0, +)
            for i in k.indices { k[i] /= s }
            return k
        }
        func reflectHalf(_ i: Int, _ n: Int) -> Int {   // scipy 'reflect' (d c b a | a b c d | d c b a)
            var k = i
            while k < 0 || k >= n { k = k < 0 ? -k - 1 : 2 * n - k - 1 }
            return k
        }
        let kx = kernel(sigmaX), ky = kernel(sigmaY)
        let rx = kx.count / 2, ry = ky.count / 2
        // Each output is Σ_i k[i]·source[reflected tap i], summed in tap order from 0; the loops below keep
        // that order per element (so the result is the same to the bit) but read memory row by row.
        let taps = kx.count
        var columns = [Int](repeating: 0, count: width * taps)   // the source column of each (x, tap)
        for x in 0..<width { for i in 0..<taps { columns[x * taps + i] = reflectHalf(x + i - rx, width) } }
        var tmp = [Float](repeating: 0, count: plane.count)
        for y in 0..<height {
            let row = y * width
            for x in 0..<width {
                var s: Float = 0
                for i in 0..<taps { s += kx[i] * plane[row + columns[x * taps + i]] }
                tmp[row + x] = s
            }
        }
        var out = [Float](repeating: 0, count: plane.count)
        out.withUnsafeMutableBufferPointer { o in
            tmp.withUnsafeBufferPointer { t in
                for y in 0..<height {
                    let row = y * width
                    for (i, k) in ky.enumerated() {
                        let source = reflectHalf(y + i - ry, height) * width
                        for x in 0..<width { o[row + x] += k * t[source + x] }
                    }
                }
            }
        }
        return out
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
@inline(__always) func Foundation_exp(_ x: Double) -> Double { exp(x) }
