// TensorFlow V1 checkpoints (the DeepLab initialisation's format): a file written by
// tf.compat.v1.train.Saver(write_version=V1) in TF 2.21 (Tools/reference/make_gradient_fixtures.py v1)
// must read back to the saved values.
@testable import Checkpoint
import Foundation
import Testing
import Tensor

@Suite struct CheckpointV1Tests {
    func fixture(_ name: String) throws -> URL {
        try #require(Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Fixtures/v1"))
    }

    @Test func readsEveryTensorTensorFlowWrote() throws {
        let url = try fixture("deeplab_like.ckpt")
        #expect(TFCheckpointV1.isV1(url.path))
        let ckpt = try TFCheckpointV1(path: url.path)
        var expected: [String: TypedArray] = [:]
        for (n, a) in try NumPy.readNPZ(try fixture("expected.npz")) {
            expected[n.replacingOccurrences(of: "__", with: "/")] = a
        }
        let all = try ckpt.readAll()
        #expect(Set(all.map(\.name)) == Set(expected.keys))
        for (name, got) in all {
            let want = try #require(expected[name])
            #expect(got.dtype == want.dtype, "\(name)")
            #expect(got.shape == want.shape, "\(name)")
            #expect(got.bytes == want.bytes, "\(name)")
        }
        #expect(try ckpt.read("conv1/weights").shape == [7, 7, 3, 4])
        #expect(throws: CheckpointError.self) { try ckpt.read("nope") }
    }

    @Test func truncatedOrCorruptFilesAreErrors() throws {
        let bytes = Array(try Data(contentsOf: try fixture("deeplab_like.ckpt")))
        for cut in [0, 10, 47, bytes.count / 2, bytes.count - 1] {
            #expect(throws: CheckpointError.self) { try TFCheckpointV1(bytes: Array(bytes.prefix(cut)), file: "cut\(cut)") }
        }
        var rng = SplitMix64(seed: 4)
        for _ in 0..<200 {
            var b = bytes
            let i = Int(rng.next() % UInt64(b.count))
            b[i] ^= UInt8(1 + rng.next() % 255)
            // Either a clean error or (a flip in padding) the same tensors; never a crash.
            _ = try? TFCheckpointV1(bytes: b, file: "flipped")
        }
        // A V2 index is not a V1 checkpoint.
        #expect(!TFCheckpointV1.isV1("/nonexistent"))
    }
}
