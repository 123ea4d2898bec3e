// VideoExpressionEvaluator: J and F of every referring expression of one video (Ref-YouTube-VOS, Ref-DAVIS17,
// MeViS), through the same whole-video path as `segment`: one VideoSegmenter over the video's frames with all
// its expressions as sentences, so each frame is decoded once and its backbone features are computed once and
// shared by every expression. Each predicted mask (at the frame's size) is scored against the expression's
// ground truth in that frame with the DAVIS 2017 toolkit's J and F (Evaluation.DAVISMetrics).
import Evaluation
import ImageModel
import Video
import VideoModel

/// J and F per frame of one expression, and where its masks came from.
public struct ExpressionScores: Sendable {
    /// The expression's index in the evaluator's sentence list.
    public var expression: Int
    /// Per annotated frame, in frame order.
    public var scores: DAVISMetrics.SequenceScores
    /// The predicted masks, in frame order (kept when the evaluator's `keepMasks` is on).
    public var masks: [PixelMask]
    /// Per frame: intersection, union and ground-truth pixels (for P@K and IoU over frames, as for A2D).
    public var counts: [(intersection: Int, union: Int, groundTruthArea: Int)] = []
}

/// Scores the expressions of one video, computing each frame's features once for all of them.
public final class VideoExpressionEvaluator {
    /// The network and its parameters.
    public let model: CMPCModel
    /// Each expression's num_steps word ids.
    public let sentences: [[Int32]]
    /// How frames are resized into the network input.
    public var resize: ResizeMode
    /// Keep every predicted mask in the result (for --save-masks); off, only the scores are kept.
    public var keepMasks = false
    /// Backbone passes of the last `evaluate` (one per frame: the expressions share them).
    public private(set) var backbonePasses = 0

    /// An evaluator for the expressions `sentences` (word ids; at least one).
    public init(model: CMPCModel, sentences: [[Int32]], resize: ResizeMode = .original) {
        self.model = model
        self.sentences = sentences
        self.resize = resize
    }

    /// Segments the frames `framePaths` (the video's frames in order) for every expression, without scoring (a split
    /// the challenge server scores): `[expression][frame]` masks at the frames' sizes.
    public func segment(framePaths: [String]) throws -> [[PixelMask]] {
        var masks = [[PixelMask]](repeating: [], count: sentences.count)
        try run(framePaths: framePaths) { masks[$0.sentence].append($0.mask) }
        return masks
    }

    /// Runs the whole-video segmenter over the frames, results in frame order, expressions in order within a frame.
    private func run(framePaths: [String], emit: (FrameMask) throws -> Void) throws {
        guard !framePaths.isEmpty else {
            throw DAVISMetricsError.frameCount(predictions: 0, groundTruths: 0)
        }
        let segmenter = try VideoSegmenter(model: model, sentences: sentences, resize: resize)
        var next = 0
        try segmenter.run(frameCount: framePaths.count, targets: Array(1...framePaths.count), nextFrame: {
            guard next < framePaths.count else { return nil }
            defer { next += 1 }
            return try ImageIO.read(path: framePaths[next])
        }, emit: emit)
        backbonePasses = segmenter.backbonePasses
    }

    /// Segments the frames `framePaths` (the video's frames in order, JPEG or PNG) for every expression and
    /// scores frame k (0-based) of expression e against `groundTruth(e, k)`, which must have the frame's size.
    public func evaluate(framePaths: [String], groundTruth: (Int, Int) throws -> PixelMask) throws -> [ExpressionScores] {
        var results = sentences.indices.map { ExpressionScores(expression: $0, scores: .init(j: [], f: []), masks: []) }
        try run(framePaths: framePaths, emit: { r in
            let truth = try groundTruth(r.sentence, r.frame - 1)
            results[r.sentence].scores.j.append(try DAVISMetrics.jaccard(prediction: r.mask, groundTruth: truth))
            results[r.sentence].scores.f.append(try DAVISMetrics.boundaryF(prediction: r.mask, groundTruth: truth))
            let (i, u) = try intersectionAndUnion(prediction: r.mask.pixels, groundTruth: truth.pixels)
            results[r.sentence].counts.append((i, u, truth.area))
            if keepMasks { results[r.sentence].masks.append(r.mask) }
        })
        return results
    }
}
