// TensorFlow V2 checkpoints ("tensor bundles"): PREFIX.index + PREFIX.data-NNNNN-of-NNNNN,
// read without TensorFlow.
//
// PREFIX.index is a LevelDB-style sorted table:
//   [data block][trailer] … [metaindex block][trailer] [index block][trailer] [footer, 48 bytes]
//   footer   varint64 metaindex offset, size; varint64 index offset, size; zero padding to 40
//            bytes; magic 0xdb4775248b80fb57 as two LE uint32, low word first
//   trailer  1 byte compression (0 none, 1 Snappy) + uint32 LE masked CRC-32C of the block's
//            stored bytes and that byte (mask: ((c >> 15) | (c << 17)) + 0xa282ead8)
//   block    entries, then uint32 LE restart offsets, then uint32 LE restart count; an entry is
//            varint32 shared, varint32 non_shared, varint32 value_len, key[shared…] (the first
//            `shared` key bytes come from the previous key), value
//   index    block mapping a separator key (≥ every key of the block) to the handle of each data
//            block: varint64 offset, varint64 size (without trailer)
// Keys are sorted byte strings. Key "" holds BundleHeaderProto {1 num_shards, 2 endianness
// (0 little), 3 version}. Every other key is a tensor name whose value is BundleEntryProto
// {1 dtype, 2 shape: TensorShapeProto {2 repeated dim {1 size}}, 3 shard_id, 4 offset, 5 size,
// 6 crc32c (fixed32, masked CRC-32C of the tensor bytes), 7 repeated slices}. Protobuf wire
// format: a varint key (field << 3 | wire type: 0 varint, 1 fixed64, 2 length-delimited,
// 5 fixed32); unknown fields are skipped; proto3 leaves zero fields out.
// PREFIX.data-%05d-of-%05d (one per shard): the tensors' little-endian row-major bytes at
// [offset, offset + size).
// Not supported (each a clear error when read): partitioned (sliced) variables, string,
// complex, quantized, resource and variant tensors, big-endian bundles, V1 checkpoints.

import Foundation

/// TensorFlow V2 checkpoint (tensor bundle) reader: PREFIX.index + PREFIX.data-NNNNN-of-NNNNN, no TensorFlow needed.
///
///     let ckpt = try TFCheckpoint(prefix: "model.ckpt-700000")
///     let w = try ckpt.read("text_objseg/c5_lateral/DW").tensor()   // [1, 1, 2048, 500]
public struct TFCheckpoint: Sendable {
    /// Where a tensor's bytes live.
    struct Entry {
        var name: String
        var dtype: DType
        var shape: [Int]
        var shard: Int
        var offset: Int
        var size: Int
        var maskedCRC: UInt32
    }

    /// The checkpoint prefix (without ".index").
    public let prefix: String
    /// Every readable tensor, in key (sorted) order: name, element type, shape.
    public var entries: [(name: String, dtype: DType, shape: [Int])] { table.map { ($0.name, $0.dtype, $0.shape) } }
    /// Tensors present in the index that this reader cannot return, with the reason.
    public private(set) var unsupported: [(name: String, reason: String)] = []
    /// Number of data shards.
    public let shardCount: Int

    private var table: [Entry] = []
    private var byName: [String: Int] = [:]
    private let shards: [ByteSource]
    private let indexName: String

    /// Opens the checkpoint at `prefix` ("model.ckpt-700000", or a path ending in ".index" or
    /// ".data-00000-of-00001"), reading its index and opening every data shard.
    public init(prefix: String) throws {
        let p = TFCheckpoint.prefix(of: prefix)
        let indexPath = p + ".index"
        let fm = FileManager.default
        guard fm.fileExists(atPath: indexPath) else {
            if fm.fileExists(atPath: p) {
                throw CheckpointError(file: p, problem: "no \(p).index beside it: a TensorFlow V1 checkpoint (single file) is not supported; re-save it with tf.compat.v1.train.Saver() (V2 is the default)")
            }
            throw CheckpointError(file: indexPath, problem: "no such file; pass the checkpoint prefix, e.g. model.ckpt-700000 for model.ckpt-700000.index")
        }
        let index = try readWholeFile(URL(fileURLWithPath: indexPath))
        try self.init(prefix: p, index: index, indexName: indexPath) { shard, count in
            let path = p + String(format: ".data-%05d-of-%05d", shard, count)
            guard fm.fileExists(atPath: path) else {
                throw CheckpointError(file: path, problem: "data shard \(shard) of \(count) is missing; copy every \(URL(fileURLWithPath: p).lastPathComponent).data-* file beside the .index")
            }
            return try FileSource(URL(fileURLWithPath: path))
        }
    }

