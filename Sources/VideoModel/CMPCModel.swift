// CMPCModel: either CMPC network with its parameters, made from a configuration and named
// tensors. The kind (image or video) and every size the shapes determine are read from the
// tensors themselves (temporal-graph variables present → the video network).

import ImageModel
import Tensor

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

    public var specs: [ParameterSpec] {
        switch self {
        case let .image(n): return n.specs
        case let .video(n): return n.specs
        }
    }
}

/// A network ready to run: configuration, layout and parameter values.
public struct CMPCModel: Sendable {
    public let config: ModelConfig
    public let network: CMPCNetwork
    public let parameters: Parameters

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

    /// Runs the network on one preprocessed input: an image [H,W,3] / [1,H,W,3] for the image network,
    /// a clip [16,H,W,3] for the video network (an image given to the video network is its own clip).
    public func forward(input: Tensor, words: [Int32]) throws -> CMPCOutputs {
        let (H, W) = (config.H, config.W)
        switch network {
        case let .image(net):
            let image = input.rank == 3 ? try input.reshaped(to: [1] + input.shape) : input
            return try net(image: image, words: words, parameters)
        case let .video(net):
            if input.shape == [H, W, 3] || input.shape == [1, H, W, 3] {
                let frame = try input.reshaped(to: [1, H, W, 3])
                return try net(clip: frame.tiled([5, 1, 1, 1]), words: words, parameters)
            }
            return try net(clip: input, words: words, parameters)
        }
    }
}
