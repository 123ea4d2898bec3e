// The training sample reader: a referring sample → network inputs and target.
//
// Preparation follows CMPC_video/build_A2D_batches.py (the original's A2D path):
//   frame(s)  resize_and_pad to H×W (aspect kept, centred, zero padding), RGB → BGR, minus the Caffe mean;
//             the video network gets the frames of the target's clip window (ModelConfig.framesRead:
//             window positions 0, 4, 8, 12, 15 of t−8 … t+7 clamped to the clip, the original's
//             frame_range): only those are decoded and prepared, each distinct frame once
//   mask      resize_and_pad of the 0/1 mask the same way (skimage order 1), then > 0
//   sentence  the vocabulary's encoding, left-padded to num_steps
// There is no random resize, crop or flip in the original's A2D path; none is done here.

import Datasets
import ImageModel
import Tensor
import Video

/// One training example ready for the network.
public struct TrainingSample: Sendable {
    /// Image [H,W,3] (image network) or clip [16,H,W,3] / its 5 sampled frames [5,H,W,3] (video network;
    /// a single frame [H,W,3] is its own clip), BGR minus the Caffe mean.
    public var input: Tensor
    /// Word ids [num_steps], left-padded with 0.
    public var words: [Int32]
    /// Ground truth [H,W], 0 or 1, of the (centre) frame.
    public var target: Tensor

    /// A sample from its tensors.
    public init(input: Tensor, words: [Int32], target: Tensor) {
        self.input = input
        self.words = words
        self.target = target
    }
}

/// Turns a referring sample into a training sample for one network configuration.
public struct SamplePreparer: Sendable {
    /// The network configuration (sizes, kind, ablation) the samples are for.
    public let config: ModelConfig
    /// The vocabulary sentences are encoded with.
    public let vocabulary: Vocabulary
    /// How frames and masks are resized into the network input (`.original`: as the original ran).
    public let resize: ResizeMode

    /// A reader of samples for `config`'s network.
    public init(config: ModelConfig, vocabulary: Vocabulary, resize: ResizeMode = .original) {
        self.config = config
        self.vocabulary = vocabulary
        self.resize = resize
    }

    /// Reads the frames the target reads and the mask, and preprocesses them; errors name the file.
    /// The input is [5,H,W,3] for the video network, [H,W,3] for the image network.
    public func prepare(_ sample: ReferringSample) throws -> TrainingSample {
        let (H, W) = (config.H, config.W)
        let words = try vocabulary.encode(sample.sentence, steps: config.numSteps).ids
        let media = try SampleMedia(sample.source)
        let read = try config.framesRead(target: sample.source.frame, frameCount: media.frameCount)
        var prepared: [Int: (rgb: RGBImage, tensor: Tensor)] = [:]
        for f in read.frames where prepared[f] == nil {
            let rgb = try media.frame(f)
            prepared[f] = (rgb, try Preprocess.prepare(rgb: rgb.pixels, width: rgb.width, height: rgb.height, H: H, W: W,
                                                    resize: resize).tensor)
        }
        guard let centre = prepared[read.target]?.rgb else {
            throw PipelineError("\(sample.source.path): no frames decoded")
        }
        let mask = try sample.loadMask(frameWidth: centre.width, frameHeight: centre.height)
        let tensors = read.frames.compactMap { prepared[$0]?.tensor }
        let input = tensors.count == 1 ? tensors[0] : try stack(tensors, axis: 0)
        let target = try Preprocess.padMask(pixels: mask.pixels, width: mask.width, height: mask.height, H: H, W: W,
                                            resize: resize)
        return TrainingSample(input: input, words: words, target: target)
    }
}
