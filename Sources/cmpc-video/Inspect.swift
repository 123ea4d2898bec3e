// `cmpc-video inspect CKPT`: lists every tensor of a checkpoint or array file.
import ArgumentParser
import Checkpoint
import Foundation
import Tensor

struct Inspect: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List every tensor's name, dtype and shape in a checkpoint.",
        discussion: """
            CKPT is a TensorFlow V2 checkpoint prefix (model.ckpt-700000, or its .index file), \
            a .safetensors file, an .npz archive or an .npy file.
            """)

    @Argument(help: "The checkpoint: TF prefix, .safetensors, .npz or .npy.")
    var checkpoint: String

    @Flag(name: .long, help: "Print a JSON array of {\"name\", \"dtype\", \"shape\"}.")
    var json = false

    struct Row: Encodable {
        var name: String
        var dtype: String
        var shape: [Int]
    }

    func run() async throws {
        let entries = try CheckpointFile.list(checkpoint)
        var unsupported: [(name: String, reason: String)] = []
        if try CheckpointFile.kind(of: checkpoint) == .tensorflow {
            unsupported = try TFCheckpoint(prefix: checkpoint).unsupported
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            let rows = entries.map { Row(name: $0.name, dtype: $0.dtype.rawValue, shape: $0.shape) }
            print(String(decoding: try encoder.encode(rows), as: UTF8.self))
            for u in unsupported { FileHandle.standardError.write(Data("warning: \(u.name): \(u.reason)\n".utf8)) }
            return
        }
        let width = min(72, entries.map(\.name.count).max() ?? 0)
        var elements = 0
        var bytes = 0
        var training = 0
        for e in entries {
            let n = e.shape.reduce(1, *)
            elements += n
            bytes += n * e.dtype.size
            if CheckpointFile.isOptimizerState(e.name) { training += 1 }
            let pad = String(repeating: " ", count: max(0, width - e.name.count))
            print("\(e.name)\(pad)  \(e.dtype.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0))  [\(e.shape.map(String.init).joined(separator: ", "))]")
        }
        for u in unsupported { print("\(u.name)  (unsupported: \(u.reason))") }
        let mb = String(format: "%.2f", Double(bytes) / 1_048_576)
        print("\(entries.count) tensors (\(training) optimizer/step state), \(elements) elements, \(mb) MiB (\(bytes) bytes)"
              + (unsupported.isEmpty ? "" : "; \(unsupported.count) unsupported"))
    }
}
