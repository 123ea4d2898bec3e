// MATLAB .mat files: numeric variables as Double arrays in MATLAB's column-major order.
//
// Level 5 format (MathWorks, "MAT-File Format", matfile_format.pdf):
//   header   128 bytes: 116 bytes text ("MATLAB 5.0 MAT-file…"), 8 bytes subsystem offset,
//            u16 version 0x0100, 2 bytes endian indicator "IM" (little endian) or "MI" (big).
//   element  tag u32 type, u32 byteCount, then the data padded to 8 bytes. A "small element"
//            packs byteCount (upper 16 bits) and type (lower 16) into the first word and its
//            ≤ 4 data bytes into the second.
//   types    1 int8, 2 uint8, 3 int16, 4 uint16, 5 int32, 6 uint32, 7 single, 9 double,
//            12 int64, 13 uint64, 14 miMATRIX, 15 miCOMPRESSED (zlib stream of further elements,
//            not padded), 16–18 utf8/16/32.
//   miMATRIX array flags (uint32 ×2: class in the low byte, 0x0800 complex, 0x0200 logical),
//            dimensions (int32 ×n), name (int8), real part, [imaginary part]. Numeric classes:
//            6 double, 7 single, 8 int8, 9 uint8, 10 int16, 11 uint16, 12 int32, 13 uint32,
//            14 int64, 15 uint64; cell (1), struct (2), object (3), char (4), sparse (5) are skipped.
// Version 7.3 files are HDF5 (512-byte user block): read through libhdf5; h5py's shape there is
// the MATLAB shape reversed and the row-major values are MATLAB's column-major order, so both
// paths give the same `MATArray`. Version 4 files are rejected.
import CZlib
import Foundation

/// A numeric MATLAB array: `dims` as MATLAB reports them (H×W×T), values column-major.
public struct MATArray: Equatable, Sendable {
    public var dims: [Int]
    /// Column-major: element (i, j, k) is at i + j·dims[0] + k·dims[0]·dims[1].
    public var values: [Double]
    /// The MATLAB class name: "double", "uint8", "logical", …
    public var className: String

    /// Element (i, j, k…) by MATLAB's (0-based) subscripts.
    public func index(_ subscripts: Int...) -> Int {
        var idx = 0
        var stride = 1
        for (s, d) in zip(subscripts, dims) {
            idx += s * stride
            stride *= d
        }
        return idx
    }
}

/// Reads MATLAB .mat files (level 5, compressed or not; version 7.3 through libhdf5).
public enum MATFile {
    /// Largest number of elements a variable may have (guards absurd dimensions in corrupt files).
    public static let maxElements = 1 << 28

    /// Reads the numeric variable `name` from the file at `path`.
    public static func read(_ path: String, variable name: String) throws -> MATArray {
        let data = try readFile(path)
        if data.count >= 128, isV73(data) || HDF5File.isHDF5(path) {
            let a = try HDF5File.read(path, dataset: name)
            return MATArray(dims: a.shape.reversed(), values: a.values, className: "double")
        }
        return try parse(data, path: path, variable: name)
    }

    /// The dimensions of variable `name` without decoding its values (level 5 and v7.3).
    public static func dimensions(_ path: String, variable name: String) throws -> [Int] {
        let data = try readFile(path)
        if data.count >= 128, isV73(data) || HDF5File.isHDF5(path) {
            return try read(path, variable: name).dims
        }
        var r = try Reader(data: data, path: path)
        var found: [Int]?
        try r.forEachVariable { header, _ in
            guard header.name == name else { return false }
            found = header.dims
            return true
        }
        guard let dims = found else { throw DatasetError.malformed(file: path, reason: "no variable '\(name)'") }
        return dims
    }

    /// The names of the variables in a level 5 file (numeric and not).
    public static func variableNames(_ path: String) throws -> [String] {
        let data = try readFile(path)
        if data.count >= 128, isV73(data) || HDF5File.isHDF5(path) { return try HDF5File.rootNames(path) }
        var names: [String] = []
        var r = try Reader(data: data, path: path)
        try r.forEachVariable { header, _ in names.append(header.name); return false }
        return names
    }

    /// Parses level 5 bytes (`path` only names the file in errors).
    public static func parse(_ data: Data, path: String, variable name: String) throws -> MATArray {
        var r = try Reader(data: data, path: path)
        var found: MATArray?
        try r.forEachVariable { header, body in
            guard header.name == name else { return false }
            found = try body()
            return true
        }
        guard let result = found else {
            throw DatasetError.malformed(file: path, reason: "no variable '\(name)'")
        }
        return result
    }

    private static func isV73(_ data: Data) -> Bool {
        let text = String(decoding: data.prefix(116), as: UTF8.self)
        guard data.count >= 128 else { return false }
        let version = UInt16(data[data.startIndex + 124]) | UInt16(data[data.startIndex + 125]) << 8
        return text.hasPrefix("MATLAB 7.3") || version == 0x0200
    }

    fileprivate struct MatrixHeader {
        var name: String
        var classID: Int
        var logical: Bool
        var complex: Bool
        var dims: [Int]
    }

