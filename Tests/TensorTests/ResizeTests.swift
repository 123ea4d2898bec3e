import Testing
@testable import Tensor

@Suite struct ResizeTests {
    @Test(arguments: [("resize_up", 9, 11), ("resize_down", 4, 3), ("resize_mixed", 8, 4), ("resize_x8", 40, 40)])
    func matchesTensorFlow(_ name: String, _ height: Int, _ width: Int) throws {
        let x = try NPYFixture.load("\(name)_x").trackingGradients()
        let y = try resizeBilinear(x, height: height, width: width)
        let dx = try Tape.gradients(of: y, wrt: [x], seed: NPYFixture.load("\(name)_dy"))[0]
        let dy0 = expectClose(y, try NPYFixture.load("\(name)_y"), "\(name) y")
        let dx0 = expectClose(dx, try NPYFixture.load("\(name)_dx"), "\(name) dx")
        print("fixture \(name): max diff y \(dy0), dx \(dx0)")
    }

    @Test(arguments: [([1, 4, 5, 2], 7, 9), ([2, 6, 7, 1], 3, 4), ([1, 5, 3, 3], 5, 8), ([1, 3, 3, 2], 3, 3)])
    func gradientsMatchFiniteDifferences(_ shape: [Int], _ height: Int, _ width: Int) throws {
        var rng = SplitMix64(seed: 21)
        let x = Tensor.uniform(shape: shape, using: &rng)
        try checkGradients("resizeBilinear \(shape) → \(height)×\(width)", inputs: [x], tolerance: 1e-3) { xs in
            try resizeBilinear(xs[0], height: height, width: width)
        }
    }

    @Test func upsamplingByTwoRepeatsTheLastRowAndInterpolatesTheRest() throws {
        // 1-D in effect: [0, 2] → [0, 1, 2, 2] (no half-pixel centres, the last sample clamps).
        let x = try Tensor(shape: [1, 1, 2, 1], scalars: [0, 2])
        #expect(try resizeBilinear(x, height: 1, width: 4).scalars == [0, 1, 2, 2])
    }

    @Test func badArgumentsThrow() {
        #expect(throws: TensorError.self) { try resizeBilinear(Tensor(shape: [4, 4, 2]), height: 2, width: 2) }
        #expect(throws: TensorError.self) { try resizeBilinear(Tensor(shape: [1, 4, 4, 2]), height: 0, width: 2) }
        #expect(throws: TensorError.self) { try resizeBilinear(Tensor(shape: [1, 0, 4, 2]), height: 2, width: 2) }
    }
}
