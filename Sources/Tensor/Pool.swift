// Max pooling with TensorFlow 1.x semantics on NHWC images.
//
// Legend: N images, H×W input, Ho×Wo output, C channels, kh×kw window.
// 'SAME' pads with −∞ (padding never wins), asymmetric for stride 2 (the extra row/column at the
// bottom/right). The gradient goes to the first maximum of each window in window order (row by
// row), as TensorFlow's MaxPoolGrad.

/// Max pooling with TensorFlow semantics: x [N, H, W, C] → [N, Ho, Wo, C].
///
///     let y = try maxPool2d(x, window: (3, 3), strides: (2, 2), padding: .same)  // [1,160,160,64] → [1,80,80,64]
public func maxPool2d(_ x: Tensor, window: (Int, Int), strides: (Int, Int), padding: Padding) throws -> Tensor {
    let g = try WindowGeometry(op: "maxPool2d", input: x.shape, window: window, strides: strides,
                               dilations: (1, 1), padding: padding)
    let c = g.c
    let y = Tensor(shape: [g.n, g.ho, g.wo, c]) { out in
        x.scalars.withUnsafeBufferPointer { xb in
            guard let xp = xb.baseAddress, let op = out.baseAddress else { return }
            parallelFor(g.n * g.ho, grain: max(1, 4096 / max(1, g.wo * c * g.kh * g.kw))) { rowsRange in
                for row in rowsRange {
                    let img = row / g.ho, oy = row - img * g.ho
                    let iy0 = oy * g.strideY - g.padTop
                    let ky0 = max(0, -iy0), ky1 = min(g.kh, g.h - iy0)
                    for ox in 0..<g.wo {
                        let ix0 = ox * g.strideX - g.padLeft
                        let kx0 = max(0, -ix0), kx1 = min(g.kw, g.w - ix0)
                        let d = op + (row * g.wo + ox) * c
                        d.update(repeating: -.infinity, count: c)
                        for ky in ky0..<ky1 {
                            for kx in kx0..<kx1 {
                                let s = xp + ((img * g.h + iy0 + ky) * g.w + ix0 + kx) * c
                                for ch in 0..<c { d[ch] = max(d[ch], s[ch]) }
                            }
                        }
                    }
                }
            }
        }
    }
    let xs = x.scalars
    return Tensor.recorded(y, op: "maxPool2d", inputs: [x]) { dy in
        [maxPoolBackward(g, x: xs, dy: dy.scalars)]
    }
}

/// dX of max pooling: each output gradient added to the first maximum of its window.
func maxPoolBackward(_ g: WindowGeometry, x: [Float], dy: [Float]) -> Tensor {
    let c = g.c
    var dx = Tensor(shape: [g.n, g.h, g.w, c])
    dx.scalars.withUnsafeMutableBufferPointer { dxb in
        x.withUnsafeBufferPointer { xb in
            dy.withUnsafeBufferPointer { gb in
                guard let xp = xb.baseAddress, let gp = gb.baseAddress, let dp = dxb.baseAddress else { return }
                // Windows overlap, so workers own channel ranges (no two write the same element).
                parallelFor(c, grain: max(4, 16_384 / max(1, g.m * g.kh * g.kw))) { cr in
                    let c0 = cr.lowerBound, cn = cr.count
                    let best = UnsafeMutablePointer<Float>.allocate(capacity: cn)
                    let arg = UnsafeMutablePointer<Int>.allocate(capacity: cn)
                    defer { best.deallocate(); arg.deallocate() }
                    for row in 0..<(g.n * g.ho) {
                        let img = row / g.ho, oy = row - img * g.ho
                        let iy0 = oy * g.strideY - g.padTop
                        let ky0 = max(0, -iy0), ky1 = min(g.kh, g.h - iy0)
                        for ox in 0..<g.wo {
                            let ix0 = ox * g.strideX - g.padLeft
                            let kx0 = max(0, -ix0), kx1 = min(g.kw, g.w - ix0)
                            best.update(repeating: -.infinity, count: cn)
                            arg.update(repeating: -1, count: cn)
                            for ky in ky0..<ky1 {
                                for kx in kx0..<kx1 {
                                    let pixel = ((img * g.h + iy0 + ky) * g.w + ix0 + kx) * c + c0
                                    let s = xp + pixel
                                    for ch in 0..<cn where s[ch] > best[ch] || arg[ch] < 0 {
                                        best[ch] = s[ch]
                                        arg[ch] = pixel + ch
                                    }
                                }
                            }
                            let gr = gp + (row * g.wo + ox) * c + c0
                            for ch in 0..<cn where arg[ch] >= 0 { dp[arg[ch]] += gr[ch] }
                        }
                    }
                }
            }
        }
    }
    return dx
}
