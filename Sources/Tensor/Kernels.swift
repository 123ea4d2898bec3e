// Shared pieces of the image kernels (Conv, Pool, Resize, BatchNorm): TensorFlow 1.x window
// geometry, im2col / col2im on raw buffers, and per-channel column sums.
//
// Legend: N images, H×W input, Ho×Wo output, C (Cin, Cout) channels, kh×kw window,
// M = N·Ho·Wo output pixels, K = kh·kw·Cin the length of one im2col row.

/// How a window op treats the border, as TensorFlow's `padding` argument.
public enum Padding: Sendable {
    /// Output ceil(in/stride); zeros (−∞ for max pooling) added, the extra one at the bottom/right.
    case same
    /// Only windows that fit inside the input.
    case valid
}

/// Output extent and leading padding of one spatial axis, with TensorFlow's rules.
///
/// 'SAME': out = ceil(in/stride), pad_total = max((out−1)·stride + (k−1)·dilation + 1 − in, 0),
/// pad_before = ⌊pad_total/2⌋. 'VALID': out = ceil((in − (k−1)·dilation)/stride), no padding.
func windowAxis(op: String, input: Int, window: Int, stride: Int, dilation: Int, padding: Padding)
    throws -> (out: Int, padBefore: Int)
{
    guard window >= 1, stride >= 1, dilation >= 1 else {
        throw TensorError.invalidArgument(
            op: op, reason: "window \(window), stride \(stride) and dilation \(dilation) must be at least 1")
    }
    guard input >= 1 else {
        throw TensorError.invalidArgument(op: op, reason: "empty spatial extent \(input)")
    }
    let effective = (window - 1) * dilation + 1
    switch padding {
    case .same:
        let out = (input + stride - 1) / stride
        let total = max((out - 1) * stride + effective - input, 0)
        return (out, total / 2)
    case .valid:
        guard input >= effective else {
            throw TensorError.invalidArgument(
                op: op, reason: "'VALID' window of effective extent \(effective) does not fit input extent \(input)")
        }
        return ((input - effective + stride) / stride, 0)
    }
}

/// The geometry of one 2-D window op on NHWC input (convolution or pooling).
struct WindowGeometry {
    var n, h, w, c: Int
    var kh, kw: Int
    var strideY, strideX, dilationY, dilationX: Int
    var ho, wo, padTop, padLeft: Int

    init(op: String, input shape: [Int], window: (Int, Int), strides: (Int, Int), dilations: (Int, Int),
         padding: Padding) throws {
        guard shape.count == 4 else {
            throw TensorError.shapeMismatch(op: op, shapes: [shape], reason: "the input must be [N, H, W, C]")
        }
        (n, h, w, c) = (shape[0], shape[1], shape[2], shape[3])
        (kh, kw) = window
        (strideY, strideX) = strides
        (dilationY, dilationX) = dilations
        (ho, padTop) = try windowAxis(op: op, input: h, window: kh, stride: strideY, dilation: dilationY,
                                      padding: padding)
        (wo, padLeft) = try windowAxis(op: op, input: w, window: kw, stride: strideX, dilation: dilationX,
                                       padding: padding)
    }

    /// Output pixels N·Ho·Wo.
    var m: Int { n * ho * wo }
    /// Length of one im2col row, kh·kw·C.
    var k: Int { kh * kw * c }
    /// A 1×1 window never pads ('SAME' or 'VALID'): the op is a (strided) per-pixel GEMM.
    var isPointwise: Bool { kh == 1 && kw == 1 && padTop == 0 && padLeft == 0 }
}

/// Writes the im2col rows of output pixels `rows` into `cols` ([rows.count, K], row-major):
/// row m holds x[n, oy·sy − padTop + ky·dy, ox·sx − padLeft + kx·dx, :] for ky, kx in order,
/// zeros where the tap falls in the padding. Split across cores.
func im2col(_ g: WindowGeometry, x: UnsafePointer<Float>, cols: UnsafeMutablePointer<Float>, rows: Range<Int>) {
    let base = rows.lowerBound
    parallelFor(rows.count, grain: max(1, 8192 / max(g.k, 1))) { part in
        im2colRows(g, x: x, cols: cols + part.lowerBound * g.k,
                   rows: (base + part.lowerBound)..<(base + part.upperBound))
    }
}

