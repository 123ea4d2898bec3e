import Foundation
import Testing
@testable import Checkpoint
import Tensor

/// Builds LevelDB tables and bundle entries by hand, for cases TensorFlow does not write.
enum BundleBuilder {
    static func field(_ number: Int, varint v: UInt64) -> [UInt8] {
        var out: [UInt8] = []
        out.appendVarint(UInt64(number << 3))
        out.appendVarint(v)
        return out
    }

    static func field(_ number: Int, bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.appendVarint(UInt64(number << 3 | 2))
        out.appendVarint(UInt64(bytes.count))
        return out + bytes
    }

    static func header(shards: UInt64 = 1, endianness: UInt64 = 0) -> [UInt8] {
        field(1, varint: shards) + (endianness == 0 ? [] : field(2, varint: endianness)) + field(3, bytes: field(1, varint: 1))
    }

    static func entry(dtype: UInt64, shape: [UInt64], shard: UInt64 = 0, offset: UInt64, size: UInt64,
                      crcOf data: [UInt8], sliced: Bool = false) -> [UInt8] {
        let dims = shape.flatMap { field(2, bytes: field(1, varint: $0)) }
        var crc: [UInt8] = [UInt8(6 << 3 | 5)]
        crc.appendLE32(CRC32C.mask(CRC32C.checksum(data)))
        return field(1, varint: dtype) + field(2, bytes: dims) + (shard == 0 ? [] : field(3, varint: shard))
            + field(4, varint: offset) + field(5, varint: size) + crc + (sliced ? field(7, bytes: field(1, bytes: [])) : [])
    }

    static func block(_ entries: [([UInt8], [UInt8])]) -> [UInt8] {
        var out: [UInt8] = []
        var restarts: [UInt32] = []
        for (key, value) in entries {
            restarts.append(UInt32(out.count))
            out.appendVarint(0); out.appendVarint(UInt64(key.count)); out.appendVarint(UInt64(value.count))
            out += key + value
        }
        for r in restarts { out.appendLE32(r) }
        out.appendLE32(UInt32(restarts.count))
        return out
    }

    /// A table whose data blocks hold `blocks` (each already sorted), uncompressed.
    static func table(_ blocks: [[([UInt8], [UInt8])]]) -> [UInt8] {
        var out: [UInt8] = []
        func put(_ contents: [UInt8]) -> (Int, Int) {
            let handle = (out.count, contents.count)
            out += contents
            out.append(0)
            out.appendLE32(CRC32C.mask(CRC32C.checksum(contents + [0])))
            return handle
        }
        var index: [([UInt8], [UInt8])] = []
        for b in blocks {
            let h = put(block(b))
            var v: [UInt8] = []
            v.appendVarint(UInt64(h.0)); v.appendVarint(UInt64(h.1))
            index.append((b.last!.0, v))
        }
        let meta = put(block([]))
        let idx = put(block(index))
        var footer: [UInt8] = []
        for v in [meta.0, meta.1, idx.0, idx.1] { footer.appendVarint(UInt64(v)) }
        footer += [UInt8](repeating: 0, count: 40 - footer.count)
        footer.appendLE32(0x8b80_fb57); footer.appendLE32(0xdb47_7524)
        return out + footer
    }

    /// A checkpoint parsed from in-memory index and data.
    static func open(_ index: [UInt8], data: [[UInt8]]) throws -> TFCheckpoint {
        try TFCheckpoint(prefix: "mem", index: index, indexName: "mem.index") { shard, _ in
            guard shard < data.count else { throw CheckpointError(file: "mem.data", problem: "missing shard \(shard)") }
            return MemorySource(data[shard], name: "mem.data-\(shard)")
        }
    }
}

@Suite struct CheckpointTFTests {
    static let npz: [(name: String, array: TypedArray)] = (try? NumPy.readNPZ(CheckpointFixtures.url("values.npz"))) ?? []

