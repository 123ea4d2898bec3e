// CMPCImageNetwork: the still-image CMPC network — CMPCCore with an image as its one frame.
// Port of CMPC_model.py: LSTM_model.build_graph (image version).
//
// image [1,H,W,3] → backbone c3, c4, c5 → lateral + l2norm; words → LSTM → word features
// → word parser (4 types). Per level: MUTAN(visual, spatial, entity+attribute sentence) → spatial graph
// (relation words) → fusion conv([mm; graph; sentence; spatial]) + ReLU → score head.
// Gated exchange (two rounds) → ConvLSTM over c3, c4, c5 → score → bilinear up to H×W.

import Tensor

/// The image network; its blocks (`backbone`, `levels`, `tail`, …) are the core's.
@dynamicMemberLookup
public struct CMPCImageNetwork: Sendable {
    public let core: CMPCCore

    public init(config: ModelConfig) throws {
        guard config.model == .image else {
            throw ModelConfigError(description: "CMPCImageNetwork needs model \"image\" (got \"\(config.model.rawValue)\")")
        }
        core = try CMPCCore(config: config)
    }

    /// The core's blocks and configuration: `net.backbone`, `net.config`, `net.specs`, ….
    public subscript<T>(dynamicMember path: KeyPath<CMPCCore, T>) -> T { core[keyPath: path] }

    /// The full forward pass. image [1,H,W,3] (BGR minus mean), words: num_steps ids left-padded with 0.
    public func callAsFunction(image: Tensor, words: [Int32], _ p: Parameters) throws -> CMPCOutputs {
        let config = core.config
        guard image.shape == [1, config.H, config.W, 3] else {
            throw TensorError.shapeMismatch(op: "CMPCImageNetwork", shapes: [image.shape, [1, config.H, config.W, 3]],
                                            reason: "the image must be [1, H, W, 3] as configured")
        }
        let s = try core.sentence(words, p)
        return try head(features: core.backbone(image, p), sentence: s, p)
    }

    /// Everything after the backbone, for one image's backbone outputs.
    public func head(features: BackboneFeatures, words: [Int32], _ p: Parameters) throws -> CMPCOutputs {
        try head(features: features, sentence: core.sentence(words, p), p)
    }

    func head(features: BackboneFeatures, sentence s: SentenceFeatures, _ p: Parameters) throws -> CMPCOutputs {
        let frame = try core.frames(backbone: features, p)
        return try core.window(sampled: core.frameSentence(frame, s, p), targetSlot: 0, target: frame[0], s, p)
    }
}
