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
                    for row in 0..<(g.n * g.ho) {
                        let img = row / g.ho, oy = row - img * g.ho
                        let iy0 = oy * g.strideY - g.padTop
                        let ky0 = max(0, -iy0), ky1 = min(g.kh, g.h - iy0)
                        for ox in 0..<g.wo {
                            let ix0 = ox * g.strideX - g.padLeft
                            let kx0 = max(0, -ix0), kx1 = min(g.kw, g.w - ix0)
                            let tapsX = kx1 - kx0
                            let corner = ((img * g.h + iy0 + ky0) * g.w + ix0 + kx0) * c   // first tap's pixel
                            /// Element offset of valid tap number t (row-major over the valid taps).
                            func offset(_ t: Int) -> Int { corner + ((t / tapsX) * g.w + t % tapsX) * c }
                            let taps = (ky1 - ky0) * tapsX
                            let gr = gp + (row * g.wo + ox) * c
                            var ch = cr.lowerBound
                            // Four channels at a time, branch-free: later taps win only when strictly greater.
                            while ch + 4 <= cr.upperBound {
                                var best = UnsafeRawPointer(xp + corner + ch).loadUnaligned(as: SIMD4<Float>.self)
                                var arg = SIMD4<Int32>(repeating: 0)
                                for t in 1..<max(taps, 1) {
                                    let v = UnsafeRawPointer(xp + offset(t) + ch).loadUnaligned(as: SIMD4<Float>.self)
                                    let better = v .> best
                                    best.replace(with: v, where: better)
                                    arg.replace(with: SIMD4<Int32>(repeating: Int32(t)), where: better)
                                }
                                for lane in 0..<4 { dp[offset(Int(arg[lane])) + ch + lane] += gr[ch + lane] }
                                ch += 4
                            }
                            while ch < cr.upperBound {
                                var best = xp[corner + ch], arg = 0
                                for t in 1..<max(taps, 1) where xp[offset(t) + ch] > best {
                                    best = xp[offset(t) + ch]
                                    arg = t
                                }
                                dp[offset(arg) + ch] += gr[ch]
                                ch += 1
                            }
                        }
                    }
                }
            }
        }
    }
    return dx
}
