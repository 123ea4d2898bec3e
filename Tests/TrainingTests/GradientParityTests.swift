// Gradient parity with the original training step: Tools/reference/make_gradient_fixtures.py builds
// the original graphs and train_op (losses, L2 term, bias gradients ×2, Adam with polynomial decay)
// in tf.compat.v1, and stores the loss terms, d cost/d v and the values after one Adam step.
// Regenerate with
//   python3 Tools/reference/make_gradient_fixtures.py
import Checkpoint
import Foundation
import Testing
import ImageModel
import Pipeline
import Tensor
@testable import Training
import VideoModel

/// Every case folder under Fixtures/gradients.
func gradientCases() -> [String] {
    guard let root = Bundle.module.url(forResource: "gradients", withExtension: nil, subdirectory: "Fixtures"),
          let names = try? FileManager.default.contentsOfDirectory(atPath: root.path) else { return [] }
    return names.sorted().filter {
        FileManager.default.fileExists(atPath: root.appendingPathComponent($0).appendingPathComponent("train.json").path)
    }
}

func gradientCaseURL(_ name: String) throws -> URL {
    let root = try #require(Bundle.module.url(forResource: "gradients", withExtension: nil, subdirectory: "Fixtures"))
    return root.appendingPathComponent(name)
}

/// Model, trainer settings and the one sample of a fixture case.
func loadGradientCase(_ name: String) throws -> (model: CMPCModel, settings: TrainingSettings, sample: TrainingSample,
                                                  expected: [String: Tensor]) {
    let dir = try gradientCaseURL(name)
    let config = try ModelConfig.load(dir.appendingPathComponent("config.json"))
    let settings = try JSONDecoder().decode(TrainingSettings.self,
                                            from: Data(contentsOf: dir.appendingPathComponent("train.json")))
    let checkpoint = try TFCheckpoint(prefix: dir.appendingPathComponent("model.ckpt").path)
    let tensors = try checkpoint.readAll().filter { $0.array.dtype == .float32 }.map { ($0.name, try $0.array.tensor()) }
    let model = try CMPCModel(tensors: tensors, base: config, source: dir.path)
    var inputs: [String: TypedArray] = [:]
    for (n, a) in try NumPy.readNPZ(dir.appendingPathComponent("inputs.npz")) { inputs[n] = a }
    let words = try #require(inputs["words"]).int32s()
    let input = try #require(inputs["image"] ?? inputs["clip"]).tensor()
    let target = try #require(inputs["target"]).tensor()
    var expected: [String: Tensor] = [:]
    for (n, a) in try NumPy.readNPZ(dir.appendingPathComponent("expected.npz")) { expected[n] = try a.tensor() }
    return (model, settings, TrainingSample(input: input, words: words, target: target), expected)
}

@Suite struct GradientParityTests {
    @Test(arguments: gradientCases())
    func lossGradientsAndAdamStepMatchTensorFlow(_ name: String) throws {
        let (loaded, settings, sample, expected) = try loadGradientCase(name)
        var model = loaded
        let trainer = try Trainer(model: model, settings: settings)
        let before = try trainer.trained.map { try model.parameters($0) }
        let g = try trainer.gradients([sample])

        for (term, value) in g.terms.named {
            let want = try #require(expected[term], "\(name): \(term) missing").scalar
            let rel = Swift.abs(value - want) / Swift.max(Swift.abs(want), 1e-6)
            print("gradients \(name) \(term): \(value) vs \(want) (relative \(rel))")
            #expect(rel <= 1e-4, "\(name)/\(term): \(value) vs TensorFlow \(want)")
        }

        // Same set of trained variables as TensorFlow's var_list.
        let tfNames = Set(expected.keys.filter { $0.hasPrefix("grad__") }
            .map { String($0.dropFirst(6)).replacingOccurrences(of: "__", with: "/") })
        let differing = Set(trainer.trained).symmetricDifference(tfNames).sorted().prefix(10)
        #expect(Set(trainer.trained) == tfNames, "\(name): trained sets differ: \(differing)")

        // Some variables have a gradient that is zero in exact arithmetic (a bias added to every key
        // of a softmax, …): both sides hold rounding noise there, so a tensor's scale is floored at
        // 1e-5 of the largest gradient of the model.
        let globalMax = expected.filter { $0.key.hasPrefix("grad__") }
            .map { $0.value.scalars.map { Swift.abs($0) }.max() ?? 0 }.max() ?? 0
        let floor = 1e-5 * globalMax
        var worstGrad: (String, Float) = ("", 0)
        for n in trainer.trained {
            let key = n.replacingOccurrences(of: "/", with: "__")
            guard let want = expected["grad__" + key], let got = g.gradients[n] else { continue }
            #expect(got.shape == want.shape)
            let scale = want.scalars.map { Swift.abs($0) }.max() ?? 0
            let diff = zip(got.scalars, want.scalars).map { Swift.abs($0 - $1) }.max() ?? 0
            let rel = diff / Swift.max(scale, floor)
            if rel > worstGrad.1 { worstGrad = (n, rel) }
            #expect(rel <= 1e-4, "\(name) grad \(n): max |diff| \(diff), max |grad| \(scale)")
        }
        print("gradients \(name): \(trainer.trained.count) variables, worst relative gradient diff \(worstGrad.1) at \(worstGrad.0)")

        // One Adam step from step 0 with the original's settings.
        let lr = trainer.learningRate
        try trainer.adam.step(parameters: &model.parameters.values, gradients: g.gradients, learningRate: lr)
        var worstAfter: Float = 0
        for (i, n) in trainer.trained.enumerated() {
            let key = n.replacingOccurrences(of: "/", with: "__")
            guard let want = expected["after__" + key], let tfGrad = expected["grad__" + key] else { continue }
            let got = try model.parameters(n)
            let gmax = Swift.max(tfGrad.scalars.map { Swift.abs($0) }.max() ?? 0, floor)
            let scale = Swift.max(want.scalars.map { Swift.abs($0) }.max() ?? 0, lr)
            for j in 0..<want.count {
                let d = Swift.abs(got.scalars[j] - want.scalars[j])
                // Adam's first step moves by ≈ lr·sign(g): where |g| is near rounding noise the sign
                // (hence the step) is not determined; there only the step size is checked.
                if Swift.abs(tfGrad.scalars[j]) >= 1e-3 * gmax {
                    worstAfter = Swift.max(worstAfter, d / scale)
                    #expect(d <= 1e-4 * scale, "\(name) after \(n)[\(j)]: \(got.scalars[j]) vs \(want.scalars[j])")
                } else {
                    #expect(Swift.abs(got.scalars[j] - before[i].scalars[j]) <= 1.01 * lr)
                }
                if d > 1e-4 * scale && Swift.abs(tfGrad.scalars[j]) >= 1e-3 * gmax {
                    print("AFTERFAIL \(n)[\(j)] g \(tfGrad.scalars[j]) gmax \(gmax) ours \(g.gradients[n]?.scalars[j] ?? 0)")
                    break
                }
            }
        }
        print("gradients \(name): worst relative difference after one Adam step \(worstAfter)")
    }
}
