import Foundation
import Testing
@testable import Checkpoint
import Tensor

@Suite struct CheckpointFileTests {
    @Test func recognisesEveryKindByContents() throws {
        let f = CheckpointFixtures.url
        #expect(try CheckpointFile.kind(of: f("tf/model.ckpt-700").path) == .tensorflow)
        #expect(try CheckpointFile.kind(of: f("tf_sharded/model.ckpt.data-00001-of-00002").path) == .tensorflow)
        #expect(try CheckpointFile.kind(of: f("values.safetensors").path) == .safetensors)
        #expect(try CheckpointFile.kind(of: f("values.npz").path) == .npz)
        #expect(try CheckpointFile.kind(of: f("npy/int8.npy").path) == .npy)
        let dir = try CheckpointFixtures.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        // Renamed files are still recognised by their bytes.
        let renamed = dir.appendingPathComponent("weights.bin")
        try FileManager.default.copyItem(at: f("values.safetensors"), to: renamed)
        #expect(try CheckpointFile.kind(of: renamed.path) == .safetensors)
        let error = try #require(throws: CheckpointError.self) { try CheckpointFile.kind(of: f("expected.txt").path) }
        #expect(error.problem.contains("not a recognised checkpoint"))
        let npy = try CheckpointFile.readAll(f("npy/int8.npy").path)
        #expect(npy.map(\.name) == ["int8"])
    }

    @Test func listsMatchAcrossFormats() throws {
        let f = CheckpointFixtures.url
        let tf = try CheckpointFile.list(f("tf/model.ckpt-700").path)
        let npz = try CheckpointFile.list(f("values_compressed.npz").path)
        #expect(tf.count == npz.count)
        let byName = Dictionary(uniqueKeysWithValues: npz.map { ($0.name, $0) })
        for e in tf {
            let other = try #require(byName[e.name])
            #expect(other.dtype == e.dtype && other.shape == e.shape, "\(e.name)")
        }
    }

    @Test func optimizerStateIsRecognisedByName() {
        for name in ["text_objseg/text_objseg/c5_lateral/DW/Adam", "text_objseg/text_objseg/c5_lateral/DW/Adam_1",
                     "beta1_power", "beta2_power", "global_step", "text_objseg/Variable_1", "text_objseg/beta1_power"] {
            #expect(CheckpointFile.isOptimizerState(name), "\(name)")
        }
        for name in ["text_objseg/c5_lateral/DW", "text_objseg/Variable", "res2a_branch2a/weights", "Adam",
                     "text_objseg/Adam_2", "text_objseg/Variable_10", "my_global_step_size"] {
            #expect(!CheckpointFile.isOptimizerState(name), "\(name)")
        }
    }

    @Test func streamingWriterMatchesInMemoryEncoder() throws {
        let dir = try CheckpointFixtures.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (entries, read) = try CheckpointFile.open(CheckpointFixtures.url("tf_blocks/model.ckpt-700").path)
        let kept = entries.filter { !CheckpointFile.isOptimizerState($0.name) }
        #expect(entries.count - kept.count == 6)
        let url = dir.appendingPathComponent("out.safetensors")
        try Safetensors.write(entries: kept, metadata: ["source": "t"], to: url) { try read(kept[$0].name) }
        let expected = try Safetensors.encode(kept.map { ($0.name, try read($0.name)) }, metadata: ["source": "t"])
        #expect([UInt8](try Data(contentsOf: url)) == expected)
        // Safetensors files reopen through the same interface.
        let (again, readAgain) = try CheckpointFile.open(url.path)
        #expect(again.map(\.name) == kept.map(\.name))
        #expect(try readAgain("text_objseg/c5_lateral/DW") == read("text_objseg/c5_lateral/DW"))
    }

    @Test func failedWriteLeavesTheOldFileAndNoTemporaryFile() throws {
        let dir = try CheckpointFixtures.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("out.safetensors")
        try writeAtomically(Array("old".utf8), to: url)
        let entries = [(name: "a", dtype: DType.float32, shape: [2])]
        // The array handed over does not match its entry: the write fails part-way.
        #expect(throws: CheckpointError.self) {
            try Safetensors.write(entries: entries, metadata: [:], to: url) { _ in TypedArray(float32: [3], scalars: [1, 2, 3]) }
        }
        #expect(try String(contentsOf: url, encoding: .utf8) == "old")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["out.safetensors"])
        let missing = try #require(throws: CheckpointError.self) {
            try writeAtomically([1], to: dir.appendingPathComponent("no/such/folder/x.npy"))
        }
        #expect(missing.problem.contains("does not exist"))
    }

    @Test func typedArrayConversions() throws {
        let a = TypedArray(float64: [2], scalars: [1.5, -2.25])
        #expect(try a.floats() == [1.5, -2.25])
        #expect(try a.doubles() == [1.5, -2.25])
        #expect(throws: CheckpointError.self) { try a.int32s() }
        let h = try TypedArray(dtype: .float16, shape: [4], bytes: [0x00, 0x3c, 0x00, 0xc0, 0x01, 0x00, 0x00, 0x7c])
        #expect(try h.floats() == [1, -2, Float(sign: .plus, exponent: -24, significand: 1), .infinity])
        let bf = try TypedArray(dtype: .bfloat16, shape: [1], bytes: [0xc0, 0x3f])
        #expect(try bf.floats() == [1.5])
        let i = TypedArray(int64: [3], scalars: [-1, 1 << 40, 7])
        #expect(try i.int64s() == [-1, 1 << 40, 7])
        #expect(try TypedArray(bool: [2], scalars: [true, false]).bools() == [true, false])
        let t = try TypedArray(Tensor(shape: [2, 2], scalars: [1, 2, 3, 4])).tensor()
        #expect(t.shape == [2, 2] && t.scalars == [1, 2, 3, 4])
        #expect(throws: CheckpointError.self) { try TypedArray(dtype: .int32, shape: [3], bytes: [0, 0, 0, 0]) }
        #expect(throws: CheckpointError.self) { try TypedArray(dtype: .int32, shape: [-1], bytes: []) }
    }
}
