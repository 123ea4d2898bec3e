// A safe reader for Python pickles that hold only plain data (the REFER refs(<splitBy>).p files).
//
// Format: the pickle virtual machine (CPython Lib/pickletools.py documents every opcode). A
// pickle is a sequence of one-byte opcodes with inline arguments that push onto a stack, mark
// positions in it, memoise objects and build containers; STOP returns the top of the stack.
// Accepted here, protocols 0–5: MARK STOP POP POP_MARK DUP; NONE NEWTRUE NEWFALSE; INT BININT
// BININT1 BININT2 LONG LONG1 LONG4 (≤ 64 bits); FLOAT BINFLOAT; STRING BINSTRING SHORT_BINSTRING
// UNICODE BINUNICODE SHORT_BINUNICODE BINUNICODE8; BINBYTES SHORT_BINBYTES BINBYTES8; LIST
// EMPTY_LIST APPEND APPENDS; DICT EMPTY_DICT SETITEM SETITEMS; TUPLE EMPTY_TUPLE TUPLE1–3;
// GET BINGET LONG_BINGET PUT BINPUT LONG_BINPUT MEMOIZE; PROTO FRAME.
// Everything else — GLOBAL, STACK_GLOBAL, REDUCE, BUILD, INST, OBJ, NEWOBJ(_EX), EXT1/2/4,
// PERSID, BINPERSID, sets, byte arrays, out-of-band buffers — is rejected before it runs, so no
// pickle can name a class or call a function.
import Foundation

/// A plain Python value from a pickle: None, bool, int, float, str, bytes, list, tuple or dict.
public indirect enum PickleValue: Equatable, Sendable {
    case none
    case bool(Bool)
    case int(Int)
    case float(Double)
    case string(String)
    case bytes([UInt8])
    case list([PickleValue])
    case tuple([PickleValue])
    /// Key/value pairs in insertion order.
    case dict([PickleEntry])

    /// The value under a string key of a dict (nil for other values or a missing key).
    public subscript(key: String) -> PickleValue? {
        guard case .dict(let entries) = self else { return nil }
        return entries.first { $0.key == .string(key) }?.value
    }

    public var intValue: Int? {
        switch self {
        case .int(let i): return i
        case .bool(let b): return b ? 1 : 0
        case .float(let d) where d.rounded() == d && abs(d) < 9e15: return Int(d)
        default: return nil
        }
    }

    public var stringValue: String? {
        switch self {
        case .string(let s): return s
        case .bytes(let b): return String(bytes: b, encoding: .utf8) ?? String(bytes: b, encoding: .isoLatin1)
        default: return nil
        }
    }

    /// The items of a list or tuple.
    public var arrayValue: [PickleValue]? {
        switch self {
        case .list(let a), .tuple(let a): return a
        default: return nil
        }
    }
}

/// One key/value pair of a pickled dict.
public struct PickleEntry: Equatable, Sendable {
    public var key: PickleValue
    public var value: PickleValue
}

/// Reads plain-data pickles; see the format notes at the top of Pickle.swift.
public enum Pickle {
    /// Unpickles the file at `path`.
    public static func load(_ path: String) throws -> PickleValue {
        try parse([UInt8](readFile(path)), file: path)
    }

    /// Unpickles bytes (`file` only names the source in errors).
    public static func parse(_ bytes: [UInt8], file: String = "<pickle>") throws -> PickleValue {
        var m = Machine(bytes: bytes, file: file)
        defer { m.dismantle() }
        return try m.run()
    }

    /// Containers nested deeper than this are rejected (while parsing, and again when the tree is read).
    public static let maxDepth = 2000
}

// `height` is the nesting below a container as it was when items went in: 0 for an empty one. It is
// exact for trees built bottom-up (what pickle writes); a container changed after it went into another
// (through the memo) can make a parent's height stale, and `finish` checks the depth again.
private final class ListBox { var items: [Node] = []; var height = 0 }
private final class DictBox { var entries: [(Node, Node)] = []; var height = 0 }

