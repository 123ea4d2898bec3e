// JSONValue: one JSON document in memory, objects in file order — the value the project's one JSON
// reader (JSONReader.swift) produces and its one writer (JSONWriter.swift) prints.
//
// Numbers keep what the text said: a literal without fraction or exponent that fits an Int is `.int`
// (so shapes, offsets and counts stay exact), any other number `.double`.

/// A JSON value; object members keep their order (file order when parsed, the given order when written).
///
///     let v = try JSONValue.parse(Array(#"{"shape": [2, 3]}"#.utf8), file: "header")
///     v["shape"]?.array?.compactMap(\.int)   // [2, 3]
public indirect enum JSONValue: Equatable, Sendable {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([JSONValue])
    /// Members in order; a key may repeat when the text repeats it (readers that care check).
    case object([(String, JSONValue)])

    public static func == (a: JSONValue, b: JSONValue) -> Bool {
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

    /// The first member named `key` of an object (nil for a missing key or a non-object).
    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.0 == key }?.1
    }

    /// The string of a `.string`.
    public var string: String? { if case .string(let s) = self { s } else { nil } }
    /// The integer of an `.int`.
    public var int: Int? { if case .int(let i) = self { i } else { nil } }
    /// Any number as a Double (an `.int` converted).
    public var double: Double? {
        switch self {
        case .int(let i): Double(i)
        case .double(let d): d
        default: nil
        }
    }
    /// The flag of a `.bool`.
    public var bool: Bool? { if case .bool(let b) = self { b } else { nil } }
    /// The items of an `.array`.
    public var array: [JSONValue]? { if case .array(let a) = self { a } else { nil } }
    /// The members of an `.object`, in order.
    public var members: [(String, JSONValue)]? { if case .object(let m) = self { m } else { nil } }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral,
                     ExpressibleByBooleanLiteral, ExpressibleByArrayLiteral, ExpressibleByNilLiteral {
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(nilLiteral: ()) { self = .null }
}
