// TensorFlow's old "V1" checkpoint (one file, e.g. deeplab_resnet_init.ckpt), read without TensorFlow.
//
// The file is a LevelDB-style sorted table (the same table format as a V2 .index; see
// TFCheckpoint.swift) written by TensorSliceWriter (tensorflow/core/util/tensor_slice_writer.cc),
// with protos of tensorflow/core/util/saved_tensor_slice.proto:
//   key ""        SavedTensorSlices {1 meta: SavedTensorSliceMeta {1 repeated tensor: SavedSliceMeta
//                 {1 name, 2 shape: TensorShapeProto, 3 type: DataType, 4 repeated slice: TensorSliceProto}}}
//   other keys    (OrderedCode of name and slice; not decoded here) SavedTensorSlices {2 data: SavedSlice
//                 {1 name, 2 slice: TensorSliceProto, 3 data: TensorProto}}
//   TensorSliceProto {1 repeated extent {1 start, 2 length (absent: the whole dimension)}}
//   TensorProto   {1 dtype, 2 shape, 4 tensor_content, 5 float_val, 6 double_val, 7 int_val,
//                 10 int64_val, 13 half_val} — the values of the slice, row-major over the slice's extents.
// A variable saved in several slices (partitioned) is assembled; every element must be covered.
// Supported types: float, double, int32, int64 (the ones a DeepLab/CMPC checkpoint holds).

import Foundation
import Tensor

/// Reader of a TensorFlow V1 checkpoint (a single SSTable file of tensor slices).
///
///     let ckpt = try TFCheckpointV1(path: "deeplab_resnet_init.ckpt")
///     let w = try ckpt.read("res5c_branch2c/weights").tensor()   // [1, 1, 512, 2048]
public struct TFCheckpointV1: Sendable {
    /// The file read.
    public let path: String
    /// Every tensor, in the order the metadata lists them: name, element type, shape.
    public var entries: [(name: String, dtype: DType, shape: [Int])] { metas.map { ($0.name, $0.dtype, $0.shape) } }

    struct Meta {
        var name: String
        var dtype: DType
        var shape: [Int]
    }

    private var metas: [Meta] = []
    private var arrays: [String: TypedArray] = [:]

