// Any supported checkpoint or array file, chosen by its extension and contents:
//   a TensorFlow V2 prefix (PREFIX.index exists; "PREFIX.index" and "PREFIX.data-…" work too),
//   .safetensors, .npz (zip magic "PK"), .npy ("\x93NUMPY" magic; its one array is named after the file).

import Foundation

/// Any supported file by its contents/extension: TF V2 prefix, .safetensors, .npz, .npy.
///
///     for (name, array) in try CheckpointFile.readAll("model.ckpt-700000") { … }
public enum CheckpointFile {
    /// The kinds of file this module reads.
    public enum Kind: String, Sendable {
        case tensorflow, safetensors, npz, npy
    }

    /// Which reader `path` needs; throws naming the file when it is none of them.
    public static func kind(of path: String) throws -> Kind {
        if TFCheckpoint.exists(path) { return .tensorflow }
        let url = URL(fileURLWithPath: path)
        guard FileManager.default.fileExists(atPath: path) else {
            throw CheckpointError(file: path, problem: "no such file, and no \(path).index for a TensorFlow checkpoint prefix; check the path")
        }
        let source = try FileSource(url)
        let head = try source.read(at: 0, count: min(8, source.count))
        if head.starts(with: NumPy.magic) { return .npy }
        if head.starts(with: [0x50, 0x4b]) { return .npz }
        switch url.pathExtension.lowercased() {
        case "safetensors": return .safetensors
        case "npz": return .npz
        case "npy": return .npy
        default: break
        }
        // safetensors has no magic: a plausible header length followed by '{'.
        if source.count >= 9 {
            var r = ByteReader(head, file: path)
            let n = try r.u64()
            if n < UInt64(source.count), try source.read(at: 8, count: 1) == [UInt8(ascii: "{")] { return .safetensors }
        }
        throw CheckpointError(
            file: path,
            problem: "not a recognised checkpoint: expected a TensorFlow V2 prefix (with PREFIX.index), .safetensors, .npz or .npy")
    }

    /// Every tensor of the file, in its own order (TF: sorted names; npz/safetensors: file order).
    public static func readAll(_ path: String) throws -> [(name: String, array: TypedArray)] {
        switch try kind(of: path) {
        case .tensorflow: return try TFCheckpoint(prefix: path).readAll()
        case .safetensors: return try Safetensors.read(URL(fileURLWithPath: path)).tensors
        case .npz: return try NumPy.readNPZ(URL(fileURLWithPath: path))
        case .npy:
            let url = URL(fileURLWithPath: path)
            return [(url.deletingPathExtension().lastPathComponent, try NumPy.readNPY(url))]
        }
    }

    /// Name, dtype and shape of every tensor (reads no tensor data for TF, safetensors and npz).
    public static func list(_ path: String) throws -> [(name: String, dtype: DType, shape: [Int])] {
        switch try kind(of: path) {
        case .tensorflow: return try TFCheckpoint(prefix: path).entries
        case .safetensors: return try Safetensors.list(URL(fileURLWithPath: path))
        case .npz: return try NumPy.listNPZ(FileSource(URL(fileURLWithPath: path)))
        case .npy: return try readAll(path).map { ($0.name, $0.array.dtype, $0.array.shape) }
        }
    }

    /// True for names that only training needs: Adam slots (`…/Adam`, `…/Adam_1`), `beta1_power`,
    /// `beta2_power`, `global_step`, and CMPC's step counter `text_objseg/Variable_1`.
    public static func isOptimizerState(_ name: String) -> Bool {
        if name.hasSuffix("/Adam") || name.hasSuffix("/Adam_1") { return true }
        if name == "text_objseg/Variable_1" { return true }
        let last = name.split(separator: "/").last.map(String.init) ?? name
        return last == "beta1_power" || last == "beta2_power" || last == "global_step"
    }

    /// Opens `path` for reading tensor by tensor: its listing and a reader by name. TF and
    /// safetensors files are read on demand; npz and npy are decoded up front.
    public static func open(_ path: String) throws -> (entries: [(name: String, dtype: DType, shape: [Int])], read: (String) throws -> TypedArray) {
        switch try kind(of: path) {
        case .tensorflow:
            let ckpt = try TFCheckpoint(prefix: path)
            return (ckpt.entries, ckpt.read)
        case .safetensors:
            let source = try FileSource(URL(fileURLWithPath: path))
            let (entries, _, start) = try Safetensors.readHeader(source)
            var byName: [String: Safetensors.Entry] = [:]
            for e in entries { byName[e.name] = e }
            return (entries.map { ($0.name, $0.dtype, $0.shape) }, { name in
                guard let e = byName[name] else { throw CheckpointError(file: path, problem: "no tensor named '\(name)'") }
                return TypedArray(unchecked: e.dtype, shape: e.shape, bytes: try source.read(at: start + e.begin, count: e.end - e.begin))
            })
        case .npz, .npy:
            let all = try readAll(path)
            var byName: [String: TypedArray] = [:]
            for (n, a) in all { byName[n] = a }
            return (all.map { ($0.name, $0.array.dtype, $0.array.shape) }, { name in
                guard let a = byName[name] else { throw CheckpointError(file: path, problem: "no tensor named '\(name)'") }
                return a
            })
        }
    }
}
