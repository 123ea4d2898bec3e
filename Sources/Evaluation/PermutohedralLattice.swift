// Gaussian filtering of per-point values over a d-dimensional feature space in time linear in the
// number of points: the permutohedral lattice of Adams, Baek & Davis ("Fast high-dimensional filtering
// using the permutohedral lattice", Eurographics 2010), arranged the way Krähenbühl & Koltun's dense
// CRF code (vendored by pydensecrf) arranges it, so that our mean-field messages equal theirs up to
// float rounding (the arithmetic below is done in the same order, in Float):
//
//   1. elevate: each feature f (already divided by its standard deviation) is scaled per axis by
//      sqrt(2/3)·(d+1)/sqrt((i+1)(i+2)) and lifted onto the plane Σx = 0 in d+1 dimensions;
//   2. locate: rounding each coordinate to the nearest multiple of d+1 (ties to even) and ranking the
//      remainders gives the enclosing simplex, its d+1 vertices and the point's barycentric weights;
//   3. splat the values onto the vertices with those weights, blur with [1/2, 1, 1/2] along each of the
//      d+1 lattice directions in turn (a vertex no point touched counts as zero), and slice back with
//      the same weights times 1/(1 + 2^-d).
//
// The SSE build of that code handles points in blocks of four, padding the last block with all-zero
// features whose simplex vertices join the lattice (they carry no value but pass blur on); we add
// those vertices too when N is not a multiple of four.
//
// Vertices are identified by their coordinates (d of the d+1, the last one follows from Σx = 0) packed
// into one 64-bit word: 16 bits a coordinate for d ≤ 4, 64/d bits beyond. Sorting the packed keys
// (a radix sort) numbers the distinct vertices and finds blur neighbours by merging the sorted keys with
// themselves shifted by one lattice step, with sequential memory access where a hash table (as in the
// C++ code) would miss the cache at every lookup.
//
// Legend: N points, d feature dimensions, M lattice vertices (slot 0 of a value buffer is the
// always-zero "no vertex" slot, so vertex v lives at slot v + 1).
import Dispatch

/// A permutohedral lattice over N points with d-dimensional features, ready to Gauss-filter values.
struct PermutohedralLattice {
    /// Number of points, N.
    let pointCount: Int
    /// Feature dimension, d.
    let dimension: Int
    /// Number of lattice vertices, M.
    let vertexCount: Int
    /// N·(d+1) value slots (vertex + 1) of the simplex corners of each point, in remainder order.
    private let slots: [Int32]
    /// N·(d+1) barycentric weights matching `slots`.
    private let weights: [Float]
    /// (d+1)·M·2 slots of the two blur neighbours of each vertex along each lattice direction (0 if absent).
    private let neighbours: [Int32]

    /// Largest feature dimension supported (keys pack d coordinates of at least 10 bits into 64).
    static let maxDimension = 6

