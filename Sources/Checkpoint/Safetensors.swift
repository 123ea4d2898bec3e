// safetensors files (huggingface/safetensors).
//
// Format: u64 LE N, then N bytes of UTF-8 JSON (space-padded), then the data buffer:
//   {"__metadata__": {"key": "value", …},
//    "<name>": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, …}
// Offsets are relative to the start of the data buffer; end - begin = elements × dtype size;
// tensors do not overlap. Bytes are little-endian, row-major. dtypes: F16, BF16, F32, F64,
// I8, I16, I32, I64, U8, U16, U32, U64, BOOL (F8_* and others are refused with their name).
// Tensors are returned in data-offset (file) order; the writer lays them out in the given
// order, 8-byte aligned header.

import Foundation
import JSON

/// Reading and writing .safetensors files.
///
///     let (tensors, metadata) = try Safetensors.read(URL(fileURLWithPath: "model.safetensors"))
public enum Safetensors {
    static let codes: [(DType, String)] = [
        (.float16, "F16"), (.bfloat16, "BF16"), (.float32, "F32"), (.float64, "F64"),
        (.int8, "I8"), (.int16, "I16"), (.int32, "I32"), (.int64, "I64"),
        (.uint8, "U8"), (.uint16, "U16"), (.uint32, "U32"), (.uint64, "U64"), (.bool, "BOOL"),
    ]

    /// The safetensors dtype code of `dtype` ("F32", …).
    public static func code(_ dtype: DType) -> String { codes.first { $0.0 == dtype }!.1 }

    /// Largest header accepted, as the reference implementation (100 MB).
    static let maximumHeader = 100_000_000

    /// Every tensor of the file (in file order) and the `__metadata__` strings.
    public static func read(_ url: URL) throws -> (tensors: [(name: String, array: TypedArray)], metadata: [String: String]) {
        try read(FileSource(url))
    }

    /// Every tensor and the metadata of a safetensors file held by `source`.
    public static func read(_ source: ByteSource) throws -> (tensors: [(name: String, array: TypedArray)], metadata: [String: String]) {
        let (entries, metadata, dataStart) = try readHeader(source)
        let tensors = try entries.map { e in
            (e.name, TypedArray(unchecked: e.dtype, shape: e.shape, bytes: try source.read(at: dataStart + e.begin, count: e.end - e.begin)))
        }
        for (name, a) in tensors where a.dtype == .bool && a.bytes.contains(where: { $0 > 1 }) {
            throw CheckpointError(file: source.name, problem: "'\(name)': bool tensor holds bytes other than 0 and 1")
        }
        return (tensors, metadata)
    }

    /// Name, dtype and shape of every tensor without reading the data.
    public static func list(_ url: URL) throws -> [(name: String, dtype: DType, shape: [Int])] {
        try readHeader(FileSource(url)).entries.map { ($0.name, $0.dtype, $0.shape) }
    }

    struct Entry {
        var name: String
        var dtype: DType
        var shape: [Int]
        var begin: Int
        var end: Int
    }

    static func readHeader(_ source: ByteSource) throws -> (entries: [Entry], metadata: [String: String], dataStart: Int) {
        let file = source.name
        func fail(_ p: String) -> CheckpointError { CheckpointError(file: file, problem: p) }
        guard source.count >= 8 else { throw fail("\(source.count) bytes: too short for a safetensors file") }
        var r = ByteReader(try source.read(at: 0, count: 8), file: file)
        let n = try r.u64("header size")
        guard n <= UInt64(maximumHeader), Int(n) <= source.count - 8 else {
            throw fail("header size \(n) is impossible for a \(source.count)-byte file; not a safetensors file, or truncated")
        }
        let headerBytes = try source.read(at: 8, count: Int(n))
        guard headerBytes.first == UInt8(ascii: "{") else { throw fail("header does not start with '{'; not a safetensors file") }
        let header: JSONValue
        do { header = try JSONValue.parse(headerBytes, file: file) } catch let e as JSONError {
            throw fail("JSON header: \(e.reason)")
        }
        guard case let .object(members) = header else { throw fail("header is not a JSON object") }
        let dataStart = 8 + Int(n)
        let dataSize = source.count - dataStart
        var metadata: [String: String] = [:]
        var entries: [Entry] = []
        var names = Set<String>()
        for (name, value) in members {
            guard names.insert(name).inserted else { throw fail("tensor '\(name)' appears twice in the header") }
            if name == "__metadata__" {
                guard case let .object(kv) = value else { throw fail("__metadata__ is not an object") }
                for (k, v) in kv {
                    guard case let .string(s) = v else { throw fail("__metadata__ value for '\(k)' is not a string") }
                    metadata[k] = s
                }
                continue
            }
            guard case let .object(fields) = value else { throw fail("'\(name)': entry is not an object") }
            var dtypeCode: String?
            var shape: [Int]?
            var offsets: [Int]?
            for (k, v) in fields {
                switch (k, v) {
                case let ("dtype", .string(s)): dtypeCode = s
                case let ("shape", .array(items)):
                    shape = try items.map {
                        guard case let .int(d) = $0, d >= 0 else { throw fail("'\(name)': shape holds a non-integer or negative extent") }
                        return d
                    }
                case let ("data_offsets", .array(items)):
                    offsets = try items.map {
                        guard case let .int(d) = $0, d >= 0 else { throw fail("'\(name)': data_offsets hold a non-integer or negative value") }
                        return d
                    }
                default: throw fail("'\(name)': unexpected field '\(k)' or value type")
                }
            }
            guard let code = dtypeCode, let shape, let offsets, offsets.count == 2 else {
                throw fail("'\(name)': entry needs dtype, shape and two data_offsets")
            }
            guard let dtype = codes.first(where: { $0.1 == code })?.0 else {
                throw fail("'\(name)': dtype \(code) is not supported (\(codes.map(\.1).joined(separator: ", ")) are)")
            }
            let count = try elementCount(shape, file: file, name: name)
            let (begin, end) = (offsets[0], offsets[1])
            guard begin <= end, end <= dataSize else {
                throw fail("'\(name)': data_offsets [\(begin), \(end)] lie outside the \(dataSize)-byte data buffer; the file is truncated or corrupt")
            }
            guard end - begin == count * dtype.size else {
                throw fail("'\(name)': \(end - begin) bytes for \(code) \(shape) (\(count * dtype.size) expected)")
            }
            entries.append(Entry(name: name, dtype: dtype, shape: shape, begin: begin, end: end))
        }
        entries.sort { ($0.begin, $0.end) < ($1.begin, $1.end) }
        for (a, b) in zip(entries, entries.dropFirst()) where b.begin < a.end {
            throw fail("tensors '\(a.name)' and '\(b.name)' overlap in the data buffer; the file is corrupt")
        }
        return (entries, metadata, dataStart)
    }

