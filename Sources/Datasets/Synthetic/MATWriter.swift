// A minimal MATLAB level-5 MAT-file writer: real uint8 or double matrices, uncompressed.
//
// Format (little endian, as scipy.io.loadmat and MATLAB read it):
//   header   116 bytes of text (space padded), 8 bytes subsystem offset (zeros), version 0x0100,
//            endian indicator "IM"
//   per variable one miMATRIX (14) element: type, byte count, then sub-elements, each padded to 8 bytes:
//     array flags  miUINT32 (6), 8 bytes: class (mxDOUBLE 6, mxUINT8 9), 0
//     dimensions   miINT32 (5), rows, columns
//     name         miINT8 (1), ASCII
//     real part    miUINT8 (2) or miDOUBLE (9), the values in column-major (Fortran) order
//   compressed, each miMATRIX element is wrapped whole in a miCOMPRESSED (15) element: a zlib stream.
// The header text has no date, so the same matrices give the same bytes.
import CZlib
import Foundation

/// One MATLAB matrix to write: `values` are row-major rows×columns (converted to column-major).
public struct MATMatrix: Sendable {
    public enum Values: Sendable {
        case uint8([UInt8])
        case double([Double])
    }

    public var name: String
    public var rows: Int
    public var columns: Int
    public var values: Values

    public init(name: String, rows: Int, columns: Int, values: Values) {
        self.name = name
        self.rows = rows
        self.columns = columns
        self.values = values
    }
}

/// Writes MAT v5 files.
public enum MATWriter {
    /// The bytes of a MAT v5 file holding `matrices`, each zlib-compressed when `compressed`.
    public static func encode(_ matrices: [MATMatrix], compressed: Bool = false) throws -> Data {
        var out = Data()
        var text = Array("MATLAB 5.0 MAT-file, Platform: cmpc-video synth".utf8)
        text += Array(repeating: UInt8(ascii: " "), count: 116 - text.count)
        out.append(contentsOf: text)
        out.append(contentsOf: [UInt8](repeating: 0, count: 8))
        out.append(contentsOf: [0x00, 0x01, UInt8(ascii: "I"), UInt8(ascii: "M")])
        for m in matrices {
            let e = try element(m)
            if compressed {
                let z = try deflate(e, what: m.name)
                appendLE(&out, UInt32(15))
                appendLE(&out, UInt32(z.count))
                out.append(z)
            } else {
                out.append(e)
            }
        }
        return out
    }

    /// Writes `matrices` to `path` (a temporary file beside it, renamed on success).
    public static func write(_ matrices: [MATMatrix], compressed: Bool = false, to path: String) throws {
        try writeAtomically(try encode(matrices, compressed: compressed), to: path)
    }

    /// A zlib stream (level 6) of `data`.
    static func deflate(_ data: Data, what: String) throws -> Data {
        let bytes = [UInt8](data)
        var size = compressBound(uLong(bytes.count))
        var out = [UInt8](repeating: 0, count: Int(size))
        let rc = compress2(&out, &size, bytes, uLong(bytes.count), 6)
        guard rc == Z_OK else { throw SyntheticError(what: "MAT variable '\(what)'", reason: "zlib error \(rc)") }
        return Data(out.prefix(Int(size)))
    }

    static func element(_ m: MATMatrix) throws -> Data {
        let name = Array(m.name.utf8)
        guard !name.isEmpty, name.count <= 63, m.name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }),
              m.name.first?.isLetter == true else {
            throw SyntheticError(what: "MAT variable '\(m.name)'", reason: "not a MATLAB variable name")
        }
        guard m.rows >= 0, m.columns >= 0, m.rows <= Int(Int32.max), m.columns <= Int(Int32.max) else {
            throw SyntheticError(what: "MAT variable '\(m.name)'", reason: "size \(m.rows)x\(m.columns)")
        }
        let count = m.rows * m.columns
        var body = Data()
        let classCode: UInt32
        var real = Data()
        switch m.values {
        case .uint8(let v):
            guard v.count == count else {
                throw SyntheticError(what: "MAT variable '\(m.name)'", reason: "\(v.count) values for \(m.rows)x\(m.columns)")
            }
            classCode = 9
            var col = [UInt8](repeating: 0, count: count)
            for r in 0..<m.rows { for c in 0..<m.columns { col[c * m.rows + r] = v[r * m.columns + c] } }
            real = subelement(type: 2, col.withUnsafeBytes { Data($0) })
        case .double(let v):
            guard v.count == count else {
                throw SyntheticError(what: "MAT variable '\(m.name)'", reason: "\(v.count) values for \(m.rows)x\(m.columns)")
            }
            classCode = 6
            var bytes = Data(capacity: count * 8)
            for c in 0..<m.columns { for r in 0..<m.rows { appendLE(&bytes, v[r * m.columns + c].bitPattern) } }
            real = subelement(type: 9, bytes)
        }
        var flags = Data()
        appendLE(&flags, classCode)
        appendLE(&flags, UInt32(0))
        body.append(subelement(type: 6, flags))
        var dims = Data()
        appendLE(&dims, Int32(m.rows))
        appendLE(&dims, Int32(m.columns))
        body.append(subelement(type: 5, dims))
        body.append(subelement(type: 1, Data(name)))
        body.append(real)
        var out = Data()
        appendLE(&out, UInt32(14))
        appendLE(&out, UInt32(body.count))
        out.append(body)
        return out
    }

    /// A tagged data element: type, byte count, data, zero padding to a multiple of 8.
    static func subelement(type: UInt32, _ data: Data) -> Data {
        var out = Data()
        appendLE(&out, type)
        appendLE(&out, UInt32(data.count))
        out.append(data)
        let pad = (8 - data.count % 8) % 8
        out.append(contentsOf: [UInt8](repeating: 0, count: pad))
        return out
    }

    static func appendLE<T: FixedWidthInteger>(_ d: inout Data, _ v: T) {
        withUnsafeBytes(of: v.littleEndian) { d.append(contentsOf: $0) }
    }
}
