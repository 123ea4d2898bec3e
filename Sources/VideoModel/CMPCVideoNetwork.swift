// CMPCVideoNetwork: the video CMPC network for A2D Sentences — CMPCCore (whose levels add the
// temporal graph and context) over ClipWindow's sampled frames.
// Port of CMPC_video/CMPC_video_mm_tgraph_allvec.py: LSTM_model.build_graph, build_lang2vis.
//
// clip [16,H,W,3] → frames 0, 4, 8, 12, 15 (F = 5) → backbone → lateral + l2norm per level.
// words → LSTM → word features → 5 word types (entity, attribute, static relation, action, unnecessary).
// Per level: MUTAN(visual_f, spatial, entity+attribute) for every frame f → temporal graph over the
// frames (action words) → temporal context of the target frame (sampled frame 2); spatial graph
// of the target frame's multimodal features (static-relation words); fusion conv of
// [visual_t; spatial graph; temporal context; sentence; spatial] → the image network's tail.
// With the configuration's "motion" (not in the original), the fusion also reads, per location,
// m_f − m_target for the 4 other sampled frames f (the entity-conditioned multimodal features).
//
// The computation is split so a whole video can reuse work: the core's `frames` (per frame),
// `sentence`, `frameSentence` (per frame and sentence) and this network's `window` (per target
// frame) — `callAsFunction(clip:)` is exactly their composition.

import ImageModel
import Tensor
import Video

/// The video network; its blocks (`backbone`, `levels`, `tail`, …) are the core's.
@dynamicMemberLookup
public struct CMPCVideoNetwork: Sendable {
    public let core: CMPCCore

    public init(config: ModelConfig) throws {
        guard config.model == .video else {
            throw ModelConfigError(description: "CMPCVideoNetwork needs model \"video\" (got \"\(config.model.rawValue)\")")
        }
        guard FusionInput.motionFrames == ClipWindow.slotCount - 1 else {
            throw ModelConfigError(description: "the motion features compare \(FusionInput.motionFrames) frames with the target but "
                                   + "ClipWindow samples \(ClipWindow.slotCount): set FusionInput.motionFrames to \(ClipWindow.slotCount - 1)")
        }
        core = try CMPCCore(config: config)
    }

    /// The core's blocks and configuration: `net.backbone`, `net.config`, `net.specs`, ….
    public subscript<T>(dynamicMember path: KeyPath<CMPCCore, T>) -> T { core[keyPath: path] }

    /// One window: ClipWindow's sampled frames' per-sentence features (target at ClipWindow.targetSlot)
    /// and the target frame's own features → every output.
    public func window(sampled: [FrameSentenceFeatures], target: FrameFeatures, _ s: SentenceFeatures,
                       _ p: Parameters) throws -> CMPCOutputs {
        guard sampled.count == ClipWindow.slotCount else {
            throw TensorError.invalidArgument(op: "CMPCVideoNetwork.window",
                                              reason: "\(sampled.count) sampled frames given; the network takes \(ClipWindow.slotCount)")
        }
        return try core.window(sampled: sampled, targetSlot: ClipWindow.targetSlot, target: target, s, p)
    }

    /// The full forward pass on one clip [16,H,W,3] (BGR minus mean) or its 5 sampled frames [5,H,W,3].
    /// The frames read are ClipWindow's (the target alone for single_frame); each is computed once.
    public func callAsFunction(clip: Tensor, words: [Int32], _ p: Parameters) throws -> CMPCOutputs {
        let (H, W) = (core.config.H, core.config.W)
        let singleFrame = core.config.ablation == .singleFrame
        let sources: [Int]   // the index in `clip` each slot reads
        if clip.shape == [ClipWindow.length, H, W, 3] {
            sources = ClipWindow.positions(singleFrame: singleFrame)
        } else if clip.shape == [ClipWindow.slotCount, H, W, 3] {
            sources = ClipWindow.slotSources(singleFrame: singleFrame)
        } else {
            throw TensorError.shapeMismatch(op: "CMPCVideoNetwork", shapes: [clip.shape, [ClipWindow.length, H, W, 3]],
                                            reason: "the clip must be [16, H, W, 3] (or its 5 sampled frames) as configured")
        }
        let distinct = Array(Set(sources)).sorted()
        let images = try concat(distinct.map { try clip.slice(begin: [$0, 0, 0, 0], size: [1, H, W, 3]) }, axis: 0)
        let s = try core.sentence(words, p)
        let f = try core.frames(images, p)
        let fs = try core.frameSentence(f, s, p)
        let slot = sources.map { distinct.firstIndex(of: $0)! }
        return try window(sampled: slot.map { fs[$0] }, target: f[slot[ClipWindow.targetSlot]], s, p)
    }
}
