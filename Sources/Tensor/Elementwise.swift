// Elementwise arithmetic with NumPy broadcasting, and the unary math functions.
//
// Broadcasting aligns trailing axes; an axis of extent 1 (or a missing leading axis) repeats to
// the other operand's extent. The kernel first merges neighbouring axes that broadcast the same
// way for both operands, so [N,H,W,C] + [C] runs as rows of C, and [N,H,W,C] · [N,1,1,C] as N
// blocks of H·W rows. Gradients sum over the broadcast axes (see `sumReduced(toShape:)`).

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - Shared helpers

/// Resolves a possibly negative axis against `rank`, throwing when it is out of range.
@inline(__always)
func canonicalAxis(_ axis: Int, rank: Int, op: String) throws -> Int {
    let a = axis < 0 ? axis + rank : axis
    guard a >= 0, a < rank else {
        throw TensorError.invalidArgument(op: op, reason: "axis \(axis) is out of range for rank \(rank)")
    }
    return a
}

/// Resolves a list of axes (nil: all of them), sorted and without repeats.
func canonicalAxes(_ axes: [Int]?, rank: Int, op: String) throws -> [Int] {
    guard let axes else { return Array(0..<rank) }
    var out = Set<Int>()
    for a in axes {
        let c = try canonicalAxis(a, rank: rank, op: op)
        guard out.insert(c).inserted else {
            throw TensorError.invalidArgument(op: op, reason: "axis \(a) is listed twice in \(axes)")
        }
    }
    return out.sorted()
}

/// The broadcast shape of two shapes (NumPy rules), or a thrown shape mismatch.
func broadcastShape(_ a: [Int], _ b: [Int], op: String) throws -> [Int] {
    let r = Swift.max(a.count, b.count)
    var out = [Int](repeating: 1, count: r)
    for i in 0..<r {
        let da = i < r - a.count ? 1 : a[i - (r - a.count)]
        let db = i < r - b.count ? 1 : b[i - (r - b.count)]
        if da == db || db == 1 {
            out[i] = da
        } else if da == 1 {
            out[i] = db
        } else {
            throw TensorError.shapeMismatch(op: op, shapes: [a, b],
                                            reason: "axis \(i) has extents \(da) and \(db); neither is 1")
        }
    }
    return out
}

/// Applies `f` elementwise to the broadcast of `a` and `b` (no recording).
@inline(__always)
func broadcastBinary(_ a: Tensor, _ b: Tensor, op: String, _ f: (Float, Float) -> Float) throws -> Tensor {
    let outShape = a.shape == b.shape ? a.shape : try broadcastShape(a.shape, b.shape, op: op)
    let n = outShape.reduce(1, *)
    if n == 0 { return Tensor(shape: outShape) }
    return a.scalars.withUnsafeBufferPointer { pa in
        b.scalars.withUnsafeBufferPointer { pb in
            Tensor(shape: outShape) { o in
                broadcastApply(pa.baseAddress!, a.shape, pb.baseAddress!, b.shape, outShape, o.baseAddress!, f)
            }
        }
    }
}

/// `x` repeated along broadcast axes to `shape` (no recording; `shape` must be a broadcast of x's).
func broadcastRaw(_ x: Tensor, to shape: [Int]) -> Tensor {
    if x.shape == shape { return x.detached }
    let n = shape.reduce(1, *)
    if n == 0 { return Tensor(shape: shape) }
    return x.scalars.withUnsafeBufferPointer { px in
        Tensor(shape: shape) { o in
            broadcastApply(px.baseAddress!, x.shape, px.baseAddress!, [], shape, o.baseAddress!) { a, _ in a }
        }
    }
}

