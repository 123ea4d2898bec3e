// Fused inference kernels: a few elementwise chains of the CMPC head done in one pass over memory
// instead of one temporary per op. Inference only — they record nothing, and refuse tracked inputs
// while the tape records (the blocks take the op-by-op path then).

/// acc + tanh(a) · l, where l holds one value per channel (a's last axis) — one MUTAN head added to
/// the heads' sum. `acc` nil = 0. Same rounding as tanh(a) * l + acc op by op (TensorFlow's tanh).
public func accumulateTanhProduct(_ acc: Tensor?, _ a: Tensor, channelFactor l: Tensor) throws -> Tensor {
    let c = a.shape.last ?? 0
    guard l.count == c, c > 0 else {
        throw TensorError.shapeMismatch(op: "accumulateTanhProduct", shapes: [a.shape, l.shape],
                                        reason: "the factor needs one value per channel of a")
    }
    if let acc, acc.shape != a.shape {
        throw TensorError.shapeMismatch(op: "accumulateTanhProduct", shapes: [acc.shape, a.shape],
                                        reason: "the sum and the head must have one shape")
    }
    if Tape.isRecording, a.isTracked || l.isTracked || acc?.isTracked == true {
        throw TensorError.invalidArgument(op: "accumulateTanhProduct", reason: "inference only: an input is tracked")
    }
    var out = acc?.detached ?? Tensor(shape: a.shape)
    let rows = a.count / c
    let first = acc == nil
    out.scalars.withUnsafeMutableBufferPointer { po in
        a.scalars.withUnsafeBufferPointer { pa in
            l.scalars.withUnsafeBufferPointer { pl in
                guard let o = po.baseAddress, let x = pa.baseAddress, let f = pl.baseAddress else { return }
                parallelFor(rows, grain: Swift.max(1, 32_768 / c)) { range in
                    for r in range {
                        let base = r * c
                        if first {
                            for j in 0..<c { o[base + j] = fastTanh(x[base + j]) * f[j] }
                        } else {
                            for j in 0..<c { o[base + j] = fastTanh(x[base + j]) * f[j] + o[base + j] }
                        }
                    }
                }
            }
        }
    }
    return out
}

