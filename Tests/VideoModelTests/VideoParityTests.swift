// Parity of the video network with the original TensorFlow graph (CMPC_video_mm_tgraph_allvec.py),
// through CMPCModel.forward — the path `cmpc-video forward` takes. Fixtures: Tools/reference/make_model_fixtures.py.
import Checkpoint
import Foundation
import Testing
@testable import ImageModel
@testable import Tensor
@testable import VideoModel

@Suite struct VideoParityTests {
    static var cases: [URL] {
        guard let root = Bundle.module.url(forResource: "parity", withExtension: nil, subdirectory: "Fixtures"),
              let names = try? FileManager.default.contentsOfDirectory(atPath: root.path) else { return [] }
        return names.sorted().map { root.appendingPathComponent($0) }
            .filter { FileManager.default.fileExists(atPath: $0.appendingPathComponent("config.json").path) }
    }

    @Test(arguments: cases)
    func videoNetworkMatchesTensorFlow(_ dir: URL) throws {
        let config = try ModelConfig.load(dir.appendingPathComponent("config.json"))
        let checkpoint = try TFCheckpoint(prefix: dir.appendingPathComponent("model.ckpt").path)
        let tensors = try checkpoint.readAll().filter { $0.array.dtype == .float32 }.map { ($0.name, try $0.array.tensor()) }
        // The kind and sizes are read from the checkpoint; the configuration only gives num_steps.
        var base = ModelConfig()
        base.numSteps = config.numSteps
        let model = try CMPCModel(tensors: tensors, base: base, source: dir.lastPathComponent)
        #expect(model.config.model == .video)
        #expect(model.config.H == config.H && model.config.mlpDim == config.mlpDim && model.config.depth == config.depth)
        var inputs: [String: TypedArray] = [:]
        for (n, a) in try NumPy.readNPZ(dir.appendingPathComponent("inputs.npz")) { inputs[n] = a }
        let out = try model.forward(input: try #require(inputs["clip"]).tensor(), words: try #require(inputs["words"]).int32s())
        var expected: [String: Tensor] = [:]
        for (n, a) in try NumPy.readNPZ(dir.appendingPathComponent("outputs.npz")) { expected[n] = try a.tensor() }
        var compared: [String] = []
        for (name, got) in try out.named() {
            guard let want = expected[name] else { continue }
            try #require(got.shape == want.shape, "\(name): \(got.shape) vs \(want.shape)")
            let diff = zip(got.scalars, want.scalars).map { Swift.abs($0 - $1) }.max() ?? 0
            print("parity \(dir.lastPathComponent) \(name): max |diff| \(diff)")
            #expect(diff <= 1e-4, "\(dir.lastPathComponent)/\(name): max |diff| \(diff)")
            compared.append(name)
        }
        #expect(Set(compared).isSuperset(of: ["up", "sigm", "pred", "up_c3", "up_c4", "up_c5", "words_parse"]))
    }
}