/// The broadcasting kernel: o[i] = f(a[…], b[…]) over `outShape` (non-empty), which must be the
/// broadcast of `aShape` and `bShape`.
@inline(__always)
func broadcastApply(
    _ pa: UnsafePointer<Float>, _ aShape: [Int], _ pb: UnsafePointer<Float>, _ bShape: [Int],
    _ outShape: [Int], _ o: UnsafeMutablePointer<Float>, _ f: (Float, Float) -> Float
) {
    let n = outShape.reduce(1, *)
    let aCount = aShape.reduce(1, *), bCount = bShape.reduce(1, *)
    if aCount == n && bCount == n {
        parallelFor(n) { r in for i in r { o[i] = f(pa[i], pb[i]) } }
        return
    }
    if aCount == n && bCount == 1 {
        let s = pb[0]
        parallelFor(n) { r in for i in r { o[i] = f(pa[i], s) } }
        return
    }
    if aCount == 1 && bCount == n {
        let s = pa[0]
        parallelFor(n) { r in for i in r { o[i] = f(s, pb[i]) } }
        return
    }
    // Merge neighbouring axes that broadcast alike for both operands.
    let r = outShape.count
    var ext: [Int] = [], fullA: [Bool] = [], fullB: [Bool] = []
    for d in 0..<r where outShape[d] != 1 {
        let da = d < r - aShape.count ? 1 : aShape[d - (r - aShape.count)]
        let db = d < r - bShape.count ? 1 : bShape[d - (r - bShape.count)]
        let fa = da != 1, fb = db != 1
        if let last = ext.indices.last, fullA[last] == fa, fullB[last] == fb {
            ext[last] *= outShape[d]
        } else {
            ext.append(outShape[d]); fullA.append(fa); fullB.append(fb)
        }
    }
    let k = ext.count
    var sa = [Int](repeating: 0, count: k), sb = [Int](repeating: 0, count: k)
    var accA = 1, accB = 1
    for d in stride(from: k - 1, through: 0, by: -1) {
        if fullA[d] { sa[d] = accA; accA *= ext[d] }
        if fullB[d] { sb[d] = accB; accB *= ext[d] }
    }
    let inner = ext[k - 1], ia = sa[k - 1], ib = sb[k - 1]
    let rows = n / inner
    parallelFor(rows, grain: Swift.max(1, 32_768 / inner)) { range in
        // Odometer over the outer axes, started at the chunk's first row.
        var idx = [Int](repeating: 0, count: k)
        var rem = range.lowerBound
        var offA = 0, offB = 0
        for d in stride(from: k - 2, through: 0, by: -1) {
            idx[d] = rem % ext[d]; rem /= ext[d]
            offA += idx[d] * sa[d]; offB += idx[d] * sb[d]
        }
        for row in range {
            let po = o + row * inner, qa = pa + offA, qb = pb + offB
            if ia == 1 && ib == 1 {
                for j in 0..<inner { po[j] = f(qa[j], qb[j]) }
            } else if ia == 1 {
                let s = qb[0]
                for j in 0..<inner { po[j] = f(qa[j], s) }
            } else if ib == 1 {
                let s = qa[0]
                for j in 0..<inner { po[j] = f(s, qb[j]) }
            } else {
                // Both broadcast along the inner axis: cannot happen after merging
                // unless the output has one axis; handled for completeness.
                for j in 0..<inner { po[j] = f(qa[j * ia], qb[j * ib]) }
            }
            var d = k - 2
            while d >= 0 {
                idx[d] += 1; offA += sa[d]; offB += sb[d]
                if idx[d] < ext[d] { break }
                offA -= sa[d] * ext[d]; offB -= sb[d] * ext[d]
                idx[d] = 0
                d -= 1
            }
        }
    }
}

/// Applies `f` to every element (no recording).
@inline(__always)
func mapElements(_ x: Tensor, _ f: (Float) -> Float) -> Tensor {
    let n = x.count
    return x.scalars.withUnsafeBufferPointer { px in
        Tensor(shape: x.shape) { o in
            guard n > 0 else { return }
            let p = px.baseAddress!, q = o.baseAddress!
            parallelFor(n) { r in for i in r { q[i] = f(p[i]) } }
        }
    }
}

/// Combines two same-shape tensors elementwise (no recording; the shapes must match).
@inline(__always)
func zipElements(_ a: Tensor, _ b: Tensor, _ f: (Float, Float) -> Float) -> Tensor {
    precondition(a.shape == b.shape, "zipElements: \(a.shape) vs \(b.shape)")
    let n = a.count
    return a.scalars.withUnsafeBufferPointer { pa in
        b.scalars.withUnsafeBufferPointer { pb in
            Tensor(shape: a.shape) { o in
                guard n > 0 else { return }
                let p = pa.baseAddress!, q = pb.baseAddress!, r0 = o.baseAddress!
                parallelFor(n) { r in for i in r { r0[i] = f(p[i], q[i]) } }
            }
        }
    }
}