private enum Node {
    case value(PickleValue)
    case list(ListBox)
    case dict(DictBox)
    case tuple([Node], height: Int)

    var height: Int {
        switch self {
        case .value: return 0
        case .list(let b): return b.height
        case .dict(let b): return b.height
        case .tuple(_, let h): return h
        }
    }
}

private struct Machine {
    let bytes: [UInt8]
    let file: String
    var pos = 0
    var stack: [Node] = []
    var marks: [Int] = []
    var memo: [Int: Node] = [:]

    init(bytes: [UInt8], file: String) {
        self.bytes = bytes
        self.file = file
    }

    /// Frees every container iteratively (and breaks memo cycles): a deep tree released by ARC would
    /// recurse once per level and overflow the stack.
    mutating func dismantle() {
        var work: [Node] = stack + Array(memo.values)
        stack = []
        memo = [:]
        while let node = work.popLast() {
            switch node {
            case .value: break
            case .tuple(let items, _): work.append(contentsOf: items)
            case .list(let box):
                work.append(contentsOf: box.items)
                box.items = []
            case .dict(let box):
                for (k, v) in box.entries { work.append(k); work.append(v) }
                box.entries = []
            }
        }
    }

    /// The height of a container holding `items`; throws past `Pickle.maxDepth`.
    func height(holding items: [Node], atLeast h: Int = 0) throws -> Int {
        var height = h
        for item in items { height = max(height, item.height + 1) }
        guard height < Pickle.maxDepth else { throw malformed("nesting deeper than \(Pickle.maxDepth)") }
        return height
    }

    func malformed(_ reason: String) -> DatasetError {
        .malformed(file: file, reason: "pickle: \(reason) (byte \(pos))")
    }

    mutating func take(_ n: Int) throws -> ArraySlice<UInt8> {
        guard n >= 0, n <= bytes.count - pos else { throw malformed("truncated: needs \(n) more bytes") }
        defer { pos += n }
        return bytes[pos..<(pos + n)]
    }

    mutating func uint(_ n: Int) throws -> UInt64 {
        let s = try take(n)
        var v: UInt64 = 0
        for (i, b) in s.enumerated() { v |= UInt64(b) << (8 * UInt64(i)) }
        return v
    }

    mutating func lineBytes() throws -> ArraySlice<UInt8> {
        guard let nl = bytes[pos...].firstIndex(of: 0x0A) else { throw malformed("unterminated text argument") }
        let s = bytes[pos..<nl]
        pos = nl + 1
        return s
    }

    mutating func line() throws -> String { String(decoding: try lineBytes(), as: UTF8.self) }

    mutating func pop() throws -> Node {
        guard let top = stack.popLast() else { throw malformed("stack underflow") }
        if let m = marks.last, stack.count < m { throw malformed("pop below a mark") }
        return top
    }

    mutating func popMark() throws -> [Node] {
        guard let m = marks.popLast(), m <= stack.count else { throw malformed("no mark") }
        let items = Array(stack[m...])
        stack.removeSubrange(m...)
        return items
    }

    mutating func length(_ n: UInt64) throws -> Int {
        guard n <= UInt64(bytes.count - pos) else { throw malformed("length \(n) runs past the end") }
        return Int(n)
    }

    func text(_ s: ArraySlice<UInt8>) throws -> String {
        guard let str = String(bytes: s, encoding: .utf8) else { throw malformed("invalid UTF-8 string") }
        return str
    }

    func legacyString(_ s: ArraySlice<UInt8>) -> PickleValue {
        // Python 2 `str`: bytes, usually ASCII or UTF-8 text.
        .string(String(bytes: s, encoding: .utf8) ?? String(s.map { Character(Unicode.Scalar($0)) }))
    }

