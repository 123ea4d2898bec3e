// `cmpc-video convert SRC DST.safetensors`: rewrites a checkpoint as safetensors, names unchanged.
import ArgumentParser
import Checkpoint
import Foundation
import Tensor

struct Convert: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Convert a TensorFlow V2 checkpoint, .npz or .safetensors file to .safetensors.",
        discussion: """
            Tensor names are kept. Optimizer and step state (…/Adam, …/Adam_1, beta1_power, \
            beta2_power, global_step, text_objseg/Variable_1) is left out unless --all is given. \
            The output is written to a temporary file and renamed into place.
            """)

    @Argument(help: "The source: TF prefix (model.ckpt-700000), .npz, .npy or .safetensors.")
    var source: String

    @Argument(help: "The .safetensors file to write.")
    var destination: String

    @Flag(name: .long, help: "Keep optimizer slots and step counters too.")
    var all = false

    func run() async throws {
        guard destination.hasSuffix(".safetensors") else {
            throw ValidationError("the destination must end in .safetensors: \(destination)")
        }
        let (entries, read) = try CheckpointFile.open(source)
        let kept = entries.filter { all || !CheckpointFile.isOptimizerState($0.name) }
        if try CheckpointFile.kind(of: source) == .tensorflow {
            for u in try TFCheckpoint(prefix: source).unsupported {
                FileHandle.standardError.write(Data("warning: left out \(u.name): \(u.reason)\n".utf8))
            }
        }
        let name = URL(fileURLWithPath: source).lastPathComponent
        try Safetensors.write(entries: kept, metadata: ["source": name, "converted_by": "cmpc-video convert"],
                              to: URL(fileURLWithPath: destination)) { i in try read(kept[i].name) }
        let bytes = kept.reduce(0) { $0 + $1.shape.reduce(1, *) * $1.dtype.size }
        let left = entries.count - kept.count
        print("wrote \(kept.count) tensors (\(bytes) bytes of data) to \(destination)"
              + (left > 0 ? "; left out \(left) optimizer/step tensors (use --all to keep them)" : ""))
    }
}
