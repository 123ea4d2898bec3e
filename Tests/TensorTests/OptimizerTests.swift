import Testing
@testable import Tensor

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@Suite struct OptimizerTests {
    @Test func adamMatchesTensorFlowV1() throws {
        let adam = Adam()
        var params = ["w": try loadOpsFixture("adam_w0")]
        let lrs = try loadOpsFixture("adam_lr").scalars
        for step in 1...2 {
            try adam.step(parameters: &params, gradients: ["w": loadOpsFixture("adam_g\(step)")], learningRate: lrs[step - 1])
            let diffs = [
                ("w", opsMaxDifference(try #require(params["w"]), try loadOpsFixture("adam_w\(step)"))),
                ("m", opsMaxDifference(try #require(adam.m["w"]), try loadOpsFixture("adam_m\(step)"))),
                ("v", opsMaxDifference(try #require(adam.v["w"]), try loadOpsFixture("adam_v\(step)"))),
            ]
            for (name, d) in diffs { #expect(d <= 1e-6, "step \(step) \(name) max diff \(d)") }
        }
        #expect(adam.stepCount == 2)
        #expect(Swift.abs(adam.beta1Power - 0.729) < 1e-6)
        #expect(Swift.abs(adam.beta2Power - 0.997002999) < 1e-6)
    }

    @Test func multipliersAndErrors() throws {
        // One step from zero state: m = (1−β1)·g·k, v = (1−β2)·(g·k)², so the step is lr·sign(g) for any k
        // (up to ε), while the learning-rate multiplier scales it.
        let adam = Adam(gradientMultiplier: { $0.hasSuffix("biases") ? 2 : 1 },
                        learningRateMultiplier: { $0 == "slow" ? 0.5 : 1 })
        var params = ["a/biases": Tensor(shape: [2]), "a/DW": Tensor(shape: [2]), "slow": Tensor(shape: [2]),
                      "untouched": Tensor(shape: [2], repeating: 3)]
        let g = try Tensor(shape: [2], scalars: [0.5, -0.25])
        try adam.step(parameters: &params, gradients: ["a/biases": g, "a/DW": g, "slow": g], learningRate: 0.1)
        let bm = try #require(adam.m["a/biases"]), dm = try #require(adam.m["a/DW"])
        #expect(Swift.abs(bm.scalars[0] - 2 * dm.scalars[0]) < 1e-7)
        let lrT: Float = 0.1 * Float(0.001).squareRoot() / 0.1
        let m0: Float = 0.05, v0: Float = 0.001 * 0.25
        let expected: Float = -lrT * m0 / (v0.squareRoot() + 1e-8)
        let dw = try #require(params["a/DW"]).scalars[0]
        #expect(Swift.abs(dw - expected) < 1e-6)
        #expect(Swift.abs(try #require(params["slow"]).scalars[0] - 0.5 * (try #require(params["a/DW"])).scalars[0]) < 1e-7)
        #expect(params["untouched"]?.scalars == [3, 3])
        #expect(adam.m["untouched"] == nil)
        #expect(throws: TensorError.self) {
            try adam.step(parameters: &params, gradients: ["missing": g], learningRate: 0.1)
        }
        #expect(throws: TensorError.self) {
            try adam.step(parameters: &params, gradients: ["a/DW": Tensor(shape: [3])], learningRate: 0.1)
        }
        #expect(adam.stepCount == 1)
    }

    @Test func polynomialDecayFollowsTensorFlowsFormula() throws {
        let schedule = try PolynomialDecay(initial: 0.01, decaySteps: 100, end: 1e-5, power: 0.9)
        #expect(schedule(step: 0) == 0.01)
        #expect(Swift.abs(schedule(step: 50) - ((0.01 - 1e-5) * powf(0.5, 0.9) + 1e-5)) < 1e-9)
        #expect(schedule(step: 100) == 1e-5)
        #expect(schedule(step: 1000) == 1e-5)
        #expect(throws: TensorError.self) { try PolynomialDecay(initial: 1, decaySteps: 0) }
    }
}
