// Shape ops: reshape, transpose, expand/squeeze, slice, tile, concat, split, stack, broadcast.
//
// Reshapes share storage (Swift arrays are copy-on-write); the others copy rows with an
// odometer over the outer axes, split across the cores for large tensors.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `x` with its axes permuted: result axis i is x's axis perm[i] (no recording; perm is valid).
func transposeRaw(_ x: Tensor, _ perm: [Int]) -> Tensor {
    let r = x.rank
    let outShape = perm.map { x.shape[$0] }
    if perm == Array(0..<r) || x.count <= 1 {
        var y = x.detached
        y.setShape(outShape)
        return y
    }
    let inStrides = Tensor.strides(of: x.shape)
    let st = perm.map { inStrides[$0] }           // input stride of each output axis
    let inner = outShape[r - 1], innerStride = st[r - 1]
    let rows = x.count / Swift.max(inner, 1)
    return x.scalars.withUnsafeBufferPointer { px in
        Tensor(shape: outShape) { o0 in
            guard o0.count > 0 else { return }
            let p = px.baseAddress!, o = o0.baseAddress!
            parallelFor(rows, grain: Swift.max(1, 16_384 / inner)) { range in
                var idx = [Int](repeating: 0, count: r)
                var rem = range.lowerBound, off = 0
                for d in stride(from: r - 2, through: 0, by: -1) {
                    idx[d] = rem % outShape[d]; rem /= outShape[d]
                    off += idx[d] * st[d]
                }
                for row in range {
                    let q = o + row * inner, s = p + off
                    if innerStride == 1 {
                        for j in 0..<inner { q[j] = s[j] }
                    } else {
                        for j in 0..<inner { q[j] = s[j * innerStride] }
                    }
                    var d = r - 2
                    while d >= 0 {
                        idx[d] += 1; off += st[d]
                        if idx[d] < outShape[d] { break }
                        off -= st[d] * outShape[d]; idx[d] = 0
                        d -= 1
                    }
                }
            }
        }
    }
}

/// Copies the box of extent `extent` at `srcOrigin` in `src` to `dstOrigin` in `dst`
/// (both row-major of the same rank; the box fits in both).
func copyBox(
    _ src: UnsafePointer<Float>, _ srcShape: [Int], _ srcOrigin: [Int],
    _ dst: UnsafeMutablePointer<Float>, _ dstShape: [Int], _ dstOrigin: [Int], _ extent: [Int]
) {
    let r = extent.count
    if r == 0 { dst[0] = src[0]; return }
    if extent.contains(0) { return }
    let ss = Tensor.strides(of: srcShape), ds = Tensor.strides(of: dstShape)
    var s0 = 0, d0 = 0
    for d in 0..<r { s0 += srcOrigin[d] * ss[d]; d0 += dstOrigin[d] * ds[d] }
    let inner = extent[r - 1]
    let rows = extent.reduce(1, *) / inner
    parallelFor(rows, grain: Swift.max(1, 16_384 / inner)) { range in
        var idx = [Int](repeating: 0, count: r)
        var rem = range.lowerBound, so = s0, dO = d0
        for d in stride(from: r - 2, through: 0, by: -1) {
            idx[d] = rem % extent[d]; rem /= extent[d]
            so += idx[d] * ss[d]; dO += idx[d] * ds[d]
        }
        for _ in range {
            (dst + dO).update(from: src + so, count: inner)
            var d = r - 2
            while d >= 0 {
                idx[d] += 1; so += ss[d]; dO += ds[d]
                if idx[d] < extent[d] { break }
                so -= ss[d] * extent[d]; dO -= ds[d] * extent[d]; idx[d] = 0
                d -= 1
            }
        }
    }
}

extension Tensor {
    /// The same elements with a new shape (one extent may be -1: inferred).
    public func reshaped(to newShape: [Int]) throws -> Tensor {
        var target = newShape
        let unknown = newShape.indices.filter { newShape[$0] == -1 }
        guard unknown.count <= 1, newShape.allSatisfy({ $0 >= -1 }) else {
            throw TensorError.invalidArgument(op: "reshaped", reason: "invalid target shape \(newShape) (at most one -1)")
        }
        if let u = unknown.first {
            let known = newShape.enumerated().filter { $0.offset != u }.reduce(1) { $0 * $1.element }
            guard known > 0, count % known == 0 else {
                throw TensorError.shapeMismatch(op: "reshaped", shapes: [shape, newShape],
                                                reason: "\(count) elements do not divide into the known extents")
            }
            target[u] = count / known
        }
        guard target.reduce(1, *) == count else {
            throw TensorError.shapeMismatch(op: "reshaped", shapes: [shape, newShape],
                                            reason: "\(count) elements cannot take shape \(target)")
        }
        var y = self.detached
        y.setShape(target)
        let xShape = shape
        return Tensor.recorded(y, op: "reshape", inputs: [self]) { g in
            var gx = g
            gx.setShape(xShape)
            return [gx]
        }
    }

