import Foundation
import Testing
@testable import ImageModel

@Suite struct VocabularyTests {
    let vocab = try! Vocabulary(words: ["<pad>", "<go>", "<eos>", "<unk>", "the", "man", "in", "white", "shirt", "'", "s", ","])

    @Test func tokenizesAsPythonsRegexSplit() {
        #expect(Vocabulary.tokenize("  The man in white.") == ["the", "man", "in", "white"])
        #expect(Vocabulary.tokenize("man's shirt") == ["man", "'", "s", "shirt"])
        #expect(Vocabulary.tokenize("man, shirt") == ["man", ", ", "shirt"])   // the separator keeps its space
        #expect(Vocabulary.tokenize("the man .") == ["the", "man", " ."])       // only a bare final "." is dropped
    }

    @Test func encodesLeftPaddedTruncatedAndReportsUnknownWords() throws {
        let e = try vocab.encode("The man in the red shirt", steps: 8)
        #expect(e.ids == [0, 0, 4, 5, 6, 4, 3, 8])
        #expect(e.unknown == ["red"])
        #expect(!e.truncated)
        let long = try vocab.encode("the man the man the man", steps: 4)
        #expect(long.ids == [4, 5, 4, 5] && long.truncated)
        #expect(throws: VocabularyError.self) { try vocab.encode("  . ", steps: 4) }
        #expect(throws: VocabularyError.self) { try vocab.encode("", steps: 4) }
    }

    @Test func readsTheOriginalVocabularyFiles() throws {
        let url = sharedData("vocabulary_Gref.txt")
        try #require(FileManager.default.fileExists(atPath: url.path), "shared/data is beside the clone in CI")
        let v = try Vocabulary.load(url)
        #expect(v.count == 12112)
        #expect(v.padID == 0 && v.unknownID == 3)
        let e = try v.encode("the man in the white shirt jumping", steps: 20)
        #expect(e.ids.count == 20 && e.ids.prefix(13).allSatisfy { $0 == 0 } && e.unknown.isEmpty)
    }

    @Test func aVocabularyWithoutPadOrUnkIsRejected() {
        #expect(throws: VocabularyError.self) { try Vocabulary(words: ["a", "b"]) }
    }
}