    /// Whether `path` is a single file that starts like a V1 checkpoint table (no `.index` beside it).
    public static func isV1(_ path: String) -> Bool {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: path, isDirectory: &isDir), !isDir.boolValue,
              !fm.fileExists(atPath: path + ".index"),
              !path.hasSuffix(".index"), !path.hasSuffix(".safetensors"), !path.hasSuffix(".npz"),
              let h = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? h.close() }
        guard let end = try? h.seekToEnd(), end >= 48 else { return false }
        try? h.seek(toOffset: end - 8)
        guard let tail = try? h.read(upToCount: 8), tail.count == 8 else { return false }
        return Array(tail) == [0x57, 0xfb, 0x80, 0x8b, 0x24, 0x75, 0x47, 0xdb]
    }

    /// Reads and checks the whole file.
    public init(path: String) throws {
        let bytes = try readWholeFile(URL(fileURLWithPath: path))
        try self.init(bytes: bytes, file: path)
    }

    init(bytes: [UInt8], file: String) throws {
        path = file
        var table = Table(bytes: bytes, file: file)
        var metas: [Meta] = []
        var haveMeta = false
        var slices: [(name: String, extents: [(start: Int, length: Int?)], data: ArraySlice<UInt8>)] = []
        try table.forEach { key, value in
            try Proto.fields(value, file: file, what: "SavedTensorSlices") { field, wire, r in
                switch (field, wire) {
                case (1, 2):
                    guard key.isEmpty else { throw r.fail("metadata under a non-empty key (a corrupt checkpoint)") }
                    haveMeta = true
                    let meta = try Proto.bytes(&r)
                    try Proto.fields(meta, file: file, what: "SavedTensorSliceMeta") { f, w, m in
                        if f == 1 && w == 2 {
                            metas.append(try TFCheckpointV1.parseMeta(try Proto.bytes(&m), file: file))
                        } else {
                            try Proto.skip(w, &m)
                        }
                    }
                case (2, 2):
                    let saved = try Proto.bytes(&r)
                    var name = ""
                    var extents: [(start: Int, length: Int?)] = []
                    var data: ArraySlice<UInt8> = []
                    try Proto.fields(saved, file: file, what: "SavedSlice") { f, w, s in
                        switch (f, w) {
                        case (1, 2):
                            guard let n = String(bytes: try Proto.bytes(&s), encoding: .utf8) else {
                                throw s.fail("a tensor name is not UTF-8 (a corrupt checkpoint)")
                            }
                            name = n
                        case (2, 2): extents = try TFCheckpointV1.parseSlice(try Proto.bytes(&s), file: file)
                        case (3, 2): data = try Proto.bytes(&s)
                        default: try Proto.skip(w, &s)
                        }
                    }
                    slices.append((name, extents, data))
                default: try Proto.skip(wire, &r)
                }
            }
        }
        guard haveMeta else {
            throw CheckpointError(file: file, problem: "no metadata entry (key \"\"); this is not a TensorFlow V1 checkpoint")
        }
        var byName: [String: Int] = [:]
        for (i, m) in metas.enumerated() {
            guard byName[m.name] == nil else { throw CheckpointError(file: file, problem: "'\(m.name)' is listed twice") }
            byName[m.name] = i
        }
        // Assemble each tensor from its slices.
        var buffers: [[UInt8]] = []
        var covered: [Int] = []
        for m in metas {
            let n = try elementCount(m.shape, file: file, name: m.name)
            buffers.append([UInt8](repeating: 0, count: n * m.dtype.size))
            covered.append(0)
        }
        for s in slices {
            guard let i = byName[s.name] else {
                throw CheckpointError(file: file, problem: "data for '\(s.name)', which the metadata does not list")
            }
            let m = metas[i]
            let values = try TFCheckpointV1.values(s.data, dtype: m.dtype, file: file, name: m.name)
            try TFCheckpointV1.place(values, extents: s.extents, into: &buffers[i], shape: m.shape, size: m.dtype.size,
                                     file: file, name: m.name)
            covered[i] += values.count / m.dtype.size
        }
        for (i, m) in metas.enumerated() {
            let n = buffers[i].count / m.dtype.size
            guard covered[i] == n else {
                throw CheckpointError(file: file, problem: "'\(m.name)' \(m.shape): its slices hold \(covered[i]) of \(n) values (a truncated or corrupt checkpoint)")
            }
            arrays[m.name] = try TypedArray(dtype: m.dtype, shape: m.shape, bytes: buffers[i], file: file, name: m.name)
        }
        self.metas = metas
    }

    /// One tensor by name.
    public func read(_ name: String) throws -> TypedArray {
        guard let a = arrays[name] else {
            throw CheckpointError(file: path, problem: "no tensor '\(name)' (\(metas.count) tensors in the checkpoint)")
        }
        return a
    }

    /// Every tensor, in metadata order.
    public func readAll() throws -> [(name: String, array: TypedArray)] {
        try metas.map { ($0.name, try read($0.name)) }
    }

    // MARK: - Protobuf

    static func parseMeta(_ bytes: ArraySlice<UInt8>, file: String) throws -> Meta {
        var name = "", shape: [Int] = [], code = 0
        try Proto.fields(bytes, file: file, what: "SavedSliceMeta") { f, w, r in
            switch (f, w) {
            case (1, 2):
                guard let n = String(bytes: try Proto.bytes(&r), encoding: .utf8) else {
                    throw r.fail("a tensor name is not UTF-8 (a corrupt checkpoint)")
                }
                name = n
            case (2, 2):
                try Proto.fields(try Proto.bytes(&r), file: file, what: "shape") { g, w2, s in
                    if g == 2 && w2 == 2 {
                        var extent: UInt64 = 0
                        try Proto.fields(try Proto.bytes(&s), file: file, what: "dim") { h, w3, d in
                            if h == 1 && w3 == 0 { extent = try d.varint("dim size") } else { try Proto.skip(w3, &d) }
                        }
                        guard extent <= 1 << 40 else { throw s.fail("unknown (-1) or absurd dimension in a shape") }
                        guard shape.count < 64 else { throw s.fail("more than 64 dimensions") }
                        shape.append(Int(extent))
                    } else {
                        try Proto.skip(w2, &s)
                    }
                }
            case (3, 0): code = try r.varintInt("type", limit: 1 << 20)
            default: try Proto.skip(w, &r)
            }
        }
        guard let dtype = [1: DType.float32, 2: .float64, 3: .int32, 9: .int64][code] else {
            let label = TFCheckpoint.dataTypeNames[code] ?? "DataType \(code)"
            throw CheckpointError(file: file, problem: "'\(name)': type \(label) is not supported in V1 checkpoints (float, double, int32, int64 are)")
        }
        return Meta(name: name, dtype: dtype, shape: shape)
    }

    static func parseSlice(_ bytes: ArraySlice<UInt8>, file: String) throws -> [(start: Int, length: Int?)] {
        var extents: [(start: Int, length: Int?)] = []
        try Proto.fields(bytes, file: file, what: "TensorSliceProto") { f, w, r in
            guard f == 1 && w == 2 else { try Proto.skip(w, &r); return }
            var start = 0
            var length: Int? = nil
            try Proto.fields(try Proto.bytes(&r), file: file, what: "extent") { g, w2, e in
                switch (g, w2) {
                case (1, 0): start = try e.varintInt("start", limit: 1 << 40)
                case (2, 0): length = try e.varintInt("length", limit: 1 << 40)
                default: try Proto.skip(w2, &e)
                }
            }
            guard extents.count < 64 else { throw r.fail("more than 64 slice extents") }
            extents.append((start, length))
        }
        return extents
    }

    /// The little-endian bytes of a TensorProto's values.
    static func values(_ proto: ArraySlice<UInt8>, dtype: DType, file: String, name: String) throws -> [UInt8] {
        var out: [UInt8] = []
        func appendLE(_ v: UInt64, bytes n: Int) { for k in 0..<n { out.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(k)))) } }
        try Proto.fields(proto, file: file, what: "TensorProto of '\(name)'") { f, w, r in
            switch (f, w, dtype) {
            case (4, 2, _): out.append(contentsOf: try Proto.bytes(&r))
            case (5, 2, .float32), (6, 2, .float64):
                let packed = try Proto.bytes(&r)
                guard packed.count % dtype.size == 0 else { throw r.fail("'\(name)': packed values are not whole numbers") }
                out.append(contentsOf: packed)
            case (5, 5, .float32): appendLE(UInt64(try r.u32("float_val")), bytes: 4)
            case (6, 1, .float64):
                let lo = UInt64(try r.u32("double_val")), hi = UInt64(try r.u32("double_val"))
                appendLE(lo | hi << 32, bytes: 8)
            case (7, 2, .int32), (10, 2, .int64):
                var p = ByteReader(Array(try Proto.bytes(&r)), file: file)
                while !p.atEnd { appendLE(try p.varint("packed integer"), bytes: dtype.size) }
            case (7, 0, .int32), (10, 0, .int64): appendLE(try r.varint("integer value"), bytes: dtype.size)
            default: try Proto.skip(w, &r)
            }
        }
        return out
    }

    /// Copies a slice's values (row-major over its extents) into the whole tensor's buffer.
    static func place(_ values: [UInt8], extents: [(start: Int, length: Int?)], into buffer: inout [UInt8], shape: [Int],
                      size: Int, file: String, name: String) throws {
        func fail(_ p: String) -> CheckpointError { CheckpointError(file: file, problem: "'\(name)' \(shape): \(p)") }
        if shape.isEmpty || extents.isEmpty && values.count == buffer.count {
            guard values.count == buffer.count else { throw fail("\(values.count / size) values for a scalar") }
            buffer = values
            return
        }
        guard extents.count == shape.count else { throw fail("a slice of rank \(extents.count)") }
        var starts: [Int] = [], lengths: [Int] = []
        for (d, e) in extents.enumerated() {
            let len = e.length ?? shape[d] - e.start
            guard e.start >= 0, len >= 0, e.start + len <= shape[d] else {
                throw fail("slice extent [\(e.start), +\(len)) outside dimension \(d)")
            }
            starts.append(e.start)
            lengths.append(len)
        }
        let count = lengths.reduce(1, *)
        guard count * size == values.count else {
            throw fail("a slice of \(lengths) holds \(values.count / size) values (\(count) expected)")
        }
        if count == 0 { return }
        let strides = Tensor.strides(of: shape)
        var index = [Int](repeating: 0, count: shape.count)
        for k in 0..<count {
            var offset = 0
            for d in 0..<shape.count { offset += (starts[d] + index[d]) * strides[d] }
            for b in 0..<size { buffer[offset * size + b] = values[k * size + b] }
            var d = shape.count - 1
            while d >= 0 {
                index[d] += 1
                if index[d] < lengths[d] { break }
                index[d] = 0
                d -= 1
            }
        }
    }
}
