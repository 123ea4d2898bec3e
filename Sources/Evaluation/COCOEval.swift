// COCO average precision for masks, as pycocotools' COCOeval (iouType "segm", useCats = 0) computes it with the
// default parameters restricted to what stats[0…2] read: area range "all", maxDets 100, IoU thresholds
// 0.50:0.05:0.95, 101 recall thresholds, the monotone precision envelope.
//
// Legend: T = 10 IoU thresholds, R = 101 recall thresholds, D detections, G ground truths.

/// COCOeval(segm, useCats=0) over masks: per-image greedy matching, then precision/recall accumulated over images.
public enum COCOEvaluator {
    /// One image: its ground-truth masks (crowd flags optional) and scored detections.
    public struct Image: Sendable {
        public var groundTruths: [RLE]
        public var isCrowd: [Bool]
        public var detections: [(mask: RLE, score: Double)]
        public init(groundTruths: [RLE], isCrowd: [Bool] = [], detections: [(mask: RLE, score: Double)]) {
            self.groundTruths = groundTruths
            self.isCrowd = isCrowd
            self.detections = detections
        }
    }

    /// The accumulated precision [T][R] (−1 where no ground truth counts) and recall [T].
    public struct Result: Sendable {
        public var precision: [[Double]]
        public var recall: [Double]
        /// AP averaged over IoU 0.50:0.95 (stats[0]); −1 if there is no ground truth.
        public var ap: Double { mean(precision.flatMap { $0 }) }
        /// AP at IoU 0.50 (stats[1]).
        public var ap50: Double { mean(precision[0]) }
        /// AP at IoU 0.75 (stats[2]).
        public var ap75: Double { mean(precision[5]) }
        /// Recall averaged over IoU thresholds, maxDets 100 (stats[8]).
        public var ar100: Double { mean(recall) }

        func mean(_ values: [Double]) -> Double {
            let kept = values.filter { $0 > -1 }
            return kept.isEmpty ? -1 : kept.reduce(0, +) / Double(kept.count)
        }
    }

    /// IoU thresholds as numpy's linspace(.5, 0.95, 10) yields them.
    public static let iouThresholds: [Double] = linspace(0.5, 0.95, 10)
    /// Recall thresholds as numpy's linspace(0, 1, 101) yields them.
    public static let recallThresholds: [Double] = linspace(0, 1, 101)
    static let maxDetections = 100

    static func linspace(_ start: Double, _ stop: Double, _ num: Int) -> [Double] {
        let step = (stop - start) / Double(num - 1)
        var y = (0..<num).map { Double($0) * step + start }
        y[num - 1] = stop
        return y
    }

    /// Each sample is one image with one ground truth (its mask) and one detection (the predicted mask, with a score);
    /// returns stats[0…2]: AP over IoU 0.50:0.95, AP50, AP75 (−1 each when there are no samples).
    public static func averagePrecision(samples: [(gt: RLE, dt: RLE, score: Double)])
        -> (ap: Double, ap50: Double, ap75: Double) {
        let r = evaluate(images: samples.map { Image(groundTruths: [$0.gt], detections: [(mask: $0.dt, score: $0.score)]) })
        return (r.ap, r.ap50, r.ap75)
    }

    /// Detections in score order (stable: ties keep their order; NaN scores go last as in numpy's argsort).
    static func scoreOrder(_ scores: [Double]) -> [Int] {
        scores.indices.sorted { a, b in
            let (sa, sb) = (scores[a].isNaN ? -Double.infinity : scores[a], scores[b].isNaN ? -Double.infinity : scores[b])
            if sa != sb { return sa > sb }
            if scores[a].isNaN != scores[b].isNaN { return !scores[a].isNaN }
            return a < b
        }
    }

    /// Per-image matching result (evaluateImg for area "all", maxDets 100).
    struct ImageEvaluation {
        var scores: [Double]          // D, in score order
        var matched: [[Bool]]         // T × D
        var ignored: [[Bool]]         // T × D
        var ignoredGroundTruths: [Bool]  // G
    }

