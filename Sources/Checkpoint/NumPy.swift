// NumPy .npy arrays and .npz archives.
//
// .npy (numpy/lib/format.py), versions 1.0, 2.0 and 3.0:
//   "\x93NUMPY" major:u8 minor:u8 headerLen (u16 LE in v1, u32 LE in v2/v3)
//   header: a Python dict literal, ASCII (v3: UTF-8), space-padded and ending in "\n":
//     {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
//   then the elements: shape.product × itemsize bytes, C order, or Fortran order when
//   fortran_order is True (converted to C order on reading).
//   descr: byte order '<' little, '>' big (swapped on reading), '|' or '=' not applicable/native;
//   kind 'f' float (2, 4, 8), 'i' signed, 'u' unsigned (1, 2, 4, 8), 'b' bool (1).
//   Structured (list) and object dtypes are not supported.
// .npz: a zip archive (see Zip.swift) of "<name>.npy" members, stored (np.savez) or deflated
// (np.savez_compressed).

import Foundation

/// Reading and writing NumPy .npy arrays and .npz archives.
///
///     let weights = try NumPy.readNPZ(URL(fileURLWithPath: "model.npz"))   // [(name, array)]
public enum NumPy {
    static let magic: [UInt8] = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59] // "\x93NUMPY"

    /// Reads one .npy file.
    public static func readNPY(_ url: URL) throws -> TypedArray {
        try decodeNPY(readWholeFile(url), file: url.path)
    }

    /// The header of a .npy file: element type, byte order, layout, shape, and where the data starts.
    struct Header {
        var dtype: DType
        var byteSwap: Bool
        var fortran: Bool
        var shape: [Int]
        var dataOffset: Int
        /// Bytes of element data the shape needs.
        var dataSize: Int
    }

    /// Reads the header from the first bytes of a .npy file. With too few bytes, the error says how many it needs.
    static func header(_ bytes: [UInt8], file: String) throws -> Header {
        func fail(_ p: String) -> CheckpointError { CheckpointError(file: file, problem: p) }
        var r = ByteReader(bytes, file: file)
        guard bytes.count >= 10, Array(bytes[0 ..< 6]) == magic else {
            throw fail("not a .npy file (no \\x93NUMPY magic); expected an array saved with numpy.save")
        }
        try r.skip(6, "magic")
        let major = try r.u8(), minor = try r.u8()
        let headerLength: Int
        switch major {
        case 1: headerLength = Int(try r.u16("header length"))
        case 2, 3: headerLength = Int(try r.u32("header length"))
        default: throw fail(".npy format version \(major).\(minor) is not supported (1.0, 2.0, 3.0 are)")
        }
        let headerBytes = try r.take(headerLength, ".npy header")
        guard let text = String(bytes: headerBytes, encoding: major == 3 ? .utf8 : .isoLatin1) else {
            throw fail(".npy header is not text")
        }
        let (dtype, byteSwap, fortran, shape) = try parseHeader(text, file: file)
        let n = try elementCount(shape, file: file, name: "array")
        let (size, overflow) = n.multipliedReportingOverflow(by: dtype.size)
        guard !overflow else { throw fail("shape \(shape) of \(dtype.rawValue) is too large") }
        return Header(dtype: dtype, byteSwap: byteSwap, fortran: fortran, shape: shape,
                      dataOffset: bytes.count - r.remaining, dataSize: size)
    }

    /// Decodes the bytes of a .npy file; `file` names it in errors.
    public static func decodeNPY(_ bytes: [UInt8], file: String) throws -> TypedArray {
        func fail(_ p: String) -> CheckpointError { CheckpointError(file: file, problem: p) }
        let h = try header(bytes, file: file)
        let (dtype, byteSwap, fortran, shape, size) = (h.dtype, h.byteSwap, h.fortran, h.shape, h.dataSize)
        var r = ByteReader(bytes, file: file, start: h.dataOffset)
        guard size <= r.remaining else {
            throw fail("data truncated: shape \(shape) of \(dtype.rawValue) needs \(size) bytes, \(r.remaining) present")
        }
        guard size == r.remaining else {
            throw fail("\(r.remaining - size) unexpected bytes after the array data; the file is corrupt")
        }
        var data = Array(try r.take(size, "array data"))
        if byteSwap { swapBytes(&data, size: dtype.size) }
        if fortran && shape.count > 1 { data = fortranToC(data, shape: shape, size: dtype.size) }
        if dtype == .bool, data.contains(where: { $0 > 1 }) {
            throw fail("bool array holds bytes other than 0 and 1")
        }
        return TypedArray(unchecked: dtype, shape: shape, bytes: data)
    }

    /// Reads every array of an .npz archive, in file order; names lose their ".npy" suffix.
    public static func readNPZ(_ url: URL) throws -> [(name: String, array: TypedArray)] {
        try readNPZ(FileSource(url))
    }

    /// Reads every array of an .npz archive held by `source`.
    public static func readNPZ(_ source: ByteSource) throws -> [(name: String, array: TypedArray)] {
        let zip = try ZipReader(source)
        var out: [(name: String, array: TypedArray)] = []
        var seen = Set<String>()
        for member in zip.members {
            if member.name.hasSuffix("/") { continue } // a directory entry
            let name = member.name.hasSuffix(".npy") ? String(member.name.dropLast(4)) : member.name
            guard seen.insert(name).inserted else {
                throw CheckpointError(file: source.name, problem: "array '\(name)' appears twice in the archive")
            }
            let bytes = try zip.data(of: member)
            out.append((name, try decodeNPY(bytes, file: "\(source.name)[\(member.name)]")))
        }
        return out
    }

    /// Name, dtype and shape of every array of an .npz archive, from the .npy headers alone: each
    /// member inflates only its first bytes, and its declared size must match what its header says.
    public static func listNPZ(_ source: ByteSource) throws -> [(name: String, dtype: DType, shape: [Int])] {
        let zip = try ZipReader(source)
        var out: [(name: String, dtype: DType, shape: [Int])] = []
        var seen = Set<String>()
        for member in zip.members {
            if member.name.hasSuffix("/") { continue }
            let name = member.name.hasSuffix(".npy") ? String(member.name.dropLast(4)) : member.name
            guard seen.insert(name).inserted else {
                throw CheckpointError(file: source.name, problem: "array '\(name)' appears twice in the archive")
            }
            let where_ = "\(source.name)[\(member.name)]"
            var head = try zip.prefix(of: member, count: 4096)
            if head.count >= 12, head.starts(with: magic) {
                // The header's length: u16 in version 1, u32 in 2 and 3 (up to 4 GiB; read up to 16 MiB of it).
                let wide = head[6] >= 2
                let length = Int(head[8]) | Int(head[9]) << 8 | (wide ? Int(head[10]) << 16 | Int(head[11]) << 24 : 0)
                guard length <= 16 << 20 else {
                    throw CheckpointError(file: where_, problem: ".npy header of \(length) bytes is implausibly large; the archive is corrupt")
                }
                let end = (wide ? 12 : 10) + length
                if end > head.count { head = try zip.prefix(of: member, count: end) }
            }
            let h = try header(head, file: where_)
            guard h.dataOffset + h.dataSize == member.uncompressedSize else {
                throw CheckpointError(file: where_, problem: "the header's shape \(h.shape) of \(h.dtype.rawValue) needs "
                    + "\(h.dataOffset + h.dataSize) bytes but the archive declares \(member.uncompressedSize); the archive is corrupt")
            }
            out.append((name, h.dtype, h.shape))
        }
        return out
    }

    /// Encodes an array as the bytes of a .npy file (version 1.0, or 2.0 for huge headers).
    public static func encodeNPY(_ array: TypedArray, file: String = "array.npy") throws -> [UInt8] {
        guard let descr = descr(array.dtype) else {
            throw CheckpointError(file: file, problem: "numpy has no \(array.dtype.rawValue) type; convert the array to float32 first")
        }
        guard array.bytes.count == array.count * array.dtype.size else {
            throw CheckpointError(file: file, problem: "array bytes do not match \(array)")
        }
        let shape = array.shape.count == 1 ? "(\(array.shape[0]),)" : "(" + array.shape.map(String.init).joined(separator: ", ") + ")"
        var header = Array("{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shape), }".utf8)
        // Pad with spaces so that magic + version + length + header is a multiple of 64.
        var version: UInt8 = 1
        var prefix = 10
        if header.count + 1 + prefix > 0xffff { version = 2; prefix = 12 }
        let total = (prefix + header.count + 1 + 63) / 64 * 64
        header += [UInt8](repeating: 0x20, count: total - prefix - header.count - 1)
        header.append(0x0a)
        var out = magic
        out += [version, 0]
        if version == 1 { out.appendLE16(UInt16(header.count)) } else { out.appendLE32(UInt32(header.count)) }
        out += header
        out += array.bytes
        return out
    }

    /// Writes one .npy file atomically.
    public static func writeNPY(_ array: TypedArray, to url: URL) throws {
        try writeAtomically(encodeNPY(array, file: url.path), to: url)
    }

    /// Writes arrays to an .npz archive atomically, as np.savez (stored) or np.savez_compressed.
    public static func writeNPZ(_ arrays: [(name: String, array: TypedArray)], to url: URL, compressed: Bool = false) throws {
        var zip = ZipWriter(file: url.path)
        var seen = Set<String>()
        for (name, array) in arrays {
            guard seen.insert(name).inserted else {
                throw CheckpointError(file: url.path, problem: "array name '\(name)' given twice")
            }
            try zip.add(name: name + ".npy", data: encodeNPY(array, file: url.path), compressed: compressed)
        }
        try writeAtomically(zip.finish(), to: url)
    }

    // MARK: - Header

    static func descr(_ dtype: DType) -> String? {
        switch dtype {
        case .float16: "<f2"
        case .float32: "<f4"
        case .float64: "<f8"
        case .int8: "|i1"
        case .int16: "<i2"
        case .int32: "<i4"
        case .int64: "<i8"
        case .uint8: "|u1"
        case .uint16: "<u2"
        case .uint32: "<u4"
        case .uint64: "<u8"
        case .bool: "|b1"
        case .bfloat16: nil
        }
    }

    static func parseDescr(_ d: String, file: String) throws -> (DType, swap: Bool) {
        let chars = Array(d)
        guard chars.count >= 3, let size = Int(String(chars[2...])) else {
            throw CheckpointError(file: file, problem: "dtype '\(d)' is not supported (structured, string or object arrays cannot be read)")
        }
        let order = chars[0], kind = chars[1]
        guard "<>|=".contains(order) else {
            throw CheckpointError(file: file, problem: "dtype '\(d)' has an unknown byte order")
        }
        let table: [String: DType] = [
            "f2": .float16, "f4": .float32, "f8": .float64,
            "i1": .int8, "i2": .int16, "i4": .int32, "i8": .int64,
            "u1": .uint8, "u2": .uint16, "u4": .uint32, "u8": .uint64, "b1": .bool,
        ]
        guard let dtype = table["\(kind)\(size)"] else {
            throw CheckpointError(file: file, problem: "dtype '\(d)' is not supported (float16/32/64, int/uint 8–64 and bool are)")
        }
        return (dtype, order == ">" && size > 1)
    }

    static func parseHeader(_ header: String, file: String) throws -> (DType, Bool, Bool, [Int]) {
        var parser = PyLiteralParser(text: Array(header.utf8), file: file)
        guard case let .dict(entries) = try parser.parse() else {
            throw CheckpointError(file: file, problem: ".npy header is not a dict")
        }
        var dict: [String: PyLiteral] = [:]
        for (k, v) in entries { dict[k] = v }
        guard case let .string(d)? = dict["descr"] else {
            throw CheckpointError(file: file, problem: ".npy header has no string 'descr' (structured dtypes are not supported)")
        }
        guard case let .bool(fortran)? = dict["fortran_order"] else {
            throw CheckpointError(file: file, problem: ".npy header has no 'fortran_order'")
        }
        guard case let .tuple(items)? = dict["shape"] else {
            throw CheckpointError(file: file, problem: ".npy header has no 'shape' tuple")
        }
        var shape: [Int] = []
        for item in items {
            guard case let .int(v) = item, v >= 0 else {
                throw CheckpointError(file: file, problem: ".npy shape must hold non-negative integers")
            }
            shape.append(v)
        }
        let (dtype, swap) = try parseDescr(d, file: file)
        return (dtype, swap, fortran, shape)
    }
}

