// The CMPC model as a predictor over dataset samples (what `evaluate` runs): decode the frames the
// target reads (the video network: the sampled frames of its clip window), tokenise the sentence,
// run the network, bring the mask back to the frame's size and, with `crf`, refine it with DenseCRF
// too. The current video stays open and its frames' features are kept, so the sentences of one
// video (which share annotated frames and windows) reuse them.

import Datasets
import Foundation
import Evaluation
import ImageModel
import Tensor
import Video
import VideoModel

/// Predicts the mask of referring samples with one model (one sample at a time, on one thread).
public final class ModelPredictor: SamplePredictor {
    /// The model runner (and its per-frame feature cache) the predictor drives.
    public let runner: ModelRunner
    /// The vocabulary the model was trained with.
    public let vocabulary: Vocabulary
    /// Also compute the DenseCRF-refined mask.
    public let crf: Bool
    /// The foreground probability threshold (0.5: logits ≥ 0, as the original).
    public var threshold: Float = 0.5
    private var media: SampleMedia?
    private var frames: [Int: FrameEntry] = [:]

    /// A predictor for `model`, tokenising sentences with `vocabulary`.
    public init(model: CMPCModel, vocabulary: Vocabulary, crf: Bool, resize: ResizeMode = .original) {
        runner = ModelRunner(model: model, resize: resize)
        self.vocabulary = vocabulary
        self.crf = crf
    }

    /// The mask (and DenseCRF's) at the ground truth's size `width`×`height`.
    public func predict(_ sample: ReferringSample, width: Int, height: Int) throws -> Prediction {
        let (outputs, target) = try outputs(for: sample)
        let g = target.geometry
        guard g.frameWidth == width, g.frameHeight == height else {
            throw PipelineError("\(sample.source.path): the frame is \(g.frameWidth)×\(g.frameHeight) "
                                + "but its mask is \(width)×\(height); the mask must be at the frame's size")
        }
        let post = MaskPostprocess(config: runner.config, logitThreshold: log(threshold / (1 - threshold)),
                                   resize: runner.resize)
        let crfMask = crf ? try post.crfMask(probabilities: try outputs.sigm().scalars, networkRGB: target.rgb, geometry: g) : nil
        return Prediction(mask: try post.mask(logits: outputs.up.scalars, geometry: g), crfMask: crfMask)
    }

    /// The network's outputs for a sample and its prepared target frame.
    public func outputs(for sample: ReferringSample) throws -> (outputs: CMPCOutputs, target: PreparedImage) {
        let words = try vocabulary.encode(sample.sentence, steps: runner.config.numSteps).ids
        let media = try open(sample.source)
        let read = try runner.config.framesRead(target: sample.source.frame, frameCount: media.frameCount)
        let entries = try read.frames.map { try frame($0, of: media) }
        let outputs = try runner.outputs(frames: entries, targetSlot: read.targetSlot, sentence: try runner.sentence(words))
        return (outputs, entries[read.targetSlot].prepared)
    }

    /// The sample's media: the open ones when the sample is of the current video, else opened (and the
    /// previous video's frames dropped).
    private func open(_ source: SampleSource) throws -> SampleMedia {
        if let media, media.path == source.media { return media }
        media = nil
        frames = [:]
        let opened = try SampleMedia(source)
        media = opened
        return opened
    }

    private func frame(_ number: Int, of media: SampleMedia) throws -> FrameEntry {
        if let entry = frames[number] { return entry }
        let entry = try runner.frame(number, try media.frame(number))
        frames[number] = entry
        return entry
    }
}

/// A pipeline error a user can act on; the message names the file or value.
public struct PipelineError: Error, CustomStringConvertible {
    /// The message.
    public let description: String
    /// An error with this message.
    public init(_ description: String) { self.description = description }
}
