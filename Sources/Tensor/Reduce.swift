// Reductions: sum, mean and max over a set of axes.
//
// The kernel sees a tensor as [outer, r, inner] with the reduced axes merged into r. When the
// reduced axes are not one contiguous block (after dropping axes of extent 1), the tensor is first
// transposed so that they are: kept axes first, reduced axes last.

/// How a reduction over `axes` of `shape` maps onto [outer, r, inner], or nil when the reduced
/// axes (of extent > 1) are not contiguous.
private func reductionLayout(_ shape: [Int], axes: [Int]) -> (outer: Int, r: Int, inner: Int)? {
    let reduced = Set(axes)
    // Kinds of the non-trivial axes, merged: true = reduced.
    var kinds: [Bool] = []
    var sizes: [Int] = []
    for (d, n) in shape.enumerated() where n != 1 {
        let k = reduced.contains(d)
        if let last = kinds.last, last == k { sizes[sizes.count - 1] *= n } else { kinds.append(k); sizes.append(n) }
    }
    switch kinds {
    case []: return (1, 1, 1)
    case [true]: return (1, sizes[0], 1)
    case [false]: return (sizes[0], 1, 1)
    case [false, true]: return (sizes[0], sizes[1], 1)
    case [true, false]: return (1, sizes[0], sizes[1])
    case [false, true, false]: return (sizes[0], sizes[1], sizes[2])
    default: return nil
    }
}

/// The shape a reduction keeps when `keepDims` is on: reduced axes become 1.
private func keptShape(_ shape: [Int], axes: [Int]) -> [Int] {
    var s = shape
    for a in axes { s[a] = 1 }
    return s
}

/// The permutation that moves the reduced axes last, keeping both groups in order.
private func reducedLastPermutation(rank: Int, axes: [Int]) -> [Int] {
    let reduced = Set(axes)
    return (0..<rank).filter { !reduced.contains($0) } + axes
}

/// Rows summed in Float before the running total moves to Double (accuracy of long sums).
@usableFromInline let sumBlock = 256

/// Σ of n contiguous floats: Float partial sums over short blocks, added up in Double.
@inlinable @inline(__always)
public func blockedSum(_ p: UnsafePointer<Float>, _ n: Int) -> Double {
    var total = 0.0
    var start = 0
    while start < n {
        let end = Swift.min(n, start + sumBlock)
        var s0: Float = 0, s1: Float = 0, s2: Float = 0, s3: Float = 0
        var j = start
        while j + 4 <= end {
            s0 += p[j]; s1 += p[j + 1]; s2 += p[j + 2]; s3 += p[j + 3]
            j += 4
        }
        while j < end { s0 += p[j]; j += 1 }
        total += Double((s0 + s1) + (s2 + s3))
        start = end
    }
    return total
}

/// Σ over [outer, r, inner] into [outer, inner] (no recording).
private func sumKernel(_ x: UnsafePointer<Float>, outer: Int, r: Int, inner: Int, into o: UnsafeMutablePointer<Float>) {
    if inner == 1 {
        if outer == 1 && r >= 65_536 {
            // One long sum: chunks of 65 536 values (fixed by r) on the engine's workers, one partial
            // total per chunk, added in chunk order.
            let per = 65_536
            let chunks = (r + per - 1) / per
            var partial = [Double](repeating: 0, count: chunks)
            partial.withUnsafeMutableBufferPointer { pp in
                parallelFor(chunks, grain: 1) { range in
                    for c in range {
                        let lo = Swift.min(r, c * per), hi = Swift.min(r, lo + per)
                        pp[c] = blockedSum(x + lo, hi - lo)
                    }
                }
            }
            o[0] = Float(partial.reduce(0, +))
            return
        }
        parallelFor(outer, grain: Swift.max(1, 32_768 / Swift.max(r, 1))) { range in
            for i in range { o[i] = Float(blockedSum(x + i * r, r)) }
        }
        return
    }
    // Σ over the middle axis of rows of `inner` values, for output columns `cols` of block i.
    @inline(__always)
    func columns(_ i: Int, _ cols: Range<Int>) {
        let q = o + i * inner
        if r <= sumBlock {
            for k in cols { q[k] = 0 }
            for j in 0..<r {
                let p = x + (i * r + j) * inner
                for k in cols { q[k] += p[k] }
            }
            return
        }
        var total = [Double](repeating: 0, count: cols.count)
        var start = 0
        while start < r {
            let end = Swift.min(r, start + sumBlock)
            for k in cols { q[k] = 0 }
            for j in start..<end {
                let p = x + (i * r + j) * inner
                for k in cols { q[k] += p[k] }
            }
            for k in cols { total[k - cols.lowerBound] += Double(q[k]) }
            start = end
        }
        for k in cols { q[k] = Float(total[k - cols.lowerBound]) }
    }
    // Either way each output column is summed in the same order, so the choice only decides the speed.
    if outer >= 4 || outer * r * inner < 65_536 {
        parallelFor(outer, grain: Swift.max(1, 32_768 / Swift.max(r * inner, 1))) { range in
            for i in range { columns(i, 0..<inner) }
        }
    } else {
        // Few outer blocks: split the inner axis across the cores instead.
        for i in 0..<outer {
            parallelFor(inner, grain: Swift.max(1, 32_768 / Swift.max(r, 1))) { range in columns(i, range) }
        }
    }
}

