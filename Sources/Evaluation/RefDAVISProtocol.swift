// RefDAVISProtocol: the Ref-DAVIS17 numbers as ReferFormer (github wjn922/ReferFormer: inference_davis.py,
// eval_davis.py, scripts/dist_test_davis.sh) computes them, and as the papers that follow it report them.
//
//   expression sets  ReferFormer's converter (tools/data/convert_davis_to_ytvos.py) lists four expressions per
//                    object, interleaved: annotator 1 first-frame, annotator 1 full-video, annotator 2 first-frame,
//                    annotator 2 full-video. inference_davis.py takes N = ⌊expressions / 4⌋ objects and, for set
//                    a = 0 … 3 ("anno_a"), object k's expression is the (4k + a)-th in file order.
//   merge            per set and frame, the N objects' masks become one label map: ReferFormer zeroes mask scores
//                    below 0.5, puts a background of 0.1 in front and takes the argmax (the first of equal maxima),
//                    so a pixel goes to the object of highest score among those ≥ 0.5, label k + 1, or to 0. Here an
//                    object "covers" a pixel where its predicted mask is set (CMPC's own threshold, the same
//                    σ ≥ 0.5), and the score that breaks overlaps is the object's probability there.
//   evaluation       each set's label maps, over all videos, through the toolkit's unsupervised evaluation
//                    (DAVISUnsupervised: Hungarian matching to the ground-truth objects), giving that set's J, F
//                    and J&F (eval_davis.py's J-Mean, F-Mean, J&F-Mean);
//   final            the mean of the four sets' numbers (the authors: "we average the results of four annotators",
//                    wjn922/ReferFormer issue 30).

/// Ref-DAVIS17's ReferFormer protocol: expression sets, the label-map merge, and the mean over the sets.
public enum RefDAVISProtocol {
    /// One of the four expression sets (ReferFormer's `anno_0` … `anno_3`).
    public struct ExpressionSet: Equatable, Sendable {
        /// 0 … 3, ReferFormer's anno_id.
        public var index: Int
        /// 1 or 2.
        public var annotator: Int
        /// "first-frame" or "full-video" (Davis17_annotN.txt or Davis17_annotN_full_video.txt).
        public var expressions: String
    }

    /// The sets in ReferFormer's order.
    public static let sets: [ExpressionSet] = [
        ExpressionSet(index: 0, annotator: 1, expressions: "first-frame"),
        ExpressionSet(index: 1, annotator: 1, expressions: "full-video"),
        ExpressionSet(index: 2, annotator: 2, expressions: "first-frame"),
        ExpressionSet(index: 3, annotator: 2, expressions: "full-video"),
    ]

    /// The expression (position in the video's list) of each object in set `set`, for a video of `count` expressions:
    /// object k's is 4k + set, for the ⌊count / 4⌋ objects.
    public static func expressions(set: Int, count: Int) -> [Int] {
        (0..<(count / sets.count)).map { $0 * sets.count + set }
    }

    /// One frame's label map from the objects' masks (at the frame's size) and their scores there (`scores[k]`,
    /// one per pixel): a pixel covered by some objects' masks gets the label k + 1 of the one with the highest score
    /// (the first on a tie); a pixel no mask covers gets 0. At most 255 objects.
    public static func merge(masks: [PixelMask], scores: [[Float]], width: Int, height: Int) throws -> LabelMap {
        guard masks.count == scores.count, masks.count < 256 else {
            throw DAVISMetricsError.frameCount(predictions: masks.count, groundTruths: scores.count)
        }
        for (m, s) in zip(masks, scores) where m.width != width || m.height != height || s.count != width * height {
            throw DAVISMetricsError.sizeMismatch(prediction: (m.height, m.width), groundTruth: (height, width))
        }
        var map = LabelMap(width: width, height: height)
        for i in 0..<(width * height) {
            var best = -1
            var bestScore = -Float.infinity
            for k in masks.indices where masks[k].pixels[i] != 0 && (best < 0 || scores[k][i] > bestScore) {
                best = k
                bestScore = scores[k][i]
            }
            if best >= 0 { map.labels[i] = UInt8(best + 1) }
        }
        return map
    }

    /// The numbers of each set (over all objects of all videos) and their mean.
    public struct Result: Sendable {
        /// Per set, in `sets` order: every video's matched objects, videos in order.
        public var objects: [[DAVISUnsupervised.ObjectScores]]

        /// An empty result for the four sets.
        public init(objects: [[DAVISUnsupervised.ObjectScores]] = Array(repeating: [], count: RefDAVISProtocol.sets.count)) {
            self.objects = objects
        }

        /// Set `k`'s J, F and J&F.
        public func set(_ k: Int) -> (j: Double, f: Double, jf: Double) { DAVISUnsupervised.summary(objects[k]) }

        /// The reported numbers: the means of the sets' J, F and J&F.
        public var final: (j: Double, f: Double, jf: Double) {
            let each = objects.indices.map(set)
            return (DAVISMetrics.mean(each.map(\.j)), DAVISMetrics.mean(each.map(\.f)), DAVISMetrics.mean(each.map(\.jf)))
        }
    }
}
