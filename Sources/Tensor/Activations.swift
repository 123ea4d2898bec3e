// Activations: ReLU, sigmoid, tanh, and softmax along an axis (fused forward and backward).

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The logistic function 1/(1+e⁻ˣ) on one value, with `fastExp` so loops over it vectorise.
@inlinable @inline(__always)
public func sigmoidScalar(_ x: Float) -> Float { 1 / (1 + fastExp(-x)) }

/// eˣ for Float without a libm call (so the loops calling it vectorise): Cephes' expf — x = n·ln 2 + r
/// with n the nearest integer (ln 2 split in two parts), a degree-6 polynomial for eʳ, and 2ⁿ built
/// in the exponent bits. Within 2 ulp of expf over [−87.3, 88]; 0 below (where expf gives
/// subnormals), ∞ above (expf still gives up to 3.4e38 there), NaN stays NaN. For the logistic
/// function these ends are exact to a Float: σ is 0 or 1 there either way.
@inlinable @inline(__always)
public func fastExp(_ input: Float) -> Float {
    let x = Swift.min(Swift.max(input, -87.33654), 88.0)
    let magic: Float = 12_582_912                               // 1.5·2²³: adding it rounds to an integer
    let t = x * 1.44269504088896341 + magic
    let n = t - magic
    let r = (x - n * 0.693359375) + n * 2.12194440e-4           // x − n·ln 2 (ln 2 = C1 − C2)
    var p: Float = 1.9875691500e-4
    p = p * r + 1.3981999507e-3
    p = p * r + 8.3334519073e-3
    p = p * r + 4.1665795894e-2
    p = p * r + 1.6666665459e-1
    p = p * r + 5.0000001201e-1
    p = p * (r * r) + r + 1
    let twoN = Float(bitPattern: (t.bitPattern &- magic.bitPattern &+ 127) << 23)
    let y = p * twoN
    return input > 88.0 ? .infinity : (input < -87.33654 ? 0 : (input.isNaN ? input : y))
}

/// tanh as TensorFlow computes it on the CPU for float32: Eigen's rational approximation
/// (generic_fast_tanh_float) — odd degree-13 numerator over even degree-6 denominator on
/// [−7.99881172, 7.99881172], x itself below 0.0004, ±1 beyond the interval (as TensorFlow 2.21
/// returns). No libm call, so the loop vectorises.
@inlinable @inline(__always)
public func fastTanh(_ input: Float) -> Float {
    let x = Swift.min(Swift.max(input, -7.99881172180175781), 7.99881172180175781)
    let x2 = x * x
    var p: Float = x2 * -2.76076847742355e-16 + 2.00018790482477e-13
    p = x2 * p + -8.60467152213735e-11
    p = x2 * p + 5.12229709037114e-08
    p = x2 * p + 1.48572235717979e-05
    p = x2 * p + 6.37261928875436e-04
    p = x2 * p + 4.89352455891786e-03
    p = x * p
    var q: Float = x2 * 1.19825839466702e-06 + 1.18534705686654e-04
    q = x2 * q + 2.26843463243900e-03
    q = x2 * q + 4.89352518554385e-03
    let a = Swift.abs(input)
    return a < 0.0004 ? input : (a >= 7.99881172180175781 ? (input > 0 ? 1 : -1) : p / q)
}

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
    let y = mapElements(x) { fastTanh($0) }
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
