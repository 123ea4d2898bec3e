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
