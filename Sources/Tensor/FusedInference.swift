// Fused inference kernels: a few elementwise chains of the CMPC head done in one pass over memory
// instead of one temporary per op. Inference only — they record nothing, and refuse tracked inputs
// while the tape records (the blocks take the op-by-op path then).

/// Runs `body` with the base addresses of the tensors' scalars (every tensor non-empty).
private func reading<R>(_ tensors: [Tensor], _ body: ([UnsafePointer<Float>]) -> R) -> R {
    func nest(_ k: Int, _ pointers: [UnsafePointer<Float>]) -> R {
        guard k < tensors.count else { return body(pointers) }
        return tensors[k].scalars.withUnsafeBufferPointer { nest(k + 1, pointers + [$0.baseAddress!]) }
    }
    return nest(0, [])
}

/// `count` new tensors of `shape`, every element written by `body` through their base addresses.
private func writing(_ count: Int, shape: [Int], _ body: ([UnsafeMutablePointer<Float>]) -> Void) -> [Tensor] {
    func nest(_ k: Int, _ pointers: [UnsafeMutablePointer<Float>]) -> [Tensor] {
        guard k < count else {
            body(pointers)
            return []
        }
        var rest: [Tensor] = []
        let t = Tensor(shape: shape) { rest = nest(k + 1, pointers + [$0.baseAddress!]) }
        return [t] + rest
    }
    return nest(0, [])
}