    /// Builds the lattice of `count` points whose features are `features[i·d + k]`, k < d, using up to
    /// `threads` workers. Throws if a feature is not finite or lies too far out for the packed keys.
    init(features: UnsafeBufferPointer<Float>, dimension d: Int, count n: Int, threads: Int) throws {
        guard d >= 1, d <= Self.maxDimension else {
            throw DenseCRFError("permutohedral lattice: feature dimension \(d) outside 1...\(Self.maxDimension)")
        }
        guard n >= 1, features.count == n * d else {
            throw DenseCRFError("permutohedral lattice: \(features.count) feature values for \(n) points of dimension \(d)")
        }
        guard n <= (Int(Int32.max) - 16) / (d + 1) else {
            throw DenseCRFError("permutohedral lattice: \(n) points is too many")
        }
        let d1 = d + 1
        pointCount = n
        dimension = d
        let layout = LatticeKeyLayout(dimension: d)

        // Per-axis elevation scale: (1/sqrt((i+1)(i+2)))·sqrt(2/3)·(d+1), computed as the C++ code does
        // (the product in Double from a Float standard deviation, then rounded to Float).
        let invStdDev = Float((2.0 / 3.0).squareRoot() * Double(d1))
        let scale = (0..<d).map { i in Float(1.0 / Double((i + 2) * (i + 1)).squareRoot() * Double(invStdDev)) }
        let geometry = SimplexGeometry(dimension: d, scale: scale, layout: layout)

        // Locate every point's simplex in parallel: keys and weights for each of its d+1 corners.
        var keys = [UInt64](repeating: 0, count: n * d1)
        var bary = [Float](repeating: 0, count: n * d1)
        var badPoint = -1
        let chunks = max(1, min(threads, n / 4096))
        keys.withUnsafeMutableBufferPointer { keyBuffer in
            bary.withUnsafeMutableBufferPointer { baryBuffer in
                let bad = UnsafeMutablePointer<Int>.allocate(capacity: chunks)
                defer { bad.deallocate() }
                bad.initialize(repeating: -1, count: chunks)
                let keyBase = keyBuffer.baseAddress!, baryBase = baryBuffer.baseAddress!
                let featureBase = features.baseAddress!
                Self.runChunks(chunks, threads: threads) { c in
                    let lo = c * n / chunks, hi = (c + 1) * n / chunks
                    var scratch = SimplexScratch(dimension: d)
                    for i in lo..<hi {
                        if !geometry.locate(featureBase + i * d, keys: keyBase + i * d1, weights: baryBase + i * d1,
                                            scratch: &scratch) {
                            bad[c] = i
                            return
                        }
                    }
                }
                for c in 0..<chunks where bad[c] >= 0 { badPoint = bad[c]; break }
            }
        }
        if badPoint >= 0 {
            let f = (0..<d).map { features[badPoint * d + $0] }
            throw DenseCRFError("permutohedral lattice: point \(badPoint) has features \(f), which are not finite or "
                                + "lie too far out for the lattice (scaled coordinates beyond ±\(Int(layout.limit)); "
                                + "use larger standard deviations or a smaller image)")
        }

        if n % 4 != 0 {
            // The zero-feature padding points of the SSE build: their corners join the lattice, unsplatted.
            var padWeights = [Float](repeating: 0, count: d1)
            var scratch = SimplexScratch(dimension: d)
            let zeros = [Float](repeating: 0, count: d)
            keys.append(contentsOf: [UInt64](repeating: 0, count: d1))
            zeros.withUnsafeBufferPointer { z in
                keys.withUnsafeMutableBufferPointer { k in
                    padWeights.withUnsafeMutableBufferPointer { w in
                        _ = geometry.locate(z.baseAddress!, keys: k.baseAddress! + n * d1, weights: w.baseAddress!,
                                            scratch: &scratch)
                    }
                }
            }
        }

        // Number the distinct corner keys in order of first appearance (the numbering only names the
        // vertices, but this one keeps vertices of nearby points near each other in memory): a stable sort
        // of the keys groups equal ones with their first appearance leading.
        let (sortedKeys, order) = Self.radixSort(keys, usedBits: layout.bits * d)
        let total = keys.count
        var slots = [Int32](repeating: 0, count: n * d1)
        var uniqueKeys: [UInt64] = []
        var uniqueVertices: [Int32] = []
        do {
            var leads = [Bool](repeating: false, count: total)
            var groups = 0
            for i in 0..<total where i == 0 || sortedKeys[i] != sortedKeys[i - 1] {
                leads[Int(order[i])] = true
                groups += 1
            }
            var vertexOf = [Int32](repeating: 0, count: total)
            var next: Int32 = 0
            for s in 0..<total where leads[s] {
                vertexOf[s] = next
                next += 1
            }
            uniqueKeys.reserveCapacity(groups)
            uniqueVertices.reserveCapacity(groups)
            var vertex: Int32 = 0
            for i in 0..<total {
                let s = Int(order[i])
                if i == 0 || sortedKeys[i] != sortedKeys[i - 1] {
                    vertex = vertexOf[s]
                    uniqueKeys.append(sortedKeys[i])
                    uniqueVertices.append(vertex)
                }
                if s < n * d1 { slots[s] = vertex + 1 }
            }
        }
        let m = uniqueKeys.count
        vertexCount = m

        // Blur neighbours along direction j: n1 is the vertex minus 1 in every coordinate but the j-th, which
        // gains d (for j = d the d stored coordinates all lose 1); n2 is the opposite step. In the packed,
        // biased keys n2(v) = key(v) + D_j, an order-preserving shift, so with the keys sorted each direction is
        // one merge of the sorted list with itself: sequential reads instead of a hash lookup per neighbour.
        // As n1(n2(v)) = v, the merge records both.
        var neighbours = [Int32](repeating: 0, count: d1 * m * 2)
        neighbours.withUnsafeMutableBufferPointer { nb in
            uniqueKeys.withUnsafeBufferPointer { kb in
                uniqueVertices.withUnsafeBufferPointer { vb in
                    let base = nb.baseAddress!, keys = kb.baseAddress!, vertices = vb.baseAddress!
                    Self.runChunks(d1, threads: threads) { j in
                        var deltas = [Int](repeating: 1, count: d)
                        if j < d { deltas[j] = -d }
                        let shift = layout.offset(deltas)
                        let block = base + j * m * 2
                        var p = 0
                        for i in 0..<m {
                            let target = keys[i] &+ shift
                            while p < m, keys[p] < target { p += 1 }
                            if p == m { break }
                            if keys[p] == target {
                                let v = Int(vertices[i]), w = Int(vertices[p])
                                block[2 * v + 1] = Int32(w + 1)
                                block[2 * w] = Int32(v + 1)
                            }
                        }
                    }
                }
            }
        }
        self.slots = slots
        self.weights = bary
        self.neighbours = neighbours
    }