/// Reverses the byte order of every `size`-byte element.
func swapBytes(_ data: inout [UInt8], size: Int) {
    guard size > 1 else { return }
    var i = 0
    while i + size <= data.count {
        var a = i, b = i + size - 1
        while a < b { data.swapAt(a, b); a += 1; b -= 1 }
        i += size
    }
}

/// Reorders column-major (Fortran) elements of `shape` into row-major order.
func fortranToC(_ data: [UInt8], shape: [Int], size: Int) -> [UInt8] {
    let n = shape.reduce(1, *)
    guard n > 0 else { return data }
    var out = [UInt8](repeating: 0, count: data.count)
    var fStride = [Int](repeating: 1, count: shape.count)
    for k in 1 ..< shape.count { fStride[k] = fStride[k - 1] * shape[k - 1] }
    var index = [Int](repeating: 0, count: shape.count)
    var src = 0
    for dst in 0 ..< n {
        for b in 0 ..< size { out[dst * size + b] = data[src * size + b] }
        // Advance the row-major index (last axis fastest) and the column-major offset with it.
        var k = shape.count - 1
        while k >= 0 {
            index[k] += 1
            src += fStride[k]
            if index[k] < shape[k] { break }
            src -= fStride[k] * shape[k]
            index[k] = 0
            k -= 1
        }
    }
    return out
}