    /// The bytes of a safetensors file holding `tensors` (laid out in that order) and `metadata`.
    public static func encode(_ tensors: [(String, TypedArray)], metadata: [String: String], file: String = "safetensors") throws -> [UInt8] {
        for (name, a) in tensors where a.bytes.count != a.count * a.dtype.size {
            throw CheckpointError(file: file, problem: "'\(name)': bytes do not match \(a)")
        }
        var out = try header(tensors.map { ($0.0, $0.1.dtype, $0.1.shape) }, metadata: metadata, file: file)
        out.reserveCapacity(out.count + tensors.reduce(0) { $0 + $1.1.bytes.count })
        for (_, a) in tensors { out += a.bytes }
        return out
    }

    /// The length prefix and the header (compact JSON, metadata keys sorted, tensors in the given order,
    /// space-padded to 8 bytes) of a file holding `entries`, laid out in that order.
    static func header(_ entries: [(name: String, dtype: DType, shape: [Int])], metadata: [String: String],
                       file: String) throws -> [UInt8] {
        var members: [(String, JSONValue)] = []
        if !metadata.isEmpty {
            members.append(("__metadata__", .object(metadata.keys.sorted().map { ($0, .string(metadata[$0]!)) })))
        }
        var offset = 0
        var names = Set<String>()
        for e in entries {
            guard e.name != "__metadata__", names.insert(e.name).inserted else {
                throw CheckpointError(file: file, problem: "tensor name '\(e.name)' is reserved or given twice")
            }
            let size = try elementCount(e.shape, file: file, name: e.name) * e.dtype.size
            members.append((e.name, .object([
                ("dtype", .string(code(e.dtype))), ("shape", .array(e.shape.map { .int($0) })),
                ("data_offsets", .array([.int(offset), .int(offset + size)])),
            ])))
            offset += size
        }
        var header = Array(JSONValue.object(members).text(.compact).utf8)
        while (8 + header.count) % 8 != 0 { header.append(0x20) }
        var out: [UInt8] = []
        out.appendLE64(UInt64(header.count))
        return out + header
    }

    /// Writes a safetensors file atomically (temporary file, then rename).
    public static func write(_ tensors: [(String, TypedArray)], metadata: [String: String], to url: URL) throws {
        try writeAtomically(encode(tensors, metadata: metadata, file: url.path), to: url)
    }

    /// Writes a safetensors file atomically, fetching one tensor at a time with `array(i)`
    /// (so a 700 MB checkpoint is never held whole); `entries[i]` must describe `array(i)`.
    public static func write(entries: [(name: String, dtype: DType, shape: [Int])], metadata: [String: String], to url: URL,
                             array: (Int) throws -> TypedArray) throws {
        let prefix = try header(entries, metadata: metadata, file: url.path)
        try writeAtomically(to: url) { handle in
            try handle.write(contentsOf: prefix)
            for (i, e) in entries.enumerated() {
                let a = try array(i)
                guard a.dtype == e.dtype, a.shape == e.shape, a.bytes.count == a.count * a.dtype.size else {
                    throw CheckpointError(file: url.path, problem: "'\(e.name)' is \(a), but the header says \(e.dtype.rawValue)\(e.shape)")
                }
                try handle.write(contentsOf: a.bytes)
            }
        }
    }
}
