// Model configuration: a JSON object with the original's argument names (CMPC_model.py's
// LSTM_model.__init__) plus the sizes this port makes configurable for tests and small models.
//
//     {"model": "image", "H": 320, "W": 320, "v_emb_dim": 1000, "mlp_dim": 500, "rnn_size": 1000,
//      "num_steps": 20, "vocab_size": 12112, "glove_dim": 300, "parse_dim": 500,
//      "width_divisor": 1, "depth": [3, 4, 23, 3]}
//
// "ablation": "single_frame" | "no_sentence" makes a baseline variant (see ModelAblation).
// "motion": true (video only) adds this port's motion features to each level's fusion (not in the
// original; see FusionInput.motion).
//
// Absent keys take the original's sizes; vf_h and vf_w are derived from H and W (output stride 8).

import Foundation

/// Which CMPC network a configuration or checkpoint describes.
public enum ModelKind: String, Codable, Sendable {
    /// The still-image network of CMPC_model.py (4 word types).
    case image
    /// The video network of CMPC_video_mm_tgraph_allvec.py (5 word types, temporal graph).
    case video

    /// Word types of the word parser: entity, attribute, relation, unnecessary (+ action for video).
    public var wordTypes: Int { self == .image ? 4 : 5 }
}

/// A deliberately weakened network, trained and evaluated as a baseline for the parts CMPC adds.
public enum ModelAblation: String, Codable, Sendable, CaseIterable {
    /// The video network sees only the target frame: its 5 sampled frames are all the target frame.
    case singleFrame = "single_frame"
    /// The sentence is ignored: every sentence becomes the same one-word sentence (id 3, <unk>).
    case noSentence = "no_sentence"
}

/// Why a configuration cannot describe a network.
public struct ModelConfigError: Error, CustomStringConvertible {
    public let description: String
    public init(description: String) { self.description = description }
}

/// Sizes of a CMPC network, under the original's argument names.
public struct ModelConfig: Codable, Equatable, Sendable {
    public var model: ModelKind = .image
    /// Network input height and width (320 in the original).
    public var H: Int = 320
    public var W: Int = 320
    /// Feature map size at output stride 8; derived from H and W when absent.
    public var vfH: Int? = nil
    public var vfW: Int? = nil
    /// Width of the lateral visual embeddings (1000).
    public var vEmbDim: Int = 1000
    /// Width of the fused multimodal features (500).
    public var mlpDim: Int = 500
    /// LSTM units (1000); must equal vEmbDim.
    public var rnnSize: Int = 1000
    /// Words per sentence after truncation/left padding (20).
    public var numSteps: Int = 20
    /// Rows of the embedding matrix.
    public var vocabSize: Int = 12112
    /// Width of the GloVe embedding (300).
    public var gloveDim: Int = 300
    /// Hidden width of words_parse_1 (500).
    public var parseDim: Int = 500
    /// Backbone channel widths are divided by this (1 = the real ResNet-101).
    public var widthDivisor: Int = 1
    /// Residual blocks per stage res2…res5 ([3, 4, 23, 3] = ResNet-101).
    public var depth: [Int] = [3, 4, 23, 3]
    /// A baseline variant (absent = the CMPC network itself).
    public var ablation: ModelAblation? = nil
    /// Video only, not in the original: each level's fusion also reads the differences between the
    /// other sampled frames' multimodal features and the target frame's, location by location.
    public var motion: Bool? = nil
    /// Whether the motion features are on.
    public var usesMotion: Bool { motion == true }

    enum CodingKeys: String, CodingKey {
        case model, H, W
        case vfH = "vf_h", vfW = "vf_w"
        case vEmbDim = "v_emb_dim", mlpDim = "mlp_dim", rnnSize = "rnn_size", numSteps = "num_steps"
        case vocabSize = "vocab_size", gloveDim = "glove_dim", parseDim = "parse_dim"
        case widthDivisor = "width_divisor", depth, ablation, motion
    }

