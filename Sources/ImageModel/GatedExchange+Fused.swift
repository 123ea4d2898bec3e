// The fused inference form of one level's gated exchange (GatedExchange.swift): the gated sum in one
// pass, the op-by-op order kept. FusedKernelTests checks it bit for bit.

import Tensor

/// Inference: x + relu(a)·s + relu(b)·t, where s and t hold one value per channel (the last axis) —
/// the gated exchange of one level (GatedExchangeModule). Computed as (x + relu(a)·s) + relu(b)·t,
/// the op-by-op order, so the result is identical.
func addGatedPair(_ x: Tensor, _ a: Tensor, gate s: Tensor, _ b: Tensor, gate t: Tensor) throws -> Tensor {
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
    return withScalarPointers([x, a, b, s, t]) { p in
        makeTensors(1, shape: x.shape) { o in
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
