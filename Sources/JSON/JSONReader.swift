// The project's one JSON reader: strict RFC 8259 for untrusted files (safetensors headers, dataset
// index files, downloaded annotations).
//
// Safe by construction: nesting deeper than `JSONLimits.maxDepth` and documents larger than
// `maxBytes` are refused before they can exhaust the stack or memory; numbers follow the RFC
// grammar (no NaN, no leading zeros or '+'), strings must be valid UTF-8 with no raw control
// characters and paired surrogates; only whitespace may follow the value. Every error names the
// file and the byte offset.

import Foundation

/// Bounds a reader enforces on a document.
public struct JSONLimits: Sendable {
    /// Arrays and objects nested deeper than this are refused.
    public var maxDepth: Int
    /// Documents (or files) larger than this many bytes are refused.
    public var maxBytes: Int

    public init(maxDepth: Int = 64, maxBytes: Int = 1 << 30) {
        self.maxDepth = maxDepth
        self.maxBytes = maxBytes
    }
}

/// A document that is not valid JSON (or exceeds the limits): the file, the byte offset and what is wrong.
public struct JSONError: Error, Equatable, CustomStringConvertible, Sendable {
    /// The file (or other source) named by the caller.
    public var file: String
    /// Byte offset of the problem from the start of the document.
    public var offset: Int
    public var problem: String

    public init(file: String, offset: Int, problem: String) {
        self.file = file
        self.offset = offset
        self.problem = problem
    }

    /// "problem at byte N", without the file (for callers that put the file in their own error).
    public var reason: String { "\(problem) at byte \(offset)" }

    public var description: String { "\(file): invalid JSON: \(reason)" }
}

extension JSONValue {
    /// Parses one JSON document; only whitespace may follow the value. `file` names the source in errors.
    public static func parse(_ bytes: [UInt8], file: String, limits: JSONLimits = JSONLimits()) throws -> JSONValue {
        guard bytes.count <= limits.maxBytes else {
            throw JSONError(file: file, offset: 0, problem: "document of \(bytes.count) bytes exceeds the limit of \(limits.maxBytes)")
        }
        var reader = JSONReader(bytes: bytes, file: file, maxDepth: limits.maxDepth)
        let value = try reader.value(depth: 0)
        reader.skipSpace()
        guard reader.pos == bytes.count else { throw reader.fail("unexpected text after the value") }
        return value
    }

    /// Parses `data` (see `parse(_:file:limits:)`).
    public static func parse(_ data: Data, file: String, limits: JSONLimits = JSONLimits()) throws -> JSONValue {
        try parse([UInt8](data), file: file, limits: limits)
    }

    /// Reads and parses the file at `path`, refusing a file larger than `limits.maxBytes` before reading it.
    public static func read(path: String, limits: JSONLimits = JSONLimits()) throws -> JSONValue {
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? nil
        if let size, size > limits.maxBytes {
            throw JSONError(file: path, offset: 0, problem: "file of \(size) bytes exceeds the limit of \(limits.maxBytes)")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw JSONError(file: path, offset: 0, problem: "cannot read the file")
        }
        return try parse(data, file: path, limits: limits)
    }
}

/// The recursive-descent reader behind `JSONValue.parse`.
struct JSONReader {
    let bytes: [UInt8]
    let file: String
    let maxDepth: Int
    var pos = 0

    init(bytes: [UInt8], file: String, maxDepth: Int) {
        self.bytes = bytes
        self.file = file
        self.maxDepth = maxDepth
    }

    func fail(_ problem: String) -> JSONError { JSONError(file: file, offset: pos, problem: problem) }

    mutating func skipSpace() {
        while pos < bytes.count, bytes[pos] == 0x20 || bytes[pos] == 0x0A || bytes[pos] == 0x0D || bytes[pos] == 0x09 {
            pos += 1
        }
    }

    /// The next byte after whitespace, not consumed.
    mutating func peek(_ what: String) throws -> UInt8 {
        skipSpace()
        guard pos < bytes.count else { throw fail("ends early (truncated?) where \(what) was expected") }
        return bytes[pos]
    }

    mutating func value(depth: Int) throws -> JSONValue {
        let c = try peek("a value")
        switch c {
        case UInt8(ascii: "{"):
            guard depth < maxDepth else { throw fail("nested too deeply (more than \(maxDepth) levels)") }
            pos += 1
            var members: [(String, JSONValue)] = []
            if try peek("a key or '}'") == UInt8(ascii: "}") { pos += 1; return .object(members) }
            while true {
                guard try peek("a string key") == UInt8(ascii: "\"") else { throw fail("expected a string key") }
                let key = try string()
                guard try peek("':'") == UInt8(ascii: ":") else { throw fail("expected ':' after a key") }
                pos += 1
                members.append((key, try value(depth: depth + 1)))
                let next = try peek("',' or '}'")
                pos += 1
                if next == UInt8(ascii: ",") { continue }
                guard next == UInt8(ascii: "}") else { pos -= 1; throw fail("expected ',' or '}'") }
                return .object(members)
            }
        case UInt8(ascii: "["):
            guard depth < maxDepth else { throw fail("nested too deeply (more than \(maxDepth) levels)") }
            pos += 1
            var items: [JSONValue] = []
            if try peek("a value or ']'") == UInt8(ascii: "]") { pos += 1; return .array(items) }
            while true {
                items.append(try value(depth: depth + 1))
                let next = try peek("',' or ']'")
                pos += 1
                if next == UInt8(ascii: ",") { continue }
                guard next == UInt8(ascii: "]") else { pos -= 1; throw fail("expected ',' or ']'") }
                return .array(items)
            }
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
        default: throw fail("unexpected character '\(Self.show(c))'")
        }
    }

