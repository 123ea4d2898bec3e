// CMPCLevel: one level (c3, c4 or c5) of either CMPC network, from its lateral projection to its
// fused features. Port of CMPC_model.py: build_lang2vis (image) and
// CMPC_video/CMPC_video_mm_tgraph_allvec.py: build_lang2vis (video).
//
// h×w feature map, C = v_emb_dim, D = mlp_dim, F sampled frames (1 for the image network).
// per frame:             lateral 1×1 conv + l2norm                              → visual [1,h,w,C]
// per frame & sentence:  MUTAN(visual, grid, entity+attribute sentence)         → multimodal m_f [1,h,w,C]
//                        video: temporal-graph node of m_f (action words)       → [1,1,1,C]
// per window:            video: temporal graph over the F nodes → temporal context of the target;
//                        spatial graph of the target's m (relation words); fusion of the declared
//                        inputs (Fusion.swift) → [1,h,w,D]; score head → logits [1,h,w,1].

import Tensor

/// One level of a CMPC network; the temporal graph and context are present in the video network only.
public struct CMPCLevel: Sendable {
    /// "c3", "c4" or "c5".
    public let level: String
    public let lateral: Lateral
    public let mutan: MutanFusion
    public let temporalGraph: TemporalGraph?
    public let temporalContext: TemporalContext?
    public let spatialGraph: SpatialGraph
    public let fusion: LevelFusion
    public let score: ScoreHead

    /// The level fed by backbone stage `stage` (3, 4 or 5).
    public init(stage: Int, config: ModelConfig) {
        let level = "c\(stage)"
        self.level = level
        lateral = Lateral(level: level, inChannels: config.outputChannels(stage: stage), config: config)
        mutan = MutanFusion(level: level, config: config)
        let video = config.model == .video
        temporalGraph = video ? TemporalGraph(level: level, config: config) : nil
        temporalContext = video ? TemporalContext(level: level, config: config) : nil
        spatialGraph = SpatialGraph(level: level, config: config)
        fusion = LevelFusion(level: level, config: config)
        score = ScoreHead(name: "score_\(level)", config: config)
    }

    /// The parameters of build_lang2vis, in the original's creation order. (The lateral's are created
    /// earlier, in build_graph: CMPCCore.specs places them.)
    public var specs: [ParameterSpec] {
        mutan.specs + (temporalGraph?.specs ?? []) + (temporalContext?.specs ?? []) + spatialGraph.specs
            + fusion.specs + score.specs
    }

    /// Per frame and sentence: visual [N,h,w,C] → multimodal features [N,h,w,C] and, in the video
    /// network, the frames' temporal nodes [1,1,N,C].
    func frameSentence(visual: Tensor, grid: Tensor, _ s: SentenceFeatures,
                       _ p: Parameters) throws -> (multimodal: Tensor, nodes: Tensor?) {
        let m = try mutan(visual: visual, spatial: grid, sentence: s.entity, p)
        guard let temporalGraph else { return (m, nil) }
        guard let action = s.action else {
            throw TensorError.invalidArgument(op: "CMPCLevel \(level)",
                                              reason: "the temporal graph needs the action sentence (a video network's SentenceFeatures)")
        }
        return (m, try temporalGraph.nodes(multimodal: m, action: action, p))
    }

    /// Per window: the target frame's visual features [1,h,w,C], every sampled frame's multimodal
    /// features [1,h,w,C] and (video) temporal nodes [1,1,1,C] → fused features [1,h,w,D].
    func fuse(visual: Tensor, multimodal: [Tensor], nodes: [Tensor], targetSlot: Int, grid: Tensor,
              _ s: SentenceFeatures, _ p: Parameters) throws -> Tensor {
        let mm = multimodal[targetSlot]
        let (h, w) = (mm.shape[1], mm.shape[2])
        var context: Tensor? = nil
        if let temporalGraph, let temporalContext {
            let reasoned = try temporalGraph.reason(nodes: concat(nodes, axis: 2), p)     // [1,1,F,C]
            context = try temporalContext(multimodal: mm, nodes: reasoned, p)             // [1,h,w,C]
        }
        let graph = try spatialGraph(multimodal: mm, words: s.words, relation: WordTypeSelection.type(2, of: s.parse), p)
        return try Profiler.section("fusion") {
            try fusion(p) { input in
                switch input {
                case .multimodal: return mm
                case .visual: return visual
                case .spatialGraph: return graph
                case .temporalContext:
                    guard let context else {
                        throw TensorError.invalidArgument(op: fusion.conv.name, reason: "the temporal context needs the video network's temporal graph")
                    }
                    return context
                case .entitySentence: return try s.entity.tiled([1, h, w, 1])
                case .validSentence: return try s.valid.tiled([1, h, w, 1])
                case .spatialGrid: return grid
                case .motion:
                    // What changed at each location between each other sampled frame and the target
                    // (the original pools every frame to one vector).
                    let others = multimodal.indices.filter { $0 != targetSlot }
                    return try concat(others.map { try multimodal[$0] - mm }, axis: 3)
                }
            }
        }
    }
}
