// Preprocessing as the original ran it: resize_and_pad the RGB frame to H×W, RGB→BGR, minus the Caffe
// mean; the ground-truth mask resize_and_pad'ded the same way; and the way back: the H×W prediction
// resize_and_crop'ped to the frame's size.
// Port of util/im_processing.py (resize_and_pad, resize_and_crop). The original ran on Python 2.7, so
// scikit-image ≤ 0.14, whose `resize(im, [h, w])` with no options is (`ResizeMode.original`):
//   order 1 (bilinear), pixel-centre coordinates  src = (dst + 0.5)·(in/out) − 0.5
//   mode 'constant', cval 0                       taps outside the image read 0 (darker borders when enlarging)
//   no anti-aliasing                              each output reads at most 4 input pixels
//   then img_as_ubyte (×255, round half to even) for images, > 0 for masks.
// Today's scikit-image default ('reflect' borders and a Gaussian blur σ = (scale − 1)/2 when shrinking) is
// kept only as `ResizeMode.antialias`; its blur is evaluated only at the rows and columns the bilinear
// step samples. Both cost time in proportion to the output (antialias: plus one pass over the input), and
// output rows are computed on the engine's threads (rows are independent: the same bytes on any count).
// Legend: w×h the frame, rw×rh its size inside the input, H×W the network input, c channels.

import Tensor

/// The Caffe ImageNet mean in BGR order, as the original subtracts it.
public let caffeMeanBGR: (Float, Float, Float) = (104.00698793, 116.66876762, 122.67891434)

