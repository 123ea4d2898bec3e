// CMPCVideoNetwork: the video CMPC network for A2D Sentences.
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
// The computation is split so a whole video can reuse work: `frame` (per frame), `frameSentence`
// (per frame and sentence) and `window` (per target frame) — `callAsFunction(clip:)` is exactly
// their composition.

import ImageModel
import Tensor
import Video

/// Sentence-independent features of one frame: the three lateral-normalised levels [1,h,w,C].
public struct FrameFeatures: Sendable {
    public var c3: Tensor
    public var c4: Tensor
    public var c5: Tensor
    public func level(_ i: Int) -> Tensor { [c3, c4, c5][i] }
}

/// One sentence's language features.
public struct SentenceFeatures: Sendable {
    /// L2-normalised word features [1,1,T',C].
    public var words: Tensor
    /// Word types [1,1,T',5].
    public var parse: Tensor
    /// Entity + attribute sentence [1,1,1,C] (the original's ea_lang).
    public var entity: Tensor
    /// Action sentence [1,1,1,C] (ac_lang).
    public var action: Tensor
    /// All-but-unnecessary sentence [1,1,1,C] (valid_lang).
    public var valid: Tensor
}

/// Per frame and sentence: each level's multimodal features [1,h,w,C] and temporal node [1,1,1,C].
public struct FrameSentenceFeatures: Sendable {
    public var multimodal: [Tensor]   // c3, c4, c5
    public var nodes: [Tensor]        // c3, c4, c5
}

/// One level of the video network.
public struct VideoLevel: Sendable {
    public let level: String
    public let lateral: Lateral
    public let mutan: MutanFusion
    public let temporalGraph: TemporalGraph
    public let temporalContext: TemporalContext
    public let spatialGraph: SpatialGraph
    public let fusion: HeadConv
    public let score: ScoreHead

    init(level: String, inChannels: Int, config: ModelConfig) {
        self.level = level
        lateral = Lateral(level: level, inChannels: inChannels, config: config)
        mutan = MutanFusion(level: level, config: config)
        temporalGraph = TemporalGraph(level: level, config: config)
        temporalContext = TemporalContext(level: level, config: config)
        spatialGraph = SpatialGraph(level: level, config: config)
        fusion = HeadConv("fusion_\(level)", in: config.videoFusionInputChannels(motion: config.usesMotion),
                          out: config.mlpDim)
        score = ScoreHead(name: "score_\(level)", config: config)
    }

    public var specs: [ParameterSpec] {
        lateral.specs + mutan.specs + temporalGraph.specs + temporalContext.specs + spatialGraph.specs
            + fusion.specs + score.specs
    }
}

public struct CMPCVideoNetwork: Sendable {
    public let config: ModelConfig
    public let backbone: DeepLabResNet
    public let language: LanguageEncoder
    public let parser: WordParser
    public let levels: [VideoLevel]   // c3, c4, c5
    public let tail: CMPCFusionStage

    public init(config: ModelConfig) throws {
        try config.validate()
        guard config.model == .video else {
            throw ModelConfigError(description: "CMPCVideoNetwork needs model \"video\" (got \"\(config.model.rawValue)\")")
        }
        self.config = config
        backbone = DeepLabResNet(config: config)
        language = LanguageEncoder(config: config)
        parser = WordParser(config: config)
        levels = [("c3", 3), ("c4", 4), ("c5", 5)].map {
            VideoLevel(level: $0.0, inChannels: config.outputChannels(stage: $0.1), config: config)
        }
        tail = CMPCFusionStage(levels: (levels[0].score, levels[1].score, levels[2].score),
                               exchange: GatedExchange(config: config), convLSTM: ConvLSTMFusion(config: config),
                               score: ScoreHead(name: "score", config: config), config: config)
    }

    public var specs: [ParameterSpec] {
        var specs = backbone.specs + language.specs
        for l in levels.reversed() { specs += l.lateral.specs }
        specs += parser.specs
        for l in levels.reversed() {
            specs += l.mutan.specs
            specs += l.temporalGraph.specs
            specs += l.temporalContext.specs
            specs += l.spatialGraph.specs
            specs += l.fusion.specs
            specs += l.score.specs
        }
        specs += tail.exchange.specs
        specs += tail.convLSTM.specs
        specs += tail.score.specs
        return specs
    }

    /// The spatial grid at the feature size.
    public var spatial: Tensor { spatialGrid(height: config.featureHeight, width: config.featureWidth) }

    /// Backbone and laterals of N frames [N,H,W,3] → one FrameFeatures per frame.
    public func frames(_ images: Tensor, _ p: Parameters) throws -> [FrameFeatures] {
        let n = images.shape[0]
        let b = try backbone(images, p)
        let v3 = try levels[0].lateral(b.c3, p), v4 = try levels[1].lateral(b.c4, p), v5 = try levels[2].lateral(b.c5, p)
        func frame(_ t: Tensor, _ i: Int) throws -> Tensor {
            n == 1 ? t : try t.slice(begin: [i, 0, 0, 0], size: [1, t.shape[1], t.shape[2], t.shape[3]])
        }
        return try (0..<n).map { FrameFeatures(c3: try frame(v3, $0), c4: try frame(v4, $0), c5: try frame(v5, $0)) }
    }

