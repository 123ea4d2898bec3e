// ModelRunner: the one place the pipeline calls the networks, and the per-frame feature cache the
// whole-video segmenter and the dataset predictor share.
//
// Which frames a target reads (`ModelConfig.framesRead`): the video network reads the 5 sampled
// frames of the target's Video.ClipWindow (the target in every slot for single_frame); the image
// network reads the target frame alone. The training sample reader prepares the same frames.
//
// What is computed once (a `FrameEntry` holds it while the frame is held):
//   per sentence             the language features
//   per frame                backbone and laterals
//   per frame and sentence   the multimodal features (and the video network's temporal nodes), when
//                            the sentence is shared by many targets (`PreparedSentence.cacheKey`), up to
//                            `frameSentenceCacheBytes` a frame (the other sentences recompute them per target)
//   per target               the window: the rest of the network (one slot for the image network)
// Every call on the network (`frames`, `sentence`, `frameSentence`, `window`) is in this file, the
// same for both networks.

import ImageModel
import Tensor
import Video
import VideoModel

/// The frames one target reads, one per slot, and which slot is the target.
public struct FramesRead: Equatable, Sendable {
    /// 1-based frame numbers: the clip window's 5 sampled frames (video network) or the target alone (image network).
    public var frames: [Int]
    /// The slot of the target frame in `frames`.
    public var targetSlot: Int
    /// The target frame's number.
    public var target: Int { frames[targetSlot] }
}

extension ModelConfig {
    /// The frames this configuration's network reads for `target` (1-based) of a video of `frameCount`
    /// frames. A still image is a video of one frame.
    ///
    ///     // video network, 20 frames: target 1 reads [1, 1, 1, 5, 8]; single_frame reads [1, 1, 1, 1, 1]
    public func framesRead(target: Int, frameCount: Int) throws -> FramesRead {
        let window = try clipWindow(frameCount: frameCount)
        switch model {
        case .video:
            return FramesRead(frames: try window.sampledFrames(around: target), targetSlot: ClipWindow.targetSlot)
        case .image:
            _ = try window.window(around: target)   // the range check, with ClipWindow's message
            return FramesRead(frames: [target], targetSlot: 0)
        }
    }
}

/// One decoded frame prepared for the network, with its features computed the first time a target
/// needs them. Whoever holds the entry (a walk over a video, a predictor for the current video)
/// decides how long they are kept.
public final class FrameEntry {
    /// 1-based frame number in its video.
    public let number: Int
    /// The network input made from the frame (and the padded RGB image DenseCRF reads).
    public let prepared: PreparedImage
    fileprivate var features: FrameFeatures?
    fileprivate var bySentence: [Int: FrameSentenceFeatures] = [:]
    fileprivate var bySentenceBytes = 0

    /// Frame `number` of its video, already prepared; no features yet.
    public init(number: Int, prepared: PreparedImage) {
        self.number = number
        self.prepared = prepared
    }
}

/// A sentence ready to run: its word ids and its language features.
public struct PreparedSentence {
    /// num_steps word ids, left-padded with 0.
    public let words: [Int32]
    /// When set, every frame keeps this sentence's per-frame features under this key (a segmenter's
    /// sentences, read by every window); nil computes them per target (a dataset sample's sentence).
    public let cacheKey: Int?
    fileprivate let language: SentenceFeatures
}

/// Runs one model on prepared frames: per-frame features once, per-target outputs.
///
/// A runner (with the frame entries it fills) belongs to one thread at a time; several runners may
/// share one `CMPCModel`, whose parameters are only read.
public final class ModelRunner {
    /// The network and its parameters (read only).
    public let model: CMPCModel

    /// Backbone passes (one per frame entry) and per-(frame, sentence) passes of the video network so far.
    public private(set) var backbonePasses = 0
    /// Per-(frame, sentence) passes of the video network so far.
    public private(set) var frameSentencePasses = 0