    func expectMatchesNPZ(_ ckpt: TFCheckpoint, only names: Set<String>? = nil, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let reference = Self.npz.filter { names == nil || names!.contains($0.name) }
        #expect(reference.count > 10, sourceLocation: sourceLocation)
        #expect(ckpt.entries.map(\.name) == reference.map(\.name).sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) },
                sourceLocation: sourceLocation)
        for (name, array) in reference {
            let got = try ckpt.read(name)
            #expect(got == array, "\(name): \(got) vs \(array)", sourceLocation: sourceLocation)
        }
    }

    @Test(arguments: ["tf", "tf_blocks", "tf_snappy"])
    func readsEveryTensorAsNumpyHasIt(folder: String) throws {
        let ckpt = try TFCheckpoint(prefix: CheckpointFixtures.url("\(folder)/model.ckpt-700").path)
        try expectMatchesNPZ(ckpt)
        #expect(ckpt.shardCount == 1)
        #expect(ckpt.unsupported.isEmpty)
        let dw = try ckpt.read("text_objseg/c5_lateral/DW").tensor()
        #expect(dw.shape == [1, 1, 8, 4])
    }

    @Test func blockFixturesReallyHaveSeveralDataBlocks() throws {
        for (folder, kind) in [("tf_blocks", UInt8(0)), ("tf_snappy", UInt8(1))] {
            let bytes = [UInt8](try Data(contentsOf: CheckpointFixtures.url("\(folder)/model.ckpt-700.index")))
            var footer = ByteReader(bytes, file: folder, start: bytes.count - 48)
            _ = try footer.varint("m"); _ = try footer.varint("m")
            let offset = try footer.varintInt("i"), size = try footer.varintInt("i")
            let table = Table(bytes: bytes, file: folder)
            var handles: [Int] = []
            try Table.entries(try table.block(offset: offset, size: size, what: "index"), file: folder, what: "index") { _, v in
                var h = ByteReader(Array(v), file: folder)
                handles.append(try h.varintInt("o"))
            }
            #expect(handles.count >= 3)
            #expect(bytes[offset + size] == kind)
        }
    }

    @Test func readsTwoShards() throws {
        let ckpt = try TFCheckpoint(prefix: CheckpointFixtures.url("tf_sharded/model.ckpt").path)
        #expect(ckpt.shardCount == 2)
        let names = Set(ckpt.entries.map(\.name))
        #expect(names.count == 21)
        try expectMatchesNPZ(ckpt, only: names)
    }

    @Test func acceptsIndexAndDataPathsAsPrefix() throws {
        let base = CheckpointFixtures.url("tf/model.ckpt-700").path
        for path in [base + ".index", base + ".data-00000-of-00001"] {
            #expect(try TFCheckpoint(prefix: path).entries.count == Self.npz.count)
        }
        #expect(try CheckpointFile.kind(of: base) == .tensorflow)
        #expect(try CheckpointFile.list(base).count == Self.npz.count)
    }

    @Test func missingFilesNameWhatIsMissing() throws {
        let dir = try CheckpointFixtures.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let missing = try #require(throws: CheckpointError.self) { try TFCheckpoint(prefix: dir.appendingPathComponent("nope").path) }
        #expect(missing.problem.contains("no such file"))
        // A lone index without its data shard.
        try FileManager.default.copyItem(at: CheckpointFixtures.url("tf/model.ckpt-700.index"), to: dir.appendingPathComponent("m.index"))
        let shard = try #require(throws: CheckpointError.self) { try TFCheckpoint(prefix: dir.appendingPathComponent("m").path) }
        #expect(shard.file.hasSuffix("m.data-00000-of-00001") && shard.problem.contains("missing"))
        // A V1-style single file.
        try Data([1, 2, 3]).write(to: dir.appendingPathComponent("v1.ckpt"))
        let v1 = try #require(throws: CheckpointError.self) { try TFCheckpoint(prefix: dir.appendingPathComponent("v1.ckpt").path) }
        #expect(v1.problem.contains("V1"))
    }

    @Test func crc32cMatchesKnownValues() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(CRC32C.checksum([UInt8](repeating: 0xff, count: 32)) == 0x62A8_AB43)
        #expect(CRC32C.checksum((0 ..< 32).map { UInt8($0) }) == 0x46DD_794E)
        // Slice-by-8 and the byte-at-a-time tail agree at every split.
        let data = (0 ..< 100).map { UInt8(($0 * 37) & 0xff) }
        let whole = CRC32C.checksum(data)
        for split in 0 ..< data.count {
            let a = data[..<split].withUnsafeBytes { CRC32C.update(0, $0) }
            #expect(data[split...].withUnsafeBytes { CRC32C.update(a, $0) } == whole)
        }
        #expect(CRC32C.unmask(CRC32C.mask(whole)) == whole)
    }

    @Test func snappyDecodesLiteralsAndOverlappingCopies() throws {
        // "abcd" literal, then a copy of length 8 at offset 4 (overlapping), then "xy".
        let stream: [UInt8] = [14, 3 << 2, 97, 98, 99, 100, 1 | (4 << 2), 4, 1 << 2, 120, 121]
        #expect(try Snappy.decompress(stream[...], file: "s", what: "t") == Array("abcdabcdabcdxy".utf8))
        // Two-byte and four-byte offset copies.
        let two: [UInt8] = [6, 1 << 2, 104, 105, 2 | (3 << 2), 2, 0]
        #expect(try Snappy.decompress(two[...], file: "s", what: "t") == Array("hihihi".utf8))
        let four: [UInt8] = [4, 1 << 2, 111, 107, 3 | (1 << 2), 2, 0, 0, 0]
        #expect(try Snappy.decompress(four[...], file: "s", what: "t") == Array("okok".utf8))
        // Long literal with a 1-byte length (tag 60).
        let long = [UInt8](repeating: 7, count: 100)
        #expect(try Snappy.decompress(([100, 60 << 2, 99] + long)[...], file: "s", what: "t") == long)
        for bad: [UInt8] in [[5, 1 | (0 << 2), 0], [4, 3 << 2, 1, 2], [2, 1 << 2, 1, 2, 1 << 2, 9],
                             [3, 2 << 2, 1, 2, 3, 2, 9, 0], [0xff, 0xff, 0xff, 0xff, 0x0f], [1, 0, 5, 0, 5], []] {
            #expect(throws: CheckpointError.self) { try Snappy.decompress(bad[...], file: "s", what: "t") }
        }
    }

    @Test func handBuiltBundlesCoverUnsupportedAndAbsurdEntries() throws {
        let values: [UInt8] = [1, 0, 0, 0, 2, 0, 0, 0]
        let good = BundleBuilder.entry(dtype: 3, shape: [2], offset: 0, size: 8, crcOf: values)
        let header = BundleBuilder.header()
        func open(_ entries: [(String, [UInt8])], header h: [UInt8]? = nil, data: [UInt8]? = nil) throws -> TFCheckpoint {
            let rows = [([UInt8](), h ?? header)] + entries.map { (Array($0.0.utf8), $0.1) }
            return try BundleBuilder.open(BundleBuilder.table([rows]), data: [data ?? values])
        }
        let ok = try open([("a", good)])
        #expect(try ok.read("a").int32s() == [1, 2])

        let strings = try open([("a", good), ("s", BundleBuilder.entry(dtype: 7, shape: [1], offset: 0, size: 8, crcOf: values))])
        #expect(strings.entries.map(\.name) == ["a"])
        let stringError = try #require(throws: CheckpointError.self) { try strings.read("s") }
        #expect(stringError.problem.contains("DT_STRING"))

        let sliced = try open([("p", BundleBuilder.entry(dtype: 1, shape: [2], offset: 0, size: 8, crcOf: values, sliced: true))])
        let sliceError = try #require(throws: CheckpointError.self) { try sliced.read("p") }
        #expect(sliceError.problem.contains("partitioned"))

        let absurd = try #require(throws: CheckpointError.self) {
            try open([("x", BundleBuilder.entry(dtype: 1, shape: [1 << 31, 1 << 31, 1 << 31], offset: 0, size: 8, crcOf: values))])
        }
        #expect(absurd.problem.contains("absurd"))

        let pastEnd = try open([("a", BundleBuilder.entry(dtype: 3, shape: [2], offset: 1 << 40, size: 8, crcOf: values))])
        let pastError = try #require(throws: CheckpointError.self) { try pastEnd.read("a") }
        #expect(pastError.problem.contains("past the end"))

        let badCRC = try open([("a", good)], data: [1, 0, 0, 0, 3, 0, 0, 0])
        #expect(throws: CheckpointError.self) { try badCRC.read("a") }

        #expect(throws: CheckpointError.self) {
            try open([("a", BundleBuilder.entry(dtype: 3, shape: [2], shard: 5, offset: 0, size: 8, crcOf: values))])
        }
        let bigEndian = try #require(throws: CheckpointError.self) { try open([("a", good)], header: BundleBuilder.header(endianness: 1)) }
        #expect(bigEndian.problem.contains("big-endian"))
        let noHeader = try #require(throws: CheckpointError.self) {
            try BundleBuilder.open(BundleBuilder.table([[(Array("a".utf8), good)]]), data: [values])
        }
        #expect(noHeader.problem.contains("header"))
        // A varint bomb in the entry (eleven continuation bytes) and a group wire type.
        #expect(throws: CheckpointError.self) { try open([("a", [8] + [UInt8](repeating: 0xff, count: 11))]) }
        #expect(throws: CheckpointError.self) { try open([("a", [3 << 3 | 3] + good)]) }
        // Unknown fields of every wire type are skipped.
        var unknown = good
        unknown += BundleBuilder.field(20, varint: 5) + BundleBuilder.field(21, bytes: [1, 2, 3])
        unknown.appendVarint(22 << 3 | 1)
        unknown += [UInt8](repeating: 9, count: 8)
        unknown.appendVarint(23 << 3 | 5)
        unknown += [1, 2, 3, 4]
        #expect(try open([("a", unknown)]).read("a").int32s() == [1, 2])
    }

    @Test func corruptedIndexAndDataThrow() throws {
        let index = [UInt8](try Data(contentsOf: CheckpointFixtures.url("tf_blocks/model.ckpt-700.index")))
        let data = [UInt8](try Data(contentsOf: CheckpointFixtures.url("tf_blocks/model.ckpt-700.data-00000-of-00001")))
        // Truncated at every length.
        for n in 0 ..< index.count {
            #expect(throws: CheckpointError.self) { try BundleBuilder.open(Array(index[0 ..< n]), data: [data]) }
        }
        // Any flipped byte before the footer is caught by a block CRC.
        for offset in stride(from: 0, to: index.count - 48, by: 3) {
            var bad = index
            bad[offset] ^= 0x04
            #expect(throws: CheckpointError.self) { try BundleBuilder.open(bad, data: [data]) }
        }
        // Wrong magic.
        var magic = index
        magic[index.count - 1] ^= 0xff
        let magicError = try #require(throws: CheckpointError.self) { try BundleBuilder.open(magic, data: [data]) }
        #expect(magicError.problem.contains("magic"))
        // Flipped and truncated data: reading everything fails.
        for offset in stride(from: 0, to: data.count, by: 11) {
            var bad = data
            bad[offset] ^= 0x80
            let ckpt = try BundleBuilder.open(index, data: [bad])
            #expect(throws: CheckpointError.self) { try ckpt.readAll() }
        }
        for n in stride(from: 0, to: data.count, by: 13) {
            let ckpt = try BundleBuilder.open(index, data: [Array(data[0 ..< n])])
            #expect(throws: CheckpointError.self) { try ckpt.readAll() }
        }
    }
}
