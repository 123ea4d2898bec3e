// CMPCImageNetwork: the still-image CMPC network.
// Port of CMPC_model.py: LSTM_model.build_graph and build_lang2vis (image version).
//
// image [1,H,W,3] → backbone c3, c4, c5 → lateral + l2norm; words → LSTM → word features
// → word parser. Per level: MUTAN(visual, spatial, entity+attribute sentence) → spatial graph
// (relation words) → fusion conv([mm; graph; sentence; spatial]) + ReLU → score head.
// Gated exchange (two rounds) → ConvLSTM over c3, c4, c5 → score → bilinear up to H×W.

import Tensor

/// One level's language-to-vision block (build_lang2vis) of the image network.
public struct ImageLevel: Sendable {
    public let level: String
    public let lateral: Lateral
    public let mutan: MutanFusion
    public let spatialGraph: SpatialGraph
    public let fusion: HeadConv
    public let score: ScoreHead

    init(level: String, inChannels: Int, config: ModelConfig) {
        self.level = level
        lateral = Lateral(level: level, inChannels: inChannels, config: config)
        mutan = MutanFusion(level: level, config: config)
        spatialGraph = SpatialGraph(level: level, config: config)
        fusion = HeadConv("fusion_\(level)", in: 2 * config.vEmbDim + config.rnnSize + 8, out: config.mlpDim)
        score = ScoreHead(name: "score_\(level)", config: config)
    }

    public var specs: [ParameterSpec] {
        lateral.specs + mutan.specs + spatialGraph.specs + fusion.specs + score.specs
    }

    /// Lateral visual features [1,h,w,C] → fused features [1,h,w,D].
    func callAsFunction(visual: Tensor, words: Tensor, parse: Tensor, spatial: Tensor, _ p: Parameters) throws -> Tensor {
        let (h, w) = (visual.shape[1], visual.shape[2])
        let entity = try WordTypeSelection.sentence(weights: WordTypeSelection.entityAttribute(parse), words: words)
        let mm = try mutan(visual: visual, spatial: spatial, sentence: entity, p)                  // [1,h,w,C]
        let graph = try spatialGraph(multimodal: mm, words: words,
                                     relation: WordTypeSelection.type(2, of: parse), p)          // [1,h,w,C]
        return try Profiler.section("fusion") {
            let sentence = try entity.tiled([1, h, w, 1])
            return try fusion(concat([mm, graph, sentence, spatial], axis: 3), p, relu: true)          // [1,h,w,D]
        }
    }
}

/// The image network with its parameters' layout.
public struct CMPCImageNetwork: Sendable {
    public let config: ModelConfig
    public let backbone: DeepLabResNet
    public let language: LanguageEncoder
    public let parser: WordParser
    public let c5: ImageLevel
    public let c4: ImageLevel
    public let c3: ImageLevel
    public let exchange: GatedExchange
    public let convLSTM: ConvLSTMFusion
    public let score: ScoreHead

    public init(config: ModelConfig) throws {
        try config.validate()
        guard config.model == .image else {
            throw ModelConfigError(description: "CMPCImageNetwork needs model \"image\" (got \"\(config.model.rawValue)\")")
        }
        self.config = config
        backbone = DeepLabResNet(config: config)
        language = LanguageEncoder(config: config)
        parser = WordParser(config: config)
        c5 = ImageLevel(level: "c5", inChannels: config.outputChannels(stage: 5), config: config)
        c4 = ImageLevel(level: "c4", inChannels: config.outputChannels(stage: 4), config: config)
        c3 = ImageLevel(level: "c3", inChannels: config.outputChannels(stage: 3), config: config)
        exchange = GatedExchange(config: config)
        convLSTM = ConvLSTMFusion(config: config)
        score = ScoreHead(name: "score", config: config)
    }

    /// Every parameter, in the original graph's creation order.
    public var specs: [ParameterSpec] {
        backbone.specs + language.specs + c5.lateral.specs + c4.lateral.specs + c3.lateral.specs + parser.specs
            + [c5, c4, c3].flatMap { level in
                level.mutan.specs + level.spatialGraph.specs + level.fusion.specs + level.score.specs }
            + exchange.specs + convLSTM.specs + score.specs
    }

    /// The full forward pass. image [1,H,W,3] (BGR minus mean), words: num_steps ids left-padded with 0.
    public func callAsFunction(image: Tensor, words: [Int32], _ p: Parameters) throws -> CMPCOutputs {
        try checkInputs(image: image, words: words)
        let features = try backbone(image, p)
        return try head(features: features, words: words, p)
    }