/// Output positions along one axis whose every tap lies inside the input (no padding).
func interiorOutputs(input: Int, window: Int, stride: Int, dilation: Int, padBefore: Int) -> Range<Int> {
    let lo = (padBefore + stride - 1) / stride
    let last = input - 1 - (window - 1) * dilation + padBefore   // largest o·stride allowed
    guard last >= 0 else { return lo..<lo }
    return lo..<max(lo, last / stride + 1)
}

/// `im2col` on the calling thread only.
func im2colRows(_ g: WindowGeometry, x: UnsafePointer<Float>, cols: UnsafeMutablePointer<Float>, rows: Range<Int>) {
    guard !rows.isEmpty else { return }
    let k = g.k, cin = g.c, hw = g.ho * g.wo
    let (kh, kw, h, w) = (g.kh, g.kw, g.h, g.w)
    let (sy, sx, dy, dx) = (g.strideY, g.strideX, g.dilationY, g.dilationX)
    // Output coordinates advance incrementally (no divisions per row).
    var img = rows.lowerBound / hw
    var oy = (rows.lowerBound - img * hw) / g.wo
    var ox = rows.lowerBound - img * hw - oy * g.wo
    var dst = cols
    let run = kw * cin, rowStep = dy * w * cin
    let interiorX = interiorOutputs(input: w, window: kw, stride: sx, dilation: dx, padBefore: g.padLeft)
    let interiorY = interiorOutputs(input: h, window: kh, stride: sy, dilation: dy, padBefore: g.padTop)
    for _ in rows {
        let iy0 = oy * sy - g.padTop, ix0 = ox * sx - g.padLeft
        let image = x + img * h * w * cin
        if dx == 1 && interiorX.contains(ox) && interiorY.contains(oy) {
            // Every tap inside the image: kh runs of kw·Cin contiguous floats.
            var s = image + (iy0 * w + ix0) * cin
            var d = dst
            for _ in 0..<kh {
                copyFloats(d, s, run)
                d += run
                s += rowStep
            }
        } else {
        for ky in 0..<kh {
            let iy = iy0 + ky * dy
            let rowDst = dst + ky * kw * cin
            if iy < 0 || iy >= h {
                rowDst.update(repeating: 0, count: kw * cin)
                continue
            }
            let src = image + iy * w * cin
            if dx == 1 {
                // The valid taps of this kernel row are one contiguous run of the input row.
                let kx0 = max(0, -ix0), kx1 = min(kw, w - ix0)
                if kx1 <= kx0 {
                    rowDst.update(repeating: 0, count: kw * cin)
                    continue
                }
                if kx0 > 0 { rowDst.update(repeating: 0, count: kx0 * cin) }
                copyFloats(rowDst + kx0 * cin, src + (ix0 + kx0) * cin, (kx1 - kx0) * cin)
                if kx1 < kw { (rowDst + kx1 * cin).update(repeating: 0, count: (kw - kx1) * cin) }
            } else {
                for kx in 0..<kw {
                    let ix = ix0 + kx * dx
                    if ix < 0 || ix >= w {
                        (rowDst + kx * cin).update(repeating: 0, count: cin)
                    } else {
                        copyFloats(rowDst + kx * cin, src + ix * cin, cin)
                    }
                }
            }
        }
        }
        dst += k
        ox += 1
        if ox == g.wo {
            ox = 0
            oy += 1
            if oy == g.ho {
                oy = 0
                img += 1
            }
        }
    }
}

