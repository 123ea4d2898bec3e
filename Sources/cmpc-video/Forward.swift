// `cmpc-video forward`: run the network on already-preprocessed tensors and write named outputs,
// so a researcher can check the port against TensorFlow. With --train it also evaluates the
// original objective, its gradients and one Adam step (gradient parity). With --media it prepares the
// frames itself (Pipeline, as segment and evaluate do) and writes the prepared input and the words beside
// the outputs, so the whole test path can be held against the original's.
import ArgumentParser
import Checkpoint
import Foundation
import ImageModel
import Pipeline
import Datasets
import Tensor
import Training
import Video
import VideoModel

struct Forward: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the network on preprocessed tensors (IN.npz) or on a video or image (--media), and write its outputs (OUT.npz).",
        discussion: """
            IN.npz holds `words` (int32 [num_steps], left-padded with 0) and `image` (float32 [H,W,3], BGR minus \
            the mean) for the image network, or `clip` (float32 [16,H,W,3]) for the video network. OUT.npz holds \
            `up` [H,W,1], `sigm`, `pred` [vf_h,vf_w,1], `up_c3`, `up_c4`, `up_c5` and `words_parse` [T', types].

            With --media FILE [--frame N] --text S, the frames are prepared as segment and evaluate prepare them \
            (resize_and_pad as the original, or --resize antialias), and OUT.npz also holds the prepared input — \
            `image` (float32 [1,H,W,3]) for the image network or `clip` (float32 [1,16,H,W,3], the 16-frame window \
            t−8 … t+7 clamped to the video) for the video network, BGR minus the mean — and `words` (int32 [num_steps]).

            With --train, IN.npz also holds `target` (float32 [H,W] of 0/1) and OUT.npz also holds the scalars \
            cost, cls_loss_all, cls_loss, cls_loss_c3, cls_loss_c4, cls_loss_c5, reg_loss and, for every trained \
            variable N (each `/` written `__`), grad__N (d cost / d N, before the bias multiplier) and after__N \
            (its value after one Adam step from step 0 with the original's settings).
            """)

    @OptionGroup var model: ModelOptions

    @Option(help: "Input tensors (.npz).")
    var inputs: String?

    @Option(help: "A video (anything FFmpeg reads, or a folder of numbered frames) or a still image, prepared as segment prepares it (instead of --inputs).")
    var media: String?

    @Option(help: "With --media: the target frame (1-based).")
    var frame: Int = 1

    @Option(help: "With --media: the sentence.")
    var text: String?

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

    func validate() throws {
        switch (inputs, media) {
        case (nil, nil): throw ValidationError("give --inputs IN.npz (prepared tensors) or --media FILE --text S")
        case (.some, .some): throw ValidationError("give either --inputs or --media, not both")
        case (.some, nil):
            if text != nil { throw ValidationError("--text goes with --media (IN.npz holds the words)") }
        case (nil, .some):
            if text == nil { throw ValidationError("--media needs the sentence: --text S") }
            if train { throw ValidationError("--train needs --inputs IN.npz with a `target`; it cannot be used with --media") }
            if frame < 1 { throw ValidationError("--frame must be ≥ 1 (frames are numbered from 1); got \(frame)") }
        }
        if train, let p = model.precision, p != .fp32 {
            throw ValidationError("--train runs in fp32 (TensorFlow gradient parity); drop --precision \(p.rawValue)")
        }
    }

    func run() async throws {
        if let media, let text {
            try runMedia(media, text: text)
            return
        }
        guard let inputs else { return }   // validate() requires one of them
        if let threads = model.threads { try Engine.configure(workers: threads) }
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
        var model = try inputsModel(numSteps: words.count)
        model.precision = try self.model.resolvedPrecision(default: .fp32)
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

    /// --inputs: the model from --checkpoint (or data/default), with IN.npz's word count as num_steps.
    private func inputsModel(numSteps: Int) throws -> CMPCModel {
        if let checkpoint = model.checkpoint {
            return try loadModel(checkpoint: checkpoint, configPath: model.config, numSteps: numSteps)
        }
        guard let folder = DefaultModel.folder() else { throw UserError(DefaultModel.notFound()) }
        return try loadModel(checkpoint: folder + "/model.safetensors", configPath: model.config ?? folder + "/config.json",
                             numSteps: numSteps)
    }

    /// --media: the target's frames prepared by Pipeline (the image network reads frame N; the video network
    /// the 16-frame window around it), the sentence encoded, the network run on them.
    private func runMedia(_ path: String, text: String) throws {
        let loaded = try model.load()
        let config = loaded.model.config
        let words = try loaded.vocabulary.encode(text, steps: config.numSteps).ids
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
            throw UserError("--media \(path): no such file or folder")
        }
        let still = !isFolder.boolValue && ["jpg", "jpeg", "png", "bmp", "tif", "tiff", "webp", "ppm", "pgm"]
            .contains((path as NSString).pathExtension.lowercased())
        let media = try SampleMedia(still ? .image(path: path) : .video(path: path, frame: frame, frameCount: nil))
        let window = try config.clipWindow(frameCount: media.frameCount)
        let numbers: [Int]
        do {
            numbers = config.model == .video ? try window.window(around: frame) : [try window.window(around: frame)[8]]
        } catch {
            throw UserError("--frame \(frame): \(path) has \(media.frameCount) frame(s); give a frame in 1…\(media.frameCount)")
        }
        let runner = ModelRunner(model: loaded.model, resize: model.resize)
        var prepared: [Int: Tensor] = [:]
        for n in numbers where prepared[n] == nil { prepared[n] = try runner.prepare(try media.frame(n)).tensor }
        let frames = numbers.compactMap { prepared[$0] }
        let input = frames.count == 1 ? frames[0] : try stack(frames, axis: 0)   // [H,W,3] or [16,H,W,3]
        let out = try loaded.model.forward(input: input, words: words)
        var named = try out.named().map { ($0.0, TypedArray($0.1)) }
        named.append((config.model == .video ? "clip" : "image", TypedArray(try input.reshaped(to: [1] + input.shape))))
        named.append(("words", TypedArray(int32: [words.count], scalars: words)))
        try NumPy.writeNPZ(named, to: URL(fileURLWithPath: outputs))
    }
}
