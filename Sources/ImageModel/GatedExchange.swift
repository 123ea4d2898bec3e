// GatedExchange: text-guided feature exchange between the three levels, two rounds.
// Port of CMPC_model.py: global_vec, lang_se, gated_exchange_module,
// gated_exchange_fusion_lstm_2times (without the ConvLSTM, which is ConvLSTMFusion.swift).
//
// For a level X with features F and the other two F1, F2 (all [1,H,W,D], D = mlp_dim):
//   g = l2norm_all(conv([Σ softmax_HW(conv(F)·conv(L)ᵀ/√D)·F ; L]))     (global vector, [1,1,1,D])
//   F' = l2norm_C(F + relu(conv(F1)) ⊙ σ(conv(g)) + relu(conv(F2)) ⊙ σ(conv(g)))
// Round 1 on (c3, c4, c5); round 2 (levels c3_2, c4_2, c5_2) on round 1's outputs.

import Tensor

/// One exchange for one level.
public struct GatedExchangeModule: Sendable {
    public let level: String
    public let key: HeadConv
    public let query: HeadConv
    public let globalVector: HeadConv
    public let gate1: HeadConv
    public let transform1: HeadConv
    public let gate2: HeadConv
    public let transform2: HeadConv
    public let mlpDim: Int

    public init(level: String, config: ModelConfig) {
        self.level = level
        mlpDim = config.mlpDim
        let d = config.mlpDim
        // The original's scope names: "<X>gv_f1" for the global vector (no underscore), "<X>_f1/_f2".
        key = HeadConv("spa_graph_key_\(level)gv_f1", in: d, out: d)
        query = HeadConv("lang_query_\(level)gv_f1", in: config.rnnSize, out: d)
        globalVector = HeadConv("gv_lang_\(level)gv_f1", in: d + config.rnnSize, out: d)
        gate1 = HeadConv("lang_feat_\(level)_f1", in: d, out: d)
        transform1 = HeadConv("trans_feat_\(level)_f1", in: d, out: d)
        gate2 = HeadConv("lang_feat_\(level)_f2", in: d, out: d)
        transform2 = HeadConv("trans_feat_\(level)_f2", in: d, out: d)
    }

    public var specs: [ParameterSpec] {
        [key, query, globalVector, gate1, transform1, gate2, transform2].flatMap(\.specs)
    }

    /// Language-attended global vector of `feat`: [1,H,W,D], sentence [1,1,1,C] → [1,1,1,D].
    func globalVec(_ feat: Tensor, sentence: Tensor, _ p: Parameters) throws -> Tensor {
        let (h, w, d) = (feat.shape[1], feat.shape[2], mlpDim)
        let weights = try attention(feat, key, sentence, query, over: 1, p)              // [1,HW,1]
        let pooled = try matmul(weights, feat.reshaped(to: [1, h * w, d]), transposeA: true)            // [1,1,D]
        let joined = try concat([pooled.reshaped(to: [1, 1, 1, d]), sentence], axis: 3)  // [1,1,1,D+C]
        return try l2Normalize(globalVector(joined, p), axes: nil)
    }

    /// feat, other1, other2 [1,H,W,D] → the exchanged feat (before the caller's normalisation).
    public func callAsFunction(_ feat: Tensor, _ other1: Tensor, _ other2: Tensor, sentence: Tensor,
                               _ p: Parameters) throws -> Tensor {
        let g = try globalVec(feat, sentence: sentence, p)
        let t1 = try transform1(other1, p), s1 = try sigmoid(gate1(g, p))
        let t2 = try transform2(other2, p), s2 = try sigmoid(gate2(g, p))
        if Tape.records([feat, t1, s1, t2, s2]) {
            return try feat + relu(t1) * s1 + relu(t2) * s2
        }
        // Inference: the same arithmetic in one pass.
        return try addGatedPair(feat, t1, gate: s1, t2, gate: s2)
    }
}

/// Two rounds of exchange over c3, c4, c5.
public struct GatedExchange: Sendable {
    public let round1: [GatedExchangeModule]   // c3, c4, c5
    public let round2: [GatedExchangeModule]   // c3_2, c4_2, c5_2

    public init(config: ModelConfig) {
        round1 = ["c3", "c4", "c5"].map { GatedExchangeModule(level: $0, config: config) }
        round2 = ["c3_2", "c4_2", "c5_2"].map { GatedExchangeModule(level: $0, config: config) }
    }

    public var specs: [ParameterSpec] { (round1 + round2).flatMap(\.specs) }

    /// fusion c3, c4, c5 [1,H,W,D] and the sentence [1,1,1,C] → the twice-exchanged c3, c4, c5.
    public func callAsFunction(c3: Tensor, c4: Tensor, c5: Tensor, sentence: Tensor, _ p: Parameters) throws -> [Tensor] {
        try Profiler.section("GatedExchange") {
            func exchange(_ m: [GatedExchangeModule], _ f3: Tensor, _ f4: Tensor, _ f5: Tensor) throws -> [Tensor] {
                [try l2Normalize(m[0](f3, f4, f5, sentence: sentence, p), axes: [3]),
                 try l2Normalize(m[1](f4, f3, f5, sentence: sentence, p), axes: [3]),
                 try l2Normalize(m[2](f5, f3, f4, sentence: sentence, p), axes: [3])]
            }
            let first = try exchange(round1, c3, c4, c5)
            return try exchange(round2, first[0], first[1], first[2])
        }
    }
}
