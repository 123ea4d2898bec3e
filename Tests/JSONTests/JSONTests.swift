// The one JSON reader and writer: strict parsing with limits and located errors, and the three
// deterministic layouts the project's files use.
import Foundation
import Testing
import JSON

/// The parse error of `text`, or a recorded issue when it parses.
func parseError(_ text: String, limits: JSONLimits = JSONLimits(),
                sourceLocation: SourceLocation = #_sourceLocation) -> JSONError? {
    do {
        let v = try JSONValue.parse(Array(text.utf8), file: "t.json", limits: limits)
        Issue.record("parsed \(text) as \(v)", sourceLocation: sourceLocation)
    } catch let e as JSONError {
        return e
    } catch {
        Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
    }
    return nil
}

@Suite struct JSONReaderTests {
    @Test func readsEveryKindKeepingMemberOrder() throws {
        let v = try JSONValue.parse(Array(#" {"z": [1, -2.5e3, 0], "a": {"t": true, "f": false, "n": null}, "s": "x"} "#.utf8),
                                    file: "t.json")
        #expect(v.members?.map(\.0) == ["z", "a", "s"])
        #expect(v["z"] == [1, -2500.0, 0])
        #expect(v["a"]?["t"]?.bool == true && v["a"]?["n"] == .null && v["s"]?.string == "x")
        #expect(v["missing"] == nil && v["s"]?["x"] == nil)
    }

    @Test func integersStayExactAndOtherNumbersAreDoubles() throws {
        #expect(try JSONValue.parse(Array("9007199254740993".utf8), file: "") == .int(9007199254740993))
        #expect(try JSONValue.parse(Array("-0".utf8), file: "") == .int(0))
        #expect(try JSONValue.parse(Array("1.0".utf8), file: "") == .double(1))
        #expect(try JSONValue.parse(Array("1E2".utf8), file: "") == .double(100))
        // Beyond Int: a Double, not an overflow.
        #expect(try JSONValue.parse(Array("18446744073709551616".utf8), file: "") == .double(18446744073709551616))
        #expect(JSONValue.int(3).double == 3 && JSONValue.double(3).int == nil)
    }

    @Test func decodesEscapesAndSurrogatePairs() throws {
        let v = try JSONValue.parse(Array(#""a\"b\\c\/\b\f\n\r\t\u00e9\ud83d\ude00""#.utf8), file: "")
        #expect(v == .string("a\"b\\c/\u{8}\u{C}\n\r\té😀"))
    }

    @Test(arguments: [
        ("{\"a\": [1, 2", "ends early"), ("[1 2]", "expected ',' or ']'"), ("{\"a\" 1}", "expected ':'"),
        ("{1: 2}", "expected a string key"), ("[01]", "expected ',' or ']'"), ("[1.]", "digits after '.'"),
        ("[1e]", "exponent"), ("[-]", "digit after '-'"), ("[+1]", "unexpected character '+'"),
        ("[NaN]", "unexpected character 'N'"), ("[tru]", "invalid literal"), ("1 2", "unexpected text after"),
        ("\"a\u{1}\"", "control character"), ("\"\\ud800\"", "lone surrogate"), ("\"\\udc00\"", "lone surrogate"),
        ("\"\\x\"", "invalid escape"), ("\"\\u12g4\"", "bad \\u escape"), ("[1e999]", "out of range"),
        ("", "ends early"), ("{\"a\": 1,}", "expected a string key"),
    ])
    func refusesInvalidTextNamingFileAndOffset(_ text: String, _ problem: String) {
        guard let e = parseError(text) else { return }
        #expect(e.problem.contains(problem), "\(text): \(e.problem)")
        #expect(e.file == "t.json" && e.offset <= text.utf8.count)
        #expect(e.description.hasPrefix("t.json: invalid JSON: ") && e.description.contains("at byte \(e.offset)"))
    }

    @Test func errorOffsetPointsAtTheProblem() {
        #expect(parseError("[1, 2, x]")?.offset == 7)
        #expect(parseError("{\"a\": [1, 2")?.offset == 11)
    }

    @Test func refusesInvalidUTF8InStrings() {
        let bytes: [UInt8] = [0x22, 0x61, 0xFF, 0x22]
        #expect(throws: JSONError.self) { try JSONValue.parse(bytes, file: "t.json") }
    }

    @Test func limitsDepthAndSize() throws {
        let deep = String(repeating: "[", count: 65) + String(repeating: "]", count: 65)
        #expect(parseError(deep)?.problem.contains("nested too deeply (more than 64 levels)") == true)
        let ok = String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
        _ = try JSONValue.parse(Array(ok.utf8), file: "")
        // A hostile depth far beyond the limit fails cleanly instead of overflowing the stack.
        #expect(parseError(String(repeating: "[", count: 1_000_000))?.problem.contains("nested") == true)
        #expect(parseError("[1, 2, 3]", limits: JSONLimits(maxBytes: 5))?.problem.contains("exceeds the limit of 5") == true)
        #expect(parseError("[[1]]", limits: JSONLimits(maxDepth: 1))?.problem.contains("more than 1 levels") == true)
    }

    @Test func readsAFileRefusingOneOverTheSizeLimit() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("json-\(UUID().uuidString).json")
        defer { try? FileManager.default.removeItem(at: url) }
        try Data(#"{"k": ["v"]}"#.utf8).write(to: url)
        #expect(try JSONValue.read(path: url.path)["k"] == ["v"])
        #expect(throws: JSONError(file: url.path, offset: 0, problem: "file of 12 bytes exceeds the limit of 11")) {
            try JSONValue.read(path: url.path, limits: JSONLimits(maxBytes: 11))
        }
        #expect(throws: JSONError.self) { try JSONValue.read(path: url.path + ".missing") }
    }
}

@Suite struct JSONWriterTests {
    let value: JSONValue = .object([
        ("b", [1, 2]), ("a", .object([("x", .null), ("y", true)])), ("s", "q\"\\\n\t\u{1}\u{7F}é"), ("e", .object([])),
    ])

    @Test func writesTheThreeLayouts() {
        #expect(value.text(.compact) == #"{"b":[1,2],"a":{"x":null,"y":true},"s":"q\"\\\n\t\u0001\u007fé","e":{}}"#)
        #expect(value.text(.spaced) == #"{"b": [1, 2], "a": {"x": null, "y": true}, "s": "q\"\\\n\t\u0001\u007fé", "e": {}}"#)
        #expect(value.text(.linePerMember) == """
            {
              "b": [1, 2],
              "a": {"x": null, "y": true},
              "s": "q\\"\\\\\\n\\t\\u0001\\u007fé",
              "e": {}
            }
            """)
        #expect(JSONValue.object([]).text(.linePerMember) == "{}")
        #expect(JSONValue.array([]).text(.linePerMember) == "[]")
    }

    @Test func doublesPrintShortestRoundTripAndNonFiniteAsNull() {
        let cases: [(Double, String)] = [(0.5, "0.5"), (1, "1.0"), (1e-5, "1e-05"), (0.1 + 0.2, "0.30000000000000004"),
                                         (-2.5e300, "-2.5e+300"), (.nan, "null"), (.infinity, "null")]
        for (d, text) in cases { #expect(JSONValue.double(d).text() == text) }
        #expect(JSONValue.int(-42).text() == "-42")
    }

    @Test func writtenTextReadsBackToTheSameValue() throws {
        for style in [JSONStyle.compact, .spaced, .linePerMember] {
            #expect(try JSONValue.parse(Array(value.text(style).utf8), file: "") == value)
        }
        #expect(JSONValue.quote("a\"b") == #""a\"b""#)
    }
}
