// --precision on the command line: the precision and instruction set are printed; bf16 on a CPU without native
// bf16 (simulated with oneDNN's own DNNL_MAX_CPU_ISA, which caps the instruction set it uses) is an error naming
// the fix, and auto falls back to fp32 there; training stays fp32.
import Foundation
import Testing
import Tensor

@Suite struct PrecisionTests {
    static let sample = projectRoot.appendingPathComponent("data/sample.mp4").path
    /// oneDNN limited to AVX-512 without bf16, as on a Skylake or Ice Lake Xeon.
    static let withoutBF16 = ["DNNL_MAX_CPU_ISA": "AVX512_CORE"]

    @Test func bf16WithoutNativeBF16IsAClearError() throws {
        let folder = try TemporaryFolder()
        let run = try runTool(["segment", Self.sample, "the red square jumping", "--out", folder.path("out"),
                               "--precision", "bf16"], in: folder, environment: Self.withoutBF16)
        #expect(run.status != 0, "\(run)")
        #expect(run.stderr.contains("native bf16") && run.stderr.contains("--precision fp32"), "\(run)")
        #expect(!FileManager.default.fileExists(atPath: folder.path("out/masks.json")))
    }

    @Test func autoRunsFP32WithoutNativeBF16AndSaysSo() throws {
        let folder = try TemporaryFolder()
        let run = try runToolSucceeding(["segment", Self.sample, "the red square jumping", "--out", folder.path("out"),
                                         "--precision", "auto"], in: folder, environment: Self.withoutBF16)
        #expect(run.stderr.contains("precision fp32"), "\(run)")
        #expect(run.stderr.contains("(auto)"), "\(run)")
    }

    @Test(.enabled(if: OneDNN.hasNativeBF16))
    func bf16NamesTheInstructionSet() throws {
        let folder = try TemporaryFolder()
        let run = try runToolSucceeding(["segment", Self.sample, "the red square jumping", "--out", folder.path("out"),
                                         "--precision", "bf16"], in: folder)
        #expect(run.stderr.contains("precision bf16 (oneDNN \(OneDNN.version), \(OneDNN.isa))"), "\(run)")
        #expect(FileManager.default.fileExists(atPath: folder.path("out/masks.json")))
    }

    @Test func trainingStaysFP32() throws {
        let folder = try TemporaryFolder()
        let run = try runTool(["forward", "--checkpoint", "c", "--inputs", "i.npz", "--outputs", "o.npz", "--train",
                               "--precision", "bf16"], in: folder)
        #expect(run.status == 64, "\(run)")
        #expect(run.stderr.contains("--train runs in fp32"), "\(run)")
    }
}
