// WordParser: entity perception — a soft word type per word.
// Port of CMPC_model.py: build_lang_parser (words_parse_1 1×1 conv + ReLU, words_parse_2, softmax).
//
// Image model: 4 types (entity, attribute, relation, unnecessary).
// Video model: 5 types (entity, attribute, static relation, action, unnecessary).

import Tensor

/// Per-word type probabilities, [1, 1, T', types].
public struct WordParser: Sendable {
    public let hidden: HeadConv
    public let output: HeadConv
    public let types: Int

    public init(config: ModelConfig) {
        types = config.model.wordTypes
        hidden = HeadConv("words_parse_1", in: config.rnnSize, out: config.parseDim)
        output = HeadConv("words_parse_2", in: config.parseDim, out: types)
    }

    public var specs: [ParameterSpec] { hidden.specs + output.specs }

    /// words [1,1,T',C] → [1,1,T',types], rows summing to 1.
    public func callAsFunction(_ words: Tensor, _ p: Parameters) throws -> Tensor {
        try Profiler.section("WordParser") {
            try softmax(output(relu(hidden(words, p)), p), axis: 3)
        }
    }
}

/// Sentence vectors as the original forms them from word types: Σₜ weightₜ·wordₜ, L2-normalised.
public enum WordTypeSelection {
    /// Weighted sum of the word features: weights [1,1,T'] · words [1,1,T',C] → [1,1,1,C], L2-normalised.
    public static func sentence(weights: Tensor, words: Tensor) throws -> Tensor {
        let t = words.shape[2], c = words.shape[3]
        let w = try weights.reshaped(to: [1, 1, t])                                  // [B,1,T']
        let f = try words.reshaped(to: [1, t, c])                                    // [B,T',C]
        let v = try l2Normalize(matmul(w, f), axes: [2])                             // [B,1,C]
        return try v.reshaped(to: [1, 1, 1, c])
    }

    /// The type-`k` column of the parse, [1,1,T'].
    public static func type(_ k: Int, of parse: Tensor) throws -> Tensor {
        let t = parse.shape[2]
        return try parse.slice(begin: [0, 0, 0, k], size: [1, 1, t, 1]).reshaped(to: [1, 1, t])
    }

    /// Entity + attribute weights (the original's valid_lang / ea_lang).
    public static func entityAttribute(_ parse: Tensor) throws -> Tensor {
        try type(0, of: parse) + type(1, of: parse)
    }

    /// Every type but "unnecessary" (the last): the original's nec_lang (image) / valid_lang (video).
    public static func allButUnnecessary(_ parse: Tensor) throws -> Tensor {
        try parse.sum(axes: [3]) - type(parse.shape[3] - 1, of: parse)
    }
}