    /// Parses index bytes; `openShard(i, count)` supplies data shard i of count.
    init(prefix: String, index: [UInt8], indexName: String, openShard: (Int, Int) throws -> ByteSource) throws {
        self.prefix = prefix
        self.indexName = indexName
        var table = Table(bytes: index, file: indexName)
        var numShards = -1
        var lastKey: [UInt8]? = nil
        var entries: [Entry] = []
        var unsupported: [(String, String)] = []
        try table.forEach { key, value in
            if let last = lastKey, !last.lexicographicallyPrecedes(key) {
                throw CheckpointError(file: indexName, problem: "keys out of order (a corrupt index)")
            }
            lastKey = key
            if key.isEmpty {
                numShards = try TFCheckpoint.parseHeader(value, file: indexName)
                return
            }
            if key.first == 0 { return } // an encoded slice key of a partitioned variable
            guard let name = String(bytes: key, encoding: .utf8) else {
                throw CheckpointError(file: indexName, problem: "a tensor name is not UTF-8 (a corrupt index)")
            }
            switch try TFCheckpoint.parseEntry(value, name: name, file: indexName) {
            case let .success(entry): entries.append(entry)
            case let .failure(reason): unsupported.append((name, reason.problem))
            }
        }
        guard numShards >= 1 else {
            throw CheckpointError(file: indexName, problem: "no bundle header (key \"\"); this is not a TensorFlow V2 checkpoint index")
        }
        for e in entries where e.shard >= numShards {
            throw CheckpointError(file: indexName, problem: "'\(e.name)' is in shard \(e.shard), but the checkpoint has \(numShards)")
        }
        shardCount = numShards
        shards = try (0 ..< numShards).map { try openShard($0, numShards) }
        self.table = entries
        self.unsupported = unsupported
        for (i, e) in entries.enumerated() { byName[e.name] = i }
    }

    /// The prefix a user-given path names: strips ".index" or ".data-NNNNN-of-NNNNN".
    public static func prefix(of path: String) -> String {
        if path.hasSuffix(".index") { return String(path.dropLast(6)) }
        if let r = path.range(of: #"\.data-[0-9]{5}-of-[0-9]{5}$"#, options: .regularExpression) {
            return String(path[..<r.lowerBound])
        }
        return path
    }

    /// True if `path` names a V2 checkpoint (its .index exists).
    public static func exists(_ path: String) -> Bool {
        FileManager.default.fileExists(atPath: prefix(of: path) + ".index")
    }

    /// The tensor called `name`, its bytes checked against the CRC-32C the index records.
    public func read(_ name: String) throws -> TypedArray {
        guard let i = byName[name] else {
            if let u = unsupported.first(where: { $0.name == name }) {
                throw CheckpointError(file: indexName, problem: "'\(name)': \(u.reason)")
            }
            throw CheckpointError(file: indexName, problem: "no tensor named '\(name)' (the checkpoint has \(table.count))")
        }
        let e = table[i]
        let source = shards[e.shard]
        guard e.offset <= source.count, e.size <= source.count - e.offset else {
            throw CheckpointError(
                file: source.name,
                problem: "'\(e.name)' lies at [\(e.offset), +\(e.size)) past the end of the data file (\(source.count) bytes); the shard is truncated or belongs to another checkpoint")
        }
        let bytes = try source.read(at: e.offset, count: e.size)
        let crc = CRC32C.checksum(bytes)
        guard CRC32C.mask(crc) == e.maskedCRC else {
            throw CheckpointError(file: source.name, problem: "'\(e.name)': CRC-32C mismatch; the data file is corrupt or belongs to another checkpoint")
        }
        if e.dtype == .bool, bytes.contains(where: { $0 > 1 }) {
            throw CheckpointError(file: source.name, problem: "'\(e.name)': bool tensor holds bytes other than 0 and 1")
        }
        return TypedArray(unchecked: e.dtype, shape: e.shape, bytes: bytes)
    }

    /// Every readable tensor, in key order.
    public func readAll() throws -> [(name: String, array: TypedArray)] {
        try table.map { ($0.name, try read($0.name)) }
    }

    // MARK: - Protobuf

    /// DataType enum values of tensorflow/core/framework/types.proto.
    static let dataTypes: [Int: DType] = [
        1: .float32, 2: .float64, 3: .int32, 4: .uint8, 5: .int16, 6: .int8, 9: .int64, 10: .bool,
        14: .bfloat16, 17: .uint16, 19: .float16, 22: .uint32, 23: .uint64,
    ]
    static let dataTypeNames: [Int: String] = [
        7: "DT_STRING", 8: "DT_COMPLEX64", 11: "DT_QINT8", 12: "DT_QUINT8", 13: "DT_QINT32", 15: "DT_QINT16",
        16: "DT_QUINT16", 18: "DT_COMPLEX128", 20: "DT_RESOURCE", 21: "DT_VARIANT",
    ]

