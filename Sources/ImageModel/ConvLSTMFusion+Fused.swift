// The fused inference form of the ConvLSTM cell (ConvLSTMFusion.swift): the same arithmetic as the
// op-by-op cell training records, in five passes over memory. FusedKernelTests checks it bit for bit.

import Tensor

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
func convLSTMCellInference(gates y: Tensor, state c: Tensor, wci: Tensor, wcf: Tensor, wco: Tensor,
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
    let gates = withScalarPointers([y, c, wci, wcf]) { p in
        sums.withUnsafeMutableBufferPointer { sb in
            makeTensors(4, shape: shape) { o in
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
    let jif = try Tensor(shape: [3, rows, 2 * d], scalars: withScalarPointers(Array(gates[0..<3])) { g in
        (0..<3).flatMap { k in
            layerNormStatistics(g[k], partial: Array(sums[k * positions..<(k + 1) * positions]), rows: rows, pixels: pixels,
                                c: d, gamma: norm[2 * k], beta: norm[2 * k + 1], epsilon: epsilon).scaleShift
        }
    })
    // 3. c' = c·σ(LN(f) + 1) + σ(LN(i))·tanh(LN(j)); o + wco·c'; sum each position of both.
    var nextSums = [Double](repeating: 0, count: 2 * positions)                  // c' | o
    let next = withScalarPointers(gates + [c, wco, jif]) { p in
        nextSums.withUnsafeMutableBufferPointer { sb in
            makeTensors(2, shape: shape) { o in
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
    let oc = try Tensor(shape: [2, rows, 2 * d], scalars: withScalarPointers(next) { g in
        layerNormStatistics(g[1], partial: Array(nextSums[positions...]), rows: rows, pixels: pixels, c: d,
                            gamma: norm[6], beta: norm[7], epsilon: epsilon).scaleShift
            + layerNormStatistics(g[0], partial: Array(nextSums[..<positions]), rows: rows, pixels: pixels, c: d,
                                  gamma: norm[8], beta: norm[9], epsilon: epsilon).scaleShift
    })
    let out = withScalarPointers(next + [oc]) { p in
        makeTensors(2, shape: shape) { o in
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