    /// Axes permuted: result axis i is this tensor's axis perm[i] (negative entries allowed).
    public func transposed(_ perm: [Int]) throws -> Tensor {
        guard perm.count == rank else {
            throw TensorError.invalidArgument(op: "transposed", reason: "permutation \(perm) does not fit rank \(rank)")
        }
        let p = try perm.map { try canonicalAxis($0, rank: rank, op: "transposed") }
        guard Set(p).count == rank else {
            throw TensorError.invalidArgument(op: "transposed", reason: "\(perm) is not a permutation")
        }
        let y = transposeRaw(self, p)
        var inverse = [Int](repeating: 0, count: rank)
        for (i, a) in p.enumerated() { inverse[a] = i }
        return Tensor.recorded(y, op: "transpose", inputs: [self]) { g in [transposeRaw(g, inverse)] }
    }

    /// A new axis of extent 1 inserted at `axis` (in -(rank+1)...rank).
    public func expandingDims(at axis: Int) throws -> Tensor {
        let a = try canonicalAxis(axis, rank: rank + 1, op: "expandingDims")
        var s = shape
        s.insert(1, at: a)
        return try reshaped(to: s)
    }

    /// The given axes (each of extent 1) removed; an empty list removes every axis of extent 1.
    public func squeezing(axes: [Int] = []) throws -> Tensor {
        let ax = axes.isEmpty ? shape.indices.filter { shape[$0] == 1 } : try canonicalAxes(axes, rank: rank, op: "squeezing")
        for a in ax where shape[a] != 1 {
            throw TensorError.invalidArgument(op: "squeezing", reason: "axis \(a) of shape \(shape) has extent \(shape[a]), not 1")
        }
        return try reshaped(to: shape.enumerated().filter { !ax.contains($0.offset) }.map(\.element))
    }

    /// The box starting at `begin` with extents `size` (-1: to the end), as tf.slice.
    public func slice(begin: [Int], size: [Int]) throws -> Tensor {
        guard begin.count == rank, size.count == rank else {
            throw TensorError.invalidArgument(op: "slice", reason: "begin \(begin) and size \(size) must have \(rank) entries for shape \(shape)")
        }
        var ext = size
        for d in 0..<rank {
            if ext[d] == -1 { ext[d] = shape[d] - begin[d] }
            guard begin[d] >= 0, ext[d] >= 0, begin[d] + ext[d] <= shape[d] else {
                throw TensorError.invalidArgument(
                    op: "slice", reason: "begin \(begin) size \(size) fall outside shape \(shape) on axis \(d)")
            }
        }
        let xShape = shape
        let zeros = [Int](repeating: 0, count: rank)
        let y = scalars.withUnsafeBufferPointer { px in
            Tensor(shape: ext) { o in
                guard o.count > 0 else { return }
                copyBox(px.baseAddress!, xShape, begin, o.baseAddress!, ext, zeros, ext)
            }
        }
        return Tensor.recorded(y, op: "slice", inputs: [self]) { g in
            var gx = Tensor(shape: xShape)
            guard g.count > 0 else { return [gx] }
            g.scalars.withUnsafeBufferPointer { pg in
                gx.scalars.withUnsafeMutableBufferPointer { q in
                    copyBox(pg.baseAddress!, ext, zeros, q.baseAddress!, xShape, begin, ext)
                }
            }
            return [gx]
        }
    }

    /// The tensor repeated `multiples[d]` times along each axis d, as tf.tile.
    public func tiled(_ multiples: [Int]) throws -> Tensor {
        guard multiples.count == rank, multiples.allSatisfy({ $0 >= 0 }) else {
            throw TensorError.invalidArgument(op: "tiled", reason: "multiples \(multiples) do not fit shape \(shape)")
        }
        let xShape = shape
        let outShape = zip(shape, multiples).map { $0 * $1 }
        // Copy the tensor into each tile's box.
        var y = Tensor(shape: outShape)
        if y.count > 0 {
            let tiles = multiples.reduce(1, *)
            let zeros = [Int](repeating: 0, count: rank)
            scalars.withUnsafeBufferPointer { px in
                y.scalars.withUnsafeMutableBufferPointer { q in
                    for t in 0..<tiles {
                        var rem = t
                        var origin = zeros
                        for d in stride(from: rank - 1, through: 0, by: -1) {
                            origin[d] = (rem % multiples[d]) * xShape[d]
                            rem /= multiples[d]
                        }
                        copyBox(px.baseAddress!, xShape, zeros, q.baseAddress!, outShape, origin, xShape)
                    }
                }
            }
        }
        return Tensor.recorded(y, op: "tile", inputs: [self]) { g in
            // View g as [m0, s0, m1, s1, …] and sum over the multiples.
            var gi = g
            gi.setShape(zip(multiples, xShape).flatMap { [$0, $1] })
            var s = reduceSumRaw(gi, axes: Array(stride(from: 0, to: 2 * xShape.count, by: 2)))
            s.setShape(xShape)
            return [s]
        }
    }