    /// Language features of one sentence (num_steps ids, left-padded with 0).
    public func sentence(_ words: [Int32], _ p: Parameters) throws -> SentenceFeatures {
        guard words.count == config.numSteps else {
            throw TensorError.invalidArgument(op: "CMPCVideoNetwork",
                                              reason: "\(words.count) word ids given; num_steps is \(config.numSteps)")
        }
        let lang = try language(config.ablation == .noSentence ? CMPCImageNetwork.blindWords(config.numSteps) : words, p)
        let parse = try parser(lang.words, p)                                             // [1,1,T',5]
        return SentenceFeatures(
            words: lang.words, parse: parse,
            entity: try WordTypeSelection.sentence(weights: WordTypeSelection.entityAttribute(parse), words: lang.words),
            action: try WordTypeSelection.sentence(weights: WordTypeSelection.type(3, of: parse), words: lang.words),
            valid: try WordTypeSelection.sentence(weights: WordTypeSelection.allButUnnecessary(parse), words: lang.words))
    }

    /// Per frame and sentence: multimodal features and temporal nodes of each level.
    /// Several frames at once: `frames` must share the sentence.
    public func frameSentence(_ frames: [FrameFeatures], _ s: SentenceFeatures, _ p: Parameters) throws -> [FrameSentenceFeatures] {
        let spatial = self.spatial
        var mm: [[Tensor]] = Array(repeating: [], count: frames.count)
        var nodes: [[Tensor]] = Array(repeating: [], count: frames.count)
        for (li, level) in levels.enumerated() {
            let visual = frames.count == 1 ? frames[0].level(li) : try concat(frames.map { $0.level(li) }, axis: 0)
            let m = try level.mutan(visual: visual, spatial: spatial, sentence: s.entity, p)         // [N,h,w,C]
            let n = try level.temporalGraph.nodes(multimodal: m, action: s.action, p)                // [1,1,N,C]
            for i in frames.indices {
                mm[i].append(frames.count == 1 ? m : try m.slice(begin: [i, 0, 0, 0], size: [1] + Array(m.shape.dropFirst())))
                nodes[i].append(frames.count == 1 ? n : try n.slice(begin: [0, 0, i, 0], size: [1, 1, 1, n.shape[3]]))
            }
        }
        return frames.indices.map { FrameSentenceFeatures(multimodal: mm[$0], nodes: nodes[$0]) }
    }

    /// One window: the 5 sampled frames' per-sentence features (target at position 2) and the target
    /// frame's own features → every output.
    public func window(sampled: [FrameSentenceFeatures], target: FrameFeatures, _ s: SentenceFeatures,
                       _ p: Parameters) throws -> CMPCOutputs {
        guard sampled.count == ClipWindow.slotCount else {
            throw TensorError.invalidArgument(op: "CMPCVideoNetwork.window",
                                              reason: "\(sampled.count) sampled frames given; the network takes \(ClipWindow.slotCount)")
        }
        let spatial = self.spatial
        let (h, w) = (config.featureHeight, config.featureWidth)
        var fused: [Tensor] = []
        for (li, level) in levels.enumerated() {
            let nodes = try level.temporalGraph.reason(nodes: concat(sampled.map { $0.nodes[li] }, axis: 2), p)   // [1,1,F,C]
            let mm = sampled[ClipWindow.targetSlot].multimodal[li]                                                       // [1,h,w,C]
            let context = try level.temporalContext(multimodal: mm, nodes: nodes, p)
            let graph = try level.spatialGraph(multimodal: mm, words: s.words, relation: WordTypeSelection.type(2, of: s.parse), p)
            let sentence = try s.valid.tiled([1, h, w, 1])
            var parts = [target.level(li), graph, context, sentence, spatial]
            if config.usesMotion {
                // This port's motion features: what changed at each location between each other
                // sampled frame and the target frame (the original pools every frame to one vector).
                for (k, f) in sampled.enumerated() where k != ClipWindow.targetSlot { parts.append(try f.multimodal[li] - mm) }
            }
            let all = try concat(parts, axis: 3)
            fused.append(try level.fusion(all, p, relu: true))
        }
        return try tail(f3: fused[0], f4: fused[1], f5: fused[2], words: s.words, parse: s.parse, p)
    }

    /// The full forward pass on one clip [16,H,W,3] (BGR minus mean) or its 5 sampled frames [5,H,W,3].
    /// The frames read are ClipWindow's (the target alone for single_frame); each is computed once.
    public func callAsFunction(clip: Tensor, words: [Int32], _ p: Parameters) throws -> CMPCOutputs {
        let (H, W) = (config.H, config.W)
        let singleFrame = config.ablation == .singleFrame
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
        let s = try sentence(words, p)
        let f = try frames(images, p)
        let fs = try frameSentence(f, s, p)
        let slot = sources.map { distinct.firstIndex(of: $0)! }
        return try window(sampled: slot.map { fs[$0] }, target: f[slot[ClipWindow.targetSlot]], s, p)
    }
}
