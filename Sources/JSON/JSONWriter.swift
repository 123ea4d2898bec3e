// The project's one JSON writer: JSONValue as text, deterministically (members in the order given,
// no dictionary anywhere), in the three layouts the project's files use.
//
//   compact        {"a":1,"b":[1,2]}                     safetensors headers
//   spaced         {"a": 1, "b": [1, 2]}                 one line: evaluation logs, masks, bench rows
//   linePerMember  {\n  "a": 1,\n  "b": [1, 2]\n}         top-level members one a line: synthetic-set files
//
// Numbers: `.int` in decimal; `.double` as Swift prints it — the shortest text that reads back to the
// same Double (0.5, 1e-05, 3.0) — and `null` for NaN and ±infinity, which JSON cannot hold.
// Strings: `"` `\` and control characters escaped (\n \r \t, else \u00XX, also DEL); the rest as UTF-8.

/// How `JSONValue.text` lays out arrays and objects.
public enum JSONStyle: Sendable {
    /// No whitespace at all.
    case compact
    /// One line, a space after ':' and ','.
    case spaced
    /// A top-level object with one member a line, indented two spaces; nested values `spaced`.
    case linePerMember
}

extension JSONValue {
    /// The value as JSON text (no trailing newline).
    public func text(_ style: JSONStyle = .spaced) -> String {
        var out = ""
        if style == .linePerMember, case .object(let members) = self, !members.isEmpty {
            out += "{\n"
            for (i, (key, value)) in members.enumerated() {
                out += "  "
                Self.write(string: key, to: &out)
                out += ": "
                value.write(to: &out, compact: false)
                out += i == members.count - 1 ? "\n" : ",\n"
            }
            out += "}"
        } else {
            write(to: &out, compact: style == .compact)
        }
        return out
    }

    /// `s` as a JSON string literal, quotes included.
    public static func quote(_ s: String) -> String {
        var out = ""
        write(string: s, to: &out)
        return out
    }

    func write(to out: inout String, compact: Bool) {
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .double(let d): out += d.isFinite ? "\(d)" : "null"
        case .string(let s): Self.write(string: s, to: &out)
        case .array(let items):
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += compact ? "," : ", " }
                item.write(to: &out, compact: compact)
            }
            out += "]"
        case .object(let members):
            out += "{"
            for (i, (key, value)) in members.enumerated() {
                if i > 0 { out += compact ? "," : ", " }
                Self.write(string: key, to: &out)
                out += compact ? ":" : ": "
                value.write(to: &out, compact: compact)
            }
            out += "}"
        }
    }

    static func write(string s: String, to out: inout String) {
        out += "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 || u.value == 0x7F {
                    let hex = String(u.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        out += "\""
    }
}