/// Inference: the elementwise part of one step of the original's layer-normalised ConvLSTM cell
/// (ConvLSTMFusion), given the convolution's output `y` = [j | i | f | o] along the last axis
/// ([N,H,W,4D]), the cell state `c` and the peepholes `wci`, `wcf`, `wco` (H·W·D values each), and
/// the (gamma, beta) of the layer norm of each gate — 0 j, 1 i, 2 f, 3 o, 4 c (statistics over
/// H·W·D per batch entry, ε 1e-12). Returns the new (c, h).
///
/// Five passes over memory: split the gates (adding the input and forget peepholes) while summing
/// each position; the j, i, f variances; c' = c·σ(LN(f) + 1) + σ(LN(i))·tanh(LN(j)) and o + wco·c'
/// while summing them; their variances; h = σ(LN(o))·tanh(LN(c')). Every value takes the
/// operations of the op-by-op path (layerNorm, the peephole products, σ, tanh) in their order, so
/// the results are identical; only the temporaries and the separate normalisation passes are gone.
public func convLSTMCellInference(gates y: Tensor, state c: Tensor, wci: Tensor, wcf: Tensor, wco: Tensor,
                                  norms: [(gamma: Tensor, beta: Tensor)],
                                  epsilon: Float = 1e-12) throws -> (c: Tensor, h: Tensor) {
    let d4 = y.shape.last ?? 0, d = d4 / 4
    let shape = Array(y.shape.dropLast()) + [d]
    let count = shape.reduce(1, *)
    let rows = y.shape.first ?? 0, perRow = rows > 0 ? count / rows : 0
    guard y.rank >= 2, d4 == 4 * d, d > 0, count > 0, c.shape == shape,
          wci.count == perRow, wcf.count == perRow, wco.count == perRow else {
        throw TensorError.shapeMismatch(op: "convLSTMCellInference", shapes: [y.shape, c.shape, wci.shape],
                                        reason: "gates [N,..,4D], state [N,..,D] and peepholes of H·W·D values")
    }
    guard norms.count == 5, norms.allSatisfy({ $0.gamma.shape == [d] && $0.beta.shape == [d] }) else {
        throw TensorError.shapeMismatch(op: "convLSTMCellInference", shapes: norms.map(\.gamma.shape),
                                        reason: "five layer norms (j, i, f, o, c) with gamma and beta of [\(d)]")
    }
    let normTensors = norms.flatMap { [$0.gamma, $0.beta] }
    if Tape.records([y, c, wci, wcf, wco] + normTensors) {
        throw TensorError.invalidArgument(op: "convLSTMCellInference", reason: "inference only: an input is tracked")
    }
    let positions = count / d, pixels = positions / rows
    // 1. Split the gates j, i, f, o, adding the input and forget peepholes; sum each position of j, i, f.
    var sums = [Double](repeating: 0, count: 3 * positions)                      // j | i | f
    let gates = reading([y, c, wci, wcf]) { p in
        sums.withUnsafeMutableBufferPointer { sb in
            writing(4, shape: shape) { o in
                let (s0, s1, s2) = (sb.baseAddress!, sb.baseAddress! + positions, sb.baseAddress! + 2 * positions)
                let (gy, cc, wi, wf) = (p[0], p[1], p[2], p[3])
                let (j, i, f, og) = (o[0], o[1], o[2], o[3])
                parallelFor(positions, grain: Swift.max(1, 8_192 / d)) { range in
                    for q in range {
                        let src = gy + q * d4, k0 = q * d, w0 = (q % pixels) * d
                        for k in 0..<d {
                            j[k0 + k] = src[k]
                            i[k0 + k] = src[d + k] + wi[w0 + k] * cc[k0 + k]
                            f[k0 + k] = src[2 * d + k] + wf[w0 + k] * cc[k0 + k]
                            og[k0 + k] = src[3 * d + k]
                        }
                        s0[q] = blockedSum(j + k0, d)
                        s1[q] = blockedSum(i + k0, d)
                        s2[q] = blockedSum(f + k0, d)
                    }
                }
            }
        }
    }
    // 2. The j, i, f statistics.
    let norm = normTensors.map(\.scalars)
    let jif = try Tensor(shape: [3, rows, 2 * d], scalars: reading(Array(gates[0..<3])) { g in
        (0..<3).flatMap { k in
            layerNormStatistics(g[k], partial: Array(sums[k * positions..<(k + 1) * positions]), rows: rows, pixels: pixels,
                                c: d, gamma: norm[2 * k], beta: norm[2 * k + 1], epsilon: epsilon).scaleShift
        }
    })
    // 3. c' = c·σ(LN(f) + 1) + σ(LN(i))·tanh(LN(j)); o + wco·c'; sum each position of both.
    var nextSums = [Double](repeating: 0, count: 2 * positions)                  // c' | o
    let next = reading(gates + [c, wco, jif]) { p in
        nextSums.withUnsafeMutableBufferPointer { sb in
            writing(2, shape: shape) { o in
                let (sc, so) = (sb.baseAddress!, sb.baseAddress! + positions)
                let (j, i, f, og, cc, w, cNew, oNew) = (p[0], p[1], p[2], p[3], p[4], p[5], o[0], o[1])
                let (js, isc, fs) = (p[6], p[6] + rows * 2 * d, p[6] + 2 * rows * 2 * d)   // [scale | shift] per row
                parallelFor(positions, grain: Swift.max(1, 8_192 / d)) { range in
                    for q in range {
                        let k0 = q * d, r0 = (q / pixels) * 2 * d, w0 = (q % pixels) * d
                        for k in 0..<d {
                            let at = k0 + k
                            let jn = j[at] * js[r0 + k] + js[r0 + d + k]
                            let inn = i[at] * isc[r0 + k] + isc[r0 + d + k]
                            let fn = f[at] * fs[r0 + k] + fs[r0 + d + k]
                            let v = cc[at] * sigmoidScalar(fn + 1) + sigmoidScalar(inn) * fastTanh(jn)
                            cNew[at] = v
                            oNew[at] = og[at] + w[w0 + k] * v
                        }
                        sc[q] = blockedSum(cNew + k0, d)
                        so[q] = blockedSum(oNew + k0, d)
                    }
                }
            }
        }
    }
    // 4. The o and c' statistics; 5. h = σ(LN(o))·tanh(LN(c')), and LN(c') is the new state.
    let oc = try Tensor(shape: [2, rows, 2 * d], scalars: reading(next) { g in
        layerNormStatistics(g[1], partial: Array(nextSums[positions...]), rows: rows, pixels: pixels, c: d,
                            gamma: norm[6], beta: norm[7], epsilon: epsilon).scaleShift
            + layerNormStatistics(g[0], partial: Array(nextSums[..<positions]), rows: rows, pixels: pixels, c: d,
                                  gamma: norm[8], beta: norm[9], epsilon: epsilon).scaleShift
    })
    let out = reading(next + [oc]) { p in
        writing(2, shape: shape) { o in
            let (cRaw, oRaw, cn, hh) = (p[0], p[1], o[0], o[1])
            let (os, cs) = (p[2], p[2] + rows * 2 * d)                                      // [scale | shift] per row
            parallelFor(positions, grain: Swift.max(1, 8_192 / d)) { range in
                for q in range {
                    let k0 = q * d, r0 = (q / pixels) * 2 * d
                    for k in 0..<d {
                        let on = oRaw[k0 + k] * os[r0 + k] + os[r0 + d + k]
                        let cv = cRaw[k0 + k] * cs[r0 + k] + cs[r0 + d + k]
                        cn[k0 + k] = cv
                        hh[k0 + k] = sigmoidScalar(on) * fastTanh(cv)
                    }
                }
            }
        }
    }
    return (out[0], out[1])
}

