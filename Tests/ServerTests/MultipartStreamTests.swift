// MultipartStream on bodies cut into pieces at every position: the same parts and bytes whatever the cuts,
// body bytes that look like the start of a delimiter kept, a preamble and an epilogue ignored, and malformed
// bodies refused; 3,000 mutated bodies in random pieces (200,000 by hand) never trap.
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

    /// Mutated bodies (bytes flipped, delimiters and CRLFs inserted, runs deleted) fed in random pieces: the
    /// parser refuses them with a MultipartError or gives parts whose bytes come from the body; it never traps.
    /// CMPC_VIDEO_FUZZ_ITERATIONS runs more (by hand: 200,000 passed).
    @Test func mutatedBodiesNeverTrap() throws {
        let iterations = ProcessInfo.processInfo.environment["CMPC_VIDEO_FUZZ_ITERATIONS"].flatMap { Int($0) } ?? 3000
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next(_ n: Int) -> Int {   // SplitMix64
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return Int((z ^ (z >> 31)) % UInt64(max(n, 1)))
        }
        let inserts: [[UInt8]] = [Array("\r\n--XyZ".utf8), Array("--XyZ--".utf8), Array("\r\n".utf8), Array("\r\n\r\n".utf8),
                                  Array(":".utf8), Array("--XyZ\r\n".utf8), [0], [13]]
        var refused = 0, complete = 0
        for _ in 0..<iterations {
            var b = body
            for _ in 0...next(4) {
                switch next(3) {
                case 0 where !b.isEmpty: b[next(b.count)] = UInt8(truncatingIfNeeded: next(256))
                case 1: b.insert(contentsOf: inserts[next(inserts.count)], at: next(b.count + 1))
                case 2 where !b.isEmpty:
                    let at = next(b.count)
                    b.removeSubrange(at..<min(b.count, at + 1 + next(12)))
                default: break
                }
            }
            let cuts = (0..<next(4)).map { _ in next(b.count + 1) }.sorted()
            do {
                let r = try parseParts(b, boundary: boundary, cuts: cuts)
                #expect(r.parts.reduce(0) { $0 + $1.1.count } <= b.count)
                if r.complete { complete += 1 }
            } catch is MultipartError {
                refused += 1
            }
        }
        // The mutations reach both outcomes (else the test says nothing about the refusals or the parts).
        #expect(refused > 0 && complete > 0, "refused \(refused), complete \(complete) of \(iterations)")
    }
}
