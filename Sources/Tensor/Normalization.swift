// L2 normalisation and layer normalisation (TensorFlow 1.x semantics).
//
// Legend: a layer-norm "row" is everything from `beginNormAxis` on (for [B,1,N,C]: the N·C values
// of one batch entry); C is the last axis, the extent of gamma and beta.

/// x · rsqrt(max(Σx², ε)) with Σ over `axes` (nil: the whole tensor), as tf.math.l2_normalize; shape unchanged.
public func l2Normalize(_ x: Tensor, axes: [Int]?, epsilon: Float = 1e-12) throws -> Tensor {
    let ax = try canonicalAxes(axes, rank: x.rank, op: "l2Normalize")
    if ax == [x.rank - 1], x.count > 0 { return l2NormalizeLastAxis(x, epsilon: epsilon) }
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

/// One row's part of tf.math.l2_normalize: out = row · 1/√max(Σrow², ε), the squares summed left to
/// right. Returns that scale and whether Σrow² ≤ ε (the scale is then a constant). `out` may be `row`.
@inlinable @inline(__always)
public func l2NormalizeRow(_ row: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, count c: Int,
                    epsilon: Float) -> (scale: Float, clamped: Bool) {
    var s: Float = 0
    for j in 0..<c { s += row[j] * row[j] }
    let k = 1 / Swift.max(s, epsilon).squareRoot()
    for j in 0..<c { out[j] = row[j] * k }
    return (k, !(s > epsilon))
}

/// l2Normalize over the last axis (channels), fused: one pass per row of C forward and backward.
private func l2NormalizeLastAxis(_ x: Tensor, epsilon: Float) -> Tensor {
    let c = x.shape[x.rank - 1], rows = x.count / x.shape[x.rank - 1]
    var scale = [Float](repeating: 0, count: rows)
    var clamped = [Bool](repeating: false, count: rows)       // Σx² ≤ ε: the scale is a constant
    let y = x.scalars.withUnsafeBufferPointer { p0 in
        scale.withUnsafeMutableBufferPointer { sc in
            clamped.withUnsafeMutableBufferPointer { cl in
                Tensor(shape: x.shape) { o in
                    let p = p0.baseAddress!, q = o.baseAddress!
                    parallelFor(rows, grain: Swift.max(1, 16_384 / c)) { range in
                        for r in range {
                            (sc[r], cl[r]) = l2NormalizeRow(p + r * c, into: q + r * c, count: c, epsilon: epsilon)
                        }
                    }
                }
            }
        }
    }
    return Tensor.recorded(y, op: "l2Normalize", inputs: [x]) { g in
        // dx = r·(g − y·Σ(g·y)) per row, or r·g where the scale is clamped.
        g.scalars.withUnsafeBufferPointer { pg0 in
            y.scalars.withUnsafeBufferPointer { py0 in
                [Tensor(shape: x.shape) { o in
                    let pg = pg0.baseAddress!, py = py0.baseAddress!, q = o.baseAddress!
                    parallelFor(rows, grain: Swift.max(1, 16_384 / c)) { range in
                        for r in range {
                            let gr = pg + r * c, yr = py + r * c, k = scale[r]
                            var dot: Float = 0
                            if !clamped[r] { for j in 0..<c { dot += gr[j] * yr[j] } }
                            for j in 0..<c { q[r * c + j] = k * (gr[j] - yr[j] * dot) }
                        }
                    }
                }]
            }
        }
    }
}

/// tf.contrib.layers.layer_norm: normalise over every axis from `beginNormAxis` (mean and biased
/// variance together), then ·gamma + beta, both of the last axis' extent C. x: [..., C]; shape unchanged.
public func layerNorm(
    _ x: Tensor, gamma: Tensor?, beta: Tensor?, beginNormAxis: Int = 1, epsilon: Float = 1e-12
) throws -> Tensor {
    let forward = try layerNormForward(x, gamma: gamma, beta: beta, beginNormAxis: beginNormAxis, epsilon: epsilon)
    let (y, mean, rstd, gammaS, rows, pixels, c, xs) = (forward.y, forward.mean, forward.rstd, forward.gammaS,
                                                        forward.rows, forward.pixels, forward.c, x.detached)
    let n = pixels * c
    var inputs = [x]
    if let gamma { inputs.append(gamma) }
    if let beta { inputs.append(beta) }
    let wantGamma = gamma?.isTracked ?? false, wantBeta = beta?.isTracked ?? false
    return Tensor.recorded(y, op: "layerNorm", inputs: inputs) { g in
        // dxhat = g·gamma; dx = rstd·(dxhat − mean(dxhat) − xhat·mean(dxhat·xhat));
        // dgamma = Σ g·xhat, dbeta = Σ g over every axis but the last.
        var dx = Tensor(shape: xs.shape)
        // Positions in chunks of 256 (fixed by the shape), each with its own Σ for dgamma and dbeta,
        // added in chunk order.
        let per = 256
        let chunks = Swift.max(1, (rows * pixels + per - 1) / per)
        var perPixel = [Double](repeating: 0, count: 2 * rows * pixels)     // Σ dxhat, Σ dxhat·xhat
        var chunkGamma = [Double](repeating: 0, count: chunks * c), chunkBeta = [Double](repeating: 0, count: chunks * c)
        g.scalars.withUnsafeBufferPointer { pg0 in
            xs.scalars.withUnsafeBufferPointer { px0 in
                dx.scalars.withUnsafeMutableBufferPointer { pd0 in
                    perPixel.withUnsafeMutableBufferPointer { ps in
                        chunkGamma.withUnsafeMutableBufferPointer { cg in
                            chunkBeta.withUnsafeMutableBufferPointer { cb in
                                gammaS.withUnsafeBufferPointer { gm in
                                    guard let pg = pg0.baseAddress, let px = px0.baseAddress, let pd = pd0.baseAddress else { return }
                                    parallelFor(chunks, grain: 1) { chunkRange in
                                        for chunk in chunkRange {
                                            var accG = [Float](repeating: 0, count: c), accB = [Float](repeating: 0, count: c)
                                            let lo = Swift.min(rows * pixels, chunk * per), hi = Swift.min(rows * pixels, lo + per)
                                            var sinceFlush = 0
                                            for pix in lo..<hi {
                                                let r = pix / pixels, at = pix * c, m = mean[r], rs = rstd[r]
                                                var sd: Float = 0, sdx: Float = 0
                                                for j in 0..<c {
                                                    let xhat = (px[at + j] - m) * rs, gi = pg[at + j]
                                                    let d = gi * gm[j]
                                                    sd += d; sdx += d * xhat
                                                    accG[j] += gi * xhat; accB[j] += gi
                                                }
                                                ps[2 * pix] = Double(sd); ps[2 * pix + 1] = Double(sdx)
                                                sinceFlush += 1
                                                if sinceFlush == 64 || pix == hi - 1 {
                                                    for j in 0..<c {
                                                        cg[chunk * c + j] += Double(accG[j]); cb[chunk * c + j] += Double(accB[j])
                                                        accG[j] = 0; accB[j] = 0
                                                    }
                                                    sinceFlush = 0
                                                }
                                            }
                                        }
                                    }
                                    var meanD = [Float](repeating: 0, count: rows), meanDX = [Float](repeating: 0, count: rows)
                                    for r in 0..<rows {
                                        var sd = 0.0, sdx = 0.0
                                        for q in 0..<pixels { sd += ps[2 * (r * pixels + q)]; sdx += ps[2 * (r * pixels + q) + 1] }
                                        meanD[r] = Float(sd / Double(n)); meanDX[r] = Float(sdx / Double(n))
                                    }
                                    parallelFor(rows * pixels, grain: Swift.max(1, 32_768 / c)) { range in
                                        for pix in range {
                                            let r = pix / pixels, at = pix * c, m = mean[r], rs = rstd[r]
                                            let md = meanD[r], mdx = meanDX[r]
                                            for j in 0..<c {
                                                let xhat = (px[at + j] - m) * rs
                                                pd[at + j] = rs * (pg[at + j] * gm[j] - md - xhat * mdx)
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
        var grads: [Tensor?] = [dx]
        if gamma != nil {
            var dGamma = [Float](repeating: 0, count: c)
            for j in 0..<c { dGamma[j] = Float((0..<chunks).reduce(0.0) { $0 + chunkGamma[$1 * c + j] }) }
            grads.append(wantGamma ? try Tensor(shape: [c], scalars: dGamma) : nil)
        }
        if beta != nil {
            var dBeta = [Float](repeating: 0, count: c)
            for j in 0..<c { dBeta[j] = Float((0..<chunks).reduce(0.0) { $0 + chunkBeta[$1 * c + j] }) }
            grads.append(wantBeta ? try Tensor(shape: [c], scalars: dBeta) : nil)
        }
        return grads
    }
}

/// blockedSum of each of `positions` runs of `c` values at x (the first pass of layerNorm's mean).
func positionSums(_ x: UnsafePointer<Float>, positions: Int, c: Int) -> [Double] {
    var partial = [Double](repeating: 0, count: positions)
    partial.withUnsafeMutableBufferPointer { pp in
        parallelFor(positions, grain: Swift.max(1, 32_768 / c)) { range in
            for q in range { pp[q] = blockedSum(x + q * c, c) }
        }
    }
    return partial
}

/// layerNorm's statistics of `rows` rows of `pixels` positions of `c` values at x, given each
/// position's sum (`partial`, from `positionSums` or computed as it does): per row the mean (the
/// positions' sums added in Double) and 1/√(var + ε), the biased variance from a second pass of
/// Float sums per position; and per row [scale | shift] (2c values) with which
/// LN(x) = x·scale + shift: scale = rstd·gamma, shift = beta − mean·rstd·gamma.
public func layerNormStatistics(_ x: UnsafePointer<Float>, partial: [Double], rows: Int, pixels: Int, c: Int,
                         gamma: [Float], beta: [Float],
                         epsilon: Float) -> (mean: [Float], rstd: [Float], scaleShift: [Float]) {
    let n = pixels * c
    var mean = [Float](repeating: 0, count: rows), rstd = [Float](repeating: 0, count: rows)
    for r in 0..<rows {
        var s = 0.0
        for q in 0..<pixels { s += partial[r * pixels + q] }
        mean[r] = Float(s / Double(n))
    }
    var squares = [Double](repeating: 0, count: rows * pixels)
    squares.withUnsafeMutableBufferPointer { sq in
        parallelFor(rows * pixels, grain: Swift.max(1, 32_768 / c)) { range in
            for q in range {
                let m = mean[q / pixels], row = x + q * c
                var s0: Float = 0
                for j in 0..<c { let d = row[j] - m; s0 += d * d }
                sq[q] = Double(s0)
            }
        }
    }
    for r in 0..<rows {
        var v = 0.0
        for q in 0..<pixels { v += squares[r * pixels + q] }
        rstd[r] = 1 / (Float(v / Double(n)) + epsilon).squareRoot()
    }
    var scaleShift = [Float](repeating: 0, count: rows * 2 * c)
    for r in 0..<rows {
        for j in 0..<c {
            scaleShift[r * 2 * c + j] = rstd[r] * gamma[j]
            scaleShift[r * 2 * c + c + j] = beta[j] - mean[r] * rstd[r] * gamma[j]
        }
    }
    return (mean, rstd, scaleShift)
}

/// The forward pass of `layerNorm`, with an optional epilogue for fused inference: the normalised
/// value v becomes `residual + v` (residual of x's shape, added in that order) and then max(·, 0)
/// when `relu`. Returns the output and the statistics the gradient needs.
func layerNormForward(
    _ x: Tensor, gamma: Tensor?, beta: Tensor?, beginNormAxis: Int, epsilon: Float,
    residual: Tensor? = nil, relu: Bool = false
) throws -> (y: Tensor, mean: [Float], rstd: [Float], gammaS: [Float], rows: Int, pixels: Int, c: Int) {
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
    let pixels = n / c                      // positions of C values in one row
    if let residual, residual.shape != x.shape {
        throw TensorError.shapeMismatch(op: "layerNorm", shapes: [x.shape, residual.shape],
                                        reason: "the residual must have the input's shape")
    }
    let gammaS = gamma?.scalars ?? [Float](repeating: 1, count: c)
    let betaS = beta?.scalars ?? [Float](repeating: 0, count: c)
    // Per-row mean and 1/√(var + ε): Float sums per position, Double across positions; y = x·scale + shift.
    let (mean, rstd, scaleShift) = x.scalars.withUnsafeBufferPointer { p0 in
        layerNormStatistics(p0.baseAddress!, partial: positionSums(p0.baseAddress!, positions: rows * pixels, c: c),
                            rows: rows, pixels: pixels, c: c, gamma: gammaS, beta: betaS, epsilon: epsilon)
    }
    let rs = residual?.scalars ?? []
    let y = x.scalars.withUnsafeBufferPointer { p0 in
        scaleShift.withUnsafeBufferPointer { ss0 in
            rs.withUnsafeBufferPointer { rs0 in
                Tensor(shape: x.shape) { o in
                    guard let q = o.baseAddress, let px = p0.baseAddress else { return }
                    let ss = ss0.baseAddress!
                    let rp = residual == nil ? nil : rs0.baseAddress
                    parallelFor(rows * pixels, grain: Swift.max(1, 32_768 / c)) { range in
                        for pix in range {
                            let r = pix / pixels, at = pix * c
                            let a = ss + r * 2 * c, bb = a + c
                            switch (rp, relu) {
                            case (let rp?, true):
                                for j in 0..<c { let v = rp[at + j] + (px[at + j] * a[j] + bb[j]); q[at + j] = v > 0 ? v : 0 }
                            case (let rp?, false):
                                for j in 0..<c { q[at + j] = rp[at + j] + (px[at + j] * a[j] + bb[j]) }
                            case (nil, true):
                                for j in 0..<c { let v = px[at + j] * a[j] + bb[j]; q[at + j] = v > 0 ? v : 0 }
                            case (nil, false):
                                for j in 0..<c { q[at + j] = px[at + j] * a[j] + bb[j] }
                            }
                        }
                    }
                }
            }
        }
    }
    return (y, mean, rstd, gammaS, rows, pixels, c)
}
