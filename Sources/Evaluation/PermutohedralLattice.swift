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

    /// Largest feature dimension supported (keys pack d 16-bit coordinates into 128 bits).
    static let maxDimension = 7
    /// Largest magnitude of an elevated lattice coordinate (keys are Int16; blur looks d+1 further).
    static let maxCoordinate: Float = 32_000

    /// Builds the lattice of `count` points whose features are `features[i·d + k]`, k < d.
    /// Throws if a feature is not finite or its lattice coordinates do not fit the 16-bit keys.
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

        // Per-axis elevation scale: (1/sqrt((i+1)(i+2)))·sqrt(2/3)·(d+1), computed as the C++ code does
        // (the product in Double from a Float standard deviation, then rounded to Float).
        let invStdDev = Float((2.0 / 3.0).squareRoot() * Double(d1))
        let scale = (0..<d).map { i in Float(1.0 / Double((i + 2) * (i + 1)).squareRoot() * Double(invStdDev)) }
        let geometry = SimplexGeometry(dimension: d, scale: scale)

        // Locate every point's simplex in parallel: keys and weights for each of its d+1 corners.
        var keys = [LatticeKey](repeating: LatticeKey(), count: n * d1)
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
                runChunks(chunks, threads: threads) { c in
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
                                + "lie too far out for the lattice (scaled coordinates beyond ±\(Int(Self.maxCoordinate)))")
        }

        // Number the vertices in point order (the order only names them; the filter does not depend on it).
        var table = LatticeHashTable(dimension: d, expected: n * 2)
        var slots = [Int32](repeating: 0, count: n * d1)
        for s in 0..<(n * d1) {
            slots[s] = Int32(table.insert(keys[s]) + 1)
        }
        if n % 4 != 0 {
            // The zero-feature padding points of the SSE build.
            var padKeys = [LatticeKey](repeating: LatticeKey(), count: d1)
            var padWeights = [Float](repeating: 0, count: d1)
            var scratch = SimplexScratch(dimension: d)
            let zeros = [Float](repeating: 0, count: d)
            _ = zeros.withUnsafeBufferPointer { z in
                padKeys.withUnsafeMutableBufferPointer { k in
                    padWeights.withUnsafeMutableBufferPointer { w in
                        geometry.locate(z.baseAddress!, keys: k.baseAddress!, weights: w.baseAddress!, scratch: &scratch)
                    }
                }
            }
            for key in padKeys { _ = table.insert(key) }
        }
        let m = table.count
        vertexCount = m

        // Blur neighbours along direction j: the vertex minus 1 in every coordinate except +d in the j-th
        // (and its opposite); for j = d the d stored coordinates all move by ∓1.
        var neighbours = [Int32](repeating: 0, count: d1 * m * 2)
        let frozen = table
        let vertexChunks = max(1, min(threads, m / 8192))
        neighbours.withUnsafeMutableBufferPointer { nb in
            let base = nb.baseAddress!
            runChunks(vertexChunks, threads: threads) { c in
                let lo = c * m / vertexChunks, hi = (c + 1) * m / vertexChunks
                var coords = [Int](repeating: 0, count: d)
                var probe = [Int](repeating: 0, count: d)
                for v in lo..<hi {
                    frozen.key(of: v).unpack(into: &coords, dimension: d)
                    for j in 0...d {
                        for k in 0..<d { probe[k] = coords[k] - 1 }
                        if j < d { probe[j] = coords[j] + d }
                        base[(j * m + v) * 2] = Int32(frozen.find(LatticeKey(packing: probe)) + 1)
                        for k in 0..<d { probe[k] = coords[k] + 1 }
                        if j < d { probe[j] = coords[j] - d }
                        base[(j * m + v) * 2 + 1] = Int32(frozen.find(LatticeKey(packing: probe)) + 1)
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

extension Float {
    /// 2^e for a small integer exponent, exactly.
    init(pow2 e: Int) {
        self = Float(sign: .plus, exponent: e, significand: 1)
    }
}

/// Runs `body(0..<count)` on up to `threads` Dispatch workers (inline when one suffices).
func runChunks(_ count: Int, threads: Int, _ body: (Int) -> Void) {
    if count <= 1 || threads <= 1 {
        for c in 0..<count { body(c) }
        return
    }
    withoutActuallyEscaping(body) { body in
        DispatchQueue.concurrentPerform(iterations: count) { body($0) }
    }
}

/// Up to seven 16-bit lattice coordinates packed in two words.
struct LatticeKey: Equatable {
    var lo: UInt64 = 0
    var hi: UInt64 = 0

    init() {}

    /// Packs coordinates that fit in Int16 (the caller bounds them).
    init(packing coords: [Int]) {
        for (k, c) in coords.enumerated() { set(k, c) }
    }

    @inline(__always)
    mutating func set(_ k: Int, _ c: Int) {
        let bits = UInt64(UInt16(truncatingIfNeeded: c)) << UInt64((k & 3) * 16)
        if k < 4 { lo |= bits } else { hi |= bits }
    }

    func unpack(into coords: inout [Int], dimension d: Int) {
        for k in 0..<d {
            let word = k < 4 ? lo : hi
            coords[k] = Int(Int16(truncatingIfNeeded: word >> UInt64((k & 3) * 16)))
        }
    }

    @inline(__always)
    var hash: UInt64 {
        (lo ^ (hi &* 0xC2B2_AE3D_27D4_EB4F)) &* 0x9E37_79B9_7F4A_7C15
    }
}

/// An open-addressing table from lattice keys to vertex numbers 0, 1, 2… in insertion order.
struct LatticeHashTable {
    private var table: [Int32]
    private var keys: [LatticeKey] = []
    private var shift: UInt64
    let dimension: Int

    init(dimension: Int, expected: Int) {
        self.dimension = dimension
        var capacity = 1024
        while capacity < 2 * expected { capacity *= 2 }
        table = [Int32](repeating: -1, count: capacity)
        shift = UInt64(64 - capacity.trailingZeroBitCount)
        keys.reserveCapacity(expected)
    }

    var count: Int { keys.count }

    func key(of vertex: Int) -> LatticeKey { keys[vertex] }

    /// The vertex number of `key`, or -1.
    func find(_ key: LatticeKey) -> Int {
        let mask = table.count - 1
        var h = Int(key.hash >> shift)
        while true {
            let e = Int(table[h])
            if e < 0 { return -1 }
            if keys[e] == key { return e }
            h = (h + 1) & mask
        }
    }

    /// The vertex number of `key`, adding it if new.
    mutating func insert(_ key: LatticeKey) -> Int {
        if 2 * (keys.count + 1) > table.count { grow() }
        let mask = table.count - 1
        var h = Int(key.hash >> shift)
        while true {
            let e = Int(table[h])
            if e < 0 {
                table[h] = Int32(keys.count)
                keys.append(key)
                return keys.count - 1
            }
            if keys[e] == key { return e }
            h = (h + 1) & mask
        }
    }

    private mutating func grow() {
        let capacity = table.count * 2
        table = [Int32](repeating: -1, count: capacity)
        shift -= 1
        let mask = capacity - 1
        for (e, key) in keys.enumerated() {
            var h = Int(key.hash >> shift)
            while table[h] >= 0 { h = (h + 1) & mask }
            table[h] = Int32(e)
        }
    }
}

/// Per-thread work arrays of `SimplexGeometry.locate`.
struct SimplexScratch {
    var elevated: [Float]
    var rem0: [Float]
    var rank: [Int]
    var bary: [Float]

    init(dimension d: Int) {
        elevated = [Float](repeating: 0, count: d + 1)
        rem0 = [Float](repeating: 0, count: d + 1)
        rank = [Int](repeating: 0, count: d + 1)
        bary = [Float](repeating: 0, count: d + 2)
    }
}

/// Elevation and simplex location of one feature vector.
struct SimplexGeometry {
    let dimension: Int
    let scale: [Float]

    /// Writes the d+1 corner keys and barycentric weights of the simplex enclosing feature `f` (d floats);
    /// false if the feature is not finite or too far out for 16-bit keys.
    func locate(_ f: UnsafePointer<Float>, keys: UnsafeMutablePointer<LatticeKey>, weights: UnsafeMutablePointer<Float>,
                scratch: inout SimplexScratch) -> Bool {
        let d = dimension, d1 = d + 1
        let down = 1 / Float(d1), up = Float(d1)
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
                                guard e.isFinite, abs(e) <= PermutohedralLattice.maxCoordinate else { return false }
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
                                var key = LatticeKey()
                                for i in 0..<d {
                                    let canonical = rank[i] <= d - r ? r : r - d1
                                    key.set(i, Int(rem0[i]) + canonical)
                                }
                                keys[r] = key
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