    mutating func run() throws -> PickleValue {
        let forbidden: [UInt8: String] = [
            0x63: "GLOBAL", 0x93: "STACK_GLOBAL", 0x52: "REDUCE", 0x62: "BUILD", 0x69: "INST", 0x6F: "OBJ",
            0x81: "NEWOBJ", 0x92: "NEWOBJ_EX", 0x82: "EXT1", 0x83: "EXT2", 0x84: "EXT4", 0x50: "PERSID",
            0x51: "BINPERSID", 0x8F: "EMPTY_SET", 0x90: "ADDITEMS", 0x91: "FROZENSET", 0x96: "BYTEARRAY8",
            0x97: "NEXT_BUFFER", 0x98: "READONLY_BUFFER",
        ]
        while pos < bytes.count {
            let at = pos
            let op = bytes[pos]
            pos += 1
            if let name = forbidden[op] { throw DatasetError.forbiddenOpcode(file: file, opcode: name, offset: at) }
            switch op {
            case 0x80: _ = try take(1)                                  // PROTO
            case 0x95: _ = try take(8)                                  // FRAME
            case 0x2E:                                                  // STOP
                guard stack.count == 1, marks.isEmpty else { throw malformed("STOP with \(stack.count) items on the stack") }
                var path = Set<ObjectIdentifier>()
                return try finish(stack[0], &path, depth: 0)
            case 0x28: marks.append(stack.count)                        // MARK
            case 0x30: _ = try pop()                                    // POP
            case 0x31: _ = try popMark()                                // POP_MARK
            case 0x32:                                                  // DUP
                guard let top = stack.last else { throw malformed("DUP on an empty stack") }
                stack.append(top)
            case 0x4E: stack.append(.value(.none))                      // NONE
            case 0x88: stack.append(.value(.bool(true)))                // NEWTRUE
            case 0x89: stack.append(.value(.bool(false)))               // NEWFALSE
            case 0x49:                                                  // INT
                let s = try line()
                if s == "01" { stack.append(.value(.bool(true))) }
                else if s == "00" { stack.append(.value(.bool(false))) }
                else if let i = Int(s) { stack.append(.value(.int(i))) }
                else { throw malformed("bad INT '\(s)'") }
            case 0x4A: stack.append(.value(.int(Int(Int32(truncatingIfNeeded: try uint(4))))))   // BININT
            case 0x4B: stack.append(.value(.int(Int(try uint(1)))))                              // BININT1
            case 0x4D: stack.append(.value(.int(Int(try uint(2)))))                              // BININT2
            case 0x4C:                                                  // LONG
                var s = try line()
                if s.hasSuffix("L") { s.removeLast() }
                guard let i = Int(s) else { throw malformed("bad or too large LONG '\(s)'") }
                stack.append(.value(.int(i)))
            case 0x8A, 0x8B:                                            // LONG1, LONG4
                let n = try length(op == 0x8A ? try uint(1) : try uint(4))
                guard n <= 8 else { throw malformed("integer of \(n) bytes is too large") }
                let raw = try uint(n)
                let value: Int
                if n == 0 { value = 0 }
                else {
                    let shift = UInt64(64 - 8 * n)
                    value = Int(Int64(bitPattern: raw << shift) >> Int64(shift))
                }
                stack.append(.value(.int(value)))
            case 0x46:                                                  // FLOAT
                let s = try line()
                guard let d = Double(s) else { throw malformed("bad FLOAT '\(s)'") }
                stack.append(.value(.float(d)))
            case 0x47:                                                  // BINFLOAT (big-endian)
                let s = try take(8)
                var raw: UInt64 = 0
                for b in s { raw = raw << 8 | UInt64(b) }
                stack.append(.value(.float(Double(bitPattern: raw))))
            case 0x53:                                                  // STRING
                stack.append(.value(.string(try unquote(try line()))))
            case 0x54: stack.append(.value(legacyString(try take(try length(try uint(4))))))     // BINSTRING
            case 0x55: stack.append(.value(legacyString(try take(Int(try uint(1))))))            // SHORT_BINSTRING
            case 0x56: stack.append(.value(.string(try rawUnicodeEscape(String(try lineBytes().map { Character(Unicode.Scalar($0)) })))))           // UNICODE
            case 0x58: stack.append(.value(.string(try text(try take(try length(try uint(4)))))))    // BINUNICODE
            case 0x8C: stack.append(.value(.string(try text(try take(Int(try uint(1)))))))          // SHORT_BINUNICODE
            case 0x8D: stack.append(.value(.string(try text(try take(try length(try uint(8)))))))    // BINUNICODE8
            case 0x42: stack.append(.value(.bytes(Array(try take(try length(try uint(4)))))))    // BINBYTES
            case 0x43: stack.append(.value(.bytes(Array(try take(Int(try uint(1)))))))           // SHORT_BINBYTES
            case 0x8E: stack.append(.value(.bytes(Array(try take(try length(try uint(8)))))))    // BINBYTES8
            case 0x5D: stack.append(.list(ListBox()))                   // EMPTY_LIST
            case 0x6C:                                                  // LIST
                let box = ListBox()
                box.items = try popMark()
                box.height = try height(holding: box.items)
                stack.append(.list(box))
            case 0x61:                                                  // APPEND
                let item = try pop()
                guard case .list(let box)? = stack.last else { throw malformed("APPEND to a non-list") }
                box.height = try height(holding: [item], atLeast: box.height)
                box.items.append(item)
            case 0x65:                                                  // APPENDS
                let items = try popMark()
                guard case .list(let box)? = stack.last else { throw malformed("APPENDS to a non-list") }
                box.height = try height(holding: items, atLeast: box.height)
                box.items.append(contentsOf: items)
            case 0x7D: stack.append(.dict(DictBox()))                   // EMPTY_DICT
            case 0x64:                                                  // DICT
                let items = try popMark()
                guard items.count % 2 == 0 else { throw malformed("DICT with an odd number of items") }
                let box = DictBox()
                box.height = try height(holding: items)
                for i in stride(from: 0, to: items.count, by: 2) { box.entries.append((items[i], items[i + 1])) }
                stack.append(.dict(box))
            case 0x73:                                                  // SETITEM
                let value = try pop()
                let key = try pop()
                guard case .dict(let box)? = stack.last else { throw malformed("SETITEM on a non-dict") }
                box.height = try height(holding: [key, value], atLeast: box.height)
                box.entries.append((key, value))
            case 0x75:                                                  // SETITEMS
                let items = try popMark()
                guard items.count % 2 == 0 else { throw malformed("SETITEMS with an odd number of items") }
                guard case .dict(let box)? = stack.last else { throw malformed("SETITEMS on a non-dict") }
                box.height = try height(holding: items, atLeast: box.height)
                for i in stride(from: 0, to: items.count, by: 2) { box.entries.append((items[i], items[i + 1])) }
            case 0x29: stack.append(.tuple([], height: 0))              // EMPTY_TUPLE
            case 0x74:                                                  // TUPLE
                let items = try popMark()
                stack.append(.tuple(items, height: try height(holding: items)))
            case 0x85, 0x86, 0x87:                                      // TUPLE1–3
                let n = Int(op - 0x84)
                var items: [Node] = []
                for _ in 0..<n { items.insert(try pop(), at: 0) }
                stack.append(.tuple(items, height: try height(holding: items)))
            case 0x70:                                                  // PUT
                let s = try line()
                guard let k = Int(s) else { throw malformed("bad PUT '\(s)'") }
                try put(k)
            case 0x71: try put(Int(try uint(1)))                        // BINPUT
            case 0x72: try put(Int(try uint(4)))                        // LONG_BINPUT
            case 0x94: try put(memo.count)                              // MEMOIZE
            case 0x67:                                                  // GET
                let s = try line()
                guard let k = Int(s) else { throw malformed("bad GET '\(s)'") }
                try get(k)
            case 0x68: try get(Int(try uint(1)))                        // BINGET
            case 0x6A: try get(Int(try uint(4)))                        // LONG_BINGET
            default:
                throw DatasetError.forbiddenOpcode(file: file, opcode: String(format: "0x%02x", op), offset: at)
            }
        }
        throw malformed("no STOP opcode: truncated")
    }

