// TemporalGraph: action words weight each sampled frame's multimodal features into one node per
// frame; the nodes form a fully connected graph (query/key adjacency) with one graph convolution.
// Port of CMPC_video/CMPC_video_mm_tgraph_allvec.py: build_temp_graph.
//
// F = 5 sampled frames, HW locations, C = v_emb_dim.
// attention_f = softmax_HW(conv(a)·conv(M_f)ᵀ/√C)   (a: action sentence [1,1,1,C], M_f [HW,C])
// node_f = attention_f·M_f;  A = softmax(conv_q(N)·conv_k(N)ᵀ/√C) [1,F,F];  out = l2norm(gconv(N, A·N)).

import Tensor

/// One level's temporal graph (video network): action words pool each sampled frame into a node, and
/// one graph convolution relates the frames.
public struct TemporalGraph: Sendable {
    public let visualTransform: HeadConv
    public let languageTransform: HeadConv
    public let query: HeadConv
    public let key: HeadConv
    public let graphConv: GraphConvolution
    public let channels: Int

    public init(level: String, config: ModelConfig) {
        channels = config.vEmbDim
        visualTransform = HeadConv("tg_vtrans_\(level)", in: config.vEmbDim, out: config.vEmbDim)
        languageTransform = HeadConv("tg_ltrans_\(level)", in: config.rnnSize, out: config.rnnSize)
        query = HeadConv("tg_query_\(level)", in: config.vEmbDim, out: config.vEmbDim)
        key = HeadConv("tg_key_\(level)", in: config.vEmbDim, out: config.vEmbDim)
        graphConv = GraphConvolution(graph: "temp_graph", level: level, channels: config.vEmbDim)
    }

    public var specs: [ParameterSpec] {
        visualTransform.specs + languageTransform.specs + query.specs + key.specs + graphConv.specs
    }

    /// One node per frame before the graph: multimodal [F,H,W,C], action sentence [1,1,1,C] → [1,1,F,C].
    public func nodes(multimodal m: Tensor, action: Tensor, _ p: Parameters) throws -> Tensor {
        let (f, hw, c) = (m.shape[0], m.shape[1] * m.shape[2], channels)
        let weights = try attention(action, languageTransform, m, visualTransform, over: 2, p)   // [F,1,HW]
        let pooled = try matmul(weights, m.reshaped(to: [f, hw, c]))                     // [F,1,C]
        return try pooled.reshaped(to: [1, 1, f, c])
    }

    /// Nodes [1,1,F,C] → graph-convolved nodes [1,1,F,C], L2-normalised over channels.
    public func reason(nodes: Tensor, _ p: Parameters) throws -> Tensor {
        let (f, c) = (nodes.shape[2], channels)
        let adjacency = try attention(nodes, query, nodes, key, over: 2, p)                // [1,F,F]
        let messages = try matmul(adjacency, nodes.reshaped(to: [1, f, c]))              // [1,F,C]
        return try l2Normalize(graphConv(nodes: nodes, messages: messages, p), axes: [3])
    }

    /// multimodal [F,H,W,C], action sentence [1,1,1,C] → temporal nodes [1,1,F,C].
    public func callAsFunction(multimodal m: Tensor, action: Tensor, _ p: Parameters) throws -> Tensor {
        try reason(nodes: nodes(multimodal: m, action: action, p), p)
    }
}
