// Parity with the original TensorFlow graph: Tools/reference/make_model_fixtures.py builds the
// original image graph in tf.compat.v1 with the original variable names, saves a seeded random
// checkpoint (TensorFlow V2 format), the inputs and every output. Regenerate with
//   python3 Tools/reference/make_model_fixtures.py
import Checkpoint
import Foundation
import Testing
@testable import ImageModel
@testable import Tensor

/// Every parity case under a test target's Fixtures/parity folder.
func parityCases(bundle: Bundle) -> [URL] {
    guard let root = bundle.url(forResource: "parity", withExtension: nil, subdirectory: "Fixtures"),
          let names = try? FileManager.default.contentsOfDirectory(atPath: root.path) else { return [] }
    return names.sorted().map { root.appendingPathComponent($0) }
        .filter { FileManager.default.fileExists(atPath: $0.appendingPathComponent("config.json").path) }
}

/// Loads a case's checkpoint and inputs, runs `forward`, and returns (name, max |diff|, scale) per output.
func runParityCase(_ dir: URL, forward: (ModelConfig, [(name: String, value: Tensor)], [String: TypedArray]) throws -> [(String, Tensor)])
    throws -> [(name: String, maxDiff: Float, scale: Float)] {
    let config = try ModelConfig.load(dir.appendingPathComponent("config.json"))
    let checkpoint = try TFCheckpoint(prefix: dir.appendingPathComponent("model.ckpt").path)
    let tensors = try checkpoint.readAll().filter { $0.array.dtype == .float32 }.map { ($0.name, try $0.array.tensor()) }
    var inputs: [String: TypedArray] = [:]
    for (n, a) in try NumPy.readNPZ(dir.appendingPathComponent("inputs.npz")) { inputs[n] = a }
    var expected: [String: Tensor] = [:]
    for (n, a) in try NumPy.readNPZ(dir.appendingPathComponent("outputs.npz")) { expected[n] = try a.tensor() }
    let outputs = try forward(config, tensors, inputs)
    var report: [(name: String, maxDiff: Float, scale: Float)] = []
    for (name, got) in outputs {
        guard let want = expected[name] else { continue }
        #expect(got.shape == want.shape, "\(dir.lastPathComponent)/\(name): shape \(got.shape) vs \(want.shape)")
        guard got.shape == want.shape else { continue }
        let diff = zip(got.scalars, want.scalars).map { Swift.abs($0 - $1) }.max() ?? 0
        let scale = want.scalars.map { Swift.abs($0) }.max() ?? 0
        report.append((name, diff, scale))
    }
    // The 320² case stores only some outputs (file size); every case has these four.
    #expect(Set(report.map(\.name)).isSuperset(of: ["up", "sigm", "pred", "words_parse"]),
            "\(dir.lastPathComponent): outputs compared: \(report.map(\.name))")
    return report
}

@Suite struct ImageParityTests {
    @Test(arguments: parityCases(bundle: .module))
    func imageNetworkMatchesTensorFlow(_ dir: URL) throws {
        let report = try runParityCase(dir) { config, tensors, inputs in
            let net = try CMPCImageNetwork(config: config)
            let p = try Parameters(specs: net.specs, tensors: tensors, source: dir.path)
            let words = try #require(inputs["words"]).int32s()
            let image = try #require(inputs["image"]).tensor()
            let out = try net(image: image.reshaped(to: [1] + image.shape), words: words, p)
            return try out.named()
        }
        for r in report {
            print("parity \(dir.lastPathComponent) \(r.name): max |diff| \(r.maxDiff) (max |value| \(r.scale))")
            #expect(r.maxDiff <= 1e-4, "\(dir.lastPathComponent)/\(r.name): max |diff| \(r.maxDiff)")
        }
    }
}