    mutating func put(_ key: Int) throws {
        guard let top = stack.last else { throw malformed("memo PUT on an empty stack") }
        memo[key] = top
    }

    mutating func get(_ key: Int) throws {
        guard let node = memo[key] else { throw malformed("memo GET of unknown key \(key)") }
        stack.append(node)
    }

    func finish(_ node: Node, _ path: inout Set<ObjectIdentifier>, depth: Int) throws -> PickleValue {
        guard depth < Pickle.maxDepth else { throw malformed("nesting deeper than \(Pickle.maxDepth)") }
        switch node {
        case .value(let v): return v
        case .tuple(let items, _): return .tuple(try items.map { try finish($0, &path, depth: depth + 1) })
        case .list(let box):
            guard path.insert(ObjectIdentifier(box)).inserted else { throw malformed("a list contains itself") }
            defer { path.remove(ObjectIdentifier(box)) }
            return .list(try box.items.map { try finish($0, &path, depth: depth + 1) })
        case .dict(let box):
            guard path.insert(ObjectIdentifier(box)).inserted else { throw malformed("a dict contains itself") }
            defer { path.remove(ObjectIdentifier(box)) }
            return .dict(try box.entries.map {
                PickleEntry(key: try finish($0.0, &path, depth: depth + 1), value: try finish($0.1, &path, depth: depth + 1))
            })
        }
    }