/// Inference: x + relu(a)·s + relu(b)·t, where s and t hold one value per channel (the last axis) —
/// the gated exchange of one level (GatedExchangeModule). Computed as (x + relu(a)·s) + relu(b)·t,
/// the op-by-op order, so the result is identical.
public func addGatedPair(_ x: Tensor, _ a: Tensor, gate s: Tensor, _ b: Tensor, gate t: Tensor) throws -> Tensor {
    let c = x.shape.last ?? 0
    guard c > 0, a.shape == x.shape, b.shape == x.shape, s.count == c, t.count == c else {
        throw TensorError.shapeMismatch(op: "addGatedPair", shapes: [x.shape, a.shape, b.shape, s.shape, t.shape],
                                        reason: "x, a, b of one shape and a gate value per channel")
    }
    if Tape.records([x, a, s, b, t]) {
        throw TensorError.invalidArgument(op: "addGatedPair", reason: "inference only: an input is tracked")
    }
    guard x.count > 0 else { return x }
    let rows = x.count / c
    return reading([x, a, b, s, t]) { p in
        writing(1, shape: x.shape) { o in
            let (xx, aa, bb, ss, tt, out) = (p[0], p[1], p[2], p[3], p[4], o[0])
            parallelFor(rows, grain: Swift.max(1, 32_768 / c)) { range in
                for r in range {
                    let base = r * c
                    for j in 0..<c {
                        let ra = aa[base + j] > 0 ? aa[base + j] : 0
                        let rb = bb[base + j] > 0 ? bb[base + j] : 0
                        out[base + j] = (xx[base + j] + ra * ss[j]) + rb * tt[j]
                    }
                }
            }
        }[0]
    }
}

/// Inference: layerNorm(x) followed, in the same pass, by `residual + ·` (when given) and ReLU (when
/// `relu`) — the graph convolution's relu(X + LN(A·X)) and relu(LN(·)). The same operations in the
/// same order as layerNorm, the add and relu op by op, so the results are identical.
public func layerNormInference(_ x: Tensor, gamma: Tensor?, beta: Tensor?, beginNormAxis: Int = 1,
                               epsilon: Float = 1e-12, residual: Tensor? = nil, relu: Bool = false) throws -> Tensor {
    if Tape.records([x, gamma, beta, residual]) {
        throw TensorError.invalidArgument(op: "layerNormInference", reason: "inference only: an input is tracked")
    }
    return try layerNormForward(x, gamma: gamma, beta: beta, beginNormAxis: beginNormAxis, epsilon: epsilon,
                                residual: residual, relu: relu).y
}

/// Inference: the whole MUTAN fusion after its input concatenation,
/// l2normalize(tanh(Σₖ tanh(x·Wₖ + bₖ)·lₖ)) over the last axis, for K heads with weights Wₖ
/// ([1,1,Cin,C] or [Cin,C]), biases bₖ [C] and language factors lₖ (C values). The K products run as
/// one sgemm each into the columns of a [rows, K·C] buffer; then one pass per row does the rest
/// while the row is in cache (instead of 3K + 2 passes over [rows, C]). Each value takes the
/// operations of the op-by-op path in its order (the bias added to the product, heads summed from
/// the first, the row's squares summed left to right), so the result is the one the separate 1×1
/// convolutions (single-sgemm path), tanh, products, sums and l2Normalize give.
public func mutanInference(_ x: Tensor, weights: [Tensor], biases: [Tensor], factors: [Tensor],
                           epsilon: Float = 1e-12) throws -> Tensor {
    let heads = weights.count
    let cin = x.shape.last ?? 0
    let c = weights.first?.shape.last ?? 0
    guard heads > 0, biases.count == heads, factors.count == heads, cin > 0, c > 0,
          weights.allSatisfy({ $0.count == cin * c && $0.shape.last == c }),
          biases.allSatisfy({ $0.count == c }), factors.allSatisfy({ $0.count == c }) else {
        throw TensorError.shapeMismatch(op: "mutanInference", shapes: [x.shape] + weights.map(\.shape),
                                        reason: "x [..,Cin], head weights [Cin,C], a bias and a factor of C values per head")
    }
    if Tape.records([x] + weights + biases + factors) {
        throw TensorError.invalidArgument(op: "mutanInference", reason: "inference only: an input is tracked")
    }
    let rows = x.count / cin
    let shape = Array(x.shape.dropLast()) + [c]
    guard rows > 0 else { return Tensor(shape: shape) }
    let width = heads * c
    let products = UnsafeMutablePointer<Float>.allocate(capacity: rows * width)
    defer { products.deallocate() }
    var failure: Error?
    reading([x] + weights) { p in
        do {
            for k in 0..<heads {
                try BLAS.sgemm(m: rows, n: c, k: cin, a: p[0], lda: cin, b: p[1 + k], ldb: c,
                               c: products + k * c, ldc: width)
            }
        } catch { failure = error }
    }
    if let failure { throw failure }
    return reading(biases + factors) { p in
        writing(1, shape: shape) { o in
            let out = o[0]
            parallelFor(rows, grain: Swift.max(1, 8_192 / width)) { range in
                for r in range {
                    let raw = products + r * width, row = out + r * c
                    for j in 0..<c { row[j] = fastTanh(raw[j] + p[0][j]) * p[heads][j] }
                    for k in 1..<heads {
                        let rk = raw + k * c, b = p[k], l = p[heads + k]
                        for j in 0..<c { row[j] = fastTanh(rk[j] + b[j]) * l[j] + row[j] }
                    }
                    for j in 0..<c { row[j] = fastTanh(row[j]) }
                    _ = l2NormalizeRow(row, into: row, count: c, epsilon: epsilon)
                }
            }
        }[0]
    }
}
