// MultipartStream: a streaming multipart/form-data parser (RFC 7578 / RFC 2046) for untrusted bodies. It is fed
// the body in pieces as they arrive and hands each part's headers, its bytes (in pieces) and its end to the
// caller, keeping at most one delimiter's length of body and one header block (≤ 16 KiB) in memory. The
// delimiter is found with memchr and memcmp, so even a debug build reads uploads quickly.
import Foundation

/// Why a multipart body cannot be read.
struct MultipartError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The parser's state between pieces of the body.
struct MultipartStream {
    private enum State { case preamble, afterDelimiter, headers, body, end }

    /// "\r\n--" + boundary: what ends a part's body (the first delimiter may come without the CRLF).
    private let delimiter: [UInt8]
    private var state = State.preamble
    /// Bytes not yet consumed: a possible start of the delimiter, or an incomplete header block.
    private var carry: [UInt8]
    /// Largest header block of one part.
    static let maxHeaderBytes = 16 << 10

    /// A parser for `boundary` (1…200 bytes).
    init(boundary: String) {
        delimiter = Array("\r\n--\(boundary)".utf8)
        carry = Array("\r\n".utf8)   // so a delimiter at the very start is found like the others
    }

    /// Whether the closing delimiter has been read.
    var isComplete: Bool { state == .end }

    /// Parses the next piece of the body. `part` receives a part's headers (names lower-cased), `body` its bytes
    /// (any number of calls), `partEnd` its end. Throws for a malformed body.
    mutating func feed(_ piece: UnsafeRawBufferPointer, part: ([String: String]) throws -> Void,
                       body: (UnsafeRawBufferPointer) throws -> Void, partEnd: () throws -> Void) throws {
        if state == .end { return }   // the epilogue is ignored
        var buffer = carry
        buffer.append(contentsOf: piece)
        carry = []
        try buffer.withUnsafeBytes { all in
            var i = 0
            let n = all.count
            func find(_ needle: [UInt8], from start: Int) -> Int? {
                guard n - start >= needle.count else { return nil }
                // memchr for the first byte, memcmp for the rest (C calls: fast in a debug build too).
                return needle.withUnsafeBytes { nb -> Int? in
                    let base = all.baseAddress!
                    var at = start
                    while n - at >= needle.count {
                        guard let hit = memchr(base + at, Int32(needle[0]), n - at - needle.count + 1) else { return nil }
                        let k = base.distance(to: UnsafeRawPointer(hit))
                        if memcmp(base + k, nb.baseAddress!, needle.count) == 0 { return k }
                        at = k + 1
                    }
                    return nil
                }
            }
            loop: while i < n {
                switch state {
                case .preamble, .body:
                    if let k = find(delimiter, from: i) {
                        if state == .body {
                            if k > i { try body(UnsafeRawBufferPointer(rebasing: all[i..<k])) }
                            try partEnd()
                        }
                        i = k + delimiter.count
                        state = .afterDelimiter
                    } else {
                        // All but a possible start of the delimiter is body (or preamble, dropped).
                        let keep = min(n - i, delimiter.count - 1)
                        if state == .body && n - keep > i { try body(UnsafeRawBufferPointer(rebasing: all[i..<(n - keep)])) }
                        i = n - keep
                        break loop
                    }
                case .afterDelimiter:
                    // "--" closes the body; otherwise optional spaces or tabs, then CRLF start a part.
                    guard n - i >= 2 else { break loop }
                    if all[i] == UInt8(ascii: "-") && all[i + 1] == UInt8(ascii: "-") {
                        state = .end
                        i = n
                        break loop
                    }
                    var j = i
                    while j < n, all[j] == UInt8(ascii: " ") || all[j] == UInt8(ascii: "\t") { j += 1 }
                    guard n - j >= 2 else {
                        guard j - i < 64 else { throw MultipartError("spaces after a boundary") }
                        break loop
                    }
                    guard all[j] == 13, all[j + 1] == 10 else { throw MultipartError("a boundary is not followed by CRLF or --") }
                    i = j + 2
                    state = .headers
                case .headers:
                    guard n - i >= 2 else { break loop }
                    let blockEnd: Int
                    if all[i] == 13 && all[i + 1] == 10 {
                        blockEnd = i   // a part without headers
                    } else if let k = find(Array("\r\n\r\n".utf8), from: i) {
                        blockEnd = k + 2
                    } else {
                        guard n - i <= MultipartStream.maxHeaderBytes else {
                            throw MultipartError("a part's headers are longer than \(MultipartStream.maxHeaderBytes >> 10) KiB")
                        }
                        break loop
                    }
                    guard blockEnd - i <= MultipartStream.maxHeaderBytes else {
                        throw MultipartError("a part's headers are longer than \(MultipartStream.maxHeaderBytes >> 10) KiB")
                    }
                    var headers: [String: String] = [:]
                    let text = String(decoding: UnsafeRawBufferPointer(rebasing: all[i..<blockEnd]), as: UTF8.self)
                    for line in text.components(separatedBy: "\r\n") where !line.isEmpty {
                        guard let colon = line.firstIndex(of: ":") else { throw MultipartError("a part's header line has no colon") }
                        headers[line[..<colon].trimmingCharacters(in: .whitespaces).lowercased()] =
                            line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                    }
                    try part(headers)
                    i = blockEnd + 2
                    state = .body
                case .end:
                    i = n
                }
            }
            carry = Array(all[i..<n])
        }
    }
}
