// A small JSON (RFC 8259) parser that keeps object keys in file order, for index files whose
// order defines the sample order (ReferIt's referit_query_*.json). Large files with no order
// to keep (COCO instances.json) go through Foundation's JSONSerialization instead.
import Foundation

/// A JSON value with object members in file order.
indirect enum JSONValue: Equatable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])

    static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case (.bool(let x), .bool(let y)): return x == y
        case (.number(let x), .number(let y)): return x == y
        case (.string(let x), .string(let y)): return x == y
        case (.array(let x), .array(let y)): return x == y
        case (.object(let x), .object(let y)): return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }
}

enum OrderedJSON {
    /// Parses a JSON document.
    static func parse(_ data: Data, file: String) throws -> JSONValue {
        var p = Parser(bytes: [UInt8](data), file: file)
        p.skipSpace()
        let v = try p.value(depth: 0)
        p.skipSpace()
        guard p.pos == p.bytes.count else { throw p.error("trailing characters") }
        return v
    }

    /// Parses `{"key": ["sentence", …], …}` into (key, sentences) pairs in file order.
    static func stringListObject(_ data: Data, file: String) throws -> [(String, [String])] {
        guard case .object(let members) = try parse(data, file: file) else {
            throw DatasetError.malformed(file: file, reason: "expected a JSON object at the top")
        }
        return try members.map { key, value in
            guard case .array(let items) = value else {
                throw DatasetError.malformed(file: file, reason: "value of '\(key)' is not a list")
            }
            return (key, try items.map {
                guard case .string(let s) = $0 else {
                    throw DatasetError.malformed(file: file, reason: "a sentence of '\(key)' is not a string")
                }
                return s
            })
        }
    }

    struct Parser {
        let bytes: [UInt8]
        let file: String
        var pos = 0

        init(bytes: [UInt8], file: String) {
            self.bytes = bytes
            self.file = file
        }

        func error(_ reason: String) -> DatasetError {
            .malformed(file: file, reason: "JSON: \(reason) at byte \(pos)")
        }

        mutating func skipSpace() {
            while pos < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[pos]) { pos += 1 }
        }

        mutating func expect(_ c: UInt8) throws {
            skipSpace()
            guard pos < bytes.count, bytes[pos] == c else { throw error("expected '\(Character(Unicode.Scalar(c)))'") }
            pos += 1
        }

        mutating func value(depth: Int) throws -> JSONValue {
            guard depth < 512 else { throw error("nesting too deep") }
            skipSpace()
            guard pos < bytes.count else { throw error("unexpected end (truncated?)") }
            switch bytes[pos] {
            case 0x7B:
                pos += 1
                var members: [(String, JSONValue)] = []
                skipSpace()
                if pos < bytes.count, bytes[pos] == 0x7D { pos += 1; return .object(members) }
                while true {
                    skipSpace()
                    let key = try string()
                    try expect(0x3A)
                    members.append((key, try value(depth: depth + 1)))
                    skipSpace()
                    guard pos < bytes.count else { throw error("unterminated object") }
                    if bytes[pos] == 0x2C { pos += 1; continue }
                    if bytes[pos] == 0x7D { pos += 1; return .object(members) }
                    throw error("expected ',' or '}'")
                }
            case 0x5B:
                pos += 1
                var items: [JSONValue] = []
                skipSpace()
                if pos < bytes.count, bytes[pos] == 0x5D { pos += 1; return .array(items) }
                while true {
                    items.append(try value(depth: depth + 1))
                    skipSpace()
                    guard pos < bytes.count else { throw error("unterminated array") }
                    if bytes[pos] == 0x2C { pos += 1; continue }
                    if bytes[pos] == 0x5D { pos += 1; return .array(items) }
                    throw error("expected ',' or ']'")
                }
            case 0x22: return .string(try string())
            case 0x74: try literal("true"); return .bool(true)
            case 0x66: try literal("false"); return .bool(false)
            case 0x6E: try literal("null"); return .null
            default:
                let start = pos
                while pos < bytes.count, "+-0123456789.eE".utf8.contains(bytes[pos]) { pos += 1 }
                guard pos > start, let d = Double(String(decoding: bytes[start..<pos], as: UTF8.self)) else {
                    throw error("unexpected character")
                }
                return .number(d)
            }
        }

        mutating func literal(_ word: String) throws {
            let w = Array(word.utf8)
            guard pos + w.count <= bytes.count, Array(bytes[pos..<(pos + w.count)]) == w else { throw error("bad literal") }
            pos += w.count
        }

        mutating func hex4() throws -> UInt32 {
            guard pos + 4 <= bytes.count, let v = UInt32(String(decoding: bytes[pos..<(pos + 4)], as: UTF8.self), radix: 16)
            else { throw error("bad \\u escape") }
            pos += 4
            return v
        }

        mutating func string() throws -> String {
            guard pos < bytes.count, bytes[pos] == 0x22 else { throw error("expected a string") }
            pos += 1
            var out: [UInt8] = []
            while true {
                guard pos < bytes.count else { throw error("unterminated string") }
                let c = bytes[pos]
                pos += 1
                if c == 0x22 { break }
                guard c == 0x5C else { out.append(c); continue }
                guard pos < bytes.count else { throw error("unterminated escape") }
                let e = bytes[pos]
                pos += 1
                switch e {
                case 0x22, 0x5C, 0x2F: out.append(e)
                case 0x62: out.append(0x08)
                case 0x66: out.append(0x0C)
                case 0x6E: out.append(0x0A)
                case 0x72: out.append(0x0D)
                case 0x74: out.append(0x09)
                case 0x75:
                    var u = try hex4()
                    if (0xD800..<0xDC00).contains(u), pos + 6 <= bytes.count, bytes[pos] == 0x5C, bytes[pos + 1] == 0x75 {
                        pos += 2
                        let low = try hex4()
                        guard (0xDC00..<0xE000).contains(low) else { throw error("bad surrogate pair") }
                        u = 0x10000 + ((u - 0xD800) << 10) + (low - 0xDC00)
                    }
                    out.append(contentsOf: Array(String(Unicode.Scalar(u).map(Character.init) ?? "\u{FFFD}").utf8))
                default: throw error("bad escape")
                }
            }
            guard let s = String(bytes: out, encoding: .utf8) else { throw error("invalid UTF-8 in a string") }
            return s
        }
    }
}
