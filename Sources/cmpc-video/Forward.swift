// `cmpc-video forward`: run the network on already-preprocessed tensors and write named outputs,
// so a researcher can check the port against TensorFlow. With --train it also evaluates the
// original objective, its gradients and one Adam step (gradient parity).
import ArgumentParser
import Checkpoint
import Foundation
import ImageModel
import Pipeline
import Tensor
import Training
import VideoModel

struct Forward: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the network on preprocessed tensors (IN.npz) and write its outputs (OUT.npz).",
        discussion: """
            IN.npz holds `words` (int32 [num_steps], left-padded with 0) and `image` (float32 [H,W,3], BGR minus \
            the mean) for the image network, or `clip` (float32 [16,H,W,3]) for the video network. OUT.npz holds \
            `up` [H,W,1], `sigm`, `pred` [vf_h,vf_w,1], `up_c3`, `up_c4`, `up_c5` and `words_parse` [T', types].

            With --train, IN.npz also holds `target` (float32 [H,W] of 0/1) and OUT.npz also holds the scalars \
            cost, cls_loss_all, cls_loss, cls_loss_c3, cls_loss_c4, cls_loss_c5, reg_loss and, for every trained \
            variable N (each `/` written `__`), grad__N (d cost / d N, before the bias multiplier) and after__N \
            (its value after one Adam step from step 0 with the original's settings).
            """)

    @Option(help: "Model configuration JSON (sizes the checkpoint does not determine).")
    var config: String?

    @Option(help: "Checkpoint: a TensorFlow prefix, .safetensors or .npz.")
    var checkpoint: String

    @Option(help: "Input tensors (.npz).")
    var inputs: String

    @Option(help: "Where to write the outputs (.npz).")
    var outputs: String

    @Flag(help: "Also write the loss terms, gradients and the values after one Adam step.")
    var train = false

    @Option(help: "Trained variables with --train.")
    var finetune: Finetune = .none

    @Option(name: .customLong("lr"), help: "Start learning rate with --train.")
    var learningRate: Float = 0.00025

    @Option(help: "Polynomial decay steps with --train.")
    var decaySteps: Int = 800_000

    @Option(help: "L2 factor with --train.")
    var weightDecay: Float = 0.0005

    func run() async throws {
        let arrays = try NumPy.readNPZ(URL(fileURLWithPath: inputs))
        var byName: [String: TypedArray] = [:]
        for (name, a) in arrays { byName[name] = a }
        guard let wordsArray = byName["words"] else {
            throw UserError("\(inputs) has no `words` array (int32 [num_steps])")
        }
        let words = try wordsArray.int32s()
        guard let input = byName["image"] ?? byName["clip"] else {
            throw UserError("\(inputs) has neither `image` (float32 [H,W,3]) nor `clip` (float32 [16,H,W,3])")
        }
        var model = try loadModel(checkpoint: checkpoint, configPath: config, numSteps: words.count)
        let inputTensor = try input.tensor()
        let out = try model.forward(input: inputTensor, words: words)
        var named = try out.named().map { ($0.0, TypedArray($0.1)) }
        if train {
            guard let targetArray = byName["target"] else {
                throw UserError("\(inputs) has no `target` array (float32 [H,W] of 0/1), needed with --train")
            }
            let target = try targetArray.tensor()
            guard target.shape == [model.config.H, model.config.W] else {
                throw UserError("\(inputs): target is \(target.shape); the model needs [\(model.config.H), \(model.config.W)]")
            }
            var settings = TrainingSettings()
            settings.finetune = finetune
            settings.startLearningRate = learningRate
            settings.decaySteps = decaySteps
            settings.weightDecay = weightDecay
            let trainer = try Trainer(model: model, settings: settings)
            let sample = TrainingSample(input: inputTensor, words: words, target: target)
            let g = try trainer.gradients([sample])
            for (n, v) in g.terms.named { named.append((n, TypedArray(float32: [], scalars: [v]))) }
            try trainer.adam.step(parameters: &model.parameters.values, gradients: g.gradients,
                                  learningRate: trainer.learningRate)
            for n in trainer.trained {
                let key = n.replacingOccurrences(of: "/", with: "__")
                if let gr = g.gradients[n] { named.append(("grad__" + key, TypedArray(gr))) }
                named.append(("after__" + key, TypedArray(try model.parameters(n))))
            }
        }
        try NumPy.writeNPZ(named, to: URL(fileURLWithPath: outputs))
    }
}
