// Parameters are values: a training step on a model's parameters, running on another thread, never
// reaches an inference on the same model (the tracked tensors live in the objective's own copy, the
// optimizer updates the trainer's copy).
import Dispatch
import Testing
@testable import ImageModel
import Pipeline
@testable import Tensor
@testable import Training
@testable import VideoModel

@Suite struct ConcurrentInferenceTests {
    @Test(arguments: [ModelKind.image, .video])
    func inferenceBesideATrainingStepSeesTheModelItWasGiven(_ kind: ModelKind) throws {
        var c = ModelConfig()
        c.model = kind
        (c.H, c.W, c.vEmbDim, c.rnnSize, c.mlpDim, c.parseDim) = (32, 32, 8, 8, 4, 4)
        (c.numSteps, c.vocabSize, c.gloveDim, c.widthDivisor, c.depth) = (6, 20, 3, 32, [1, 1, 1, 1])
        let model = try CMPCModel(config: c, seed: 31)
        var rng = SplitMix64(seed: 32)
        let input = Tensor.uniform(shape: kind == .image ? [32, 32, 3] : [16, 32, 32, 3], lo: -50, hi: 50, using: &rng)
        let words: [Int32] = [0, 0, 4, 5, 6, 7]
        let alone = try model.forward(input: input, words: words).up.scalars

        var settings = TrainingSettings()
        settings.finetune = .all
        settings.startLearningRate = 0.01
        let trainer = try Trainer(model: model, settings: settings)
        let target = Tensor(shape: [32, 32], repeating: 1)
        let sample = TrainingSample(input: input, words: words, target: target)
        var during: [[Float]] = []
        var trainingError: Error?
        DispatchQueue.concurrentPerform(iterations: 2) { i in
            if i == 0 {
                do { for _ in 0..<2 { try trainer.step([sample, sample]) } } catch { trainingError = error }
            } else {
                for _ in 0..<3 { during.append((try? model.forward(input: input, words: words).up.scalars) ?? []) }
            }
        }
        if let trainingError { throw trainingError }
        #expect(trainer.step == 2)
        #expect(during.count == 3)
        for out in during { #expect(out == alone) }
        // The trainer did change its own copy, so the equality above is not vacuous.
        #expect(try trainer.model.forward(input: input, words: words).up.scalars != alone)
        #expect(try model.forward(input: input, words: words).up.scalars == alone)
    }
}
