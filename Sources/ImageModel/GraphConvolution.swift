// GraphConvolution: one message-passing step with layer norm, shared by the spatial graph and
// the video's temporal graph. Port of CMPC_model.py: graph_conv.
//
// g = LN(A·X); X' = relu(X + g); out = relu(LN(conv1×1(X'))). X [1,1,N,C] nodes, A [1,N,N].

import Tensor

public struct GraphConvolution: Sendable {
    public let featureNorm: LayerNormLayer
    public let update: HeadConv
    public let updateNorm: LayerNormLayer

    public init(graph: String, level: String, channels: Int) {
        featureNorm = LayerNormLayer("gconv_feat_ln_\(graph)_\(level)", channels: channels)
        update = HeadConv("gconv_update_\(graph)_\(level)", in: channels, out: channels)
        updateNorm = LayerNormLayer("gconv_update_ln_\(graph)_\(level)", channels: channels)
    }

    public var specs: [ParameterSpec] { featureNorm.specs + update.specs + updateNorm.specs }

    /// nodes [1,1,N,C] and the propagated messages A·X [1,N,C] → [1,1,N,C].
    public func callAsFunction(nodes: Tensor, messages: Tensor, _ p: Parameters) throws -> Tensor {
        let x = try featureNorm(messages.reshaped(to: nodes.shape), p, residual: nodes, relu: true)   // relu(X + LN(A·X))
        return try updateNorm(update(x, p), p, relu: true)
    }
}
