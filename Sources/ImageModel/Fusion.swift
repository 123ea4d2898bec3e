// The fusion of one level: a 1×1 convolution + ReLU over the concatenation of the level's features.
// Port of CMPC_model.py: build_lang2vis (fusion_<level>) and the video model's build_lang2vis.
//
// What the concatenation holds is declared once, as the network's list of FusionInput
// (ModelConfig.fusionInputs): the list fixes the order of the parts, the convolution's input width
// (fusion_<level>/DW [1,1,Σ widths,mlp_dim]), and how CheckpointConfig reads optional inputs off a
// checkpoint's fusion width (fusionVariants). Adding an input: a case here (its width, its place in
// the list, and for an optional one its switch in fusionVariants) and its value in CMPCLevel.fuse,
// whose switch does not compile until it is given; an optional input also needs its key in ModelConfig.
//
//     image  [multimodal; spatial graph; entity sentence; grid]                           2C + C_rnn + 8
//     video  [visual; spatial graph; temporal context; valid sentence; grid; (motion)]    3C + C_rnn + 8 (+ 4C)

import Tensor

/// One part of a level's fusion input, [1,h,w,width] each.
public enum FusionInput: String, Sendable, CaseIterable {
    /// The level's multimodal (MUTAN) features, C = v_emb_dim channels (image network).
    case multimodal
    /// The target frame's lateral visual features, C channels (video network).
    case visual
    /// The spatial graph's output, C channels.
    case spatialGraph = "spatial graph"
    /// The temporal context of the target frame, C channels (video network).
    case temporalContext = "temporal context"
    /// The entity + attribute sentence at every location, rnn_size channels (image network's valid_lang).
    case entitySentence = "entity sentence"
    /// The all-but-unnecessary sentence at every location, rnn_size channels (video network's valid_lang).
    case validSentence = "valid sentence"
    /// The 8-channel spatial grid.
    case spatialGrid = "spatial grid"
    /// This port's motion features (not in the original): m_f − m_target for each sampled frame f
    /// other than the target, `motionFrames`·C channels.
    case motion

    /// Sampled frames the motion features compare with the target: ClipWindow.slotCount − 1
    /// (CMPCVideoNetwork checks the two agree).
    public static let motionFrames = 4

    /// Channels of this input under `config`.
    public func channels(_ config: ModelConfig) -> Int {
        switch self {
        case .multimodal, .visual, .spatialGraph, .temporalContext: return config.vEmbDim
        case .entitySentence, .validSentence: return config.rnnSize
        case .spatialGrid: return 8
        case .motion: return Self.motionFrames * config.vEmbDim
        }
    }
}

extension ModelConfig {
    /// The fusion's inputs in concatenation order, for this configuration's network.
    public var fusionInputs: [FusionInput] {
        switch model {
        case .image: return [.multimodal, .spatialGraph, .entitySentence, .spatialGrid]
        case .video: return [.visual, .spatialGraph, .temporalContext, .validSentence, .spatialGrid] + (usesMotion ? [.motion] : [])
        }
    }

    /// Input channels of each level's fusion convolution: the widths of `fusionInputs`, summed.
    public var fusionInputChannels: Int { fusionInputs.reduce(0) { $0 + $1.channels(self) } }

    /// This configuration with its optional fusion inputs (this port's additions) off and on, in every
    /// combination: what CheckpointConfig matches against a checkpoint's fusion width.
    public var fusionVariants: [ModelConfig] {
        var plain = self, withMotion = self
        plain.motion = nil
        withMotion.motion = true                     // motion: video network only
        return model == .video ? [plain, withMotion] : [plain]
    }

    /// The fusion's inputs with their widths, "visual 1000 + … = 3024", for error messages.
    public var fusionInputsDescription: String {
        fusionInputs.map { "\($0.rawValue) \($0.channels(self))" }.joined(separator: " + ") + " = \(fusionInputChannels)"
    }
}

/// The fusion of one level: [inputs…] → 1×1 conv + ReLU → [1,h,w,mlp_dim].
public struct LevelFusion: Sendable {
    /// What the convolution reads, in concatenation order.
    public let inputs: [FusionInput]
    /// Each input's channels.
    public let widths: [Int]
    /// fusion_<level>, [1,1,Σ widths,mlp_dim].
    public let conv: HeadConv

    public init(level: String, config: ModelConfig) {
        inputs = config.fusionInputs
        widths = inputs.map { $0.channels(config) }
        conv = HeadConv("fusion_\(level)", in: config.fusionInputChannels, out: config.mlpDim)
    }

    public var specs: [ParameterSpec] { conv.specs }

    /// Concatenates `value(input)` for every input, in order, and fuses them. Each part must have its
    /// declared width; the error names the part.
    public func callAsFunction(_ p: Parameters, value: (FusionInput) throws -> Tensor) throws -> Tensor {
        let parts = try zip(inputs, widths).map { input, width -> Tensor in
            let t = try value(input)
            guard t.shape.last == width else {
                throw TensorError.shapeMismatch(op: conv.name, shapes: [t.shape],
                                                reason: "the fusion input \"\(input.rawValue)\" must have \(width) channels")
            }
            return t
        }
        return try conv(concat(parts, axis: 3), p, relu: true)
    }
}