    static func parseHeader(_ value: ArraySlice<UInt8>, file: String) throws -> Int {
        var numShards = 0
        var endianness = 0
        try Proto.fields(value, file: file, what: "bundle header") { field, wire, r in
            switch (field, wire) {
            case (1, 0): numShards = try r.varintInt("num_shards", limit: 1 << 20)
            case (2, 0): endianness = try r.varintInt("endianness", limit: 1 << 20)
            default: try Proto.skip(wire, &r)
            }
        }
        guard endianness == 0 else {
            throw CheckpointError(file: file, problem: "the checkpoint was written big-endian; only little-endian bundles are supported")
        }
        guard numShards >= 1 else { throw CheckpointError(file: file, problem: "bundle header declares \(numShards) shards") }
        return numShards
    }

    static func parseEntry(_ value: ArraySlice<UInt8>, name: String, file: String) throws -> Result<Entry, CheckpointError> {
        var dtypeCode = 0, shard = 0, offset = 0, size = 0
        var crc: UInt32 = 0
        var shape: [Int] = []
        var unknownRank = false
        var sliced = false
        try Proto.fields(value, file: file, what: "entry '\(name)'") { field, wire, r in
            switch (field, wire) {
            case (1, 0): dtypeCode = try r.varintInt("dtype", limit: 1 << 20)
            case (2, 2):
                let sub = try Proto.bytes(&r)
                try Proto.fields(sub, file: file, what: "shape of '\(name)'") { f, w, s in
                    switch (f, w) {
                    case (2, 2):
                        let dim = try Proto.bytes(&s)
                        var extent: UInt64 = 0
                        try Proto.fields(dim, file: file, what: "dim of '\(name)'") { g, w2, d in
                            if g == 1 && w2 == 0 { extent = try d.varint("dim size") } else { try Proto.skip(w2, &d) }
                        }
                        guard extent <= UInt64(Int.max) else {
                            throw CheckpointError(file: file, problem: "'\(name)': unknown (-1) or absurd dimension in shape")
                        }
                        guard shape.count < 64 else { throw CheckpointError(file: file, problem: "'\(name)': more than 64 dimensions") }
                        shape.append(Int(extent))
                    case (3, 0): unknownRank = try s.varint("unknown_rank") != 0
                    default: try Proto.skip(w, &s)
                    }
                }
            case (3, 0): shard = try r.varintInt("shard_id", limit: 1 << 20)
            case (4, 0): offset = try r.varintInt("offset")
            case (5, 0): size = try r.varintInt("size")
            case (6, 5): crc = try r.u32("crc32c")
            case (7, 2): _ = try Proto.bytes(&r); sliced = true
            default: try Proto.skip(wire, &r)
            }
        }
        func unsupported(_ p: String) -> Result<Entry, CheckpointError> { .failure(CheckpointError(file: file, problem: p)) }
        if sliced {
            return unsupported("a partitioned (sliced) variable; unsupported, re-save it unpartitioned")
        }
        guard let dtype = dataTypes[dtypeCode] else {
            let label = dataTypeNames[dtypeCode] ?? "DataType \(dtypeCode)"
            return unsupported("dtype \(label) (\(dtypeCode)) is not supported (float, double, half, bfloat16, int8–64, uint8–64 and bool are)")
        }
        guard !unknownRank else { throw CheckpointError(file: file, problem: "'\(name)': shape of unknown rank") }
        let n = try elementCount(shape, file: file, name: name)
        guard n * dtype.size == size else {
            throw CheckpointError(file: file, problem: "'\(name)': \(size) bytes recorded for \(dtype.rawValue) \(shape) (\(n * dtype.size) expected); the index is corrupt")
        }
        return .success(Entry(name: name, dtype: dtype, shape: shape, shard: shard, offset: offset, size: size, maskedCRC: crc))
    }
}

/// Just enough of the protobuf wire format to walk messages and skip unknown fields.
enum Proto {
    /// Calls `body(field, wireType, reader)` for each field of the message in `bytes`; `body`
    /// must consume the field's value.
    static func fields(_ bytes: ArraySlice<UInt8>, file: String, what: String,
                       _ body: (Int, Int, inout ByteReader) throws -> Void) throws {
        var r = ByteReader(Array(bytes), file: file)
        while !r.atEnd {
            let key = try r.varint("\(what): field key")
            let field = Int(key >> 3), wire = Int(key & 7)
            guard field > 0, field < 1 << 29 else { throw r.fail("\(what): invalid field number \(key >> 3)") }
            try body(field, wire, &r)
        }
    }

    /// A length-delimited value.
    static func bytes(_ r: inout ByteReader) throws -> ArraySlice<UInt8> {
        let n = try r.varintInt("length", limit: r.remaining)
        return try r.take(n, "length-delimited field")
    }

