// VideoSegmenter: segment every frame (or a chosen subset) of a video for one or more sentences,
// computing each frame's backbone features — and its per-sentence multimodal features and
// temporal nodes — once, and reusing them in every window that samples that frame.
//
// The walk is Video.ClipWindow's: targets in increasing order, each with the frames it reads
// (`ModelConfig.framesRead`), every frame decoded once and held only while a pending target needs
// it, so memory does not grow with the video's length. A frame's features live in its
// `FrameEntry` (ModelRunner) and are dropped with the frame.

import Evaluation
import ImageModel
import Tensor
import Video
import VideoModel

/// The result for one (sentence, frame).
public struct FrameMask: Sendable {
    /// Index of the sentence in the segmenter's list.
    public var sentence: Int
    /// 1-based frame number.
    public var frame: Int
    /// Foreground 0/1 at the frame's size (DenseCRF's when the segmenter's `crf` is on).
    public var mask: PixelMask
    /// σ(logits) at the network input size H×W.
    public var probabilities: [Float]
}

/// Segments the frames of one video for a list of sentences, reusing per-frame work across windows.
public final class VideoSegmenter {
    /// The model runner (and its per-frame feature cache) the segmenter drives.
    public let runner: ModelRunner
    /// Each sentence's num_steps word ids.
    public let sentences: [[Int32]]
    /// Thresholding and resize_and_crop back to the frame (logit threshold 0 as the original).
    public var postprocess: MaskPostprocess
    /// Refine every mask with DenseCRF.
    public var crf = false

    /// Work done so far (for the benchmark and tests): backbone passes, per-sentence frame passes,
    /// and the most frames held at once.
    public var backbonePasses: Int { runner.backbonePasses }
    /// Per-(frame, sentence) passes of the video network so far.
    public var frameSentencePasses: Int { runner.frameSentencePasses }
    /// The most decoded frames held at once.
    public private(set) var peakCachedFrames = 0

    /// The network and its parameters.
    public var model: CMPCModel { runner.model }

    /// A segmenter for `sentences` (each num_steps word ids, left-padded with 0; at least one).
    public init(model: CMPCModel, sentences: [[Int32]], resize: ResizeMode = .original) throws {
        guard !sentences.isEmpty else {
            throw TensorError.invalidArgument(op: "VideoSegmenter", reason: "no sentence given")
        }
        runner = ModelRunner(model: model, resize: resize)
        self.sentences = sentences
        postprocess = MaskPostprocess(config: model.config, resize: resize)
    }

    /// Segments `targets` (1-based) of a video of `frameCount` frames. `nextFrame()` yields frames
    /// 1, 2, … in order (a sequential decoder; nil ends the video); `emit` receives each result,
    /// targets in increasing order, sentences in order within a target.
    public func run(frameCount: Int, targets: [Int], nextFrame: () throws -> RGBImage?,
                    emit: (FrameMask) throws -> Void) throws {
        let config = model.config
        let prepared = try sentences.enumerated().map { try runner.sentence($0.element, cacheKey: $0.offset) }
        var reads: [Int: FramesRead] = [:]
        for t in targets { reads[t] = try config.framesRead(target: t, frameCount: frameCount) }
        let needed = Set(reads.values.flatMap(\.frames))
        // The decoding schedule: the clip window's walk; the image network reads each target alone,
        // which is what the single_frame window holds.
        let walk = config.model == .video ? try config.clipWindow(frameCount: frameCount)
                                          : try ClipWindow(frameCount: frameCount, singleFrame: true)
        var decoded = 0
        let stats = try walk.walk(targets: targets, nextFrame: { () -> FrameEntry?? in
            guard let rgb = try nextFrame() else { return nil }
            decoded += 1
            guard needed.contains(decoded) else { return .some(nil) }   // decoded and dropped
            return .some(try runner.frame(decoded, rgb))
        }, visit: { t, held in
            guard let read = reads[t] else { return }
            let entries = try read.frames.map { number in
                guard let entry = held.lazy.compactMap({ $0 }).first(where: { $0.number == number }) else {
                    throw TensorError.invalidArgument(op: "VideoSegmenter", reason: "frame \(number) was not kept for target \(t)")
                }
                return entry
            }
            for (si, sentence) in prepared.enumerated() {
                let outputs = try runner.outputs(frames: entries, targetSlot: read.targetSlot, sentence: sentence)
                try emit(result(outputs, sentence: si, frame: t, target: entries[read.targetSlot].prepared))
            }
        })
        peakCachedFrames = max(peakCachedFrames, stats.peakCached)
    }

    /// Segments a still image (a video of one frame): one result per sentence.
    public func run(image: RGBImage) throws -> [FrameMask] {
        var results: [FrameMask] = []
        var given = false
        try run(frameCount: 1, targets: [1], nextFrame: {
            defer { given = true }
            return given ? nil : image
        }, emit: { results.append($0) })
        return results
    }

    private func result(_ o: CMPCOutputs, sentence: Int, frame: Int, target: PreparedImage) throws -> FrameMask {
        let probabilities = try o.sigm().scalars
        let g = target.geometry
        let mask = crf ? try postprocess.crfMask(probabilities: probabilities, networkRGB: target.rgb, geometry: g)
                       : try postprocess.mask(logits: o.up.scalars, geometry: g)
        return FrameMask(sentence: sentence, frame: frame, mask: mask, probabilities: probabilities)
    }
}