    /// Scratch space one `filter` call needs: two value buffers of M+1 floats.
    var scratchCount: Int { 2 * (vertexCount + 1) }

    /// Gauss-filters one channel: `output[i] = Σ_j k(f_i, f_j)·input[j]` (approximately), both N floats.
    /// `scratch` must hold `scratchCount` floats and not be shared with a concurrent call.
    func filter(_ input: UnsafePointer<Float>, into output: UnsafeMutablePointer<Float>,
                scratch: UnsafeMutablePointer<Float>) {
        let n = pointCount, d = dimension, d1 = d + 1, m = vertexCount
        var values = scratch
        var blurred = scratch + (m + 1)
        values.update(repeating: 0, count: m + 1)
        blurred[0] = 0
        slots.withUnsafeBufferPointer { slotBuffer in
            weights.withUnsafeBufferPointer { weightBuffer in
                let slot = slotBuffer.baseAddress!, weight = weightBuffer.baseAddress!
                // Splat.
                for i in 0..<n {
                    let x = input[i]
                    let o = i * d1
                    for r in 0..<d1 {
                        values[Int(slot[o + r])] += weight[o + r] * x
                    }
                }
                // Blur along each lattice direction.
                neighbours.withUnsafeBufferPointer { nbBuffer in
                    for j in 0..<d1 {
                        let nb = nbBuffer.baseAddress! + j * m * 2
                        for v in 0..<m {
                            let a = values[Int(nb[2 * v])], b = values[Int(nb[2 * v + 1])]
                            blurred[v + 1] = values[v + 1] + 0.5 * (a + b)
                        }
                        swap(&values, &blurred)
                    }
                }
                // Slice.
                let alpha = 1 / (1 + Float(pow2: -d))
                for i in 0..<n {
                    let o = i * d1
                    var s: Float = 0
                    for r in 0..<d1 {
                        s += weight[o + r] * values[Int(slot[o + r])] * alpha
                    }
                    output[i] = s
                }
            }
        }
    }
}