    static func show(_ c: UInt8) -> String {
        c >= 0x20 && c < 0x7F ? String(UnicodeScalar(c)) : String(format: "\\x%02X", c)
    }

    mutating func literal(_ word: StaticString) throws {
        let n = word.utf8CodeUnitCount
        guard pos + n <= bytes.count,
              word.withUTF8Buffer({ w in (0..<n).allSatisfy { bytes[pos + $0] == w[$0] } }) else {
            throw fail("invalid literal (expected \(word))")
        }
        pos += n
    }

    /// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? — an `.int` when integral and in range.
    mutating func number() throws -> JSONValue {
        let start = pos
        func digits() -> Int {
            let s = pos
            while pos < bytes.count, bytes[pos] >= UInt8(ascii: "0"), bytes[pos] <= UInt8(ascii: "9") { pos += 1 }
            return pos - s
        }
        if bytes[pos] == UInt8(ascii: "-") { pos += 1 }
        guard pos < bytes.count, bytes[pos] >= UInt8(ascii: "0"), bytes[pos] <= UInt8(ascii: "9") else {
            throw fail("a number needs a digit after '-'")
        }
        if bytes[pos] == UInt8(ascii: "0") {
            pos += 1
        } else {
            _ = digits()
        }
        var integral = true
        if pos < bytes.count, bytes[pos] == UInt8(ascii: ".") {
            integral = false
            pos += 1
            guard digits() > 0 else { throw fail("a number needs digits after '.'") }
        }
        if pos < bytes.count, bytes[pos] == UInt8(ascii: "e") || bytes[pos] == UInt8(ascii: "E") {
            integral = false
            pos += 1
            if pos < bytes.count, bytes[pos] == UInt8(ascii: "+") || bytes[pos] == UInt8(ascii: "-") { pos += 1 }
            guard digits() > 0 else { throw fail("a number needs digits in its exponent") }
        }
        guard pos - start <= 64 else { pos = start; throw fail("number longer than 64 characters") }
        let text = String(decoding: bytes[start..<pos], as: UTF8.self)
        if integral, let i = Int(text) { return .int(i) }
        guard let d = Double(text), d.isFinite else { pos = start; throw fail("number \(text) is out of range") }
        return .double(d)
    }

    mutating func hex4() throws -> UInt32 {
        guard pos + 4 <= bytes.count else { throw fail("truncated \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[pos]
            let d: UInt32
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(c - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(c - UInt8(ascii: "A") + 10)
            default: throw fail("bad \\u escape")
            }
            v = v << 4 | d
            pos += 1
        }
        return v
    }

    mutating func string() throws -> String {
        pos += 1 // the opening quote
        var out: [UInt8] = []
        while true {
            guard pos < bytes.count else { throw fail("unterminated string (truncated?)") }
            let c = bytes[pos]
            if c == UInt8(ascii: "\"") { pos += 1; break }
            guard c >= 0x20 else { throw fail("raw control character 0x\(String(c, radix: 16)) in a string") }
            pos += 1
            guard c == UInt8(ascii: "\\") else { out.append(c); continue }
            guard pos < bytes.count else { throw fail("unterminated escape (truncated?)") }
            let e = bytes[pos]
            pos += 1
            switch e {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4()
                if (0xD800..<0xDC00).contains(scalar) {
                    guard pos + 2 <= bytes.count, bytes[pos] == UInt8(ascii: "\\"), bytes[pos + 1] == UInt8(ascii: "u") else {
                        throw fail("lone surrogate \\u\(String(scalar, radix: 16))")
                    }
                    pos += 2
                    let low = try hex4()
                    guard (0xDC00..<0xE000).contains(low) else { throw fail("bad surrogate pair") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                }
                guard let u = Unicode.Scalar(scalar) else { throw fail("lone surrogate \\u\(String(scalar, radix: 16))") }
                out.append(contentsOf: Array(String(Character(u)).utf8))
            default: throw fail("invalid escape '\\\(Self.show(e))'")
            }
        }
        guard let s = String(validating: out, as: UTF8.self) else { throw fail("string is not valid UTF-8") }
        return s
    }
}