/// Inference: the elementwise part of one step of the original's layer-normalised ConvLSTM cell
/// (ConvLSTMFusion), given the convolution's output `y` = [j | i | f | o] along the last axis
/// ([1,H,W,4D]), the cell state `c` and the peepholes `wci`, `wcf`, `wco` (H·W·D values each), and a
/// layer norm per gate — `norm(k, x)` normalises gate k (0 j, 1 i, 2 f, 3 o, 4 c). Returns the new
/// (c, h). Each value is computed with the same operations in the same order as the op-by-op path
/// (i + wci·c, sigmoid(f + 1), c·f + sigmoid(i)·tanh(j), …), so the results are identical; only the
/// temporaries between them are gone.
public func convLSTMCellInference(gates y: Tensor, state c: Tensor, wci: Tensor, wcf: Tensor, wco: Tensor,
                                  norm: (Int, Tensor) throws -> Tensor) throws -> (c: Tensor, h: Tensor) {
    let d4 = y.shape.last ?? 0, d = d4 / 4
    let shape = Array(y.shape.dropLast()) + [d]
    let n = shape.reduce(1, *)
    guard d4 == 4 * d, d > 0, c.shape == shape, wci.count == n, wcf.count == n, wco.count == n else {
        throw TensorError.shapeMismatch(op: "convLSTMCellInference", shapes: [y.shape, c.shape, wci.shape],
                                        reason: "gates [..,4D], state [..,D] and peepholes of H·W·D values")
    }
    if Tape.isRecording, [y, c, wci, wcf, wco].contains(where: \.isTracked) {
        throw TensorError.invalidArgument(op: "convLSTMCellInference", reason: "inference only: an input is tracked")
    }
    let pixels = n / d
    // Split the gates, adding the input and forget peepholes on the way.
    var j = Tensor(shape: shape), i = Tensor(shape: shape), f = Tensor(shape: shape)
    var oGate = Tensor(shape: shape)
    y.scalars.withUnsafeBufferPointer { py in
        c.scalars.withUnsafeBufferPointer { pc in
            wci.scalars.withUnsafeBufferPointer { pwi in
                wcf.scalars.withUnsafeBufferPointer { pwf in
                    j.scalars.withUnsafeMutableBufferPointer { pj in
                        i.scalars.withUnsafeMutableBufferPointer { pi in
                            f.scalars.withUnsafeMutableBufferPointer { pf in
                                oGate.scalars.withUnsafeMutableBufferPointer { po in
                                    let yy = py.baseAddress!, cc = pc.baseAddress!, wi = pwi.baseAddress!, wf = pwf.baseAddress!
                                    let jj = pj.baseAddress!, ii = pi.baseAddress!, ff = pf.baseAddress!, oo = po.baseAddress!
                                    parallelFor(pixels, grain: Swift.max(1, 8_192 / d)) { range in
                                        for q in range {
                                            let src = yy + q * d4, k0 = q * d
                                            for k in 0..<d {
                                                jj[k0 + k] = src[k]
                                                ii[k0 + k] = src[d + k] + wi[k0 + k] * cc[k0 + k]
                                                ff[k0 + k] = src[2 * d + k] + wf[k0 + k] * cc[k0 + k]
                                                oo[k0 + k] = src[3 * d + k]
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    let jn = try norm(0, j), inn = try norm(1, i), fn = try norm(2, f)
    // c' = c·sigmoid(f + 1) + sigmoid(i)·tanh(j); o = o + wco·c'.
    var cNew = Tensor(shape: shape)
    jn.scalars.withUnsafeBufferPointer { pj in
        inn.scalars.withUnsafeBufferPointer { pi in
            fn.scalars.withUnsafeBufferPointer { pf in
                c.scalars.withUnsafeBufferPointer { pc in
                    wco.scalars.withUnsafeBufferPointer { pw in
                        cNew.scalars.withUnsafeMutableBufferPointer { pn in
                            oGate.scalars.withUnsafeMutableBufferPointer { po in
                                let jj = pj.baseAddress!, ii = pi.baseAddress!, ff = pf.baseAddress!, cc = pc.baseAddress!
                                let ww = pw.baseAddress!, nn = pn.baseAddress!, oo = po.baseAddress!
                                parallelFor(n) { range in
                                    for k in range {
                                        let fg = sigmoidScalar(ff[k] + 1)
                                        let v = cc[k] * fg + sigmoidScalar(ii[k]) * fastTanh(jj[k])
                                        nn[k] = v
                                        oo[k] = oo[k] + ww[k] * v
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    let on = try norm(3, oGate), cn = try norm(4, cNew)
    // h = sigmoid(o)·tanh(c).
    var h = Tensor(shape: shape)
    on.scalars.withUnsafeBufferPointer { po in
        cn.scalars.withUnsafeBufferPointer { pc in
            h.scalars.withUnsafeMutableBufferPointer { ph in
                let oo = po.baseAddress!, cc = pc.baseAddress!, hh = ph.baseAddress!
                parallelFor(n) { range in
                    for k in range { hh[k] = sigmoidScalar(oo[k]) * fastTanh(cc[k]) }
                }
            }
        }
    }
    return (cn, h)
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
    if Tape.isRecording, [x, a, s, b, t].contains(where: \.isTracked) {
        throw TensorError.invalidArgument(op: "addGatedPair", reason: "inference only: an input is tracked")
    }
    let rows = x.count / c
    return x.scalars.withUnsafeBufferPointer { px in
        a.scalars.withUnsafeBufferPointer { pa in
            b.scalars.withUnsafeBufferPointer { pb in
                s.scalars.withUnsafeBufferPointer { ps in
                    t.scalars.withUnsafeBufferPointer { pt in
                        Tensor(shape: x.shape) { po in
                            let xx = px.baseAddress!, aa = pa.baseAddress!, bb = pb.baseAddress!
                            let ss = ps.baseAddress!, tt = pt.baseAddress!, oo = po.baseAddress!
                            parallelFor(rows, grain: Swift.max(1, 32_768 / c)) { range in
                                for r in range {
                                    let base = r * c
                                    for j in 0..<c {
                                        let ra = aa[base + j] > 0 ? aa[base + j] : 0
                                        let rb = bb[base + j] > 0 ? bb[base + j] : 0
                                        oo[base + j] = (xx[base + j] + ra * ss[j]) + rb * tt[j]
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
