import Testing
@testable import Tensor

@Suite struct ShapeTests {
    let x = try! Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])

    @Test func reshapeExpandSqueeze() throws {
        #expect(try x.reshaped(to: [3, -1]).shape == [3, 2])
        #expect(try x.reshaped(to: [-1]).scalars == x.scalars)
        #expect(throws: TensorError.self) { try x.reshaped(to: [4, -1]) }
        #expect(throws: TensorError.self) { try x.reshaped(to: [-1, -1]) }
        #expect(try x.expandingDims(at: -1).shape == [2, 3, 1])
        #expect(try x.expandingDims(at: 0).shape == [1, 2, 3])
        let e = try x.expandingDims(at: 1)
        #expect(e.shape == [2, 1, 3])
        #expect(try e.squeezing(axes: [-2]).shape == [2, 3])
        #expect(try Tensor(shape: [1, 2, 1]).squeezing().shape == [2])
        #expect(throws: TensorError.self) { try x.squeezing(axes: [0]) }
    }

    @Test func transposeByHand() throws {
        let t = try x.transposed([1, 0])
        #expect(t.shape == [3, 2])
        #expect(t.scalars == [1, 4, 2, 5, 3, 6])
        var rng = SplitMix64(seed: 41)
        let big = Tensor.uniform(shape: [3, 4, 5, 6], using: &rng)
        let p = try big.transposed([2, 0, 3, -3])
        #expect(p.shape == [5, 3, 6, 4])
        for a in 0..<3 { for b in 0..<4 { for c in 0..<5 { for d in 0..<6 {
            #expect(p.scalars[((c * 3 + a) * 6 + d) * 4 + b] == big.scalars[((a * 4 + b) * 5 + c) * 6 + d])
        } } } }
        #expect(throws: TensorError.self) { try x.transposed([0, 0]) }
    }

    @Test func sliceTileConcatSplitStack() throws {
        #expect(try x.slice(begin: [0, 1], size: [2, -1]).scalars == [2, 3, 5, 6])
        #expect(try x.slice(begin: [1, 0], size: [1, 2]).scalars == [4, 5])
        #expect(throws: TensorError.self) { try x.slice(begin: [1, 2], size: [1, 2]) }
        let t = try x.tiled([2, 1])
        #expect(t.shape == [4, 3])
        #expect(t.scalars == [1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6])
        #expect(try Tensor(shape: [2, 1], scalars: [1, 2]).tiled([1, 3]).scalars == [1, 1, 1, 2, 2, 2])
        let c = try concat([x, Tensor(shape: [2, 1], scalars: [7, 8])], axis: -1)
        #expect(c.shape == [2, 4])
        #expect(c.scalars == [1, 2, 3, 7, 4, 5, 6, 8])
        #expect(try concat([x, x], axis: 0).scalars == x.scalars + x.scalars)
        #expect(throws: TensorError.self) { try concat([x, Tensor(shape: [3, 1])], axis: 1) }
        let parts = try split(c, sizes: [3, 1], axis: 1)
        #expect(parts[0].scalars == x.scalars)
        #expect(parts[1].scalars == [7, 8])
        let halves = try split(x, count: 2, axis: 0)
        #expect(halves.map(\.scalars) == [[1, 2, 3], [4, 5, 6]])
        #expect(throws: TensorError.self) { try split(x, count: 2, axis: 1) }
        let s = try stack([x, x * 10], axis: 1)
        #expect(s.shape == [2, 2, 3])
        #expect(s.scalars == [1, 2, 3, 10, 20, 30, 4, 5, 6, 40, 50, 60])
        #expect(try broadcastShape([5, 1, 3], [4, 1], op: "t") == [5, 4, 3])
        #expect(try x.broadcasted(to: [2, 2, 3]).scalars == x.scalars + x.scalars)
    }

    @Test func gradients() throws {
        var rng = SplitMix64(seed: 42)
        let a = Tensor.uniform(shape: [2, 3, 4], using: &rng)
        let b = Tensor.uniform(shape: [2, 2, 4], using: &rng)
        try checkGradients("reshape", inputs: [a], tolerance: 1e-3) { try $0[0].reshaped(to: [4, -1]) }
        try checkGradients("transpose", inputs: [a], tolerance: 1e-3) { try $0[0].transposed([2, 0, 1]) }
        try checkGradients("expand+squeeze", inputs: [a], tolerance: 1e-3) {
            try $0[0].expandingDims(at: 1).squeezing(axes: [1]).expandingDims(at: -1)
        }
        try checkGradients("slice", inputs: [a], tolerance: 1e-3) { try $0[0].slice(begin: [1, 1, 0], size: [1, -1, 3]) }
        try checkGradients("tile", inputs: [a], tolerance: 1e-3) { try $0[0].tiled([2, 1, 3]) }
        try checkGradients("broadcasted", inputs: [b], tolerance: 1e-3) { try $0[0].expandingDims(at: 1).broadcasted(to: [2, 3, 2, 4]) }
        try checkGradients("concat", inputs: [a, b], tolerance: 1e-3) { try concat([$0[0], $0[1]], axis: -2) }
        try checkGradients("split", inputs: [a], tolerance: 1e-3) {
            let p = try split($0[0], sizes: [1, 2, 1], axis: 2)
            return try p[0] * p[2] + p[1].sum(axes: [2], keepDims: true)
        }
        try checkGradients("stack", inputs: [a, a * 2], tolerance: 1e-3) { try stack([$0[0], $0[1]], axis: 3) }
    }

    @Test func embeddingLookupGathersRowsAndScattersGradients() throws {
        let table = try Tensor(shape: [4, 2], scalars: [0, 0, 1, 1, 2, 2, 3, 3])
        let y = try embeddingLookup(table, ids: [3, 1, 3])
        #expect(y.shape == [3, 2])
        #expect(y.scalars == [3, 3, 1, 1, 3, 3])
        #expect(throws: TensorError.invalidArgument(
            op: "embeddingLookup", reason: "id 4 at position 1 is outside the vocabulary 0..<4")) {
            try embeddingLookup(table, ids: [0, 4])
        }
        #expect(throws: TensorError.self) { try embeddingLookup(table, ids: [-1]) }
        var rng = SplitMix64(seed: 43)
        let t = Tensor.uniform(shape: [5, 3], using: &rng)
        try checkGradients("embeddingLookup", inputs: [t], tolerance: 1e-3) {
            try embeddingLookup($0[0], ids: [4, 0, 4, 2])
        }
    }
}
