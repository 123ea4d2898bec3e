// CMPCModel: either CMPC network with its parameters, made from a configuration and named
// tensors. The kind (image or video) and every size the shapes determine are read from the
// tensors themselves (temporal-graph variables present → the video network).
//
// The model's entry points serve both networks alike: `forward` on one preprocessed input, and the
// forward pass in parts for work that reuses features (a whole video, several sentences):
// `frames` (per frame), `sentence` (per sentence), `frameSentence` (per frame and sentence) and
// `window` (per target frame; `slotCount` sampled frames, the target at `targetSlot`).

import ImageModel
import Tensor
import Video

/// The two CMPC networks.
public enum CMPCNetwork: Sendable {
    case image(CMPCImageNetwork)
    case video(CMPCVideoNetwork)

    public init(config: ModelConfig) throws {
        switch config.model {
        case .image: self = .image(try CMPCImageNetwork(config: config))
        case .video: self = .video(try CMPCVideoNetwork(config: config))
        }
    }

    /// The blocks, shared by both kinds.
    public var core: CMPCCore {
        switch self {
        case let .image(n): return n.core
        case let .video(n): return n.core
        }
    }

    /// Every parameter, in the original graph's creation order.
    public var specs: [ParameterSpec] { core.specs }

    /// Frames one window samples: 1 for the image network, ClipWindow.slotCount for the video network.
    public var slotCount: Int {
        if case .video = self { return ClipWindow.slotCount }
        return 1
    }

    /// Where the target frame sits among a window's sampled frames.
    public var targetSlot: Int {
        if case .video = self { return ClipWindow.targetSlot }
        return 0
    }

    /// One window's outputs from the sampled frames' per-sentence features (`slotCount` of them).
    public func window(sampled: [FrameSentenceFeatures], target: FrameFeatures, _ s: SentenceFeatures,
                       _ p: Parameters) throws -> CMPCOutputs {
        guard sampled.count == slotCount else {
            throw TensorError.invalidArgument(op: "CMPCNetwork.window",
                                              reason: "\(sampled.count) sampled frames given; the network takes \(slotCount)")
        }
        return try core.window(sampled: sampled, targetSlot: targetSlot, target: target, s, p)
    }

    /// Runs the network with parameters `p` on one preprocessed input: an image [H,W,3] / [1,H,W,3]
    /// for the image network, a clip [16,H,W,3] (or its 5 sampled frames) for the video network (an
    /// image given to the video network is its own clip).
    public func forward(input: Tensor, words: [Int32], _ p: Parameters) throws -> CMPCOutputs {
        let (H, W) = (core.config.H, core.config.W)
        switch self {
        case let .image(net):
            let image = input.rank == 3 ? try input.reshaped(to: [1] + input.shape) : input
            return try net(image: image, words: words, p)
        case let .video(net):
            if input.shape == [H, W, 3] || input.shape == [1, H, W, 3] {
                let frame = try input.reshaped(to: [1, H, W, 3])
                return try net(clip: frame.tiled([ClipWindow.slotCount, 1, 1, 1]), words: words, p)
            }
            return try net(clip: input, words: words, p)
        }
    }
}

/// A network ready to run: configuration, layout and parameter values. A value: copies share
/// nothing mutable, so one model can be read by several threads while a trainer updates its own copy.
public struct CMPCModel: Sendable {
    public let config: ModelConfig
    public let network: CMPCNetwork
    public var parameters: Parameters
    /// The arithmetic of the inference convolutions and large products (fp32 by default; bf16 runs
    /// them through oneDNN with weights prepared once per shape). Training records gradients and
    /// stays fp32 whatever this says.
    public var precision: Precision = .fp32