    /// The tensor repeated along broadcast axes to `shape` (NumPy rules); the gradient sums back.
    public func broadcasted(to target: [Int]) throws -> Tensor {
        let s = try broadcastShape(shape, target, op: "broadcasted")
        guard s == target else {
            throw TensorError.shapeMismatch(op: "broadcasted", shapes: [shape, target],
                                            reason: "the shape does not broadcast to the target")
        }
        let y = broadcastRaw(self, to: target)
        let xShape = shape
        return Tensor.recorded(y, op: "broadcast", inputs: [self]) { g in [try g.sumReduced(toShape: xShape)] }
    }
}

/// Checks that `xs` can be joined along `axis`; returns the canonical axis.
private func checkJoinable(_ xs: [Tensor], axis: Int, op: String) throws -> Int {
    guard let first = xs.first else {
        throw TensorError.invalidArgument(op: op, reason: "needs at least one tensor")
    }
    let a = try canonicalAxis(axis, rank: first.rank, op: op)
    for x in xs.dropFirst() {
        guard x.rank == first.rank,
              x.shape.enumerated().allSatisfy({ $0.offset == a || $0.element == first.shape[$0.offset] }) else {
            throw TensorError.shapeMismatch(op: op, shapes: [first.shape, x.shape],
                                            reason: "shapes must agree except on axis \(a)")
        }
    }
    return a
}

/// The tensors joined along `axis` (negative counts from the end); all other extents must agree.
public func concat(_ xs: [Tensor], axis: Int) throws -> Tensor {
    let a = try checkJoinable(xs, axis: axis, op: "concat")
    if xs.count == 1 { return xs[0] }
    var outShape = xs[0].shape
    outShape[a] = xs.reduce(0) { $0 + $1.shape[a] }
    let outer = outShape[..<a].reduce(1, *)
    let inner = outShape[(a + 1)...].reduce(1, *)
    let total = outShape[a] * inner
    var y = Tensor(shape: outShape)
    if y.count > 0 {
        y.scalars.withUnsafeMutableBufferPointer { q0 in
            let q = q0.baseAddress!
            var offset = 0
            for x in xs {
                let block = x.shape[a] * inner
                if block > 0 {
                    x.scalars.withUnsafeBufferPointer { p0 in
                        let p = p0.baseAddress!
                        parallelFor(outer, grain: Swift.max(1, 16_384 / block)) { range in
                            for o in range { (q + o * total + offset).update(from: p + o * block, count: block) }
                        }
                    }
                }
                offset += block
            }
        }
    }
    let extents = xs.map { $0.shape[a] }
    let tracked = xs.map(\.isTracked)
    return Tensor.recorded(y, op: "concat", inputs: xs) { g in
        var begin = [Int](repeating: 0, count: outShape.count)
        var size = outShape
        var grads: [Tensor?] = []
        for (e, t) in zip(extents, tracked) {
            size[a] = e
            grads.append(t ? try g.slice(begin: begin, size: size) : nil)
            begin[a] += e
        }
        return grads
    }
}

/// `x` cut along `axis` into pieces of the given extents (which must add up to the axis' extent).
public func split(_ x: Tensor, sizes: [Int], axis: Int) throws -> [Tensor] {
    let a = try canonicalAxis(axis, rank: x.rank, op: "split")
    guard sizes.allSatisfy({ $0 >= 0 }), sizes.reduce(0, +) == x.shape[a] else {
        throw TensorError.invalidArgument(op: "split", reason: "sizes \(sizes) do not add up to extent \(x.shape[a]) of axis \(a) in \(x.shape)")
    }
    var begin = [Int](repeating: 0, count: x.rank)
    var size = x.shape
    var out: [Tensor] = []
    for s in sizes {
        size[a] = s
        out.append(try x.slice(begin: begin, size: size))
        begin[a] += s
    }
    return out
}

/// `x` cut along `axis` into `count` equal pieces.
public func split(_ x: Tensor, count: Int, axis: Int) throws -> [Tensor] {
    let a = try canonicalAxis(axis, rank: x.rank, op: "split")
    guard count > 0, x.shape[a] % count == 0 else {
        throw TensorError.invalidArgument(op: "split", reason: "extent \(x.shape[a]) of axis \(a) does not split into \(count) equal pieces")
    }
    return try split(x, sizes: [Int](repeating: x.shape[a] / count, count: count), axis: a)
}

/// Same-shape tensors stacked along a new axis `axis` (in -(rank+1)...rank).
public func stack(_ xs: [Tensor], axis: Int) throws -> Tensor {
    guard let first = xs.first else { throw TensorError.invalidArgument(op: "stack", reason: "needs at least one tensor") }
    let a = try canonicalAxis(axis, rank: first.rank + 1, op: "stack")
    for x in xs where x.shape != first.shape {
        throw TensorError.shapeMismatch(op: "stack", shapes: [first.shape, x.shape], reason: "stacked tensors must have equal shapes")
    }
    return try concat(xs.map { try $0.expandingDims(at: a) }, axis: a)
}
