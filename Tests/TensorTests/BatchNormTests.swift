import Testing
@testable import Tensor

@Suite struct BatchNormTests {
    @Test func batchNormMatchesTensorFlow() throws {
        let load = { (n: String) in try NPYFixture.load("bn_\(n)") }
        let x = try load("x").trackingGradients(), offset = try load("offset").trackingGradients()
        let scale = try load("scale").trackingGradients()
        let y = try batchNormInference(x, mean: load("mean"), variance: load("variance"), offset: offset, scale: scale)
        let g = try Tape.gradients(of: y, wrt: [x, offset, scale], seed: load("dy"))
        let d = [expectClose(y, try load("y"), "bn y"), expectClose(g[0], try load("dx"), "bn dx"),
                 expectClose(g[1], try load("doffset"), "bn doffset"), expectClose(g[2], try load("dscale"), "bn dscale")]
        print("fixture bn: max diff y \(d[0]), dx \(d[1]), doffset \(d[2]), dscale \(d[3])")
    }

    @Test func biasAddMatchesTensorFlow() throws {
        let x = try NPYFixture.load("bias_add_x").trackingGradients()
        let b = try NPYFixture.load("bias_add_bias").trackingGradients()
        let y = try biasAdd(x, b)
        let g = try Tape.gradients(of: y, wrt: [x, b], seed: NPYFixture.load("bias_add_dy"))
        let d = [expectClose(y, try NPYFixture.load("bias_add_y"), "biasAdd y"),
                 expectClose(g[0], try NPYFixture.load("bias_add_dx"), "biasAdd dx"),
                 expectClose(g[1], try NPYFixture.load("bias_add_dbias"), "biasAdd dbias")]
        print("fixture bias_add: max diff y \(d[0]), dx \(d[1]), dbias \(d[2])")
    }

    @Test(arguments: [[2, 3, 4], [1, 5, 5, 3], [7]])
    func batchNormGradientsMatchFiniteDifferences(_ shape: [Int]) throws {
        var rng = SplitMix64(seed: 31)
        let c = shape.last!
        let x = Tensor.uniform(shape: shape, using: &rng)
        let mean = Tensor.uniform(shape: [c], using: &rng)
        let variance = Tensor.uniform(shape: [c], lo: 0.5, hi: 2, using: &rng)
        let offset = Tensor.uniform(shape: [c], using: &rng), scale = Tensor.uniform(shape: [c], using: &rng)
        try checkGradients("batchNormInference \(shape)", inputs: [x, mean, variance, offset, scale], tolerance: 1e-2) { xs in
            try batchNormInference(xs[0], mean: xs[1], variance: xs[2], offset: xs[3], scale: xs[4])
        }
    }

    @Test(arguments: [[2, 3, 4], [1, 4, 4, 6], [5]])
    func biasAddGradientsMatchFiniteDifferences(_ shape: [Int]) throws {
        var rng = SplitMix64(seed: 41)
        let x = Tensor.uniform(shape: shape, using: &rng), b = Tensor.uniform(shape: [shape.last!], using: &rng)
        try checkGradients("biasAdd \(shape)", inputs: [x, b], tolerance: 1e-3) { xs in try biasAdd(xs[0], xs[1]) }
    }

    @Test func largeInputsSplitAcrossCoresSumCorrectly() throws {
        // Enough rows for several workers in the per-channel sums.
        let rows = 40_000, c = 4
        let x = Tensor(shape: [rows, c], repeating: 1).trackingGradients()
        let b = Tensor(shape: [c], repeating: 0.5).trackingGradients()
        let g = try Tape.gradients(of: biasAdd(x, b), wrt: [x, b])
        #expect(g[1].scalars == [Float](repeating: Float(rows), count: c))
        #expect(g[0].scalars.allSatisfy { $0 == 1 })
    }

    @Test func foldedScaleAndShiftReproduceBatchNorm() throws {
        var rng = SplitMix64(seed: 51)
        let x = Tensor.uniform(shape: [2, 3, 3, 4], using: &rng)
        let mean = Tensor.uniform(shape: [4], using: &rng), variance = Tensor.uniform(shape: [4], lo: 0.1, hi: 1, using: &rng)
        let offset = Tensor.uniform(shape: [4], using: &rng), scale = Tensor.uniform(shape: [4], using: &rng)
        let y = try batchNormInference(x, mean: mean, variance: variance, offset: offset, scale: scale)
        let (s, t) = try foldBatchNorm(mean: mean, variance: variance, offset: offset, scale: scale)
        for i in 0..<x.count {
            let c = i % 4
            let expected = scale.scalars[c] * (x.scalars[i] - mean.scalars[c]) / (variance.scalars[c] + 0.001).squareRoot()
                + offset.scalars[c]
            #expect(abs(y.scalars[i] - expected) < 1e-5)
            #expect(abs(x.scalars[i] * s.scalars[c] + t.scalars[c] - expected) < 1e-5)
        }
    }

    @Test func badShapesThrow() {
        let x = Tensor(shape: [2, 3]), v = Tensor(shape: [3]), w = Tensor(shape: [2])
        #expect(throws: TensorError.self) { try batchNormInference(x, mean: w, variance: v, offset: v, scale: v) }
        #expect(throws: TensorError.self) { try batchNormInference(x, mean: v, variance: v, offset: w, scale: v) }
        #expect(throws: TensorError.self) { try biasAdd(x, w) }
        #expect(throws: TensorError.self) { try biasAdd(Tensor(1), v) }
    }
}