    /// A model from a checkpoint's named tensors. Sizes come from the shapes; `base` supplies the
    /// rest (num_steps). Names that do not fit are listed in the error.
    public init(tensors: [(name: String, value: Tensor)], base: ModelConfig = ModelConfig(), source: String) throws {
        var shapes: [String: [Int]] = [:]
        for t in tensors { shapes[t.name] = t.value.shape }
        let config = try CheckpointConfig.infer(shapes: shapes, base: base, source: source)
        let network = try CMPCNetwork(config: config)
        self.config = config
        self.network = network
        self.parameters = try Parameters(specs: network.specs, tensors: tensors, source: source)
    }

    /// A freshly initialised model (seeded).
    public init(config: ModelConfig, seed: UInt64) throws {
        let network = try CMPCNetwork(config: config)
        self.config = config
        self.network = network
        self.parameters = Parameters(specs: network.specs, seed: seed)
    }

    /// Prepares the model for bf16 inference only: the precision becomes bf16, one forward at the
    /// configured size prepares every convolution that runs in bf16, and the fp32 weights that only
    /// those prepared convolutions use are dropped, so the bf16 model holds less memory than the fp32
    /// one. Weights some fp32 op still reads stay. Training or an fp32 run then needs the model loaded
    /// again (reading a dropped weight is an error that says so).
    public mutating func prepareForBF16Inference() throws {
        if let reason = OneDNN.unavailableReason(.bf16) {
            throw TensorError.invalidArgument(op: "prepareForBF16Inference", reason: reason)
        }
        precision = .bf16
        let model = self
        let unused = try parameters.prepared.onlyPrepared { try model.warmUp() }
        parameters.releaseFP32(unused.sorted())
    }

    /// Runs one blank frame through the parts segment runs (frames, sentence, frameSentence, window; a
    /// whole clip would hold 16 frames' activations at once), at the model's precision: every convolution
    /// that is prepared once (oneDNN's reordered weights, fp32 or bf16) is prepared now, so the first
    /// request of a server costs what the others do and its memory is the baseline.
    public func warmUp() throws {
        let image = Tensor(shape: [1, config.H, config.W, 3])
        let words = [Int32](repeating: 1, count: config.numSteps)
        let frames = try self.frames(image)
        let sentence = try self.sentence(words)
        let perSentence = try frameSentence(frames, sentence)
        _ = try window(sampled: Array(repeating: perSentence[0], count: network.slotCount), target: frames[0], sentence)
    }

    /// Runs the network on one preprocessed input: an image [H,W,3] / [1,H,W,3] for the image network,
    /// a clip [16,H,W,3] for the video network (an image given to the video network is its own clip).
    public func forward(input: Tensor, words: [Int32]) throws -> CMPCOutputs {
        try Engine.withPrecision(precision) { try network.forward(input: input, words: words, parameters) }
    }

    /// Per frame: backbone and laterals of N preprocessed frames [N,H,W,3] → one FrameFeatures each.
    public func frames(_ images: Tensor) throws -> [FrameFeatures] {
        try Engine.withPrecision(precision) { try network.core.frames(images, parameters) }
    }

    /// Per sentence: language features of num_steps word ids (left-padded with 0).
    public func sentence(_ words: [Int32]) throws -> SentenceFeatures {
        try Engine.withPrecision(precision) { try network.core.sentence(words, parameters) }
    }

    /// Per frame and sentence: each level's multimodal features (and video temporal nodes).
    public func frameSentence(_ frames: [FrameFeatures], _ s: SentenceFeatures) throws -> [FrameSentenceFeatures] {
        try Engine.withPrecision(precision) { try network.core.frameSentence(frames, s, parameters) }
    }

    /// Per target frame: the `network.slotCount` sampled frames' per-sentence features (the target at
    /// `network.targetSlot`; ClipWindow's frames for the video network, the frame itself for the image
    /// network) and the target's own features → every output.
    public func window(sampled: [FrameSentenceFeatures], target: FrameFeatures, _ s: SentenceFeatures) throws -> CMPCOutputs {
        try Engine.withPrecision(precision) { try network.window(sampled: sampled, target: target, s, parameters) }
    }
}