extension Tensor {
    /// Sums over the axes that broadcasting from `target` added or stretched, so the result has
    /// `target`'s shape (the pullbacks of broadcasting ops use it on gradients).
    public func sumReduced(toShape target: [Int]) throws -> Tensor {
        if shape == target { return self }
        let r = rank
        guard target.count <= r else {
            throw TensorError.shapeMismatch(op: "sumReduced", shapes: [shape, target],
                                            reason: "the target has more axes than the gradient")
        }
        var axes: [Int] = []
        for d in 0..<r {
            let t = d < r - target.count ? 1 : target[d - (r - target.count)]
            if t == 1 && (shape[d] != 1 || d < r - target.count) {
                axes.append(d)
            } else if t != shape[d] {
                throw TensorError.shapeMismatch(op: "sumReduced", shapes: [shape, target],
                                                reason: "axis \(d) cannot be reduced from \(shape[d]) to \(t)")
            }
        }
        var s = reduceSumRaw(self.detached, axes: axes)
        s.setShape(target)
        let xShape = shape
        return Tensor.recorded(s, op: "sumReduced", inputs: [self]) { g in [broadcastRaw(g, to: xShape)] }
    }
}

// MARK: - Binary operators

extension Tensor {
    /// Elementwise sum with broadcasting; shape: the broadcast of both shapes.
    public static func + (a: Tensor, b: Tensor) throws -> Tensor {
        let y = try broadcastBinary(a, b, op: "add") { $0 + $1 }
        let (sa, sb, ta, tb) = (a.shape, b.shape, a.isTracked, b.isTracked)
        return Tensor.recorded(y, op: "add", inputs: [a, b]) { g in
            [ta ? try g.sumReduced(toShape: sa) : nil, tb ? try g.sumReduced(toShape: sb) : nil]
        }
    }

    /// Elementwise difference with broadcasting; shape: the broadcast of both shapes.
    public static func - (a: Tensor, b: Tensor) throws -> Tensor {
        let y = try broadcastBinary(a, b, op: "subtract") { $0 - $1 }
        let (sa, sb, ta, tb) = (a.shape, b.shape, a.isTracked, b.isTracked)
        return Tensor.recorded(y, op: "subtract", inputs: [a, b]) { g in
            [ta ? try g.sumReduced(toShape: sa) : nil, tb ? try (-g).sumReduced(toShape: sb) : nil]
        }
    }

    /// Elementwise product with broadcasting; shape: the broadcast of both shapes.
    public static func * (a: Tensor, b: Tensor) throws -> Tensor {
        let y = try broadcastBinary(a, b, op: "multiply") { $0 * $1 }
        let (da, db) = (a.detached, b.detached)
        let (ta, tb) = (a.isTracked, b.isTracked)
        return Tensor.recorded(y, op: "multiply", inputs: [a, b]) { g in
            [ta ? try (g * db).sumReduced(toShape: da.shape) : nil,
             tb ? try (g * da).sumReduced(toShape: db.shape) : nil]
        }
    }

    /// Elementwise quotient with broadcasting; shape: the broadcast of both shapes.
    public static func / (a: Tensor, b: Tensor) throws -> Tensor {
        let y = try broadcastBinary(a, b, op: "divide") { $0 / $1 }
        let (da, db) = (a.detached, b.detached)
        let (ta, tb) = (a.isTracked, b.isTracked)
        return Tensor.recorded(y, op: "divide", inputs: [a, b]) { g in
            // d(a/b)/db = −a/b² = −y/b.
            [ta ? try (g / db).sumReduced(toShape: da.shape) : nil,
             tb ? try (-(g * y.detached) / db).sumReduced(toShape: db.shape) : nil]
        }
    }