/// Copies `count` floats; short runs (the 7·3 floats of conv1's kernel rows) with inline vector
/// moves instead of a memmove call.
@inline(__always)
func copyFloats(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, _ count: Int) {
    if count >= 256 {
        dst.update(from: src, count: count)
        return
    }
    let d = UnsafeMutableRawPointer(dst), s = UnsafeRawPointer(src)
    var i = 0
    while i + 16 <= count {
        d.storeBytes(of: s.loadUnaligned(fromByteOffset: 4 * i, as: SIMD16<Float>.self), toByteOffset: 4 * i,
                     as: SIMD16<Float>.self)
        i += 16
    }
    while i + 4 <= count {
        d.storeBytes(of: s.loadUnaligned(fromByteOffset: 4 * i, as: SIMD4<Float>.self), toByteOffset: 4 * i,
                     as: SIMD4<Float>.self)
        i += 4
    }
    while i < count {
        dst[i] = src[i]
        i += 1
    }
}

/// Adds the im2col-shaped gradient `dcols` ([rows.count, K]) of output pixels `rows` back onto
/// the input gradient `dx` ([N, H, W, C]); taps in the padding are dropped. Split across cores by
/// channel ranges, so no two workers write the same element.
func col2im(_ g: WindowGeometry, dcols: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>, rows: Range<Int>) {
    let grain = max(8, 65_536 / max(1, rows.count * g.kh * g.kw))
    parallelFor(g.c, grain: grain) { cr in
        col2imRows(g, dcols: dcols, dx: dx, rows: rows, channels: cr)
    }
}

/// `col2im` on the calling thread only, for channels `channels`.
func col2imRows(_ g: WindowGeometry, dcols: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>, rows: Range<Int>,
                channels: Range<Int>) {
    guard !rows.isEmpty else { return }
    let k = g.k, cin = g.c, hw = g.ho * g.wo
    let c0 = channels.lowerBound, cn = channels.count
    var img = rows.lowerBound / hw
    var oy = (rows.lowerBound - img * hw) / g.wo
    var ox = rows.lowerBound - img * hw - oy * g.wo
    var src = dcols + c0
    for _ in rows {
        let iy0 = oy * g.strideY - g.padTop, ix0 = ox * g.strideX - g.padLeft
        for ky in 0..<g.kh {
            let iy = iy0 + ky * g.dilationY
            if iy < 0 || iy >= g.h { continue }
            let rowDst = dx + (img * g.h + iy) * g.w * cin + c0
            for kx in 0..<g.kw {
                let ix = ix0 + kx * g.dilationX
                if ix < 0 || ix >= g.w { continue }
                let d = rowDst + ix * cin
                let s = src + (ky * g.kw + kx) * cin
                for c in 0..<cn { d[c] += s[c] }
            }
        }
        src += k
        ox += 1
        if ox == g.wo {
            ox = 0
            oy += 1
            if oy == g.ho {
                oy = 0
                img += 1
            }
        }
    }
}

/// Per-channel sums over the rows of a [rows, C] layout: `body(rowRange, acc)` adds its rows'
/// terms into `acc` ([C]). The rows are cut into parts of at least 65 536 values (at most 16 parts,
/// fixed by the shape), each with its own partial sums, added in part order at the end.
func columnSums(rows: Int, channels: Int, _ body: (Range<Int>, UnsafeMutablePointer<Float>) -> Void) -> [Float] {
    let parts = max(1, min(16, rows * channels / 65_536))
    var partial = [Float](repeating: 0, count: parts * channels)
    partial.withUnsafeMutableBufferPointer { p in
        guard let base = p.baseAddress else { return }
        let chunk = (rows + parts - 1) / parts
        parallelFor(parts, grain: 1) { ps in
            for part in ps {
                let lo = part * chunk, hi = min(rows, lo + chunk)
                if lo < hi { body(lo..<hi, base + part * channels) }
            }
        }
    }
    var total = [Float](repeating: 0, count: channels)
    for part in 0..<parts {
        for c in 0..<channels { total[c] += partial[part * channels + c] }
    }
    return total
}

extension Tensor {
    /// Throws unless this tensor is a vector of `count` elements (per-channel parameters).
    func expectVector(_ count: Int, op: String, name: String) throws {
        guard shape == [count] else {
            throw TensorError.shapeMismatch(
                op: op, shapes: [shape, [count]], reason: "\(name) must be a vector of \(count) channels")
        }
    }
}
