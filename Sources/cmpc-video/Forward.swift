// `cmpc-video forward`: run the network on already-preprocessed tensors and write named outputs,
// so a researcher can check the port against TensorFlow.
import ArgumentParser
import Foundation
import ImageModel
import Tensor
import VideoModel

struct Forward: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the network on preprocessed tensors (IN.npz) and write its outputs (OUT.npz).",
        discussion: """
            IN.npz holds `words` (int32 [num_steps], left-padded with 0) and `image` (float32 [H,W,3], BGR minus \
            the mean) for the image network, or `clip` (float32 [16,H,W,3]) for the video network. OUT.npz holds \
            `up` [H,W,1], `sigm`, `pred` [vf_h,vf_w,1], `up_c3`, `up_c4`, `up_c5` and `words_parse` [T', types].
            """)

    @Option(help: "Model configuration JSON (sizes the checkpoint does not determine).")
    var config: String?

    @Option(help: "Checkpoint: a TensorFlow prefix, .safetensors or .npz.")
    var checkpoint: String

    @Option(help: "Input tensors (.npz).")
    var inputs: String

    @Option(help: "Where to write the outputs (.npz).")
    var outputs: String

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
        let model = try loadModel(checkpoint: checkpoint, configPath: config, numSteps: words.count)
        let out = try model.forward(input: try input.tensor(), words: words)
        try NumPy.writeNPZ(try out.named().map { ($0.0, TypedArray($0.1)) }, to: URL(fileURLWithPath: outputs))
    }
}
