// MultipartStream on bodies cut into pieces at every position: the same parts and bytes whatever the cuts,
// body bytes that look like the start of a delimiter kept, a preamble and an epilogue ignored, and malformed
// bodies refused.
import Foundation
@testable import Server
import Testing

/// The parts a body gives when fed in `pieces`: (headers, bytes) each, and whether the body was complete.
func parseParts(_ body: [UInt8], boundary: String, cuts: [Int]) throws -> (parts: [([String: String], [UInt8])], complete: Bool) {
    var parser = MultipartStream(boundary: boundary)
    var parts: [([String: String], [UInt8])] = []
    var ended = 0
    var start = 0
    for end in cuts + [body.count] where end >= start {
        try body[start..<end].withUnsafeBytes { piece in
            try parser.feed(piece, part: { parts.append(($0, [])) }, body: { parts[parts.count - 1].1 += $0 },
                            partEnd: { ended += 1 })
        }
        start = end
    }
    #expect(ended == parts.count || !parser.isComplete)
    return (parts, parser.isComplete)
}

@Suite struct MultipartStreamTests {
    let boundary = "XyZ"
    /// A body whose file bytes hold CRs, "\r\n--XyZ" cut short and "--XyZ" without its CRLF.
    var body: [UInt8] {
        let file: [UInt8] = Array("a\r\nb\r\n--Xy\r\n--X\r--XyZ".utf8) + [0, 13, 10, 13]
        var b = Array("preamble to ignore\r\n--XyZ\r\nContent-Disposition: form-data; name=\"text\"\r\n\r\nthe man\r\n".utf8)
        b += Array("--XyZ  \r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.mp4\"\r\nContent-Type: video/mp4\r\n\r\n".utf8)
        b += file
        b += Array("\r\n--XyZ\r\n\r\nno headers\r\n--XyZ--\r\nepilogue".utf8)
        return b
    }

    @Test func sameResultWhateverTheCuts() throws {
        let whole = try parseParts(body, boundary: boundary, cuts: [])
        #expect(whole.complete)
        try #require(whole.parts.count == 3)
        #expect(whole.parts[0].0["content-disposition"] == "form-data; name=\"text\"")
        #expect(whole.parts[0].1 == Array("the man".utf8))
        #expect(whole.parts[1].0["content-type"] == "video/mp4")
        #expect(whole.parts[1].1 == Array("a\r\nb\r\n--Xy\r\n--X\r--XyZ".utf8) + [0, 13, 10, 13])
        #expect(whole.parts[2].0.isEmpty)
        #expect(whole.parts[2].1 == Array("no headers".utf8))
        for cut in 0...body.count {
            let r = try parseParts(body, boundary: boundary, cuts: [cut])
            #expect(r.complete && r.parts.map(\.1) == whole.parts.map(\.1) && r.parts.map(\.0) == whole.parts.map(\.0), "cut at \(cut)")
        }
        let bytewise = try parseParts(body, boundary: boundary, cuts: Array(0...body.count))
        #expect(bytewise.parts.map(\.1) == whole.parts.map(\.1))
    }

    @Test func malformedBodies() throws {
        // No closing delimiter, or none at all: incomplete.
        #expect(try !parseParts(Array(body.prefix(120)), boundary: boundary, cuts: []).complete)
        #expect(try !parseParts(Array("just text".utf8), boundary: boundary, cuts: []).complete)
        // A delimiter followed by something else than CRLF or --.
        #expect(throws: MultipartError.self) {
            try parseParts(Array("--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\nx\r\n--XyZQQ".utf8), boundary: boundary, cuts: [])
        }
        // A header line without a colon, and headers that never end.
        #expect(throws: MultipartError.self) {
            try parseParts(Array("--XyZ\r\nno colon here\r\n\r\nx\r\n--XyZ--".utf8), boundary: boundary, cuts: [])
        }
        #expect(throws: MultipartError.self) {
            try parseParts(Array("--XyZ\r\nA: ".utf8) + Array(repeating: UInt8(ascii: "a"), count: 20_000), boundary: boundary, cuts: [])
        }
    }
}