    func checkInputs(image: Tensor, words: [Int32]) throws {
        guard image.shape == [1, config.H, config.W, 3] else {
            throw TensorError.shapeMismatch(op: "CMPCImageNetwork", shapes: [image.shape, [1, config.H, config.W, 3]],
                                            reason: "the image must be [1, H, W, 3] as configured")
        }
        guard words.count == config.numSteps else {
            throw TensorError.invalidArgument(op: "CMPCImageNetwork",
                                              reason: "\(words.count) word ids given; num_steps is \(config.numSteps)")
        }
    }

    /// The sentence every sentence becomes with the "no_sentence" ablation: the one word id 3 (<unk>).
    public static func blindWords(_ steps: Int) -> [Int32] { Array(repeating: 0, count: steps - 1) + [3] }

    /// Everything after the backbone.
    public func head(features: BackboneFeatures, words: [Int32], _ p: Parameters) throws -> CMPCOutputs {
        let (vh, vw) = (config.featureHeight, config.featureWidth)
        // The "no_sentence" ablation: every sentence is the one word id 3 (<unk>).
        let lang = try language(config.ablation == .noSentence ? Self.blindWords(config.numSteps) : words, p)
        let v5 = try c5.lateral(features.c5, p)
        let v4 = try c4.lateral(features.c4, p)
        let v3 = try c3.lateral(features.c3, p)
        let spatial = spatialGrid(height: vh, width: vw)
        let parse = try parser(lang.words, p)                                              // [1,1,T',4]
        let f5 = try c5(visual: v5, words: lang.words, parse: parse, spatial: spatial, p)
        let f4 = try c4(visual: v4, words: lang.words, parse: parse, spatial: spatial, p)
        let f3 = try c3(visual: v3, words: lang.words, parse: parse, spatial: spatial, p)
        return try fuseAndScore(f3: f3, f4: f4, f5: f5, words: lang.words, parse: parse, p)
    }

    /// Score heads, gated exchange, ConvLSTM and the final score (shared with the video network).
    func fuseAndScore(f3: Tensor, f4: Tensor, f5: Tensor, words: Tensor, parse: Tensor, _ p: Parameters) throws -> CMPCOutputs {
        try CMPCFusionStage(levels: (c3.score, c4.score, c5.score), exchange: exchange, convLSTM: convLSTM, score: score,
                            config: config)(f3: f3, f4: f4, f5: f5, words: words, parse: parse, p)
    }
}

/// The network's tail: per-level scores, gated exchange, ConvLSTM, final score.
public struct CMPCFusionStage: Sendable {
    public let levels: (ScoreHead, ScoreHead, ScoreHead)
    public let exchange: GatedExchange
    public let convLSTM: ConvLSTMFusion
    public let score: ScoreHead
    public let config: ModelConfig

    public init(levels: (ScoreHead, ScoreHead, ScoreHead), exchange: GatedExchange, convLSTM: ConvLSTMFusion,
                score: ScoreHead, config: ModelConfig) {
        self.levels = levels
        self.exchange = exchange
        self.convLSTM = convLSTM
        self.score = score
        self.config = config
    }

    /// Fused level features [1,h,w,D] → every output.
    public func callAsFunction(f3: Tensor, f4: Tensor, f5: Tensor, words: Tensor, parse: Tensor, _ p: Parameters) throws -> CMPCOutputs {
        let (H, W) = (config.H, config.W)
        let up5 = try resizeBilinear(levels.2(f5, p), height: H, width: W)
        let up4 = try resizeBilinear(levels.1(f4, p), height: H, width: W)
        let up3 = try resizeBilinear(levels.0(f3, p), height: H, width: W)
        let sentence = try WordTypeSelection.sentence(weights: WordTypeSelection.allButUnnecessary(parse), words: words)
        let exchanged = try exchange(c3: f3, c4: f4, c5: f5, sentence: sentence, p)
        let fused = try convLSTM(exchanged, p)
        let pred = try score(fused, p)                                                     // [1,vf_h,vf_w,1]
        let up = try resizeBilinear(pred, height: H, width: W)
        let t = parse.shape[2]
        return CMPCOutputs(up: up, pred: pred, upC3: up3, upC4: up4, upC5: up5,
                           wordsParse: try parse.reshaped(to: [t, parse.shape[3]]))
    }
}
