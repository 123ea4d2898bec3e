// VideoSegmenter: segment every frame (or a chosen subset) of a video for one or more sentences,
// computing each frame's backbone features — and its per-sentence multimodal features and
// temporal nodes — once, and reusing them in every window that samples that frame.
//
// The walk is Video.ClipWindow's: targets in increasing order, each with the 5 sampled frames of
// its window t−8 … t+7 (clamped), every frame decoded once and held only while a pending target
// needs it, so memory does not grow with the video's length. A frame's features are computed the
// first time a window needs them and dropped with the frame.

import ImageModel
import Tensor
import Video

extension ModelConfig {
    /// The clip window this configuration's network reads in a video of `frameCount` frames
    /// (single_frame for that baseline).
    public func clipWindow(frameCount: Int) throws -> ClipWindow {
        try ClipWindow(frameCount: frameCount, singleFrame: ablation == .singleFrame)
    }
}

/// The result for one (sentence, frame).
public struct FrameMask: Sendable {
    /// Index of the sentence in the segmenter's list.
    public var sentence: Int
    /// 1-based frame index.
    public var frame: Int
    /// Foreground 0/1 at the frame's size, row-major.
    public var mask: [UInt8]
    /// σ(logits) at the network input size H×W, and the padded RGB input (for DenseCRF).
    public var probabilities: [Float]
    public var networkRGB: [UInt8]
    public var geometry: PadGeometry
}

/// One decoded frame, prepared for the network, with its features computed on first use.
final class FrameSlot {
    let prepared: PreparedImage
    var features: FrameFeatures?
    var perSentence: [FrameSentenceFeatures] = []
    init(prepared: PreparedImage) { self.prepared = prepared }
}

public final class VideoSegmenter {
    public let model: CMPCModel
    public let sentences: [[Int32]]
    /// Logit threshold: a pixel is foreground when its logit ≥ threshold (0 as the original).
    public var logitThreshold: Float = 0

    /// Work done so far (for the benchmark and tests): backbone passes, per-sentence frame passes,
    /// and the most frames held at once.
    public private(set) var backbonePasses = 0
    public private(set) var frameSentencePasses = 0
    public private(set) var peakCachedFrames = 0

    public init(model: CMPCModel, sentences: [[Int32]]) throws {
        guard !sentences.isEmpty else {
            throw TensorError.invalidArgument(op: "VideoSegmenter", reason: "no sentence given")
        }
        self.model = model
        self.sentences = sentences
    }

    /// Segments `targets` (1-based) of a video of `frameCount` frames. `nextFrame()` yields frames
    /// 1, 2, … in order (a sequential decoder; nil ends the video); `emit` receives each result.
    public func run(frameCount: Int, targets: [Int], nextFrame: () throws -> RGBImage?,
                    emit: (FrameMask) throws -> Void) throws {
        let sampler = try model.config.clipWindow(frameCount: frameCount)
        let config = model.config
        let p = model.parameters
        let targets = Array(Set(targets)).sorted()

        switch model.network {
        case let .video(net):
            let languages = try sentences.map { try net.core.sentence($0, p) }
            var needed = Set<Int>()
            for t in targets { needed.formUnion(try sampler.sampledFrames(around: t)) }
            var index = 0
            let stats = try sampler.walk(targets: targets, nextFrame: { () -> FrameSlot?? in
                guard let rgb = try nextFrame() else { return nil }
                index += 1
                guard needed.contains(index) else { return .some(nil) }   // decoded and dropped
                return .some(FrameSlot(prepared: try Preprocess.prepare(
                    rgb: rgb.pixels, width: rgb.width, height: rgb.height, H: config.H, W: config.W)))
            }, visit: { t, sampled in
                let slots = sampled.compactMap { $0 }
                for slot in slots where slot.features == nil {
                    let image = try slot.prepared.tensor.reshaped(to: [1, config.H, config.W, 3])
                    let features = try net.core.frames(image, p)[0]
                    slot.features = features
                    slot.perSentence = try languages.map { try net.core.frameSentence([features], $0, p)[0] }
                    backbonePasses += 1
                    frameSentencePasses += languages.count
                }
                let target = slots[ClipWindow.targetSlot]
                for (si, s) in languages.enumerated() {
                    let outputs = try net.window(sampled: slots.map { $0.perSentence[si] }, target: target.features!, s, p)
                    try emit(result(outputs, sentence: si, frame: t, prepared: target.prepared))
                }
            })
            peakCachedFrames = max(peakCachedFrames, stats.peakCached)

        case let .image(net):
            var index = 0
            for t in targets {
                var rgb: RGBImage? = nil
                while index < t {
                    rgb = try nextFrame()
                    index += 1
                    guard rgb != nil else {
                        throw TensorError.invalidArgument(op: "VideoSegmenter", reason: "the video ended after frame \(index - 1)")
                    }
                }
                let frame = rgb!
                let prepared = try Preprocess.prepare(rgb: frame.pixels, width: frame.width, height: frame.height,
                                                      H: config.H, W: config.W)
                let features = try net.backbone(prepared.tensor.reshaped(to: [1, config.H, config.W, 3]), p)
                backbonePasses += 1
                peakCachedFrames = max(peakCachedFrames, 1)
                for (si, words) in sentences.enumerated() {
                    let outputs = try net.head(features: features, words: words, p)
                    try emit(result(outputs, sentence: si, frame: t, prepared: prepared))
                }
            }
        }
    }

    private func result(_ o: CMPCOutputs, sentence: Int, frame: Int, prepared: PreparedImage) throws -> FrameMask {
        let (H, W) = (model.config.H, model.config.W)
        let mask = Preprocess.maskFromLogits(o.up.scalars, threshold: logitThreshold, H: H, W: W, geometry: prepared.geometry)
        return FrameMask(sentence: sentence, frame: frame, mask: mask, probabilities: try o.sigm().scalars,
                         networkRGB: prepared.rgb, geometry: prepared.geometry)
    }
}