    /// How frames are resized into the network input (`.original`: as the original ran).
    public let resize: ResizeMode

    /// The most bytes of per-(frame, sentence) features one frame entry keeps for the next windows that read it.
    /// Sentences come in the same order for every frame, so the first ones that fit are kept; the others are
    /// recomputed in each window (same values), and memory stays flat however many sentences there are.
    public var frameSentenceCacheBytes = 8 << 20
    /// The most bytes of per-(frame, sentence) features one frame entry has held so far.
    public private(set) var peakFrameSentenceBytes = 0

    public init(model: CMPCModel, resize: ResizeMode = .original) {
        self.model = model
        self.resize = resize
    }

    /// The model's configuration (sizes, network kind, ablation).
    public var config: ModelConfig { model.config }

    /// resize_and_pad of an RGB frame to the network's H×W.
    public func prepare(_ image: RGBImage) throws -> PreparedImage {
        try Preprocess.prepare(rgb: image.pixels, width: image.width, height: image.height, H: config.H, W: config.W,
                               resize: resize)
    }

    /// Frame `number` of a video, prepared; its features are computed on first use.
    public func frame(_ number: Int, _ image: RGBImage) throws -> FrameEntry {
        FrameEntry(number: number, prepared: try prepare(image))
    }

    /// The language side of a sentence, computed once per sentence.
    public func sentence(_ words: [Int32], cacheKey: Int? = nil) throws -> PreparedSentence {
        PreparedSentence(words: words, cacheKey: cacheKey, language: try model.sentence(words))
    }

    /// The outputs for one target from the frames it reads (`FramesRead.frames`, in slot order, entry
    /// `targetSlot` the target). The same calls for both networks: the image network's window has one
    /// slot, the video network's ClipWindow.slotCount.
    public func outputs(frames: [FrameEntry], targetSlot: Int, sentence: PreparedSentence) throws -> CMPCOutputs {
        guard frames.count == model.network.slotCount, targetSlot == model.network.targetSlot else {
            throw TensorError.invalidArgument(
                op: "ModelRunner", reason: "the network reads \(model.network.slotCount) frames per target with the "
                    + "target in slot \(model.network.targetSlot); \(frames.count) given, target in slot \(targetSlot)")
        }
        // A frame may fill several slots (a window clamped at the clip's ends, single_frame): its features
        // for this sentence are computed once per call even when the frame does not keep them.
        var thisCall: [ObjectIdentifier: FrameSentenceFeatures] = [:]
        var perFrame: [FrameSentenceFeatures] = []
        for entry in frames {
            if let cached = thisCall[ObjectIdentifier(entry)] ?? sentence.cacheKey.flatMap({ entry.bySentence[$0] }) {
                perFrame.append(cached)
                continue
            }
            let computed = try model.frameSentence([try features(entry)], sentence.language)[0]
            thisCall[ObjectIdentifier(entry)] = computed
            frameSentencePasses += 1
            if let key = sentence.cacheKey {
                let bytes = (computed.multimodal + computed.nodes).reduce(0) { $0 + $1.scalars.count * 4 }
                if entry.bySentenceBytes + bytes <= frameSentenceCacheBytes {
                    entry.bySentence[key] = computed
                    entry.bySentenceBytes += bytes
                    peakFrameSentenceBytes = max(peakFrameSentenceBytes, entry.bySentenceBytes)
                }
            }
            perFrame.append(computed)
        }
        return try model.window(sampled: perFrame, target: try features(frames[targetSlot]), sentence.language)
    }

    /// A frame's backbone and lateral features, computed on first use.
    private func features(_ entry: FrameEntry) throws -> FrameFeatures {
        if let cached = entry.features { return cached }
        let features = try model.frames(try batch(entry))[0]
        entry.features = features
        backbonePasses += 1
        return features
    }

    private func batch(_ entry: FrameEntry) throws -> Tensor {
        try entry.prepared.tensor.reshaped(to: [1, config.H, config.W, 3])
    }
}