    public init() {}

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        var d = ModelConfig()
        d.model = try c.decodeIfPresent(ModelKind.self, forKey: .model) ?? d.model
        d.H = try c.decodeIfPresent(Int.self, forKey: .H) ?? d.H
        d.W = try c.decodeIfPresent(Int.self, forKey: .W) ?? d.W
        d.vfH = try c.decodeIfPresent(Int.self, forKey: .vfH)
        d.vfW = try c.decodeIfPresent(Int.self, forKey: .vfW)
        d.vEmbDim = try c.decodeIfPresent(Int.self, forKey: .vEmbDim) ?? d.vEmbDim
        d.mlpDim = try c.decodeIfPresent(Int.self, forKey: .mlpDim) ?? d.mlpDim
        d.rnnSize = try c.decodeIfPresent(Int.self, forKey: .rnnSize) ?? d.rnnSize
        d.numSteps = try c.decodeIfPresent(Int.self, forKey: .numSteps) ?? d.numSteps
        d.vocabSize = try c.decodeIfPresent(Int.self, forKey: .vocabSize) ?? d.vocabSize
        d.gloveDim = try c.decodeIfPresent(Int.self, forKey: .gloveDim) ?? d.gloveDim
        d.parseDim = try c.decodeIfPresent(Int.self, forKey: .parseDim) ?? d.parseDim
        d.widthDivisor = try c.decodeIfPresent(Int.self, forKey: .widthDivisor) ?? d.widthDivisor
        d.depth = try c.decodeIfPresent([Int].self, forKey: .depth) ?? d.depth
        if let a = try c.decodeIfPresent(String.self, forKey: .ablation) {
            guard let v = ModelAblation(rawValue: a) else {
                throw ModelConfigError(description: "ablation must be one of "
                    + ModelAblation.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", ") + " (got \"\(a)\")")
            }
            d.ablation = v
        }
        d.motion = try c.decodeIfPresent(Bool.self, forKey: .motion)
        self = d
    }

    /// Reads a configuration JSON file; errors name the file.
    public static func load(_ url: URL) throws -> ModelConfig {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw ModelConfigError(description: "cannot read configuration \(url.path): \(error.localizedDescription)")
        }
        let config: ModelConfig
        do { config = try JSONDecoder().decode(ModelConfig.self, from: data) } catch {
            throw ModelConfigError(description: "\(url.path) is not a valid model configuration: \(error)")
        }
        try config.validate()
        return config
    }

    /// Feature-map height: H after conv1, pool1 and res3a (three 'SAME' stride-2 steps).
    public var featureHeight: Int { vfH ?? Self.outputStride8(H) }
    /// Feature-map width.
    public var featureWidth: Int { vfW ?? Self.outputStride8(W) }

    static func outputStride8(_ n: Int) -> Int {
        var x = n
        for _ in 0..<3 { x = (x + 1) / 2 }
        return x
    }

    /// Backbone channel counts after the divisor: conv1, and each stage's bottleneck and output width.
    public var stemChannels: Int { 64 / widthDivisor }
    public func bottleneckChannels(stage: Int) -> Int { [64, 128, 256, 512][stage - 2] / widthDivisor }
    public func outputChannels(stage: Int) -> Int { 4 * bottleneckChannels(stage: stage) }

    /// Checks every size; the message names the key and the fix.
    public func validate() throws {
        func fail(_ s: String) throws -> Never { throw ModelConfigError(description: s) }
        if H < 8 || W < 8 || H > 4096 || W > 4096 { try fail("H and W must be in 8…4096 (got H=\(H), W=\(W))") }
        if featureHeight != Self.outputStride8(H) || featureWidth != Self.outputStride8(W) {
            try fail("vf_h/vf_w (\(featureHeight)×\(featureWidth)) must be H/8 and W/8 rounded up (\(Self.outputStride8(H))×\(Self.outputStride8(W))); leave them out to derive them")
        }
        if rnnSize != vEmbDim {
            try fail("rnn_size (\(rnnSize)) must equal v_emb_dim (\(vEmbDim)): the spatial and temporal graphs multiply word features with visual features")
        }
        for (name, v) in [("v_emb_dim", vEmbDim), ("mlp_dim", mlpDim), ("num_steps", numSteps), ("vocab_size", vocabSize),
                          ("glove_dim", gloveDim), ("parse_dim", parseDim)] where v < 1 || v > 1 << 16 {
            try fail("\(name) must be in 1…65536 (got \(v))")
        }
        if widthDivisor < 1 || 64 % widthDivisor != 0 {
            try fail("width_divisor must divide 64 (1, 2, 4, 8, 16, 32 or 64; got \(widthDivisor))")
        }
        if depth.count != 4 || depth.contains(where: { $0 < 1 || $0 > 64 }) {
            try fail("depth must list the blocks of res2…res5, four numbers in 1…64 (got \(depth))")
        }
        if usesMotion, model != .video {
            try fail("motion needs model \"video\" (it compares the sampled frames)")
        }
        if ablation == .singleFrame, model != .video {
            try fail("ablation \"single_frame\" needs model \"video\" (the image network sees one frame anyway)")
        }
        if ablation == .noSentence, vocabSize < 4 {
            try fail("ablation \"no_sentence\" replaces every sentence by word id 3 (<unk>): vocab_size must be at least 4")
        }
    }
}
