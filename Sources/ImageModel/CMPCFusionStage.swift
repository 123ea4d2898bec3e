// CMPCFusionStage: the tail both CMPC networks share — text-guided gated exchange between the three
// levels (two rounds), the ConvLSTM over c3, c4, c5, and the final 3×3 score.
// Port of CMPC_model.py: build_graph after build_lang2vis (gated_exchange_fusion_lstm_2times, score).

import Tensor

/// Gated exchange, ConvLSTM and final score, built once with the network.
public struct CMPCFusionStage: Sendable {
    public let exchange: GatedExchange
    public let convLSTM: ConvLSTMFusion
    public let score: ScoreHead

    public init(config: ModelConfig) {
        exchange = GatedExchange(config: config)
        convLSTM = ConvLSTMFusion(config: config)
        score = ScoreHead(name: "score", config: config)
    }

    /// In the original's creation order.
    public var specs: [ParameterSpec] { exchange.specs + convLSTM.specs + score.specs }

    /// Fused level features c3, c4, c5 [1,h,w,D] and the all-but-unnecessary sentence [1,1,1,C] →
    /// final logits at the feature size [1,h,w,1].
    public func callAsFunction(_ fused: [Tensor], sentence: Tensor, _ p: Parameters) throws -> Tensor {
        let exchanged = try exchange(c3: fused[0], c4: fused[1], c5: fused[2], sentence: sentence, p)
        return try score(convLSTM(exchanged, p), p)
    }
}
