// Lateral projections and score heads, shared by the image and video networks.
// Port of CMPC_model.py: build_graph (c3/c4/c5_lateral + l2 normalisation; score_c3/c4/c5 and
// score, each a 3×3 conv to one logit, bilinearly up-sampled to H×W).

import Tensor

/// 1×1 lateral projection of a backbone level to v_emb_dim channels, then L2 normalisation.
public struct Lateral: Sendable {
    public let conv: HeadConv

    public init(level: String, inChannels: Int, config: ModelConfig) {
        conv = HeadConv("\(level)_lateral", in: inChannels, out: config.vEmbDim)
    }

    public var specs: [ParameterSpec] { conv.specs }

    /// [N,H,W,Cin] → [N,H,W,C], unit length over channels.
    public func callAsFunction(_ x: Tensor, _ p: Parameters) throws -> Tensor {
        try Profiler.section("Lateral") { try l2Normalize(conv(x, p), axes: [3]) }
    }
}

/// 3×3 convolution to one logit per location.
public struct ScoreHead: Sendable {
    public let conv: HeadConv

    public init(name: String, config: ModelConfig) {
        conv = HeadConv(name, kernel: 3, in: config.mlpDim, out: 1)
    }

    public var specs: [ParameterSpec] { conv.specs }

    /// [1,h,w,D] → logits [1,h,w,1].
    public func callAsFunction(_ x: Tensor, _ p: Parameters) throws -> Tensor {
        try Profiler.section("ScoreHead") { try conv(x, p) }
    }
}

/// Everything one forward pass produces, under the names `cmpc-video forward` writes.
public struct CMPCOutputs: Sendable {
    /// Final logits at H×W, [1,H,W,1].
    public var up: Tensor
    /// Final logits at the feature size, [1,vf_h,vf_w,1].
    public var pred: Tensor
    /// Auxiliary logits of each level at H×W, [1,H,W,1].
    public var upC3: Tensor
    public var upC4: Tensor
    public var upC5: Tensor
    /// Word types, [T', types].
    public var wordsParse: Tensor

    /// σ(up).
    public func sigm() throws -> Tensor { try sigmoid(up) }

    /// The named outputs, batch axis dropped: up [H,W,1], sigm, pred [vf_h,vf_w,1], up_c3…, words_parse [T', types].
    public func named() throws -> [(String, Tensor)] {
        func drop(_ t: Tensor) throws -> Tensor { try t.reshaped(to: Array(t.shape.dropFirst())) }
        return [("up", try drop(up)), ("sigm", try drop(sigm())), ("pred", try drop(pred)),
                ("up_c3", try drop(upC3)), ("up_c4", try drop(upC4)), ("up_c5", try drop(upC5)),
                ("words_parse", wordsParse)]
    }
}
