// Vocabulary and tokenisation as the original (util/text_processing.py):
// strip, split on the regex (\W+) keeping the separators, drop tokens that are only whitespace,
// lower-case, drop a final "."; unknown words map to <unk>; truncate to T; left-pad with <pad>.
// The vocabulary file holds one word per line; a word's id is its line number (0-based).

import Foundation

/// Why a sentence or vocabulary cannot be used.
public struct VocabularyError: Error, CustomStringConvertible {
    public let description: String
}

/// What tokenising one sentence produced.
public struct EncodedSentence: Sendable, Equatable {
    /// T word ids, left-padded with the <pad> id.
    public var ids: [Int32]
    /// The tokens kept (before truncation).
    public var tokens: [String]
    /// Tokens not in the vocabulary (mapped to <unk>).
    public var unknown: [String]
    /// True when the sentence had more than T tokens and was cut.
    public var truncated: Bool

    /// The tokens that are words (hold a letter or a digit), not punctuation.
    public var words: [String] { tokens.filter { $0.contains { $0.isLetter || $0.isNumber } } }

    /// The unknown words (punctuation left out), each once, in sentence order.
    public var unknownWords: [String] {
        var seen = Set<String>()
        return unknown.filter { $0.contains { $0.isLetter || $0.isNumber } && seen.insert($0).inserted }
    }

    /// The share of the sentence's words that are unknown, 0…1 (repeats counted each time).
    public var unknownShare: Double {
        let all = words
        guard !all.isEmpty else { return 0 }
        let unknownSet = Set(unknown)
        return Double(all.filter { unknownSet.contains($0) }.count) / Double(all.count)
    }

    /// True when the sentence has words and none of them is in the vocabulary: the model would see only <unk>.
    public var allWordsUnknown: Bool { !words.isEmpty && unknownShare == 1 }
}

public struct Vocabulary: Sendable {
    public let words: [String]
    private let ids: [String: Int32]
    public let padID: Int32
    public let unknownID: Int32
    /// Where the words came from (the file's path, for messages).
    public let source: String

    /// A vocabulary from its words in id order; it must hold <pad> and <unk>.
    public init(words: [String], source: String = "vocabulary") throws {
        guard !words.isEmpty else { throw VocabularyError(description: "\(source) holds no words") }
        var ids: [String: Int32] = [:]
        for (i, w) in words.enumerated() { ids[w] = Int32(i) }   // a repeated word keeps its last id, as a Python dict
        guard let pad = ids["<pad>"], let unk = ids["<unk>"] else {
            throw VocabularyError(description: "\(source) must contain the words <pad> and <unk>")
        }
        self.words = words
        self.ids = ids
        self.padID = pad
        self.unknownID = unk
        self.source = source
    }

    /// Reads a vocabulary file (one word per line; each line is stripped of surrounding whitespace).
    public static func load(_ url: URL) throws -> Vocabulary {
        let text: String
        do { text = try String(contentsOf: url, encoding: .utf8) } catch {
            throw VocabularyError(description: "cannot read vocabulary \(url.path): \(error.localizedDescription)")
        }
        var lines = text.components(separatedBy: "\n")
        if lines.last == "" { lines.removeLast() }
        return try Vocabulary(words: lines.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }, source: url.path)
    }

    public var count: Int { words.count }

    /// The id of a word, or nil.
    public func id(of word: String) -> Int32? { ids[word] }

    /// Splits like Python 3's re.split(r'(\W+)', s.strip()), then keeps non-blank tokens lower-cased.
    public static func tokenize(_ sentence: String) -> [String] {
        let s = sentence.trimmingCharacters(in: .whitespacesAndNewlines)
        var pieces: [String] = []
        var current = ""
        var currentIsWord: Bool? = nil
        for ch in s {
            let isWord = ch.isLetter || ch.isNumber || ch == "_"
            if currentIsWord == nil || currentIsWord == isWord {
                current.append(ch)
            } else {
                pieces.append(current)
                current = String(ch)
            }
            currentIsWord = isWord
        }
        if !current.isEmpty { pieces.append(current) }
        var tokens = pieces.filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }.map { $0.lowercased() }
        if tokens.last == "." { tokens.removeLast() }
        return tokens
    }

    /// Token ids of a sentence, truncated to `steps` and left-padded with <pad>.
    public func encode(_ sentence: String, steps: Int) throws -> EncodedSentence {
        let tokens = Self.tokenize(sentence)
        guard !tokens.isEmpty else {
            throw VocabularyError(description: "the sentence \"\(sentence)\" is empty: give at least one word")
        }
        var unknown: [String] = []
        var ids = tokens.map { t -> Int32 in
            if let i = self.ids[t] { return i }
            unknown.append(t)
            return unknownID
        }
        let truncated = ids.count > steps
        if truncated { ids = Array(ids.prefix(steps)) }
        if ids.count < steps { ids = [Int32](repeating: padID, count: steps - ids.count) + ids }
        return EncodedSentence(ids: ids, tokens: tokens, unknown: unknown, truncated: truncated)
    }
}