/// How frames and masks are resized into the network input (and predictions back to the frame).
public enum ResizeMode: String, Sendable, CaseIterable {
    /// As the original ran (scikit-image 0.14's `resize` defaults): bilinear, pixel centres, 0 outside
    /// the image, no blur.
    case original
    /// Today's scikit-image default: a Gaussian anti-aliasing blur (σ = (scale − 1)/2) when shrinking
    /// and 'reflect' borders. Not what the original's checkpoints were trained on.
    case antialias
}

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
    public static func prepare(rgb: [UInt8], width: Int, height: Int, H: Int, W: Int,
                               resize mode: ResizeMode = .original) throws -> PreparedImage {
        guard width > 0, height > 0, rgb.count == width * height * 3 else {
            throw TensorError.invalidArgument(op: "Preprocess.prepare",
                                              reason: "\(rgb.count) bytes do not make a \(width)×\(height) RGB image")
        }
        let g = padGeometry(width: width, height: height, H: H, W: W)
        var padded = [UInt8](repeating: 0, count: H * W * 3)
        padded.withUnsafeMutableBufferPointer { out in
            rgb.withUnsafeBufferPointer { src in
                resample(src, width: width, height: height, channels: 3, toWidth: g.resizedWidth,
                         toHeight: g.resizedHeight, mode: mode, unit: 1.0 / 255) { y, x, ch, v in
                    // img_as_ubyte: ×255, round half to even (v is in [0, 1]).
                    out[((y + g.padTop) * W + x + g.padLeft) * 3 + ch] = UInt8(max(0, min(255, (v * 255).rounded(.toNearestOrEven))))
                }
            }
        }
        let mean = [caffeMeanBGR.0, caffeMeanBGR.1, caffeMeanBGR.2]
        let tensor = Tensor(shape: [H, W, 3]) { buf in
            for i in 0..<(H * W) {
                for ch in 0..<3 { buf[i * 3 + ch] = Float(padded[i * 3 + (2 - ch)]) - mean[ch] }   // RGB→BGR − mean
            }
        }
        return PreparedImage(tensor: tensor, rgb: padded, geometry: g)
    }

    /// resize_and_pad of a 0/1 mask (height×width values, non-zero = foreground) to H×W, then > 0:
    /// [H,W] of 0/1, aligned with `prepare`'s image of the same frame.
    public static func padMask(pixels: [UInt8], width: Int, height: Int, H: Int, W: Int,
                               resize mode: ResizeMode = .original) throws -> Tensor {
        guard width > 0, height > 0, pixels.count == width * height else {
            throw TensorError.invalidArgument(op: "Preprocess.padMask",
                                              reason: "\(pixels.count) values do not make a \(width)×\(height) mask")
        }
        let g = padGeometry(width: width, height: height, H: H, W: W)
        let binary = pixels.map { $0 != 0 ? UInt8(1) : 0 }
        var plane = [Float](repeating: 0, count: H * W)
        plane.withUnsafeMutableBufferPointer { out in
            binary.withUnsafeBufferPointer { src in
                resample(src, width: width, height: height, channels: 1, toWidth: g.resizedWidth,
                         toHeight: g.resizedHeight, mode: mode) { y, x, _, v in
                    out[(y + g.padTop) * W + x + g.padLeft] = v > 0 ? 1 : 0
                }
            }
        }
        return try Tensor(shape: [H, W], scalars: plane)
    }

    /// Where a width×height frame goes in the H×W input: scaled to fit (aspect kept), centred.
    public static func padGeometry(width: Int, height: Int, H: Int, W: Int) -> PadGeometry {
        let scale = min(Double(H) / Double(height), Double(W) / Double(width))
        let rh = max(1, Int((Double(height) * scale).rounded(.toNearestOrEven)))
        let rw = max(1, Int((Double(width) * scale).rounded(.toNearestOrEven)))
        return PadGeometry(frameHeight: height, frameWidth: width, resizedHeight: rh, resizedWidth: rw,
                           padTop: (H - rh) / 2, padLeft: (W - rw) / 2)
    }

    /// resize_and_crop of an H×W map back to the frame: scale to cover the frame, crop the centre.
    /// The original resizes the 0/1 prediction and counts every non-zero pixel as foreground. Only the
    /// cropped part of the resized map is computed.
    public static func maskToFrame(_ binary: [Float], H: Int, W: Int, frameHeight: Int, frameWidth: Int,
                                   resize mode: ResizeMode = .original) -> [UInt8] {
        let scale = max(Double(frameHeight) / Double(H), Double(frameWidth) / Double(W))
        let rh = max(1, Int((Double(H) * scale).rounded(.toNearestOrEven)))
        let rw = max(1, Int((Double(W) * scale).rounded(.toNearestOrEven)))
        let cropTop = (rh - frameHeight) / 2
        let cropLeft = (rw - frameWidth) / 2
        let source = binary.map { $0 != 0 ? UInt8(1) : 0 }
        var out = [UInt8](repeating: 0, count: frameHeight * frameWidth)
        out.withUnsafeMutableBufferPointer { o in
            source.withUnsafeBufferPointer { src in
                resample(src, width: W, height: H, channels: 1, toWidth: rw, toHeight: rh, mode: mode,
                         rows: max(0, cropTop)..<min(rh, cropTop + frameHeight),
                         columns: max(0, cropLeft)..<min(rw, cropLeft + frameWidth)) { y, x, _, v in
                    o[(y - cropTop) * frameWidth + x - cropLeft] = v > 0 ? 1 : 0
                }
            }
        }
        return out
    }

    /// The original's prediction: logits ≥ threshold at H×W, resize_and_crop'ped back to the frame (0/1).
    public static func maskFromLogits(_ logits: [Float], threshold: Float = 0, H: Int, W: Int, geometry g: PadGeometry,
                                      resize mode: ResizeMode = .original) -> [UInt8] {
        maskToFrame(logits.map { $0 >= threshold ? 1 : 0 }, H: H, W: W, frameHeight: g.frameHeight,
                    frameWidth: g.frameWidth, resize: mode)
    }

    /// skimage.transform.resize of a height×width×c image of bytes to toHeight×toWidth×c after
    /// img_as_float (bytes/255): values in [0, 1], in Double. For tests and benchmarks; `prepare`
    /// writes straight into the network input.
    public static func resize(_ source: [UInt8], width: Int, height: Int, channels: Int, toWidth: Int, toHeight: Int,
                              mode: ResizeMode = .original) -> [Double] {
        var out = [Double](repeating: 0, count: toWidth * toHeight * channels)
        out.withUnsafeMutableBufferPointer { o in
            source.withUnsafeBufferPointer { src in
                resample(src, width: width, height: height, channels: channels, toWidth: toWidth,
                         toHeight: toHeight, mode: mode, unit: 1.0 / 255) { y, x, ch, v in o[(y * toWidth + x) * channels + ch] = v }
            }
        }
        return out
    }

    // MARK: - The resampler

    /// Two source indices and their weights for one output index along one axis.
    struct Taps {
        var a: Int, b: Int
        var wa: Double, wb: Double
    }

    /// The bilinear taps of every output index along an axis of n inputs resized to m:
    /// src = (dst + 0.5)·n/m − 0.5. 'original' drops taps outside [0, n) (they read cval 0);
    /// 'antialias' reflects them (skimage 'reflect': d c b | a b c d | c b a).
    static func axisTaps(from n: Int, to m: Int, mode: ResizeMode) -> [Taps] {
        let scale = Double(n) / Double(m)
        return (0..<m).map { o in
            let f = (Double(o) + 0.5) * scale - 0.5
            let i0 = Int(f.rounded(.down))
            let w = f - Double(i0)
            switch mode {
            case .original:
                let aIn = i0 >= 0 && i0 < n, bIn = i0 + 1 >= 0 && i0 + 1 < n
                return Taps(a: aIn ? i0 : 0, b: bIn ? i0 + 1 : 0, wa: aIn ? 1 - w : 0, wb: bIn ? w : 0)
            case .antialias:
                return Taps(a: reflect(i0, n), b: reflect(i0 + 1, n), wa: 1 - w, wb: w)
            }
        }
    }

    static func reflect(_ i: Int, _ n: Int) -> Int {
        if n == 1 { return 0 }
        let period = 2 * (n - 1)
        var k = i % period
        if k < 0 { k += period }
        return k < n ? k : period - k
    }

    static func reflectHalf(_ i: Int, _ n: Int) -> Int {   // scipy 'reflect' (d c b a | a b c d | d c b a)
        var k = i
        while k < 0 || k >= n { k = k < 0 ? -k - 1 : 2 * n - k - 1 }
        return k
    }

    /// Gaussian taps, truncated at 4σ and normalised (scipy.ndimage.gaussian_filter's); [1] for σ = 0.
    public static func gaussianKernel(_ sigma: Double) -> [Double] {
        guard sigma > 0 else { return [1] }
        let r = Int(4 * sigma + 0.5)
        var k = (-r...r).map { Foundation_exp(-Double($0 * $0) / (2 * sigma * sigma)) }
        let s = k.reduce(0, +)
        for i in k.indices { k[i] /= s }
        return k
    }

    /// Resizes a height×width×channels image of bytes to toHeight×toWidth and hands each output value
    /// (bytes × unit, in Double; 1/255 is img_as_float) to `store(y, x, channel, value)`,
    /// for the output rows and columns asked for. Rows are spread over the engine's threads, so `store`
    /// must only write its own element.
    static func resample(_ src: UnsafeBufferPointer<UInt8>, width: Int, height: Int, channels c: Int,
                         toWidth: Int, toHeight: Int, mode: ResizeMode, unit: Double = 1,
                         rows: Range<Int>? = nil, columns: Range<Int>? = nil,
                         store: (Int, Int, Int, Double) -> Void) {
        let rows = rows ?? 0..<toHeight, columns = columns ?? 0..<toWidth
        guard !rows.isEmpty, !columns.isEmpty else { return }
        let ty = axisTaps(from: height, to: toHeight, mode: mode)
        let tx = axisTaps(from: width, to: toWidth, mode: mode)
        let sigmaY = Double(height) / Double(toHeight), sigmaX = Double(width) / Double(toWidth)
        if mode == .antialias && (sigmaY > 1 || sigmaX > 1) {
            blurredResample(src, width: width, height: height, channels: c, unit: unit, ty: ty, tx: tx,
                            ky: gaussianKernel(max(0, (sigmaY - 1) / 2)), kx: gaussianKernel(max(0, (sigmaX - 1) / 2)),
                            rows: rows, columns: columns, store: store)
            return
        }
        parallelFor(rows.count, grain: max(1, 16_384 / max(1, columns.count * c))) { part in
            for y in part.lowerBound + rows.lowerBound..<part.upperBound + rows.lowerBound {
                let t = ty[y]
                let rowA = t.a * width, rowB = t.b * width
                for x in columns {
                    let s = tx[x]
                    for ch in 0..<c {
                        // img_as_float first (bytes × 1/255), then scipy.ndimage.zoom's sum: value × row
                        // weight × column weight, taps in row-major order — the same bits as scikit-image.
                        let v00 = Double(src[(rowA + s.a) * c + ch]) * unit, v01 = Double(src[(rowA + s.b) * c + ch]) * unit
                        let v10 = Double(src[(rowB + s.a) * c + ch]) * unit, v11 = Double(src[(rowB + s.b) * c + ch]) * unit
                        var v = v00 * t.wa * s.wa
                        v += v01 * t.wa * s.wb
                        v += v10 * t.wb * s.wa
                        v += v11 * t.wb * s.wb
                        store(y, x, ch, v)
                    }
                }
            }
        }
    }

    /// 'antialias': the Gaussian-blurred image (scipy 'reflect' borders) sampled bilinearly. Blur and
    /// bilinear weights are linear, so each output column (row) is one combined kernel over the input:
    /// wa·G(a − ·) + wb·G(b − ·). It is applied horizontally at the output columns of every input row a
    /// vertical kernel reaches, then vertically at the output rows: about 4·(8σ + 1)/scale ≈ 16 multiply-adds
    /// per input value, one pass over the input — not input × σ.
    private static func blurredResample(_ src: UnsafeBufferPointer<UInt8>, width: Int, height: Int, channels c: Int,
                                        unit: Double, ty: [Taps], tx: [Taps], ky: [Double], kx: [Double],
                                        rows: Range<Int>, columns: Range<Int>, store: (Int, Int, Int, Double) -> Void) {
        /// The combined kernel of one output index: (input index, weight), merged by index.
        func combined(_ t: Taps, _ k: [Double], _ n: Int) -> (index: [Int], weight: [Float]) {
            var byIndex: [Int: Double] = [:]
            let r = k.count / 2
            for (i, w) in k.enumerated() {
                byIndex[reflectHalf(t.a + i - r, n), default: 0] += t.wa * w
                byIndex[reflectHalf(t.b + i - r, n), default: 0] += t.wb * w
            }
            let sorted = byIndex.filter { $0.value != 0 }.sorted { $0.key < $1.key }
            return (sorted.map(\.key), sorted.map { Float($0.value) })
        }
        let colKernels = columns.map { combined(tx[$0], kx, width) }
        let rowKernels = rows.map { combined(ty[$0], ky, height) }
        // The input rows the vertical kernels reach, each once.
        var rowSlot = [Int](repeating: -1, count: height)
        var reachedRows: [Int] = []
        for kernel in rowKernels {
            for s in kernel.index where rowSlot[s] < 0 { rowSlot[s] = reachedRows.count; reachedRows.append(s) }
        }
        // Horizontal: [reached row][output column][c], bytes × unit.
        let nc = columns.count
        var horizontal = [Float](repeating: 0, count: reachedRows.count * nc * c)
        let funit = Float(unit)
        horizontal.withUnsafeMutableBufferPointer { h in
            let work = max(1, colKernels.reduce(0) { $0 + $1.index.count } * c)
            parallelFor(reachedRows.count, grain: max(1, 262_144 / work)) { part in
                for slot in part {
                    let row = reachedRows[slot] * width
                    for (j, kernel) in colKernels.enumerated() {
                        let out = (slot * nc + j) * c
                        if c == 3 {
                            var s0: Float = 0, s1: Float = 0, s2: Float = 0
                            for (i, w) in zip(kernel.index, kernel.weight) {
                                let p = (row + i) * 3
                                s0 += w * Float(src[p]); s1 += w * Float(src[p + 1]); s2 += w * Float(src[p + 2])
                            }
                            h[out] = s0 * funit; h[out + 1] = s1 * funit; h[out + 2] = s2 * funit
                        } else {
                            for ch in 0..<c {
                                var s: Float = 0
                                for (i, w) in zip(kernel.index, kernel.weight) { s += w * Float(src[(row + i) * c + ch]) }
                                h[out + ch] = s * funit
                            }
                        }
                    }
                }
            }
        }
        // Vertical at the output rows.
        parallelFor(rows.count, grain: max(1, 4_096 / max(1, nc * c))) { part in
            for k in part {
                let kernel = rowKernels[k]
                for (j, x) in columns.enumerated() {
                    for ch in 0..<c {
                        var s = 0.0
                        for (i, w) in zip(kernel.index, kernel.weight) {
                            s += Double(w) * Double(horizontal[(rowSlot[i] * nc + j) * c + ch])
                        }
                        store(k + rows.lowerBound, x, ch, s)
                    }
                }
            }
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
@inline(__always) func Foundation_exp(_ x: Double) -> Double { exp(x) }
