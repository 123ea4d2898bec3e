import Testing
@testable import Tensor

@Suite struct ElementwiseTests {
    @Test func broadcastingByHand() throws {
        let a = try Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
        let row = try Tensor(shape: [3], scalars: [10, 20, 30])
        let col = try Tensor(shape: [2, 1], scalars: [100, 200])
        #expect(try (a + row).scalars == [11, 22, 33, 14, 25, 36])
        #expect(try (a - col).scalars == [-99, -98, -97, -196, -195, -194])
        #expect(try (col * row).shape == [2, 3])
        #expect(try (col * row).scalars == [1000, 2000, 3000, 2000, 4000, 6000])
        #expect(try (a / Tensor(2)).scalars == [0.5, 1, 1.5, 2, 2.5, 3])
        #expect(try (1 - a).scalars == [0, -1, -2, -3, -4, -5])
        #expect(try (12 / a).scalars == [12, 6, 4, 3, 2.4, 2])
        #expect(try (a * 2 + 1).scalars == [3, 5, 7, 9, 11, 13])
        #expect((-a).scalars == [-1, -2, -3, -4, -5, -6])
        // A size-1 middle axis: [2,1,2] + [3,1] → [2,3,2].
        let p = try Tensor(shape: [2, 1, 2], scalars: [1, 2, 3, 4])
        let q = try Tensor(shape: [3, 1], scalars: [10, 20, 30])
        let s = try p + q
        #expect(s.shape == [2, 3, 2])
        #expect(s.scalars == [11, 12, 21, 22, 31, 32, 13, 14, 23, 24, 33, 34])
    }

    @Test func incompatibleShapesThrow() throws {
        let a = Tensor(shape: [2, 3]), b = Tensor(shape: [2])
        #expect(throws: TensorError.self) { try a + b }
        #expect(throws: TensorError.self) { try a * Tensor(shape: [4, 3]) }
    }

    @Test func largeBroadcastMatchesNaiveLoops() throws {
        // Big enough for the parallel paths; operand shapes exercise the strided kernel.
        var rng = SplitMix64(seed: 3)
        let a = Tensor.uniform(shape: [6, 33, 40, 7], using: &rng)
        let b = Tensor.uniform(shape: [33, 1, 7], using: &rng)
        let c = Tensor.uniform(shape: [6, 1, 40, 1], using: &rng)
        let y = try a * b - c
        var worst: Float = 0
        for n in 0..<6 { for i in 0..<33 { for j in 0..<40 { for k in 0..<7 {
            let expected = a.scalars[((n * 33 + i) * 40 + j) * 7 + k] * b.scalars[i * 7 + k] - c.scalars[n * 40 + j]
            worst = Swift.max(worst, Swift.abs(y.scalars[((n * 33 + i) * 40 + j) * 7 + k] - expected))
        } } } }
        #expect(y.shape == [6, 33, 40, 7])
        #expect(worst == 0)
    }

    @Test func broadcastGradientsSumOverStretchedAxes() throws {
        let a = Tensor(shape: [2, 3], repeating: 1).trackingGradients()
        let b = try Tensor(shape: [3], scalars: [1, 2, 3]).trackingGradients()
        let y = try a * b
        let g = try Tape.gradients(of: y, wrt: [a, b])
        #expect(g[0].scalars == [1, 2, 3, 1, 2, 3])
        #expect(g[1].shape == [3])
        #expect(g[1].scalars == [2, 2, 2])
    }

    @Test func sumReducedUndoesBroadcasting() throws {
        let g = try Tensor(shape: [2, 2, 3], scalars: (1...12).map(Float.init))
        #expect(try g.sumReduced(toShape: [3]).scalars == [22, 26, 30])
        #expect(try g.sumReduced(toShape: [2, 1]).scalars == [30, 48])   // aligned as [1, 2, 1]
        #expect(try g.sumReduced(toShape: [2, 1, 3]).scalars == [5, 7, 9, 17, 19, 21])
        #expect(throws: TensorError.self) { try g.sumReduced(toShape: [2, 3, 3]) }
        #expect(throws: TensorError.self) { try g.sumReduced(toShape: [1, 2, 2, 3]) }
        try checkGradients("sumReduced", inputs: [g * 0.1], tolerance: 1e-3) { try $0[0].sumReduced(toShape: [2, 1]) }
    }

    @Test(arguments: [
        ([2, 3, 4], [4]), ([2, 3, 4], [2, 3, 4]), ([2, 1, 4], [3, 1]), ([3, 1], [1, 4]), ([2, 3], []),
        ([1], [2, 3]), ([2, 3, 1, 2], [3, 5, 1]),
    ])
    func binaryOperatorGradients(shapes: ([Int], [Int])) throws {
        var rng = SplitMix64(seed: 11)
        let a = Tensor.uniform(shape: shapes.0, using: &rng)
        let b = Tensor.uniform(shape: shapes.1, lo: 0.5, hi: 1.5, using: &rng)
        try checkGradients("add", inputs: [a, b], tolerance: 1e-3) { try $0[0] + $0[1] }
        try checkGradients("subtract", inputs: [a, b], tolerance: 1e-3) { try $0[0] - $0[1] }
        try checkGradients("multiply", inputs: [a, b], tolerance: 1e-3) { try $0[0] * $0[1] }
        try checkGradients("divide", inputs: [a, b], tolerance: 1e-3) { try $0[0] / $0[1] }
    }

    @Test func scalarAndUnaryGradients() throws {
        var rng = SplitMix64(seed: 12)
        let x = Tensor.uniform(shape: [3, 4], using: &rng)
        let pos = Tensor.uniform(shape: [3, 4], lo: 0.5, hi: 2, using: &rng)
        try checkGradients("scalar ops", inputs: [x], tolerance: 1e-3) { xs in
            try (2 - xs[0] * 3 + 1) / 4 - 0.5
        }
        try checkGradients("scalar divide", inputs: [pos], tolerance: 1e-3) { try 2 / $0[0] }
        try checkGradients("negate", inputs: [x], tolerance: 1e-3) { -$0[0] }
        try checkGradients("exp", inputs: [x], tolerance: 1e-3) { try exp($0[0]) }
        try checkGradients("log", inputs: [pos], tolerance: 1e-3) { try log($0[0]) }
        try checkGradients("sqrt", inputs: [pos], tolerance: 1e-3) { try sqrt($0[0]) }
        try checkGradients("rsqrt", inputs: [pos], tolerance: 1e-3) { try rsqrt($0[0]) }
        try checkGradients("square", inputs: [x], tolerance: 1e-3) { try square($0[0]) }
        try checkGradients("abs", inputs: [pos - 1.25], tolerance: 1e-3) { try abs($0[0]) }
    }

    @Test func unaryValues() throws {
        let x = try Tensor(shape: [3], scalars: [1, 4, 9])
        #expect(try sqrt(x).scalars == [1, 2, 3])
        #expect(try rsqrt(x).scalars.map { ($0 * 1e6).rounded() } == [1e6, 5e5, 333_333])
        #expect(try square(x).scalars == [1, 16, 81])
        #expect(try abs(-x).scalars == [1, 4, 9])
        #expect(try log(exp(x)).scalars.enumerated().allSatisfy { Swift.abs($0.element - x.scalars[$0.offset]) < 1e-5 })
    }
}
