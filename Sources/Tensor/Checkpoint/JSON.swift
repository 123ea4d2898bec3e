// A small strict JSON (RFC 8259) reader and string writer for the safetensors header, with a
// nesting limit and integer-exact numbers, so hostile headers fail with a CheckpointError.

import Foundation

indirect enum JSONValue: Equatable {
    case null, bool(Bool), int(Int), double(Double), string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])

    static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): true
        case let (.bool(x), .bool(y)): x == y
        case let (.int(x), .int(y)): x == y
        case let (.double(x), .double(y)): x == y
        case let (.string(x), .string(y)): x == y
        case let (.array(x), .array(y)): x == y
        case let (.object(x), .object(y)): x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: false
        }
    }
}

struct JSONParser {
    let text: [UInt8]
    let file: String
    var i = 0

    init(_ text: [UInt8], file: String) {
        self.text = text
        self.file = file
    }

    func fail(_ p: String) -> CheckpointError { CheckpointError(file: file, problem: "JSON header: \(p) at byte \(i)") }

    /// Parses one value; only whitespace may follow it.
    static func parse(_ text: [UInt8], file: String) throws -> JSONValue {
        var p = JSONParser(text, file: file)
        let v = try p.value(depth: 0)
        p.space()
        guard p.i == text.count else { throw p.fail("unexpected text after the value") }
        return v
    }

    mutating func space() {
        while i < text.count, text[i] == 0x20 || text[i] == 0x0a || text[i] == 0x0d || text[i] == 0x09 { i += 1 }
    }

    mutating func literal(_ word: String, _ v: JSONValue) throws -> JSONValue {
        let w = Array(word.utf8)
        guard i + w.count <= text.count, Array(text[i ..< i + w.count]) == w else { throw fail("invalid literal") }
        i += w.count
        return v
    }

    mutating func value(depth: Int) throws -> JSONValue {
        guard depth < 64 else { throw fail("nested too deeply") }
        space()
        guard i < text.count else { throw fail("ends early") }
        switch text[i] {
        case UInt8(ascii: "{"):
            i += 1
            var members: [(String, JSONValue)] = []
            space()
            if i < text.count, text[i] == UInt8(ascii: "}") { i += 1; return .object(members) }
            while true {
                space()
                guard i < text.count, text[i] == UInt8(ascii: "\"") else { throw fail("expected a string key") }
                let key = try string()
                space()
                guard i < text.count, text[i] == UInt8(ascii: ":") else { throw fail("expected ':'") }
                i += 1
                members.append((key, try value(depth: depth + 1)))
                space()
                guard i < text.count else { throw fail("unterminated object") }
                if text[i] == UInt8(ascii: ",") { i += 1; continue }
                guard text[i] == UInt8(ascii: "}") else { throw fail("expected ',' or '}'") }
                i += 1
                return .object(members)
            }
        case UInt8(ascii: "["):
            i += 1
            var items: [JSONValue] = []
            space()
            if i < text.count, text[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
            while true {
                items.append(try value(depth: depth + 1))
                space()
                guard i < text.count else { throw fail("unterminated array") }
                if text[i] == UInt8(ascii: ",") { i += 1; continue }
                guard text[i] == UInt8(ascii: "]") else { throw fail("expected ',' or ']'") }
                i += 1
                return .array(items)
            }
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): return try literal("true", .bool(true))
        case UInt8(ascii: "f"): return try literal("false", .bool(false))
        case UInt8(ascii: "n"): return try literal("null", .null)
        case UInt8(ascii: "-"), UInt8(ascii: "0") ... UInt8(ascii: "9"): return try number()
        default: throw fail("unexpected character")
        }
    }

    mutating func number() throws -> JSONValue {
        let start = i
        if text[i] == UInt8(ascii: "-") { i += 1 }
        var integral = true
        while i < text.count {
            let c = text[i]
            if c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") { i += 1; continue }
            if c == UInt8(ascii: ".") || c == UInt8(ascii: "e") || c == UInt8(ascii: "E") || c == UInt8(ascii: "+") || c == UInt8(ascii: "-") {
                integral = false
                i += 1
                continue
            }
            break
        }
        let s = String(decoding: text[start ..< i], as: UTF8.self)
        guard i - start <= 64 else { throw fail("number too long") }
        if integral, let v = Int(s) { return .int(v) }
        guard let d = Double(s) else { throw fail("invalid number '\(s)'") }
        return .double(d)
    }

    mutating func hex4() throws -> UInt32 {
        guard i + 4 <= text.count else { throw fail("truncated \\u escape") }
        var v: UInt32 = 0
        for _ in 0 ..< 4 {
            let c = text[i]
            let d: UInt32
            switch c {
            case UInt8(ascii: "0") ... UInt8(ascii: "9"): d = UInt32(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a") ... UInt8(ascii: "f"): d = UInt32(c - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A") ... UInt8(ascii: "F"): d = UInt32(c - UInt8(ascii: "A") + 10)
            default: throw fail("bad \\u escape")
            }
            v = v << 4 | d
            i += 1
        }
        return v
    }

    mutating func string() throws -> String {
        i += 1 // opening quote
        var out: [UInt8] = []
        while true {
            guard i < text.count else { throw fail("unterminated string") }
            let c = text[i]
            i += 1
            if c == UInt8(ascii: "\"") { break }
            if c < 0x20 { throw fail("control character in a string") }
            if c != UInt8(ascii: "\\") { out.append(c); continue }
            guard i < text.count else { throw fail("unterminated escape") }
            let e = text[i]
            i += 1
            switch e {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
            case UInt8(ascii: "b"): out.append(8)
            case UInt8(ascii: "f"): out.append(12)
            case UInt8(ascii: "n"): out.append(10)
            case UInt8(ascii: "r"): out.append(13)
            case UInt8(ascii: "t"): out.append(9)
            case UInt8(ascii: "u"):
                var scalar = try hex4()
                if scalar >= 0xd800 && scalar < 0xdc00 {
                    guard i + 2 <= text.count, text[i] == UInt8(ascii: "\\"), text[i + 1] == UInt8(ascii: "u") else {
                        throw fail("lone surrogate")
                    }
                    i += 2
                    let low = try hex4()
                    guard low >= 0xdc00 && low < 0xe000 else { throw fail("bad surrogate pair") }
                    scalar = 0x10000 + ((scalar - 0xd800) << 10) + (low - 0xdc00)
                }
                guard let u = Unicode.Scalar(scalar) else { throw fail("invalid code point") }
                out.append(contentsOf: Array(String(Character(u)).utf8))
            default: throw fail("invalid escape")
            }
        }
        guard let s = String(bytes: out, encoding: .utf8) else { throw fail("string is not UTF-8") }
        return s
    }
}

/// `s` as a JSON string literal, quotes included: quotes, backslashes and control characters
/// escaped, everything else as UTF-8. (Shared by every hand-written JSON writer of the project.)
public func jsonQuote(_ s: String) -> String {
    var out = "\""
    for u in s.unicodeScalars {
        switch u {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        default:
            if u.value < 0x20 || u.value == 0x7F {
                out += "\\u" + String(repeating: "0", count: 4 - String(u.value, radix: 16).count) + String(u.value, radix: 16)
            } else {
                out.unicodeScalars.append(u)
            }
        }
    }
    return out + "\""
}