    /// Skips a value of wire type `wire`.
    static func skip(_ wire: Int, _ r: inout ByteReader) throws {
        switch wire {
        case 0: _ = try r.varint("varint field")
        case 1: try r.skip(8, "fixed64 field")
        case 2: _ = try bytes(&r)
        case 5: try r.skip(4, "fixed32 field")
        default: throw r.fail("unsupported protobuf wire type \(wire) (a corrupt index)")
        }
    }
}

/// A LevelDB-format sorted table held in memory, walked in key order.
struct Table {
    let bytes: [UInt8]
    let file: String

    func fail(_ p: String) -> CheckpointError { CheckpointError(file: file, problem: p) }

    /// Calls `body(key, value)` for every entry of every data block, in order.
    mutating func forEach(_ body: ([UInt8], ArraySlice<UInt8>) throws -> Void) throws {
        guard bytes.count >= 48 else {
            throw fail("\(bytes.count) bytes: too short for a checkpoint index (the file is truncated)")
        }
        var footer = ByteReader(bytes, file: file, start: bytes.count - 48)
        let metaOffset = try footer.varintInt("metaindex offset"), metaSize = try footer.varintInt("metaindex size")
        let indexOffset = try footer.varintInt("index offset")
        let indexSize = try footer.varintInt("index size")
        var magic = ByteReader(bytes, file: file, start: bytes.count - 8)
        let lo = try magic.u32(), hi = try magic.u32()
        guard lo == 0x8b80_fb57, hi == 0xdb47_7524 else {
            throw fail("bad table magic; this is not a TensorFlow V2 checkpoint .index file (or it is truncated)")
        }
        // The metaindex block is empty in bundles; it is read only to check its CRC.
        _ = try block(offset: metaOffset, size: metaSize, what: "metaindex block")
        let index = try block(offset: indexOffset, size: indexSize, what: "index block")
        var blockNumber = 0
        try Table.entries(index, file: file, what: "index block") { _, handle in
            var h = ByteReader(Array(handle), file: file)
            let offset = try h.varintInt("block offset"), size = try h.varintInt("block size")
            let data = try block(offset: offset, size: size, what: "data block \(blockNumber)")
            try Table.entries(data, file: file, what: "data block \(blockNumber)", body)
            blockNumber += 1
        }
    }

    /// The contents of the block at `offset` (its trailer checked, Snappy undone).
    func block(offset: Int, size: Int, what: String) throws -> [UInt8] {
        let (withTrailer, overflow) = size.addingReportingOverflow(5)
        guard !overflow, offset <= bytes.count - 48, withTrailer <= bytes.count - 48 - offset else {
            throw fail("\(what) at [\(offset), +\(size)) lies outside the table; the index is truncated or corrupt")
        }
        let kind = bytes[offset + size]
        var t = ByteReader(bytes, file: file, start: offset + size + 1)
        let stored = try t.u32("block CRC")
        let crc = bytes.withUnsafeBytes { raw in
            CRC32C.update(0, UnsafeRawBufferPointer(rebasing: raw[offset ..< offset + size + 1]))
        }
        guard CRC32C.mask(crc) == stored else {
            throw fail("\(what): CRC-32C mismatch; the index file is corrupt")
        }
        switch kind {
        case 0: return Array(bytes[offset ..< offset + size])
        case 1: return try Snappy.decompress(bytes[offset ..< offset + size], file: file, what: what)
        default: throw fail("\(what): unknown compression type \(kind) (0 none and 1 Snappy are supported)")
        }
    }

    /// Walks the entries of one block, rebuilding prefix-compressed keys.
    static func entries(_ block: [UInt8], file: String, what: String,
                        _ body: ([UInt8], ArraySlice<UInt8>) throws -> Void) throws {
        func fail(_ p: String) -> CheckpointError { CheckpointError(file: file, problem: "\(what): \(p)") }
        guard block.count >= 4 else { throw fail("too short for a block (\(block.count) bytes)") }
        var tail = ByteReader(block, file: file, start: block.count - 4)
        let restarts = Int(try tail.u32("restart count"))
        guard restarts <= (block.count - 4) / 4 else { throw fail("\(restarts) restart points do not fit the block") }
        let limit = block.count - 4 - 4 * restarts
        var r = ByteReader(block, file: file, start: 0, end: limit)
        var key: [UInt8] = []
        while !r.atEnd {
            let shared = try r.varintInt("shared key length", maxBytes: 5)
            let unshared = try r.varintInt("key length", maxBytes: 5)
            let valueLength = try r.varintInt("value length", maxBytes: 5)
            guard shared <= key.count else { throw fail("entry shares \(shared) bytes of a \(key.count)-byte key") }
            let suffix = try r.take(unshared, "key")
            key.removeSubrange(shared...)
            key.append(contentsOf: suffix)
            let value = try r.take(valueLength, "value")
            try body(key, value)
        }
    }
}