    /// A bounds-checked cursor over level 5 bytes.
    fileprivate struct Reader {
        let bytes: [UInt8]
        let path: String
        var bigEndian = false
        var pos = 0

        init(data: Data, path: String) throws {
            self.path = path
            bytes = [UInt8](data)
            guard bytes.count >= 128 else {
                throw DatasetError.malformed(file: path, reason: "\(bytes.count) bytes: shorter than the 128-byte MAT header")
            }
            if bytes[0..<4].contains(0) {
                // Level 4 files start with a numeric type word (with zero bytes) instead of text.
                throw DatasetError.unsupported(file: path, reason: "not a level 5 MAT file (MAT v4 or another format)")
            }
            switch (bytes[126], bytes[127]) {
            case (0x49, 0x4D): bigEndian = false   // "IM"
            case (0x4D, 0x49): bigEndian = true    // "MI"
            default: throw DatasetError.malformed(file: path, reason: "bad endian indicator in the MAT header")
            }
            pos = 128
        }

        init(bytes: [UInt8], path: String, bigEndian: Bool) {
            self.bytes = bytes
            self.path = path
            self.bigEndian = bigEndian
        }

        func u32(at p: Int) throws -> UInt32 {
            guard p >= 0, p + 4 <= bytes.count else { throw truncated() }
            let b = (UInt32(bytes[p]), UInt32(bytes[p + 1]), UInt32(bytes[p + 2]), UInt32(bytes[p + 3]))
            return bigEndian ? (b.0 << 24 | b.1 << 16 | b.2 << 8 | b.3) : (b.3 << 24 | b.2 << 16 | b.1 << 8 | b.0)
        }

        func truncated() -> DatasetError {
            .malformed(file: path, reason: "truncated at byte \(pos) of \(bytes.count)")
        }

        /// Reads one element tag at `pos`: (type, byte count, data start, next element position).
        mutating func tag(padded: Bool = true) throws -> (type: Int, count: Int, start: Int, next: Int) {
            let first = try u32(at: pos)
            if first >> 16 != 0 {
                let type = Int(first & 0xFFFF)
                let count = Int(first >> 16)
                guard count <= 4 else { throw DatasetError.malformed(file: path, reason: "small element of \(count) bytes") }
                guard pos + 8 <= bytes.count else { throw truncated() }
                let start = pos + 4
                let next = pos + 8
                return (type, count, start, next)
            }
            let type = Int(first)
            let count = Int(try u32(at: pos + 4))
            let start = pos + 8
            guard count <= bytes.count - start else { throw truncated() }
            let next = start + (padded && type != 15 ? (count + 7) / 8 * 8 : count)
            guard next <= bytes.count else { throw truncated() }
            return (type, count, start, next)
        }

        /// Calls `visit` for each top-level variable; `visit` returns true to stop.
        mutating func forEachVariable(
            _ visit: (MatrixHeader, () throws -> MATArray) throws -> Bool
        ) throws {
            // First walk every top-level tag so a truncated file is an error whichever variable is asked for.
            let first = pos
            while pos < bytes.count {
                if bytes.count - pos < 8, bytes[pos...].allSatisfy({ $0 == 0 }) { break }
                pos = try tag().next
            }
            pos = first
            while pos < bytes.count {
                if bytes.count - pos < 8 {
                    // Trailing padding shorter than a tag.
                    if bytes[pos...].allSatisfy({ $0 == 0 }) { return }
                    throw truncated()
                }
                let t = try tag()
                pos = t.next
                if t.type == 15 {
                    let inflated = try inflate(Array(bytes[t.start..<(t.start + t.count)]))
                    var inner = Reader(bytes: inflated, path: path, bigEndian: bigEndian)
                    var stop = false
                    while inner.pos < inner.bytes.count, !stop {
                        let it = try inner.tag()
                        inner.pos = it.next
                        guard it.type == 14 else { continue }
                        stop = try inner.visitMatrix(start: it.start, count: it.count, visit)
                    }
                    if stop { return }
                } else if t.type == 14 {
                    if try visitMatrix(start: t.start, count: t.count, visit) { return }
                }
            }
        }

        func visitMatrix(start: Int, count: Int,
                         _ visit: (MatrixHeader, () throws -> MATArray) throws -> Bool) throws -> Bool {
            var sub = Reader(bytes: Array(bytes[start..<(start + count)]), path: path, bigEndian: bigEndian)
            let header = try sub.matrixHeader()
            return try visit(header) { try sub.numericBody(header) }
        }

        mutating func matrixHeader() throws -> MatrixHeader {
            let flagsTag = try tag()
            guard flagsTag.type == 6, flagsTag.count >= 4 else {
                throw DatasetError.malformed(file: path, reason: "miMATRIX without array flags")
            }
            let flags = try u32(at: flagsTag.start)
            pos = flagsTag.next
            let dimsTag = try tag()
            guard dimsTag.type == 5, dimsTag.count % 4 == 0 else {
                throw DatasetError.malformed(file: path, reason: "miMATRIX without int32 dimensions")
            }
            var dims: [Int] = []
            for i in 0..<(dimsTag.count / 4) {
                let d = Int(Int32(bitPattern: try u32(at: dimsTag.start + 4 * i)))
                guard d >= 0 else { throw DatasetError.malformed(file: path, reason: "negative dimension \(d)") }
                dims.append(d)
            }
            pos = dimsTag.next
            let nameTag = try tag()
            let name = String(decoding: bytes[nameTag.start..<(nameTag.start + nameTag.count)], as: UTF8.self)
            pos = nameTag.next
            return MatrixHeader(name: name, classID: Int(flags & 0xFF), logical: flags & 0x0200 != 0,
                                complex: flags & 0x0800 != 0, dims: dims)
        }

        mutating func numericBody(_ h: MatrixHeader) throws -> MATArray {
            let classNames = [6: "double", 7: "single", 8: "int8", 9: "uint8", 10: "int16", 11: "uint16",
                              12: "int32", 13: "uint32", 14: "int64", 15: "uint64"]
            guard let className = classNames[h.classID] else {
                let kinds = [1: "cell", 2: "struct", 3: "object", 4: "char", 5: "sparse"]
                throw DatasetError.unsupported(
                    file: path, reason: "variable '\(h.name)' is a \(kinds[h.classID] ?? "class \(h.classID)") array, not numeric")
            }
            var count = 1
            for d in h.dims {
                let (p, o) = count.multipliedReportingOverflow(by: d)
                guard !o, p <= MATFile.maxElements else {
                    throw DatasetError.invalidValue(file: path, what: "variable '\(h.name)'", reason: "absurd dimensions \(h.dims)")
                }
                count = p
            }
            let real = try tag()
            let values = try decode(type: real.type, start: real.start, bytes: real.count)
            guard values.count == count else {
                throw DatasetError.malformed(
                    file: path, reason: "variable '\(h.name)' has \(values.count) values for dimensions \(h.dims)")
            }
            return MATArray(dims: h.dims, values: values, className: h.logical ? "logical" : className)
        }

        func decode(type: Int, start: Int, bytes n: Int) throws -> [Double] {
            let sizes = [1: 1, 2: 1, 3: 2, 4: 2, 5: 4, 6: 4, 7: 4, 9: 8, 12: 8, 13: 8]
            guard let size = sizes[type] else {
                throw DatasetError.unsupported(file: path, reason: "numeric data of element type \(type)")
            }
            guard n % size == 0, start + n <= bytes.count else { throw truncated() }
            let count = n / size
            if type == 2 { return bytes[start..<(start + n)].map { Double($0) } }
            if type == 9, !bigEndian {
                return bytes.withUnsafeBytes { raw in
                    (0..<count).map {
                        Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: start + 8 * $0, as: UInt64.self)))
                    }
                }
            }
            var out = [Double](repeating: 0, count: count)
            for i in 0..<count {
                let p = start + i * size
                var raw: UInt64 = 0
                for k in 0..<size {
                    let b = UInt64(bytes[p + (bigEndian ? k : size - 1 - k)])
                    raw = raw << 8 | b
                }
                switch type {
                case 1: out[i] = Double(Int8(truncatingIfNeeded: raw))
                case 2, 4, 6, 13: out[i] = Double(raw)
                case 3: out[i] = Double(Int16(truncatingIfNeeded: raw))
                case 5: out[i] = Double(Int32(truncatingIfNeeded: raw))
                case 12: out[i] = Double(Int64(bitPattern: raw))
                case 7: out[i] = Double(Float(bitPattern: UInt32(truncatingIfNeeded: raw)))
                default: out[i] = Double(bitPattern: raw)
                }
            }
            return out
        }

        /// Inflates a zlib stream (miCOMPRESSED), refusing output beyond 2 GiB.
        func inflate(_ input: [UInt8]) throws -> [UInt8] {
            var stream = z_stream()
            guard swift_inflateInit2(&stream, 15) == Z_OK else {
                throw DatasetError.unreadable(file: path, reason: "zlib init failed")
            }
            defer { inflateEnd(&stream) }
            var output: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 1 << 16)
            var input = input
            let status: Int32 = input.withUnsafeMutableBufferPointer { inBuf in
                stream.next_in = inBuf.baseAddress
                stream.avail_in = uInt(inBuf.count)
                while true {
                    let rc: Int32 = chunk.withUnsafeMutableBufferPointer { outBuf in
                        stream.next_out = outBuf.baseAddress
                        stream.avail_out = uInt(outBuf.count)
                        return CZlib.inflate(&stream, Z_NO_FLUSH)
                    }
                    let produced = chunk.count - Int(stream.avail_out)
                    output.append(contentsOf: chunk[0..<produced])
                    if rc == Z_STREAM_END { return rc }
                    if rc != Z_OK { return rc }
                    if produced == 0 && stream.avail_in == 0 { return Z_BUF_ERROR }
                    if output.count > (1 << 31) { return Z_MEM_ERROR }
                }
            }
            guard status == Z_STREAM_END else {
                throw DatasetError.malformed(
                    file: path, reason: "compressed variable does not inflate (zlib status \(status): truncated or corrupt)")
            }
            return output
        }
    }
}
