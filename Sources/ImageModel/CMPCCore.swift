// CMPCCore: the blocks of either CMPC network and its forward pass in three parts, so a whole video
// can reuse work. Port of CMPC_model.py: LSTM_model.build_graph (image) and
// CMPC_video/CMPC_video_mm_tgraph_allvec.py: LSTM_model.build_graph (video).
//
// frames         images [N,H,W,3] → backbone → each level's lateral + l2norm      (per frame)
// sentence       words → LSTM → word features → word parser → sentence vectors  (per sentence)
// frameSentence  each level's MUTAN (+ video: temporal node)                     (per frame and sentence)
// window         each level's (video: temporal graph and context,) spatial graph, fusion and score
//                → gated exchange → ConvLSTM → score → bilinear up to H×W       (per target frame)
// The image network runs one window over one frame; the video network's window reads ClipWindow's
// sampled frames (CMPCVideoNetwork). The parameters follow the same structure (`specs`).

import Tensor

/// Sentence-independent features of one frame: the three lateral-normalised levels [1,h,w,C].
public struct FrameFeatures: Sendable {
    public var c3: Tensor
    public var c4: Tensor
    public var c5: Tensor
    /// Level 0 (c3), 1 (c4) or 2 (c5).
    public func level(_ i: Int) -> Tensor { [c3, c4, c5][i] }
}

/// One sentence's language features.
public struct SentenceFeatures: Sendable {
    /// L2-normalised word features [1,1,T',C].
    public var words: Tensor
    /// Word types [1,1,T',types].
    public var parse: Tensor
    /// Entity + attribute sentence [1,1,1,C] (the original's ea_lang; the image network's valid_lang).
    public var entity: Tensor
    /// Action sentence [1,1,1,C] (ac_lang), video network only.
    public var action: Tensor?
    /// All-but-unnecessary sentence [1,1,1,C] (the image network's nec_lang, the video network's valid_lang).
    public var valid: Tensor
}

/// Per frame and sentence: each level's multimodal features [1,h,w,C] and (video network) temporal
/// node [1,1,1,C]; `nodes` is empty for the image network.
public struct FrameSentenceFeatures: Sendable {
    public var multimodal: [Tensor]   // c3, c4, c5
    public var nodes: [Tensor]        // c3, c4, c5
}

/// The blocks of a CMPC network (image or video, as `config.model` says), built once.
public struct CMPCCore: Sendable {
    public let config: ModelConfig
    public let backbone: DeepLabResNet
    public let language: LanguageEncoder
    public let parser: WordParser
    /// c3, c4, c5.
    public let levels: [CMPCLevel]
    public let tail: CMPCFusionStage
    /// The 8-channel spatial grid at the feature size [1,h,w,8].
    public let grid: Tensor

    public init(config: ModelConfig) throws {
        try config.validate()
        self.config = config
        backbone = DeepLabResNet(config: config)
        language = LanguageEncoder(config: config)
        parser = WordParser(config: config)
        levels = (3...5).map { CMPCLevel(stage: $0, config: config) }
        tail = CMPCFusionStage(config: config)
        grid = spatialGrid(height: config.featureHeight, width: config.featureWidth)
    }

    /// Every parameter, in the original graph's creation order: backbone, LSTM, laterals c5…c3, word
    /// parser, each level's build_lang2vis c5…c3, then the tail. Safetensors files and the optimizer
    /// state follow this order.
    public var specs: [ParameterSpec] {
        let topDown = levels.reversed()
        return backbone.specs + language.specs + topDown.flatMap(\.lateral.specs) + parser.specs
            + topDown.flatMap(\.specs) + tail.specs
    }

    /// The sentence every sentence becomes with the "no_sentence" ablation: the one word id 3 (<unk>).
    public static func blindWords(_ steps: Int) -> [Int32] { Array(repeating: 0, count: steps - 1) + [3] }

    /// Backbone and laterals of N frames [N,H,W,3] (BGR minus mean) → one FrameFeatures per frame.
    public func frames(_ images: Tensor, _ p: Parameters) throws -> [FrameFeatures] {
        try frames(backbone: backbone(images, p), p)
    }