    /// Negation.
    public static prefix func - (a: Tensor) -> Tensor {
        let y = mapElements(a) { -$0 }
        return Tensor.recorded(y, op: "negate", inputs: [a]) { g in [-g] }
    }

    /// Adds a scalar to every element.
    public static func + (a: Tensor, s: Float) throws -> Tensor {
        let y = mapElements(a) { $0 + s }
        return Tensor.recorded(y, op: "addScalar", inputs: [a]) { g in [g] }
    }

    /// Adds a scalar to every element.
    public static func + (s: Float, a: Tensor) throws -> Tensor { try a + s }

    /// Subtracts a scalar from every element.
    public static func - (a: Tensor, s: Float) throws -> Tensor { try a + (-s) }

    /// A scalar minus every element.
    public static func - (s: Float, a: Tensor) throws -> Tensor {
        let y = mapElements(a) { s - $0 }
        return Tensor.recorded(y, op: "scalarSubtract", inputs: [a]) { g in [-g] }
    }

    /// Multiplies every element by a scalar.
    public static func * (a: Tensor, s: Float) throws -> Tensor {
        let y = mapElements(a) { $0 * s }
        return Tensor.recorded(y, op: "multiplyScalar", inputs: [a]) { g in [mapElements(g) { $0 * s }] }
    }

    /// Multiplies every element by a scalar.
    public static func * (s: Float, a: Tensor) throws -> Tensor { try a * s }

    /// Divides every element by a scalar.
    public static func / (a: Tensor, s: Float) throws -> Tensor {
        let y = mapElements(a) { $0 / s }
        return Tensor.recorded(y, op: "divideScalar", inputs: [a]) { g in [mapElements(g) { $0 / s }] }
    }

    /// A scalar divided by every element.
    public static func / (s: Float, a: Tensor) throws -> Tensor {
        let y = mapElements(a) { s / $0 }
        return Tensor.recorded(y, op: "scalarDivide", inputs: [a]) { g in
            [zipElements(g, zipElements(y, a.detached) { yi, ai in yi / ai }) { gi, q in -gi * q }]
        }
    }
}

// MARK: - Unary math

/// Elementwise eˣ; shape unchanged.
public func exp(_ x: Tensor) throws -> Tensor {
    let y = mapElements(x) { expf($0) }
    return Tensor.recorded(y, op: "exp", inputs: [x]) { g in [zipElements(g, y) { $0 * $1 }] }
}

/// Elementwise natural logarithm; shape unchanged.
public func log(_ x: Tensor) throws -> Tensor {
    let y = mapElements(x) { logf($0) }
    let dx = x.detached
    return Tensor.recorded(y, op: "log", inputs: [x]) { g in [zipElements(g, dx) { $0 / $1 }] }
}

/// Elementwise square root; shape unchanged.
public func sqrt(_ x: Tensor) throws -> Tensor {
    let y = mapElements(x) { $0.squareRoot() }
    return Tensor.recorded(y, op: "sqrt", inputs: [x]) { g in [zipElements(g, y) { $0 * 0.5 / $1 }] }
}

/// Elementwise 1/√x; shape unchanged.
public func rsqrt(_ x: Tensor) throws -> Tensor {
    let y = mapElements(x) { 1 / $0.squareRoot() }
    return Tensor.recorded(y, op: "rsqrt", inputs: [x]) { g in
        [zipElements(g, y) { gi, yi in -0.5 * gi * yi * yi * yi }]
    }
}

/// Elementwise x²; shape unchanged.
public func square(_ x: Tensor) throws -> Tensor {
    let y = mapElements(x) { $0 * $0 }
    let dx = x.detached
    return Tensor.recorded(y, op: "square", inputs: [x]) { g in [zipElements(g, dx) { 2 * $0 * $1 }] }
}

/// Elementwise |x| (gradient sign(x), 0 at 0); shape unchanged.
public func abs(_ x: Tensor) throws -> Tensor {
    let y = mapElements(x) { Swift.abs($0) }
    let dx = x.detached
    return Tensor.recorded(y, op: "abs", inputs: [x]) { g in
        [zipElements(g, dx) { gi, xi in xi > 0 ? gi : (xi < 0 ? -gi : 0) }]
    }
}
