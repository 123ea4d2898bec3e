// Bilinear resizing with TensorFlow 1.x semantics (`tf.compat.v1.image.resize_bilinear`,
// align_corners=False, half_pixel_centers=False) on NHWC images.
//
// Legend: N images, H×W input, Ho×Wo output, C channels.
// Output pixel (y, x) samples the input at (y·H/Ho, x·W/Wo) (scales in Float, as TensorFlow):
// lower index ⌊·⌋, upper min(⌈·⌉, extent − 1), weight the fractional part. The gradient spreads
// each output gradient over the four taps with the same weights (TensorFlow's ResizeBilinearGrad).

/// Interpolation taps of one output coordinate.
struct BilinearTap {
    var lower: Int
    var upper: Int
    var lerp: Float
}

/// Taps for `outSize` output positions sampling an axis of `inSize` inputs.
func bilinearTaps(inSize: Int, outSize: Int) -> [BilinearTap] {
    let scale = Float(inSize) / Float(outSize)
    return (0..<outSize).map { i in
        let v = Float(i) * scale
        let f = v.rounded(.down)
        return BilinearTap(lower: max(Int(f), 0), upper: min(Int(v.rounded(.up)), inSize - 1), lerp: v - f)
    }
}

/// Bilinear resize with TensorFlow 1.x semantics (align_corners=False, half_pixel_centers=False):
/// x [N, H, W, C] → [N, height, width, C].
///
///     let up = try resizeBilinear(score, height: 320, width: 320)   // [1,40,40,1] → [1,320,320,1]
public func resizeBilinear(_ x: Tensor, height: Int, width: Int) throws -> Tensor {
    let op = "resizeBilinear"
    guard x.rank == 4, x.shape[1] > 0, x.shape[2] > 0 else {
        throw TensorError.shapeMismatch(op: op, shapes: [x.shape], reason: "the input must be [N, H, W, C] with H, W > 0")
    }
    guard height > 0, width > 0, height <= 1 << 20, width <= 1 << 20 else {
        throw TensorError.invalidArgument(op: op, reason: "output size \(height)×\(width) is out of range")
    }
    let (n, h, w, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let ys = bilinearTaps(inSize: h, outSize: height), xs = bilinearTaps(inSize: w, outSize: width)
    let y = Tensor(shape: [n, height, width, c]) { out in
        x.scalars.withUnsafeBufferPointer { xb in
            guard let xp = xb.baseAddress, let op = out.baseAddress else { return }
            parallelFor(n * height, grain: max(1, 8192 / max(1, width * c))) { rows in
                for row in rows {
                    let img = row / height, ty = ys[row - img * height]
                    let top = xp + (img * h + ty.lower) * w * c, bottom = xp + (img * h + ty.upper) * w * c
                    let yl = ty.lerp
                    for ox in 0..<width {
                        let tx = xs[ox]
                        let xl = tx.lerp
                        let tl = top + tx.lower * c, tr = top + tx.upper * c
                        let bl = bottom + tx.lower * c, br = bottom + tx.upper * c
                        let d = op + (row * width + ox) * c
                        for ch in 0..<c {
                            let t = tl[ch] + (tr[ch] - tl[ch]) * xl
                            let b = bl[ch] + (br[ch] - bl[ch]) * xl
                            d[ch] = t + (b - t) * yl
                        }
                    }
                }
            }
        }
    }
    return Tensor.recorded(y, op: op, inputs: [x]) { dy in
        [resizeBilinearBackward(dy: dy.scalars, n: n, h: h, w: w, c: c, ys: ys, xs: xs)]
    }
}

/// dX of bilinear resizing: each output gradient spread over its four taps.
func resizeBilinearBackward(dy: [Float], n: Int, h: Int, w: Int, c: Int, ys: [BilinearTap], xs: [BilinearTap]) -> Tensor {
    let height = ys.count, width = xs.count
    var dx = Tensor(shape: [n, h, w, c])
    dx.scalars.withUnsafeMutableBufferPointer { dxb in
        dy.withUnsafeBufferPointer { gb in
            guard let gp = gb.baseAddress, let dp = dxb.baseAddress else { return }
            // Taps overlap, so a task owns an (image, channel range) pair; every element sums its terms
            // in the same order whatever the ranges.
            let blocks = max(1, min(c, 8))
            let per = (c + blocks - 1) / blocks
            parallelFor(n * blocks, grain: max(1, 65_536 / max(1, height * width * per))) { units in
                for unit in units {
                    let img = unit / blocks, b = unit - img * blocks
                    let c0 = b * per, c1 = min(c, c0 + per)
                    if c0 >= c1 { continue }
                    for oy in 0..<height {
                        let ty = ys[oy]
                        let top = dp + (img * h + ty.lower) * w * c, bottom = dp + (img * h + ty.upper) * w * c
                        let yl = ty.lerp, iyl = 1 - ty.lerp
                        for ox in 0..<width {
                            let tx = xs[ox]
                            let xl = tx.lerp, ixl = 1 - tx.lerp
                            let gr = gp + ((img * height + oy) * width + ox) * c
                            for ch in c0..<c1 {
                                let dtop = iyl * gr[ch], dbottom = yl * gr[ch]
                                top[tx.lower * c + ch] += dtop * ixl
                                top[tx.upper * c + ch] += dtop * xl
                                bottom[tx.lower * c + ch] += dbottom * ixl
                                bottom[tx.upper * c + ch] += dbottom * xl
                            }
                        }
                    }
                }
            }
        }
    }
    return dx
}
