import Foundation
import Testing
@testable import Checkpoint
import Tensor

@Suite struct CheckpointSafetensorsTests {
    @Test func readsTheFileThePythonPackageWrote() throws {
        let (tensors, metadata) = try Safetensors.read(CheckpointFixtures.url("values.safetensors"))
        #expect(metadata == ["format": "np", "source": "make_checkpoint_fixtures"])
        let npz = try NumPy.readNPZ(CheckpointFixtures.url("values.npz"))
        #expect(tensors.count == 7)
        for (name, array) in tensors {
            let reference = try #require(npz.first { $0.name == name }, "\(name)")
            #expect(array == reference.array, "\(name)")
        }
        #expect(Set(tensors.map(\.array.dtype)) == [.float32, .float64, .int32, .int64, .bool, .uint8])
        #expect(try Safetensors.list(CheckpointFixtures.url("values.safetensors")).map(\.name) == tensors.map(\.name))
        #expect(try CheckpointFile.kind(of: CheckpointFixtures.url("values.safetensors").path) == .safetensors)
    }

    @Test func roundTripsEveryDTypeWithMetadata() throws {
        let dir = try CheckpointFixtures.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let arrays = try CheckpointFixtures.arraysOfEveryDType()
            + [("quote\"back\\slash/ünï", TypedArray(float32: [1], scalars: [4])),
               ("empty", try TypedArray(dtype: .int64, shape: [0], bytes: [])),
               ("scalar", TypedArray(float64: [], scalars: [-0.5]))]
        let metadata = ["format": "pt", "note": "line\nbreak \"quoted\" \u{1}"]
        let url = dir.appendingPathComponent("m.safetensors")
        try Safetensors.write(arrays.map { ($0.name, $0.array) }, metadata: metadata, to: url)
        let (back, meta) = try Safetensors.read(url)
        #expect(meta == metadata)
        #expect(back.map(\.name) == arrays.map(\.name))
        for (x, y) in zip(back, arrays) { #expect(x.array == y.array, "\(x.name)") }
        let bytes = [UInt8](try Data(contentsOf: url))
        var r = ByteReader(bytes, file: "m")
        #expect(try r.u64() % 8 == 0)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["m.safetensors"])
    }

    static func file(header: String, data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.appendLE64(UInt64(header.utf8.count))
        return out + Array(header.utf8) + data
    }

    @Test func refusesBadHeaders() throws {
        let four = [UInt8](repeating: 0, count: 8)
        let cases: [(String, [UInt8], String)] = [
            (#"{"a":{"dtype":"F8_E4M3","shape":[1],"data_offsets":[0,1]}}"#, four, "F8_E4M3"),
            (#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, four, "expected"),
            (#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#, four, "outside"),
            (#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}}"#, four, "overlap"),
            (#"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, four, "negative"),
            (#"{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}"#, four, "absurd"),
            (#"{"a":{"dtype":"F32","shape":[1]}}"#, four, "data_offsets"),
            (#"{"__metadata__":{"k":1}}"#, four, "not a string"),
            (#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, four, "twice"),
            (#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}"#, four, "JSON"),
            (#"{"a":"# + String(repeating: "[", count: 500), four, "deeply"),
            (#"{"a":{"dtype":"BOOL","shape":[1],"data_offsets":[0,1]}}"#, [7], "bool"),
        ]
        for (header, data, words) in cases {
            let error = try #require(throws: CheckpointError.self) {
                try Safetensors.read(MemorySource(Self.file(header: header, data: data), name: "bad.safetensors"))
            }
            #expect(error.description.contains(words), "\(header): \(error)")
            #expect(error.file == "bad.safetensors")
        }
        var huge: [UInt8] = []
        huge.appendLE64(1 << 40)
        let error = try #require(throws: CheckpointError.self) { try Safetensors.read(MemorySource(huge + [0x7b], name: "h")) }
        #expect(error.problem.contains("header size"))
    }

    @Test func truncatedAndFlippedFilesThrowOrReadConsistently() throws {
        let bytes = [UInt8](try Data(contentsOf: CheckpointFixtures.url("values.safetensors")))
        for n in 0 ..< bytes.count {
            #expect(throws: CheckpointError.self) { try Safetensors.read(MemorySource(Array(bytes[0 ..< n]), name: "cut")) }
        }
        var r = ByteReader(bytes, file: "x")
        let headerEnd = 8 + Int(try r.u64())
        // A flipped data byte still reads (safetensors has no checksum) but changes exactly one tensor.
        let original = try Safetensors.read(MemorySource(bytes, name: "x")).tensors
        var flipped = bytes
        flipped[headerEnd + 3] ^= 0x01
        let changed = try Safetensors.read(MemorySource(flipped, name: "x")).tensors
        #expect(zip(original, changed).filter { $0.0.array != $0.1.array }.count == 1)
    }
}
