// LanguageEncoder: GloVe embedding lookup and a one-layer BasicLSTM over the left-padded words.
// Port of CMPC_model.py: build_graph (embedding_mat, the RNN loop with tf.cond on padding,
// words_feat slicing from valid_idx and its L2 normalisation).
//
// T = num_steps words, T' = T − valid_idx valid words, C = rnn_size.
// A padding word (id 0) outputs zeros and leaves the state unchanged.

import Tensor

/// Word features of one sentence.
public struct LanguageFeatures: Sendable {
    /// Index of the first non-padding word.
    public var validIndex: Int
    /// L2-normalised LSTM outputs of the valid words, [1, 1, T', C].
    public var words: Tensor
    /// The LSTM output after the last word, [1, C] (unnormalised).
    public var lastOutput: Tensor
}

/// Embedding + BasicLSTMCell (gate order i, j, f, o; forget bias 1.0).
public struct LanguageEncoder: Sendable {
    public let embeddingName = "text_objseg/Variable"
    public let kernelName = "text_objseg/RNN/multi_rnn_cell/cell_0/basic_lstm_cell/kernel"
    public let biasName = "text_objseg/RNN/multi_rnn_cell/cell_0/basic_lstm_cell/bias"
    public let vocabSize: Int
    public let gloveDim: Int
    public let units: Int

    public init(config: ModelConfig) {
        vocabSize = config.vocabSize
        gloveDim = config.gloveDim
        units = config.rnnSize
    }

    public var specs: [ParameterSpec] {
        [ParameterSpec(embeddingName, [vocabSize, gloveDim], .uniform(-0.5, 0.5)),
         ParameterSpec(kernelName, [gloveDim + units, 4 * units], .xavier),
         ParameterSpec(biasName, [4 * units], .zeros)]
    }

    /// The first index whose id is not 0 (0 when every word is padding, as the original's loop).
    public static func validIndex(_ words: [Int32]) -> Int {
        words.firstIndex(where: { $0 != 0 }) ?? 0
    }

    /// words: T ids, left-padded with 0.
    public func callAsFunction(_ words: [Int32], _ p: Parameters) throws -> LanguageFeatures {
        try Profiler.section("LanguageEncoder") {
            let valid = Self.validIndex(words)
            if let bad = words.first(where: { $0 < 0 || Int($0) >= vocabSize }) {
                throw TensorError.invalidArgument(op: "LanguageEncoder", reason: "word id \(bad) is outside the vocabulary of \(vocabSize) words")
            }
            let kernel = try p(kernelName)
            let bias = try p(biasName)
            let table = try p(embeddingName)
            var h = Tensor(shape: [1, units])
            var c = Tensor(shape: [1, units])
            var outputs: [Tensor] = []
            var lastOutput = h
            for (n, id) in words.enumerated() {
                if id == 0 {
                    lastOutput = Tensor(shape: [1, units])                      // f1: zeros, state unchanged
                } else {
                    let x = try embeddingLookup(table, ids: [id])               // [1, glove]
                    (h, c) = try lstmCell(x: x, h: h, c: c, kernel: kernel, bias: bias, forgetBias: 1.0)
                    lastOutput = h
                }
                if n >= valid { outputs.append(lastOutput) }
            }
            let stacked = try concat(outputs, axis: 0)                          // [T', C]
            let normalised = try l2Normalize(stacked, axes: [1])
            return LanguageFeatures(validIndex: valid,
                                    words: try normalised.reshaped(to: [1, 1, outputs.count, units]),
                                    lastOutput: lastOutput)
        }
    }
}
