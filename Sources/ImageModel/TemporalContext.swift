// TemporalContext: each location of the target frame attends over the temporal graph's nodes.
// Port of CMPC_video/CMPC_video_mm_tgraph_allvec.py: build_temp_ctx.
//
// attention = softmax_F(conv(M)·conv(N)ᵀ/√C) [1,HW,F]; context = l2norm(attention·N) [1,H,W,C].

import Tensor

/// One level's temporal context (video network): the target frame's locations attend over the
/// temporal graph's nodes.
public struct TemporalContext: Sendable {
    public let multimodalTransform: HeadConv
    public let contextTransform: HeadConv
    public let channels: Int

    public init(level: String, config: ModelConfig) {
        channels = config.vEmbDim
        multimodalTransform = HeadConv("mm_trans_\(level)", in: config.vEmbDim, out: config.vEmbDim)
        contextTransform = HeadConv("ctx_trans_\(level)", in: config.vEmbDim, out: config.vEmbDim)
    }

    public var specs: [ParameterSpec] { multimodalTransform.specs + contextTransform.specs }

    /// target-frame multimodal features [1,H,W,C], temporal nodes [1,1,F,C] → [1,H,W,C].
    public func callAsFunction(multimodal m: Tensor, nodes: Tensor, _ p: Parameters) throws -> Tensor {
        let (h, w, c, f) = (m.shape[1], m.shape[2], channels, nodes.shape[2])
        let weights = try attention(m, multimodalTransform, nodes, contextTransform, over: 2, p)   // [1,HW,F]
        let context = try matmul(weights, nodes.reshaped(to: [1, f, c]))                 // [1,HW,C]
        return try l2Normalize(context.reshaped(to: [1, h, w, c]), axes: [3])
    }
}
