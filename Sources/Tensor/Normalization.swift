// L2 normalisation and layer normalisation (TensorFlow 1.x semantics).
//
// Legend: a layer-norm "row" is everything from `beginNormAxis` on (for [B,1,N,C]: the N·C values
// of one batch entry); C is the last axis, the extent of gamma and beta.

/// x · rsqrt(max(Σx², ε)) with Σ over `axes` (nil: the whole tensor), as tf.math.l2_normalize; shape unchanged.
public func l2Normalize(_ x: Tensor, axes: [Int]?, epsilon: Float = 1e-12) throws -> Tensor {
    let ax = try canonicalAxes(axes, rank: x.rank, op: "l2Normalize")
    let sumSq = reduceSumRaw(mapElements(x) { $0 * $0 }, axes: ax)            // reduced axes kept as 1
    let scale = mapElements(sumSq) { 1 / Swift.max($0, epsilon).squareRoot() }
    let y = try broadcastBinary(x, scale, op: "l2Normalize") { $0 * $1 }
    return Tensor.recorded(y, op: "l2Normalize", inputs: [x]) { g in
        // Where Σx² > ε: dx = r·(g − y·Σ(g·y)); else the scale is constant: dx = r·g.
        let dot = reduceSumRaw(zipElements(g, y) { $0 * $1 }, axes: ax)
        let maskedDot = zipElements(dot, sumSq) { d, s in s > epsilon ? d : 0 }
        let yDot = try broadcastBinary(y, maskedDot, op: "l2Normalize backward") { $0 * $1 }
        let inner = zipElements(g, yDot) { $0 - $1 }
        return [try broadcastBinary(inner, scale, op: "l2Normalize backward") { $0 * $1 }]
    }
}

/// tf.contrib.layers.layer_norm: normalise over every axis from `beginNormAxis` (mean and biased
/// variance together), then ·gamma + beta, both of the last axis' extent C. x: [..., C]; shape unchanged.
public func layerNorm(
    _ x: Tensor, gamma: Tensor?, beta: Tensor?, beginNormAxis: Int = 1, epsilon: Float = 1e-12
) throws -> Tensor {
    guard x.rank >= 1 else { throw TensorError.invalidArgument(op: "layerNorm", reason: "needs rank ≥ 1") }
    let b = try canonicalAxis(beginNormAxis, rank: x.rank, op: "layerNorm")
    let c = x.shape[x.rank - 1]
    for (name, p) in [("gamma", gamma), ("beta", beta)] {
        if let p, p.shape != [c] {
            throw TensorError.shapeMismatch(op: "layerNorm", shapes: [x.shape, p.shape],
                                            reason: "\(name) must have the last axis' extent [\(c)]")
        }
    }
    let rows = x.shape[..<b].reduce(1, *), n = x.shape[b...].reduce(1, *)
    guard n > 0 else { throw TensorError.invalidArgument(op: "layerNorm", reason: "empty normalisation axes in \(x.shape)") }
    // Per-row mean and 1/√(var + ε), accumulated in Double.
    var mean = [Float](repeating: 0, count: rows), rstd = [Float](repeating: 0, count: rows)
    x.scalars.withUnsafeBufferPointer { p in
        mean.withUnsafeMutableBufferPointer { meanP in
            rstd.withUnsafeMutableBufferPointer { rstdP in
                parallelFor(rows, grain: Swift.max(1, 65_536 / n)) { range in
                    for r in range {
                        let row = p.baseAddress! + r * n
                        var s = 0.0
                        for i in 0..<n { s += Double(row[i]) }
                        let m = s / Double(n)
                        var v = 0.0
                        for i in 0..<n { let d = Double(row[i]) - m; v += d * d }
                        meanP[r] = Float(m)
                        rstdP[r] = 1 / (Float(v / Double(n)) + epsilon).squareRoot()
                    }
                }
            }
        }
    }
    let gammaS = gamma?.scalars, betaS = beta?.scalars
    let xs = x.detached
    let y = x.scalars.withUnsafeBufferPointer { p in
        Tensor(shape: x.shape) { o in
            guard o.count > 0 else { return }
            let px = p.baseAddress!, q = o.baseAddress!
            parallelFor(rows * n) { range in
                for i in range {
                    let r = i / n
                    var v = (px[i] - mean[r]) * rstd[r]
                    if let gammaS { v *= gammaS[i % c] }
                    if let betaS { v += betaS[i % c] }
                    q[i] = v
                }
            }
        }
    }
    var inputs = [x]
    if let gamma { inputs.append(gamma) }
    if let beta { inputs.append(beta) }
    let wantGamma = gamma?.isTracked ?? false, wantBeta = beta?.isTracked ?? false
    return Tensor.recorded(y, op: "layerNorm", inputs: inputs) { g in
        var dx = Tensor(shape: xs.shape)
        var dGamma = [Double](repeating: 0, count: c), dBeta = [Double](repeating: 0, count: c)
        g.scalars.withUnsafeBufferPointer { pg0 in
            xs.scalars.withUnsafeBufferPointer { px0 in
                dx.scalars.withUnsafeMutableBufferPointer { pd0 in
                    let pg = pg0.baseAddress!, px = px0.baseAddress!, pd = pd0.baseAddress!
                    for r in 0..<rows {
                        let base = r * n, m = mean[r], rs = rstd[r]
                        // dxhat = g·gamma; dx = rstd·(dxhat − mean(dxhat) − xhat·mean(dxhat·xhat)).
                        var sumD = 0.0, sumDX = 0.0
                        for i in 0..<n {
                            let xhat = (px[base + i] - m) * rs
                            let gi = pg[base + i]
                            let d = gammaS.map { gi * $0[i % c] } ?? gi
                            sumD += Double(d); sumDX += Double(d * xhat)
                            if wantGamma { dGamma[i % c] += Double(gi * xhat) }
                            if wantBeta { dBeta[i % c] += Double(gi) }
                        }
                        let meanD = Float(sumD / Double(n)), meanDX = Float(sumDX / Double(n))
                        parallelFor(n) { range in
                            for i in range {
                                let xhat = (px[base + i] - m) * rs
                                let d = gammaS.map { pg[base + i] * $0[i % c] } ?? pg[base + i]
                                pd[base + i] = rs * (d - meanD - xhat * meanDX)
                            }
                        }
                    }
                }
            }
        }
        var grads: [Tensor?] = [dx]
        if gamma != nil { grads.append(wantGamma ? try Tensor(shape: [c], scalars: dGamma.map { Float($0) }) : nil) }
        if beta != nil { grads.append(wantBeta ? try Tensor(shape: [c], scalars: dBeta.map { Float($0) }) : nil) }
        return grads
    }
}