fileprivate extension Float {
    /// 2^e for a small integer exponent, exactly.
    init(pow2 e: Int) {
        self = Float(sign: .plus, exponent: e, significand: 1)
    }
}

extension PermutohedralLattice {
    /// `keys` in increasing order and, for each, its index in `keys` (equal keys keep their order): an LSD
    /// radix sort, 11 bits a pass, over the low `usedBits` bits.
    static func radixSort(_ keys: [UInt64], usedBits: Int) -> (keys: [UInt64], order: [Int32]) {
        let count = keys.count
        var keyA = keys
        var orderA = (0..<count).map { Int32($0) }
        var keyB = [UInt64](repeating: 0, count: count)
        var orderB = [Int32](repeating: 0, count: count)
        let digitBits = 11, buckets = 1 << 11
        var starts = [Int](repeating: 0, count: buckets)
        var pass = 0
        while pass * digitBits < usedBits {
            let shift = UInt64(pass * digitBits)
            let digitMask = UInt64(buckets - 1)
            keyA.withUnsafeBufferPointer { ka in
                orderA.withUnsafeBufferPointer { oa in
                    keyB.withUnsafeMutableBufferPointer { kb in
                        orderB.withUnsafeMutableBufferPointer { ob in
                            starts.withUnsafeMutableBufferPointer { c in
                                for b in 0..<buckets { c[b] = 0 }
                                for i in 0..<count { c[Int((ka[i] >> shift) & digitMask)] += 1 }
                                var start = 0
                                for b in 0..<buckets {
                                    let size = c[b]
                                    c[b] = start
                                    start += size
                                }
                                for i in 0..<count {
                                    let b = Int((ka[i] >> shift) & digitMask)
                                    kb[c[b]] = ka[i]
                                    ob[c[b]] = oa[i]
                                    c[b] += 1
                                }
                            }
                        }
                    }
                }
            }
            swap(&keyA, &keyB)
            swap(&orderA, &orderB)
            pass += 1
        }
        return (keyA, orderA)
    }

    /// Runs `body(c)` for c in 0..<count on up to `threads` Dispatch workers (inline when one suffices).
    static func runChunks(_ count: Int, threads: Int, _ body: (Int) -> Void) {
        if count <= 1 || threads <= 1 {
            for c in 0..<count { body(c) }
            return
        }
        withoutActuallyEscaping(body) { body in
            DispatchQueue.concurrentPerform(iterations: count) { body($0) }
        }
    }
}

/// How d lattice coordinates pack into a 64-bit key: coordinate k, plus a bias of 2^(bits-1), in `bits`
/// bits at bit k·bits. Every coordinate the lattice meets keeps its field in range, so adding the packed
/// form of a coordinate step (`offset`) to a key steps each field without carries, and preserves order.
struct LatticeKeyLayout {
    let dimension: Int
    let bits: Int
    /// Largest magnitude an elevated coordinate may have: keys, simplex corners (±(d+1)) and blur
    /// neighbours (±d further) must all fit.
    let limit: Float

    init(dimension d: Int) {
        dimension = d
        bits = min(16, 64 / d)
        limit = Float((1 << (bits - 1)) - 1 - 2 * (d + 2))
    }

    @inline(__always)
    func pack(_ coords: [Int]) -> UInt64 {
        var key: UInt64 = 0
        let bias = 1 << (bits - 1)
        for k in 0..<dimension {
            key |= UInt64(coords[k] + bias) << UInt64(k * bits)
        }
        return key
    }

    /// The packed step by `deltas` (one per coordinate), to add to a key with wrapping arithmetic.
    func offset(_ deltas: [Int]) -> UInt64 {
        var step: UInt64 = 0
        for k in 0..<dimension {
            step = step &+ UInt64(bitPattern: Int64(deltas[k]) &* Int64(1 << (k * bits)))
        }
        return step
    }
}