    /// The laterals of backbone outputs of N frames → one FrameFeatures per frame.
    public func frames(backbone b: BackboneFeatures, _ p: Parameters) throws -> [FrameFeatures] {
        let v = try zip(levels, [b.c3, b.c4, b.c5]).map { try $0.lateral($1, p) }
        let n = v[0].shape[0]
        func frame(_ t: Tensor, _ i: Int) throws -> Tensor {
            n == 1 ? t : try t.slice(begin: [i, 0, 0, 0], size: [1, t.shape[1], t.shape[2], t.shape[3]])
        }
        return try (0..<n).map { FrameFeatures(c3: try frame(v[0], $0), c4: try frame(v[1], $0), c5: try frame(v[2], $0)) }
    }

    /// Language features of one sentence (num_steps ids, left-padded with 0).
    public func sentence(_ words: [Int32], _ p: Parameters) throws -> SentenceFeatures {
        guard words.count == config.numSteps else {
            throw TensorError.invalidArgument(op: "CMPC \(config.model.rawValue) network",
                                              reason: "\(words.count) word ids given; num_steps is \(config.numSteps)")
        }
        // The "no_sentence" ablation: every sentence is the one word id 3 (<unk>).
        let lang = try language(config.ablation == .noSentence ? Self.blindWords(config.numSteps) : words, p)
        let parse = try parser(lang.words, p)                                             // [1,1,T',types]
        func select(_ weights: Tensor) throws -> Tensor { try WordTypeSelection.sentence(weights: weights, words: lang.words) }
        return SentenceFeatures(
            words: lang.words, parse: parse,
            entity: try select(WordTypeSelection.entityAttribute(parse)),
            action: config.model == .video ? try select(WordTypeSelection.type(3, of: parse)) : nil,
            valid: try select(WordTypeSelection.allButUnnecessary(parse)))
    }

    /// Per frame and sentence: multimodal features and temporal nodes of each level. Several frames
    /// at once share the sentence.
    public func frameSentence(_ frames: [FrameFeatures], _ s: SentenceFeatures, _ p: Parameters) throws -> [FrameSentenceFeatures] {
        var out = frames.map { _ in FrameSentenceFeatures(multimodal: [], nodes: []) }
        for (li, level) in levels.enumerated() {
            let visual = frames.count == 1 ? frames[0].level(li) : try concat(frames.map { $0.level(li) }, axis: 0)
            let (m, n) = try level.frameSentence(visual: visual, grid: grid, s, p)       // [N,h,w,C], [1,1,N,C]
            for i in frames.indices {
                out[i].multimodal.append(frames.count == 1 ? m : try m.slice(begin: [i, 0, 0, 0], size: [1] + Array(m.shape.dropFirst())))
                if let n {
                    out[i].nodes.append(frames.count == 1 ? n : try n.slice(begin: [0, 0, i, 0], size: [1, 1, 1, n.shape[3]]))
                }
            }
        }
        return out
    }

    /// One window: the sampled frames' per-sentence features (the target at `targetSlot`) and the
    /// target frame's own features → every output. The image network samples one frame.
    public func window(sampled: [FrameSentenceFeatures], targetSlot: Int, target: FrameFeatures,
                       _ s: SentenceFeatures, _ p: Parameters) throws -> CMPCOutputs {
        guard sampled.indices.contains(targetSlot) else {
            throw TensorError.invalidArgument(op: "CMPCCore.window",
                                              reason: "target slot \(targetSlot) is outside the \(sampled.count) sampled frames")
        }
        let fused = try levels.enumerated().map { li, level in
            try level.fuse(visual: target.level(li), multimodal: sampled.map { $0.multimodal[li] },
                           nodes: level.temporalGraph == nil ? [] : sampled.map { $0.nodes[li] },
                           targetSlot: targetSlot, grid: grid, s, p)                     // [1,h,w,D]
        }
        let (H, W) = (config.H, config.W)
        let ups = try zip(levels, fused).map { try resizeBilinear($0.score($1, p), height: H, width: W) }   // [1,H,W,1]
        let pred = try tail(fused, sentence: s.valid, p)                                  // [1,h,w,1]
        let t = s.parse.shape[2]
        return CMPCOutputs(up: try resizeBilinear(pred, height: H, width: W), pred: pred,
                           upC3: ups[0], upC4: ups[1], upC5: ups[2],
                           wordsParse: try s.parse.reshaped(to: [t, s.parse.shape[3]]))
    }
}
