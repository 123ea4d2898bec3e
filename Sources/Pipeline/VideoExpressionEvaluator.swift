// VideoExpressionEvaluator: J and F of every referring expression of one video (Ref-YouTube-VOS, Ref-DAVIS17,
// MeViS), through the same whole-video path as `segment`: one VideoSegmenter over the video's frames with all
// its expressions as sentences, so each frame is decoded once and its backbone features are computed once and
// shared by every expression. Each predicted mask (at the frame's size) is scored against the expression's
// ground truth in that frame with the DAVIS 2017 toolkit's J and F (Evaluation.DAVISMetrics).
// For Ref-DAVIS17 it also runs ReferFormer's protocol (Evaluation.RefDAVISProtocol) on the way: per expression set,
// each frame's object masks merged into one label map (overlaps to the object of highest probability there: the
// network's σ at the network pixel nearest the frame pixel, resize_and_crop's geometry) and scored against the
// frame's annotation by the toolkit's unsupervised evaluation (Evaluation.DAVISUnsupervised), frame by frame.
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
    /// Ref-DAVIS17's ReferFormer protocol: per expression set, its objects' expressions (indices into `sentences`,
    /// `RefDAVISProtocol.expressions`); empty, the protocol is not run.
    public var expressionSets: [[Int]] = []
    /// Per expression set, the matched objects of the last `evaluate` (the unsupervised evaluation of this video).
    public private(set) var setObjects: [[DAVISUnsupervised.ObjectScores]] = []
    /// Per expression set, the merged label maps of the last `evaluate` in frame order (kept with `keepMasks`).
    public private(set) var setLabelMaps: [[LabelMap]] = []

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
    /// With `expressionSets`, `labels(k)` is frame k's annotation label map (0 background, object ids, 255 void) for
    /// the protocol's unsupervised evaluation.
    public func evaluate(framePaths: [String], groundTruth: (Int, Int) throws -> PixelMask,
                         labels: ((Int) throws -> LabelMap)? = nil) throws -> [ExpressionScores] {
        var results = sentences.indices.map { ExpressionScores(expression: $0, scores: .init(j: [], f: []), masks: []) }
        let sets = labels == nil ? [] : expressionSets
        var sequences = sets.map { DAVISUnsupervised.Sequence(proposals: $0.count) }
        setLabelMaps = sets.map { _ in [] }
        var frame: [FrameMask] = []     // the current frame's results, expressions in order
        try run(framePaths: framePaths, emit: { r in
            if !sets.isEmpty, let labels {
                frame.append(r)
                if r.sentence == sentences.count - 1 {
                    guard frame.map(\.sentence) == Array(sentences.indices), frame.allSatisfy({ $0.frame == r.frame }) else {
                        throw PipelineError("Ref-DAVIS17 protocol: frame \(r.frame)'s results came out of order "
                                            + "(expressions \(frame.map(\.sentence))); this is a bug, please report it")
                    }
                    // The annotation is prepared once (its objects' masks and boundaries) for the four sets.
                    let labels = try labels(r.frame - 1)
                    let truth = try DAVISUnsupervised.Annotation(
                        labels, objects: sequences[0].objects ?? labels.highestLabel(ignoring: DAVISUnsupervised.voidLabel))
                    for (s, set) in sets.enumerated() {
                        let map = try merged(frame, objects: set, width: r.mask.width, height: r.mask.height)
                        try sequences[s].add(result: map, groundTruth: truth)
                        if keepMasks { setLabelMaps[s].append(map) }
                    }
                    frame = []
                }
            }
            let truth = try groundTruth(r.sentence, r.frame - 1)
            results[r.sentence].scores.j.append(try DAVISMetrics.jaccard(prediction: r.mask, groundTruth: truth))
            results[r.sentence].scores.f.append(try DAVISMetrics.boundaryF(prediction: r.mask, groundTruth: truth))
            let (i, u) = try intersectionAndUnion(prediction: r.mask.pixels, groundTruth: truth.pixels)
            results[r.sentence].counts.append((i, u, truth.area))
            if keepMasks { results[r.sentence].masks.append(r.mask) }
        })
        setObjects = try sequences.map { try $0.finish() }
        return results
    }

    /// One frame's label map of the objects `objects` (expression indices; object k is label k + 1).
    func merged(_ frame: [FrameMask], objects: [Int], width: Int, height: Int) throws -> LabelMap {
        let (H, W) = (model.config.H, model.config.W)
        return try RefDAVISProtocol.merge(
            masks: objects.map { frame[$0].mask },
            scores: objects.map { Self.frameScores(frame[$0].probabilities, H: H, W: W, frameWidth: width, frameHeight: height) },
            width: width, height: height)
    }

    /// σ at the frame's pixels: each frame pixel takes the network pixel nearest its centre under resize_and_crop's
    /// geometry (the H×W map scaled by max(frame/H, frame/W), then the frame cropped from its middle).
    static func frameScores(_ p: [Float], H: Int, W: Int, frameWidth: Int, frameHeight: Int) -> [Float] {
        let scale = max(Double(frameHeight) / Double(H), Double(frameWidth) / Double(W))
        let rh = max(1, Int((Double(H) * scale).rounded(.toNearestOrEven)))
        let rw = max(1, Int((Double(W) * scale).rounded(.toNearestOrEven)))
        let top = (rh - frameHeight) / 2, left = (rw - frameWidth) / 2
        let rows = (0..<frameHeight).map { min(H - 1, max(0, Int((Double($0 + top) + 0.5) * Double(H) / Double(rh)))) }
        let columns = (0..<frameWidth).map { min(W - 1, max(0, Int((Double($0 + left) + 0.5) * Double(W) / Double(rw)))) }
        var out = [Float](repeating: 0, count: frameWidth * frameHeight)
        for y in 0..<frameHeight {
            for x in 0..<frameWidth { out[y * frameWidth + x] = p[rows[y] * W + columns[x]] }
        }
        return out
    }
}
