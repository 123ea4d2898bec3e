import Foundation
import Testing
@testable import Tensor

@Suite struct ActivationTests {
    @Test func valuesByHand() throws {
        let x = try Tensor(shape: [4], scalars: [-2, -0.5, 0.5, 2])
        #expect(try relu(x).scalars == [0, 0, 0.5, 2])
        let s = try sigmoid(Tensor(shape: [3], scalars: [0, 100, -100]))
        #expect(s.scalars == [0.5, 1, 0])
        let t = try tanh(Tensor(shape: [2], scalars: [0, 20]))
        #expect(t.scalars == [0, 1])
        let p = try softmax(Tensor(shape: [2, 2], scalars: [0, 0, 1000, 1000]))
        #expect(p.scalars == [0.5, 0.5, 0.5, 0.5])
    }

    @Test func fastExpIsWithinTwoUlpOfExp() {
        var worst: Double = 0
        var x: Float = -87.3
        while x <= 88 {
            let exact = Foundation.exp(Double(x)), got = Double(fastExp(x))
            worst = Swift.max(worst, Swift.abs(got - exact) / exact)
            x += 0.0137
        }
        #expect(worst < 2.4e-7)      // 2 ulp
        #expect(fastExp(0) == 1)
        #expect(fastExp(-100) == 0 && fastExp(100) == .infinity && fastExp(.nan).isNaN)
        // The logistic function at its ends and its middle.
        #expect(sigmoidScalar(0) == 0.5 && sigmoidScalar(-100) == 0 && sigmoidScalar(100) == 1)
        #expect(Swift.abs(sigmoidScalar(-20) - 2.0611537e-9) < 1e-15)
    }

    @Test func gradients() throws {
        var rng = SplitMix64(seed: 21)
        // ReLU away from its kink.
        let x = try Tensor.uniform(shape: [3, 5], lo: 0.1, hi: 1, using: &rng)
            * Tensor(shape: [5], scalars: [1, -1, 1, -1, 1])
        try checkGradients("relu", inputs: [x], tolerance: 1e-3) { try relu($0[0]) }
        let y = Tensor.uniform(shape: [3, 5], lo: -3, hi: 3, using: &rng)
        try checkGradients("sigmoid", inputs: [y], tolerance: 1e-3) { try sigmoid($0[0]) }
        try checkGradients("tanh", inputs: [y], tolerance: 1e-3) { try tanh($0[0]) }
        let z = Tensor.uniform(shape: [2, 3, 4], lo: -2, hi: 2, using: &rng)
        for axis in [-1, 0, 1, 2] {
            try checkGradients("softmax axis \(axis)", inputs: [z], tolerance: 1e-3) { try softmax($0[0], axis: axis) }
        }
    }

    @Test(arguments: [("softmax_last", -1), ("softmax_mid", 1)])
    func softmaxMatchesTensorFlow(tag: String, axis: Int) throws {
        let x = try loadOpsFixture("\(tag)_x").trackingGradients()
        let y = try softmax(x, axis: axis)
        let dx = try Tape.gradients(of: y, wrt: [x], seed: loadOpsFixture("\(tag)_dy"))[0]
        let dy = opsMaxDifference(y, try loadOpsFixture("\(tag)_y"))
        let dd = opsMaxDifference(dx, try loadOpsFixture("\(tag)_dx"))
        #expect(dy <= 1e-6, "\(tag) y max diff \(dy)")
        #expect(dd <= 1e-5, "\(tag) dx max diff \(dd)")
    }
}
