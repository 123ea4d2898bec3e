// SpatialGraph: relation-aware reasoning. Relation words build the adjacency of a graph whose
// nodes are the feature-map locations; one graph convolution with layer norm.
// Port of CMPC_model.py: build_spa_graph.
//
// Words W [1,1,T',C], multimodal M [1,H,W,C], relation weights r [1,1,T'].
// a = r ⊙ (conv(M)·conv(W)ᵀ/√C) [1,HW,T']; A = softmax_T(a)·softmax_HW(a)ᵀ [1,HW,HW].
// A·X is computed as softmax_T(a)·(softmax_HW(a)ᵀ·X) — the same product, without forming the
// HW×HW matrix (about 80× fewer flops at 40×40).

import Tensor

/// One level's spatial graph: relation words connect the feature-map locations; one graph convolution.
public struct SpatialGraph: Sendable {
    public let wordsTransform: HeadConv
    public let nodesTransform: HeadConv
    public let graphConv: GraphConvolution
    public let channels: Int

    public init(level: String, config: ModelConfig) {
        channels = config.vEmbDim
        wordsTransform = HeadConv("words_trans_\(level)", in: config.rnnSize, out: config.rnnSize)
        nodesTransform = HeadConv("spa_graph_trans2_\(level)", in: config.vEmbDim, out: config.vEmbDim)
        graphConv = GraphConvolution(graph: "spa_graph", level: level, channels: config.vEmbDim)
    }

    public var specs: [ParameterSpec] { wordsTransform.specs + nodesTransform.specs + graphConv.specs }

    /// multimodal [1,H,W,C], words [1,1,T',C], relation weights [1,1,T'] → [1,H,W,C], L2-normalised.
    public func callAsFunction(multimodal m: Tensor, words: Tensor, relation: Tensor, _ p: Parameters) throws -> Tensor {
        try Profiler.section("SpatialGraph") {
            let (h, w, c) = (m.shape[1], m.shape[2], channels)
            let affinity = try relation * attentionScores(m, nodesTransform, words, wordsTransform, p)   // [1,HW,T']
            let overWords = try softmax(affinity, axis: 2)                                  // [1,HW,T']
            let overNodes = try softmax(affinity, axis: 1)                                  // [1,HW,T']
            let x = try m.reshaped(to: [1, h * w, c])
            let messages = try matmul(overWords, matmul(overNodes, x, transposeA: true))    // [1,HW,C]
            let out = try graphConv(nodes: x.reshaped(to: [1, 1, h * w, c]), messages: messages, p)
            return try l2Normalize(out.reshaped(to: [1, h, w, c]), axes: [3])
        }
    }
}