/// Σ of `x` over `axes` (canonical, sorted), with the reduced axes kept as 1 (no recording).
func reduceSumRaw(_ x: Tensor, axes: [Int]) -> Tensor {
    let outShape = keptShape(x.shape, axes: axes)
    if axes.isEmpty { return x.detached }
    guard let (outer, r, inner) = reductionLayout(x.shape, axes: axes) else {
        let perm = reducedLastPermutation(rank: x.rank, axes: axes)
        let t = transposeRaw(x, perm)
        var s = reduceSumRaw(t, axes: Array((x.rank - axes.count)..<x.rank))
        s.setShape(outShape)
        return s
    }
    return x.scalars.withUnsafeBufferPointer { px in
        Tensor(shape: outShape) { o in
            guard o.count > 0 else { return }
            if r == 0 {
                for i in o.indices { o[i] = 0 }
                return
            }
            sumKernel(px.baseAddress!, outer: outer, r: r, inner: inner, into: o.baseAddress!)
        }
    }
}

/// Max of `x` over `axes` (canonical, sorted) with reduced axes kept as 1, and for every output
/// element the flat index (in `x`) of its first maximum (no recording). Throws on an empty reduction.
func reduceMaxRaw(_ x: Tensor, axes: [Int], op: String) throws -> (values: Tensor, argmax: [Int]) {
    let outShape = keptShape(x.shape, axes: axes)
    for a in axes where x.shape[a] == 0 {
        throw TensorError.invalidArgument(op: op, reason: "cannot take the max over axis \(a) of extent 0")
    }
    if axes.isEmpty { return (x.detached, Array(0..<x.count)) }
    guard let (outer, r, inner) = reductionLayout(x.shape, axes: axes) else {
        let perm = reducedLastPermutation(rank: x.rank, axes: axes)
        let t = transposeRaw(x, perm)
        var (v, idx) = try reduceMaxRaw(t, axes: Array((x.rank - axes.count)..<x.rank), op: op)
        v.setShape(outShape)
        // Map flat indices of the transposed tensor back to `x`.
        let tShape = t.shape
        let xStrides = Tensor.strides(of: x.shape)
        for (n, i) in idx.enumerated() {
            var rem = i, off = 0
            for d in stride(from: tShape.count - 1, through: 0, by: -1) {
                off += (rem % tShape[d]) * xStrides[perm[d]]
                rem /= tShape[d]
            }
            idx[n] = off
        }
        return (v, idx)
    }
    var argmax = [Int](repeating: 0, count: outer * inner)
    let values = x.scalars.withUnsafeBufferPointer { px in
        argmax.withUnsafeMutableBufferPointer { am in
            Tensor(shape: outShape) { o in
                guard o.count > 0 else { return }
                let p = px.baseAddress!, q = o.baseAddress!, a = am.baseAddress!
                parallelFor(outer * inner, grain: Swift.max(1, 32_768 / Swift.max(r, 1))) { range in
                    for n in range {
                        let i = n / inner, k = n % inner
                        var best = p[i * r * inner + k], bestAt = i * r * inner + k
                        for j in 1..<Swift.max(r, 1) {
                            let at = (i * r + j) * inner + k
                            if p[at] > best || (best.isNaN == false && p[at].isNaN) { best = p[at]; bestAt = at }
                        }
                        q[n] = best
                        a[n] = bestAt
                    }
                }
            }
        }
    }
    return (values, argmax)
}

extension Tensor {
    /// Σ over `axes` (nil: all; negative axes count from the end); reduced axes dropped unless `keepDims`.
    public func sum(axes: [Int]? = nil, keepDims: Bool = false) throws -> Tensor {
        let ax = try canonicalAxes(axes, rank: rank, op: "sum")
        var y = reduceSumRaw(self, axes: ax)
        if !keepDims { y.setShape(y.shape.enumerated().filter { !ax.contains($0.offset) }.map(\.element)) }
        let xShape = shape, kept = keptShape(shape, axes: ax)
        return Tensor.recorded(y, op: "sum", inputs: [self]) { g in
            var gk = g
            gk.setShape(kept)
            return [broadcastRaw(gk, to: xShape)]
        }
    }

    /// Mean over `axes` (nil: all; negative axes count from the end); reduced axes dropped unless `keepDims`.
    public func mean(axes: [Int]? = nil, keepDims: Bool = false) throws -> Tensor {
        let ax = try canonicalAxes(axes, rank: rank, op: "mean")
        let n = ax.reduce(1) { $0 * shape[$1] }
        guard n > 0 else {
            throw TensorError.invalidArgument(op: "mean", reason: "mean over an empty set of elements (shape \(shape))")
        }
        return try sum(axes: ax, keepDims: keepDims) * (1 / Float(n))
    }

    /// Max over `axes` (nil: all; negative axes count from the end); the gradient goes to the first maximum.
    public func max(axes: [Int]? = nil, keepDims: Bool = false) throws -> Tensor {
        let ax = try canonicalAxes(axes, rank: rank, op: "max")
        var (y, argmax) = try reduceMaxRaw(self, axes: ax, op: "max")
        if !keepDims { y.setShape(y.shape.enumerated().filter { !ax.contains($0.offset) }.map(\.element)) }
        let xShape = shape
        return Tensor.recorded(y, op: "max", inputs: [self]) { g in
            var gx = Tensor(shape: xShape)
            gx.scalars.withUnsafeMutableBufferPointer { q in
                for (n, at) in argmax.enumerated() { q[at] += g.scalars[n] }
            }
            return [gx]
        }
    }
}