/// Per-thread work arrays of `SimplexGeometry.locate`.
struct SimplexScratch {
    var elevated: [Float]
    var rem0: [Float]
    var rank: [Int]
    var bary: [Float]
    var corner: [Int]

    init(dimension d: Int) {
        elevated = [Float](repeating: 0, count: d + 1)
        rem0 = [Float](repeating: 0, count: d + 1)
        rank = [Int](repeating: 0, count: d + 1)
        bary = [Float](repeating: 0, count: d + 2)
        corner = [Int](repeating: 0, count: d)
    }
}

/// Elevation and simplex location of one feature vector.
struct SimplexGeometry {
    let dimension: Int
    let scale: [Float]
    let layout: LatticeKeyLayout

    /// Writes the d+1 corner keys and barycentric weights of the simplex enclosing feature `f` (d floats);
    /// false if the feature is not finite or too far out for the packed keys.
    func locate(_ f: UnsafePointer<Float>, keys: UnsafeMutablePointer<UInt64>, weights: UnsafeMutablePointer<Float>,
                scratch: inout SimplexScratch) -> Bool {
        let d = dimension, d1 = d + 1
        let down = 1 / Float(d1), up = Float(d1)
        let limit = layout.limit
        return scale.withUnsafeBufferPointer { scaleBuffer in
            let scale = scaleBuffer.baseAddress!
            return scratch.elevated.withUnsafeMutableBufferPointer { eb in
                scratch.rem0.withUnsafeMutableBufferPointer { rb in
                    scratch.rank.withUnsafeMutableBufferPointer { kb in
                        scratch.bary.withUnsafeMutableBufferPointer { bb in
                            let elevated = eb.baseAddress!, rem0 = rb.baseAddress!
                            let rank = kb.baseAddress!, bary = bb.baseAddress!
                            // Elevate onto the plane Σx = 0.
                            var sm: Float = 0
                            var j = d
                            while j > 0 {
                                let cf = f[j - 1] * scale[j - 1]
                                elevated[j] = sm - Float(j) * cf
                                sm += cf
                                j -= 1
                            }
                            elevated[0] = sm
                            // Nearest 0-coloured lattice point.
                            var sum = 0
                            for i in 0...d {
                                let e = elevated[i]
                                guard e.isFinite, abs(e) <= limit else { return false }
                                let v = (down * e).rounded(.toNearestOrEven)
                                rem0[i] = v * up
                                sum += Int(v)
                            }
                            // Rank of each remainder (ties go to the later coordinate).
                            for i in 0...d { rank[i] = 0 }
                            for i in 0..<d {
                                let di = elevated[i] - rem0[i]
                                for k in (i + 1)...d {
                                    if di < elevated[k] - rem0[k] { rank[i] += 1 } else { rank[k] += 1 }
                                }
                            }
                            // Bring the point back onto the plane if the rounding left it.
                            for i in 0...d {
                                rank[i] += sum
                                if rank[i] < 0 {
                                    rank[i] += d1
                                    rem0[i] += up
                                } else if rank[i] >= d1 {
                                    rank[i] -= d1
                                    rem0[i] -= up
                                }
                            }
                            // Barycentric coordinates.
                            for i in 0...(d + 1) { bary[i] = 0 }
                            for i in 0...d {
                                let v = (elevated[i] - rem0[i]) * down
                                let p = d - rank[i]
                                bary[p] += v
                                bary[p + 1] -= v
                            }
                            bary[0] += 1 + bary[d + 1]
                            // Corner r of the simplex: the lattice point plus the canonical simplex's r-th vertex.
                            for r in 0...d {
                                for i in 0..<d {
                                    let canonical = rank[i] <= d - r ? r : r - d1
                                    scratch.corner[i] = Int(rem0[i]) + canonical
                                }
                                keys[r] = layout.pack(scratch.corner)
                                weights[r] = bary[r]
                            }
                            return true
                        }
                    }
                }
            }
        }
    }
}