    /// The argument of STRING: a Python repr, quoted with ' or ", with backslash escapes.
    func unquote(_ s: String) throws -> String {
        let chars = Array(s.utf8)
        guard chars.count >= 2, let q = chars.first, q == 0x27 || q == 0x22, chars.last == q else {
            throw malformed("STRING argument is not quoted")
        }
        var out: [UInt8] = []
        var i = 1
        let end = chars.count - 1
        while i < end {
            let c = chars[i]
            guard c == 0x5C, i + 1 < end else { out.append(c); i += 1; continue }
            let e = chars[i + 1]
            i += 2
            switch e {
            case 0x6E: out.append(0x0A)
            case 0x74: out.append(0x09)
            case 0x72: out.append(0x0D)
            case 0x5C, 0x27, 0x22: out.append(e)
            case 0x78:
                guard i + 2 <= end, let v = UInt8(String(decoding: chars[i..<(i + 2)], as: UTF8.self), radix: 16) else {
                    throw malformed("bad \\x escape")
                }
                out.append(v)
                i += 2
            case 0x30...0x37:
                var v = Int(e - 0x30)
                var n = 1
                while n < 3, i < end, (0x30...0x37).contains(chars[i]) { v = v * 8 + Int(chars[i] - 0x30); i += 1; n += 1 }
                out.append(UInt8(truncatingIfNeeded: v))
            default: out.append(0x5C); out.append(e)
            }
        }
        return String(bytes: out, encoding: .utf8) ?? String(out.map { Character(Unicode.Scalar($0)) })
    }

    /// The argument of UNICODE: latin-1 text with \uXXXX and \UXXXXXXXX escapes.
    func rawUnicodeEscape(_ s: String) throws -> String {
        var out = ""
        let scalars = Array(s.unicodeScalars)
        var i = 0
        while i < scalars.count {
            if scalars[i] == "\\", i + 1 < scalars.count, scalars[i + 1] == "u" || scalars[i + 1] == "U" {
                let n = scalars[i + 1] == "u" ? 4 : 8
                guard i + 2 + n <= scalars.count,
                      let v = UInt32(String(String.UnicodeScalarView(scalars[(i + 2)..<(i + 2 + n)])), radix: 16),
                      let u = Unicode.Scalar(v) else { throw malformed("bad \\u escape in UNICODE") }
                out.unicodeScalars.append(u)
                i += 2 + n
            } else {
                out.unicodeScalars.append(scalars[i])
                i += 1
            }
        }
        return out
    }
}