    static func evaluateImage(_ image: Image) -> ImageEvaluation? {
        let gtCount = image.groundTruths.count
        if gtCount == 0 && image.detections.isEmpty { return nil }
        let crowd = (0..<gtCount).map { $0 < image.isCrowd.count && image.isCrowd[$0] }
        // Ground truths: ignored (crowd) ones last, stable.
        let gtOrder = (0..<gtCount).filter { !crowd[$0] } + (0..<gtCount).filter { crowd[$0] }
        let gts = gtOrder.map { image.groundTruths[$0] }
        let gtIgnore = gtOrder.map { crowd[$0] }
        let dtOrder = Array(scoreOrder(image.detections.map(\.score)).prefix(maxDetections))
        let dts = dtOrder.map { image.detections[$0] }
        let ious = iou(dts.map(\.mask), gts, isCrowd: gtIgnore)   // D × G

        let t = iouThresholds.count
        var dtMatched = [[Bool]](repeating: [Bool](repeating: false, count: dts.count), count: t)
        var dtIgnored = dtMatched
        if !dts.isEmpty && !gts.isEmpty {
            for ti in 0..<t {
                var gtMatched = [Bool](repeating: false, count: gts.count)
                for d in dts.indices {
                    var best = min(iouThresholds[ti], 1 - 1e-10)
                    var m = -1
                    for g in gts.indices {
                        if gtMatched[g] && !gtIgnore[g] { continue }
                        if m > -1 && !gtIgnore[m] && gtIgnore[g] { break }
                        if ious[d][g] < best { continue }
                        best = ious[d][g]
                        m = g
                    }
                    if m == -1 { continue }
                    dtIgnored[ti][d] = gtIgnore[m]
                    dtMatched[ti][d] = true
                    gtMatched[m] = true
                }
            }
        }
        // Area range "all" is [0, 1e10]: no unmatched detection falls outside it.
        return ImageEvaluation(scores: dts.map(\.score), matched: dtMatched, ignored: dtIgnored,
                               ignoredGroundTruths: gtIgnore)
    }

    /// evaluate + accumulate over images in the given order (pycocotools' image-id order).
    public static func evaluate(images: [Image]) -> Result {
        let t = iouThresholds.count, r = recallThresholds.count
        var result = Result(precision: [[Double]](repeating: [Double](repeating: -1, count: r), count: t),
                            recall: [Double](repeating: -1, count: t))
        let evaluations = images.compactMap(evaluateImage)
        if evaluations.isEmpty { return result }
        let scores = evaluations.flatMap(\.scores)
        let order = scoreOrder(scores)
        let positives = evaluations.reduce(0) { $0 + $1.ignoredGroundTruths.filter { !$0 }.count }
        if positives == 0 { return result }
        let eps = Double.ulpOfOne   // np.spacing(1)
        for ti in 0..<t {
            let matched = evaluations.flatMap { $0.matched[ti] }
            let ignored = evaluations.flatMap { $0.ignored[ti] }
            var tp = 0.0, fp = 0.0
            var rc: [Double] = [], pr: [Double] = []
            rc.reserveCapacity(order.count); pr.reserveCapacity(order.count)
            for i in order {
                if !ignored[i] { if matched[i] { tp += 1 } else { fp += 1 } }
                rc.append(tp / Double(positives))
                pr.append(tp / (fp + tp + eps))
            }
            let nd = rc.count
            result.recall[ti] = nd > 0 ? rc[nd - 1] : 0
            if nd > 1 { for i in stride(from: nd - 1, to: 0, by: -1) where pr[i] > pr[i - 1] { pr[i - 1] = pr[i] } }
            var q = [Double](repeating: 0, count: r)
            var i = 0
            for (ri, threshold) in recallThresholds.enumerated() {
                while i < nd && rc[i] < threshold { i += 1 }   // searchsorted(rc, threshold, side: left)
                if i >= nd { break }
                q[ri] = pr[i]
            }
            result.precision[ti] = q
        }
        return result
    }
}