/// The subset of Python literals a .npy header uses.
indirect enum PyLiteral {
    case string(String), int(Int), bool(Bool), none
    case tuple([PyLiteral]), list([PyLiteral]), dict([(String, PyLiteral)])
}

/// A recursive-descent parser for `PyLiteral`, with a nesting limit.
struct PyLiteralParser {
    let text: [UInt8]
    let file: String
    var i = 0

    init(text: [UInt8], file: String) {
        self.text = text
        self.file = file
    }

    func fail(_ p: String) -> CheckpointError { CheckpointError(file: file, problem: ".npy header: \(p)") }

    mutating func skipSpace() {
        while i < text.count, text[i] == 0x20 || text[i] == 0x0a || text[i] == 0x09 || text[i] == 0x0d { i += 1 }
    }

    mutating func parse() throws -> PyLiteral {
        let v = try value(depth: 0)
        skipSpace()
        guard i == text.count else { throw fail("unexpected text after the dict") }
        return v
    }

    mutating func value(depth: Int) throws -> PyLiteral {
        guard depth < 16 else { throw fail("nested too deeply") }
        skipSpace()
        guard i < text.count else { throw fail("ends early") }
        let c = text[i]
        switch c {
        case UInt8(ascii: "{"):
            i += 1
            var entries: [(String, PyLiteral)] = []
            while true {
                skipSpace()
                guard i < text.count else { throw fail("unterminated dict") }
                if text[i] == UInt8(ascii: "}") { i += 1; return .dict(entries) }
                guard case let .string(key) = try value(depth: depth + 1) else { throw fail("dict key is not a string") }
                skipSpace()
                guard i < text.count, text[i] == UInt8(ascii: ":") else { throw fail("expected ':' after '\(key)'") }
                i += 1
                entries.append((key, try value(depth: depth + 1)))
                skipSpace()
                guard i < text.count else { throw fail("unterminated dict") }
                if text[i] == UInt8(ascii: ",") { i += 1 } else if text[i] != UInt8(ascii: "}") { throw fail("expected ',' or '}'") }
            }
        case UInt8(ascii: "("), UInt8(ascii: "["):
            let close = c == UInt8(ascii: "(") ? UInt8(ascii: ")") : UInt8(ascii: "]")
            i += 1
            var items: [PyLiteral] = []
            while true {
                skipSpace()
                guard i < text.count else { throw fail("unterminated sequence") }
                if text[i] == close { i += 1; return c == UInt8(ascii: "(") ? .tuple(items) : .list(items) }
                items.append(try value(depth: depth + 1))
                skipSpace()
                guard i < text.count else { throw fail("unterminated sequence") }
                if text[i] == UInt8(ascii: ",") { i += 1 } else if text[i] != close { throw fail("expected ',' in a sequence") }
            }
        case UInt8(ascii: "'"), UInt8(ascii: "\""):
            i += 1
            let start = i
            while i < text.count, text[i] != c {
                if text[i] == UInt8(ascii: "\\") { throw fail("escapes in strings are not supported") }
                i += 1
            }
            guard i < text.count else { throw fail("unterminated string") }
            let s = String(decoding: text[start ..< i], as: UTF8.self)
            i += 1
            return .string(s)
        case UInt8(ascii: "0") ... UInt8(ascii: "9"):
            var v = 0
            while i < text.count, text[i] >= UInt8(ascii: "0"), text[i] <= UInt8(ascii: "9") {
                let (m, o1) = v.multipliedReportingOverflow(by: 10)
                let (a, o2) = m.addingReportingOverflow(Int(text[i] - UInt8(ascii: "0")))
                guard !o1, !o2 else { throw fail("integer too large") }
                v = a
                i += 1
            }
            if i < text.count, text[i] == UInt8(ascii: "L") { i += 1 } // Python 2 long
            return .int(v)
        default:
            for (word, lit) in [("True", PyLiteral.bool(true)), ("False", .bool(false)), ("None", .none)] {
                let w = Array(word.utf8)
                if i + w.count <= text.count, Array(text[i ..< i + w.count]) == w { i += w.count; return lit }
            }
            throw fail("unexpected character '\(String(UnicodeScalar(c)))'")
        }
    }
}
