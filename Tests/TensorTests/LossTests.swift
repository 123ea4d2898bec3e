import Testing
@testable import Tensor

@Suite struct LossTests {
    @Test func sigmoidCrossEntropyMatchesTensorFlow() throws {
        let logits = try loadOpsFixture("sigmoidce_logits").trackingGradients()
        let labels = try loadOpsFixture("sigmoidce_labels")
        let y = try sigmoidCrossEntropy(logits: logits, labels: labels)
        let g = try Tape.gradients(of: y, wrt: [logits], seed: loadOpsFixture("sigmoidce_dy"))[0]
        let dy = opsMaxDifference(y, try loadOpsFixture("sigmoidce_y"))
        let dg = opsMaxDifference(g, try loadOpsFixture("sigmoidce_dlogits"))
        #expect(dy <= 1e-5, "y max diff \(dy)")
        #expect(dg <= 1e-6, "dlogits max diff \(dg)")
    }

    @Test func sigmoidCrossEntropyByHandAndGradients() throws {
        let y = try sigmoidCrossEntropy(logits: Tensor(shape: [3], scalars: [0, 100, -100]),
                                        labels: Tensor(shape: [3], scalars: [1, 0, 0]))
        #expect(Swift.abs(y.scalars[0] - 0.6931472) < 1e-6)
        #expect(y.scalars[1] == 100)
        #expect(y.scalars[2] < 1e-30)
        #expect(throws: TensorError.self) { try sigmoidCrossEntropy(logits: Tensor(shape: [2]), labels: Tensor(shape: [3])) }
        var rng = SplitMix64(seed: 81)
        let x = Tensor.uniform(shape: [3, 4], lo: -4, hi: 4, using: &rng)
        let z = Tensor.uniform(shape: [3, 4], lo: 0, hi: 1, using: &rng)
        try checkGradients("sigmoidCrossEntropy", inputs: [x, z], tolerance: 1e-3, skip: [1]) {
            try sigmoidCrossEntropy(logits: $0[0], labels: $0[1])
        }
    }

    @Test func l2LossIsHalfTheSumOfSquares() throws {
        let x = try Tensor(shape: [2, 2], scalars: [1, 2, 3, 4])
        #expect(try l2Loss(x).scalars == [15])
        #expect(try l2Loss(x).shape == [])
        var rng = SplitMix64(seed: 82)
        try checkGradients("l2Loss", inputs: [Tensor.uniform(shape: [3, 5], using: &rng)], tolerance: 1e-3) {
            try l2Loss($0[0])
        }
    }
}
