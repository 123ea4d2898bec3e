// Activations: ReLU, sigmoid, tanh, and softmax along an axis (fused forward and backward).

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The logistic function 1/(1+e⁻ˣ) on one value.
@inline(__always)
func sigmoidScalar(_ x: Float) -> Float { 1 / (1 + expf(-x)) }

/// Elementwise max(x, 0); the gradient passes where x > 0. Shape unchanged.
public func relu(_ x: Tensor) throws -> Tensor {
    let y = mapElements(x) { $0 > 0 ? $0 : 0 }
    return Tensor.recorded(y, op: "relu", inputs: [x]) { g in [zipElements(g, y) { $1 > 0 ? $0 : 0 }] }
}

/// Elementwise 1/(1+e⁻ˣ); shape unchanged.
public func sigmoid(_ x: Tensor) throws -> Tensor {
    let y = mapElements(x) { sigmoidScalar($0) }
    return Tensor.recorded(y, op: "sigmoid", inputs: [x]) { g in [zipElements(g, y) { $0 * $1 * (1 - $1) }] }
}

/// Elementwise hyperbolic tangent; shape unchanged.
public func tanh(_ x: Tensor) throws -> Tensor {
    let y = mapElements(x) { tanhf($0) }
    return Tensor.recorded(y, op: "tanh", inputs: [x]) { g in [zipElements(g, y) { $0 * (1 - $1 * $1) }] }
}

/// Views `shape` reduced along `axis` as [outer, n, inner].
private func axisLayout(_ shape: [Int], axis: Int) -> (outer: Int, n: Int, inner: Int) {
    (shape[..<axis].reduce(1, *), shape[axis], shape[(axis + 1)...].reduce(1, *))
}

/// exp(x − max) / Σ exp(x − max) along `axis` (negative counts from the end); shape unchanged.
public func softmax(_ x: Tensor, axis: Int = -1) throws -> Tensor {
    let a = try canonicalAxis(axis, rank: x.rank, op: "softmax")
    let (outer, n, inner) = axisLayout(x.shape, axis: a)
    let y = x.scalars.withUnsafeBufferPointer { px in
        Tensor(shape: x.shape) { o0 in
            guard o0.count > 0 else { return }
            let p = px.baseAddress!, o = o0.baseAddress!
            if inner == 1 {
                // Softmax over the last axis: contiguous rows.
                parallelFor(outer, grain: Swift.max(1, 8_192 / n)) { range in
                    for line in range {
                        let row = p + line * n, out = o + line * n
                        var m = -Float.infinity
                        for j in 0..<n { m = Swift.max(m, row[j]) }
                        var s: Float = 0
                        for j in 0..<n { let e = expf(row[j] - m); out[j] = e; s += e }
                        let inv = 1 / s
                        for j in 0..<n { out[j] *= inv }
                    }
                }
                return
            }
            parallelFor(outer * inner, grain: Swift.max(1, 8_192 / n)) { range in
                for line in range {
                    let base = (line / inner) * n * inner + line % inner
                    var m = -Float.infinity
                    for j in 0..<n { m = Swift.max(m, p[base + j * inner]) }
                    var s: Float = 0
                    for j in 0..<n {
                        let e = expf(p[base + j * inner] - m)
                        o[base + j * inner] = e
                        s += e
                    }
                    let inv = 1 / s
                    for j in 0..<n { o[base + j * inner] *= inv }
                }
            }
        }
    }
    return Tensor.recorded(y, op: "softmax", inputs: [x]) { g in
        // dx = y · (g − Σ g·y) along the axis.
        let gx = g.scalars.withUnsafeBufferPointer { pg in
            y.scalars.withUnsafeBufferPointer { py in
                Tensor(shape: y.shape) { o0 in
                    guard o0.count > 0 else { return }
                    let gp = pg.baseAddress!, yp = py.baseAddress!, o = o0.baseAddress!
                    parallelFor(outer * inner, grain: Swift.max(1, 8_192 / n)) { range in
                        for line in range {
                            let base = (line / inner) * n * inner + line % inner
                            var dot: Float = 0
                            for j in 0..<n { dot += gp[base + j * inner] * yp[base + j * inner] }
                            for j in 0..<n {
                                let at = base + j * inner
                                o[at] = yp[at] * (gp[at] - dot)
                            }
                        }
                    }
                }
            }
        }
        return [gx]
    }
}
