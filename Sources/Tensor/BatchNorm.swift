// Batch normalisation in inference form and bias addition, both over the last axis.
//
// Legend: C channels (the last axis), R = count / C rows.
// y = γ·(x − mean)/√(var + ε) + β is computed as y = x·s + t with s = γ/√(var + ε),
// t = β − mean·s (the same folding `conv2dFused` takes as scale/shift).

/// Folds inference batch norm into a per-channel affine map: scale = γ/√(var + ε),
/// shift = β − mean·scale, all [C].
public func foldBatchNorm(mean: Tensor, variance: Tensor, offset: Tensor, scale: Tensor,
                          epsilon: Float = 0.001) throws -> (scale: Tensor, shift: Tensor) {
    let op = "foldBatchNorm"
    guard mean.rank == 1 else {
        throw TensorError.shapeMismatch(op: op, shapes: [mean.shape], reason: "the mean must be a vector")
    }
    let c = mean.count
    try variance.expectVector(c, op: op, name: "variance")
    try offset.expectVector(c, op: op, name: "offset")
    try scale.expectVector(c, op: op, name: "scale")
    var s = [Float](repeating: 0, count: c), t = [Float](repeating: 0, count: c)
    for i in 0..<c {
        s[i] = scale.scalars[i] / (variance.scalars[i] + epsilon).squareRoot()
        t[i] = offset.scalars[i] - mean.scalars[i] * s[i]
    }
    return (try Tensor(shape: [c], scalars: s), try Tensor(shape: [c], scalars: t))
}

/// y[r, c] = x[r, c]·s[c] + t[c] over the last axis, split across cores.
func affineLastAxis(_ x: [Float], channels c: Int, scale s: [Float]?, shift t: [Float]) -> [Float] {
    let count = x.count, rows = c == 0 ? 0 : count / c
    return [Float](unsafeUninitializedCapacity: count) { out, initialized in
        x.withUnsafeBufferPointer { xb in
            t.withUnsafeBufferPointer { tb in
                (s ?? []).withUnsafeBufferPointer { sb in
                    let xp = xb.baseAddress, op = out.baseAddress, tp = tb.baseAddress
                    let sp = s == nil ? nil : sb.baseAddress
                    guard let xp, let op, let tp else { return }
                    parallelFor(rows, grain: max(1, 32_768 / max(1, c))) { part in
                        for r in part {
                            let xr = xp + r * c, orow = op + r * c
                            if let sp {
                                for i in 0..<c { orow[i] = xr[i] * sp[i] + tp[i] }
                            } else {
                                for i in 0..<c { orow[i] = xr[i] + tp[i] }
                            }
                        }
                    }
                }
            }
        }
        initialized = count
    }
}

/// Batch normalisation in inference form over the last axis: γ·(x − mean)/√(var + ε) + β.
/// x [..., C]; mean, variance, offset (β), scale (γ) [C]. Gradients flow to x, offset and scale
/// (and to mean and variance, should they be tracked).
public func batchNormInference(_ x: Tensor, mean: Tensor, variance: Tensor, offset: Tensor, scale: Tensor,
                               epsilon: Float = 0.001) throws -> Tensor {
    let op = "batchNormInference"
    guard x.rank >= 1 else {
        throw TensorError.shapeMismatch(op: op, shapes: [x.shape], reason: "the input needs a channel axis")
    }
    let c = x.shape[x.rank - 1]
    try mean.expectVector(c, op: op, name: "mean")
    let (s, t) = try foldBatchNorm(mean: mean, variance: variance, offset: offset, scale: scale, epsilon: epsilon)
    let y = try Tensor(shape: x.shape, scalars: affineLastAxis(x.scalars, channels: c, scale: s.scalars, shift: t.scalars))
    let xs = x.scalars, ms = mean.scalars, vs = variance.scalars, gamma = scale.scalars
    return Tensor.recorded(y, op: op, inputs: [x, mean, variance, offset, scale]) { dy in
        let rows = c == 0 ? 0 : xs.count / c
        let dx = try Tensor(shape: dy.shape, scalars: affineLastAxis(
            dy.scalars, channels: c, scale: s.scalars, shift: [Float](repeating: 0, count: c)))
        // Per channel: Σ g and Σ g·(x − mean).
        let sums = dy.scalars.withUnsafeBufferPointer { gb in
            xs.withUnsafeBufferPointer { xb in
                ms.withUnsafeBufferPointer { mb in
                    columnSums(rows: rows, channels: 2 * c) { part, acc in
                        guard let gp = gb.baseAddress, let xp = xb.baseAddress, let mp = mb.baseAddress else { return }
                        for r in part {
                            let gr = gp + r * c, xr = xp + r * c
                            for i in 0..<c {
                                acc[i] += gr[i]
                                acc[c + i] += gr[i] * (xr[i] - mp[i])
                            }
                        }
                    }
                }
            }
        }
        var dMean = [Float](repeating: 0, count: c), dVar = dMean, dOffset = dMean, dScale = dMean
        for i in 0..<c {
            let rstd = 1 / (vs[i] + epsilon).squareRoot()
            dOffset[i] = sums[i]
            dScale[i] = sums[c + i] * rstd
            dMean[i] = -sums[i] * s.scalars[i]
            dVar[i] = -0.5 * gamma[i] * sums[c + i] * rstd * rstd * rstd
        }
        return [dx, try Tensor(shape: [c], scalars: dMean), try Tensor(shape: [c], scalars: dVar),
                try Tensor(shape: [c], scalars: dOffset), try Tensor(shape: [c], scalars: dScale)]
    }
}

/// x + bias with the bias broadcast over the last axis: x [..., C], bias [C] → [..., C].
public func biasAdd(_ x: Tensor, _ bias: Tensor) throws -> Tensor {
    let op = "biasAdd"
    guard x.rank >= 1 else {
        throw TensorError.shapeMismatch(op: op, shapes: [x.shape, bias.shape], reason: "the input needs a channel axis")
    }
    let c = x.shape[x.rank - 1]
    try bias.expectVector(c, op: op, name: "bias")
    let y = try Tensor(shape: x.shape, scalars: affineLastAxis(x.scalars, channels: c, scale: nil, shift: bias.scalars))
    return Tensor.recorded(y, op: op, inputs: [x, bias]) { dy in
        let rows = c == 0 ? 0 : dy.count / c
        let db = dy.scalars.withUnsafeBufferPointer { gb in
            columnSums(rows: rows, channels: c) { part, acc in
                guard let gp = gb.baseAddress else { return }
                for r in part {
                    let gr = gp + r * c
                    for i in 0..<c { acc[i] += gr[i] }
                }
            }
        }
        return [dy, try Tensor(shape: [c], scalars: db)]
    }
}
