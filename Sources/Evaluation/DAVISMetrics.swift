// DAVISMetrics: region similarity J and boundary F exactly as the DAVIS 2017 toolkit computes them
// (github davisvideochallenge/davis2017-evaluation, davis2017/metrics.py and utils.py), the measures of
// Ref-YouTube-VOS, Ref-DAVIS17 and MeViS. Pinned to the toolkit by Tests/EvaluationTests/Fixtures/davis.npz
// (Tools/reference/make_davis_fixtures.py).
//
// Per frame (masks H×W, nonzero = foreground):
//   J  db_eval_iou: |P ∩ G| / |P ∪ G|, and 1 when the union is empty.
//   F  f_measure (bound_th 0.008): boundaries B(P), B(G) by _seg2bmap; r = ceil(0.008·√(H² + W²)) pixels;
//      each boundary dilated by skimage.morphology.disk(r) (cv2.dilate: pixels outside the image count as 0);
//      precision = |B(P) ∩ dil(B(G))| / |B(P)|, recall = |B(G) ∩ dil(B(P))| / |B(G)|; an empty B(P) gives
//      precision 1 and recall 0 (both empty: 1 and 1; empty B(G): 0 and 1); F = 2pr / (p + r), 0 when p + r = 0.
// Per sequence (an expression's annotated frames): J and F are db_statistics' M, np.nanmean over the frames,
// summed as numpy sums (pairwise, 8 accumulators) so the means agree bit for bit.

/// J (region similarity) and F (boundary accuracy) as the DAVIS 2017 toolkit (davis2017-evaluation) computes them.
public enum DAVISMetrics {
    /// The toolkit's default `bound_th`: the boundary tolerance as a fraction of the image diagonal.
    public static let boundaryThreshold = 0.008

    /// `db_eval_iou`: intersection over union of two masks of one size; 1 when both are empty.
    public static func jaccard(prediction: PixelMask, groundTruth: PixelMask) throws -> Double {
        try checkSizes(prediction, groundTruth)
        var intersection = 0, union = 0
        prediction.pixels.withUnsafeBufferPointer { p in
            groundTruth.pixels.withUnsafeBufferPointer { g in
                for i in 0..<p.count {
                    let a = p[i] != 0, b = g[i] != 0
                    if a && b { intersection += 1 }
                    if a || b { union += 1 }
                }
            }
        }
        return union == 0 ? 1 : Double(intersection) / Double(union)
    }

    /// The dilation radius of `f_measure` for an H×W frame: `bound_th` itself when it is ≥ 1 (a whole number of
    /// pixels), else ceil(bound_th · ‖(H, W)‖).
    public static func boundaryRadius(height: Int, width: Int, threshold: Double = boundaryThreshold) throws -> Int {
        guard threshold.isFinite, threshold > 0 else {
            throw DAVISMetricsError.badThreshold(threshold)
        }
        if threshold >= 1 {
            guard threshold == threshold.rounded(), threshold <= 1e6 else { throw DAVISMetricsError.badThreshold(threshold) }
            return Int(threshold)
        }
        // np.linalg.norm of the integer shape: sqrt of the exact integer dot product.
        let norm = Double(height * height + width * width).squareRoot()
        return Int((threshold * norm).rounded(.up))
    }

    /// `f_measure(prediction, groundTruth, bound_th=threshold)`: the boundary F-measure of one frame.
    public static func boundaryF(prediction: PixelMask, groundTruth: PixelMask,
                                 threshold: Double = boundaryThreshold) throws -> Double {
        try checkSizes(prediction, groundTruth)
        guard prediction.width > 0, prediction.height > 0 else {
            throw DAVISMetricsError.emptyFrame(height: prediction.height, width: prediction.width)
        }
        let radius = try boundaryRadius(height: prediction.height, width: prediction.width, threshold: threshold)
        return boundaryF(Boundary(prediction, radius: radius), Boundary(groundTruth, radius: radius))
    }

    /// A mask's `_seg2bmap` boundary and that boundary dilated by the disk of `f_measure`: what F needs of one mask,
    /// computed once when the mask is compared with several others.
    public struct Boundary: Sendable {
        /// The one-pixel boundary (`boundaryMap`).
        public let map: PixelMask
        /// `map` dilated by `disk(radius)`.
        public let dilated: PixelMask
        /// Pixels on the boundary.
        public let count: Int

        /// The boundary of `mask` and its dilation by a disk of `radius` pixels (`boundaryRadius` of the frame).
        public init(_ mask: PixelMask, radius: Int) {
            map = DAVISMetrics.boundaryMap(mask)
            dilated = DAVISMetrics.dilate(map, radius: radius)
            count = map.area
        }
    }

    /// `f_measure` from the two masks' boundaries (made with the same radius, at one size).
    public static func boundaryF(_ fg: Boundary, _ gt: Boundary) -> Double {
        let nFg = fg.count, nGt = gt.count
        var fgMatch = 0, gtMatch = 0
        for i in 0..<fg.map.pixels.count {
            if fg.map.pixels[i] != 0 && gt.dilated.pixels[i] != 0 { fgMatch += 1 }
            if gt.map.pixels[i] != 0 && fg.dilated.pixels[i] != 0 { gtMatch += 1 }
        }
        let precision: Double, recall: Double
        switch (nFg, nGt) {
        case (0, 0): (precision, recall) = (1, 1)
        case (0, _): (precision, recall) = (1, 0)
        case (_, 0): (precision, recall) = (0, 1)
        default: (precision, recall) = (Double(fgMatch) / Double(nFg), Double(gtMatch) / Double(nGt))
        }
        if precision + recall == 0 { return 0 }
        return 2 * precision * recall / (precision + recall)
    }

    /// `_seg2bmap`: the one-pixel-wide boundary of a mask, offset half a pixel towards the origin. A pixel is on
    /// the boundary when it differs from its east, south or south-east neighbour (those outside the image count
    /// as 0); in the last row only the east neighbour counts, in the last column only the south one, and the
    /// bottom-right pixel is never on it.
    public static func boundaryMap(_ mask: PixelMask) -> PixelMask {
        let h = mask.height, w = mask.width
        var b = PixelMask(width: w, height: h)
        guard h > 0, w > 0 else { return b }
        func seg(_ y: Int, _ x: Int) -> Bool { y < h && x < w && mask.pixels[y * w + x] != 0 }
        for y in 0..<h {
            for x in 0..<w {
                let s = seg(y, x)
                let edge: Bool
                if y == h - 1 && x == w - 1 {
                    edge = false
                } else if y == h - 1 {
                    edge = s != seg(y, x + 1)
                } else if x == w - 1 {
                    edge = s != seg(y + 1, x)
                } else {
                    edge = s != seg(y, x + 1) || s != seg(y + 1, x) || s != seg(y + 1, x + 1)
                }
                if edge { b.pixels[y * w + x] = 1 }
            }
        }
        return b
    }

    /// `skimage.morphology.disk(radius)`: the (2r+1)×(2r+1) mask of the offsets (dx, dy) with dx² + dy² ≤ r².
    public static func disk(radius: Int) -> PixelMask {
        let r = max(0, radius), n = 2 * r + 1
        var d = PixelMask(width: n, height: n)
        for y in 0..<n {
            for x in 0..<n where (x - r) * (x - r) + (y - r) * (y - r) <= r * r {
                d.pixels[y * n + x] = 1
            }
        }
        return d
    }

    /// `cv2.dilate(mask, disk(radius))`: a pixel is set when any set pixel lies within the disk around it; the
    /// image is not extended (outside pixels are 0). Row by row: each disk row is a span of columns, looked up
    /// in the prefix counts of the mask's rows.
    public static func dilate(_ mask: PixelMask, radius: Int) -> PixelMask {
        let h = mask.height, w = mask.width, r = max(0, radius)
        var out = PixelMask(width: w, height: h)
        guard h > 0, w > 0 else { return out }
        // Half-width of the disk's row dy, from the disk itself so the two never disagree.
        let d = disk(radius: r)
        let halfWidth = (0...(2 * r)).map { row in (d.pixels[(row * d.width)..<((row + 1) * d.width)].reduce(0) { $0 + Int($1) } - 1) / 2 }
        // prefix[y][x] = set pixels in row y before column x.
        var prefix = [Int](repeating: 0, count: h * (w + 1))
        for y in 0..<h {
            for x in 0..<w { prefix[y * (w + 1) + x + 1] = prefix[y * (w + 1) + x] + Int(mask.pixels[y * w + x]) }
        }
        for y in 0..<h {
            for x in 0..<w {
                var hit = false
                for row in 0...(2 * r) {
                    let yy = y + row - r
                    if yy < 0 || yy >= h { continue }
                    let lo = max(0, x - halfWidth[row]), hi = min(w, x + halfWidth[row] + 1)
                    if prefix[yy * (w + 1) + hi] - prefix[yy * (w + 1) + lo] > 0 { hit = true; break }
                }
                if hit { out.pixels[y * w + x] = 1 }
            }
        }
        return out
    }

    /// The mean of `values` as numpy computes it (`np.mean` / `np.nanmean` without NaNs): pairwise summation, then
    /// one division. NaN for no values.
    public static func mean(_ values: [Double]) -> Double {
        values.isEmpty ? .nan : values.withUnsafeBufferPointer { pairwiseSum($0) } / Double(values.count)
    }

    /// numpy's `pairwise_sum` (umath loops): fewer than 8 values in order; up to 128 in 8 interleaved
    /// accumulators combined as ((r0+r1)+(r2+r3))+((r4+r5)+(r6+r7)) then the rest; beyond, two halves (the
    /// first a multiple of 8 long) summed recursively.
    static func pairwiseSum(_ a: UnsafeBufferPointer<Double>) -> Double {
        let n = a.count
        if n < 8 {
            var res = 0.0
            for v in a { res += v }
            return res
        } else if n <= 128 {
            var r = [Double](a[0..<8])
            var i = 8
            while i < n - n % 8 {
                for j in 0..<8 { r[j] += a[i + j] }
                i += 8
            }
            var res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
            while i < n { res += a[i]; i += 1 }
            return res
        } else {
            var n2 = n / 2
            n2 -= n2 % 8
            return pairwiseSum(UnsafeBufferPointer(rebasing: a[0..<n2])) + pairwiseSum(UnsafeBufferPointer(rebasing: a[n2..<n]))
        }
    }

    /// J and F of one sequence: per frame, and their means (db_statistics' M).
    public struct SequenceScores: Sendable, Equatable {
        /// `db_eval_iou` per frame.
        public var j: [Double]
        /// `f_measure` per frame.
        public var f: [Double]
        /// The mean of `j` (numpy's).
        public var jMean: Double { DAVISMetrics.mean(j) }
        /// The mean of `f` (numpy's).
        public var fMean: Double { DAVISMetrics.mean(f) }
        /// (J + F) / 2.
        public var jfMean: Double { (jMean + fMean) / 2 }

        /// Scores from per-frame J and F values.
        public init(j: [Double], f: [Double]) {
            self.j = j
            self.f = f
        }
    }

    /// J and F of a sequence: `predictions[t]` against `groundTruths[t]`, frame by frame.
    public static func sequence(predictions: [PixelMask], groundTruths: [PixelMask],
                                threshold: Double = boundaryThreshold) throws -> SequenceScores {
        guard predictions.count == groundTruths.count else {
            throw DAVISMetricsError.frameCount(predictions: predictions.count, groundTruths: groundTruths.count)
        }
        var scores = SequenceScores(j: [], f: [])
        for (p, g) in zip(predictions, groundTruths) {
            scores.j.append(try jaccard(prediction: p, groundTruth: g))
            scores.f.append(try boundaryF(prediction: p, groundTruth: g, threshold: threshold))
        }
        return scores
    }

    static func checkSizes(_ prediction: PixelMask, _ groundTruth: PixelMask) throws {
        guard prediction.width == groundTruth.width, prediction.height == groundTruth.height else {
            throw DAVISMetricsError.sizeMismatch(prediction: (prediction.height, prediction.width),
                                                 groundTruth: (groundTruth.height, groundTruth.width))
        }
    }
}

/// A DAVIS metric that cannot be computed, with what to fix.
public enum DAVISMetricsError: Error, CustomStringConvertible {
    /// The prediction and the ground truth differ in size (height, width).
    case sizeMismatch(prediction: (Int, Int), groundTruth: (Int, Int))
    /// F of a frame without pixels.
    case emptyFrame(height: Int, width: Int)
    /// A boundary threshold that is neither a fraction in (0, 1) nor a whole number of pixels.
    case badThreshold(Double)
    /// A sequence with unlike numbers of predicted and ground-truth frames.
    case frameCount(predictions: Int, groundTruths: Int)

    public var description: String {
        switch self {
        case let .sizeMismatch(p, g):
            return "J&F: the prediction is \(p.0)×\(p.1) but the ground truth \(g.0)×\(g.1); resize the prediction to the "
                + "ground truth's frame before scoring"
        case let .emptyFrame(h, w):
            return "J&F: the boundary measure F needs a frame with pixels, got \(h)×\(w)"
        case let .badThreshold(t):
            return "J&F: boundary threshold \(t) is neither a fraction of the diagonal in (0, 1) nor a whole number "
                + "of pixels; the toolkit's default is 0.008"
        case let .frameCount(p, g):
            return "J&F: \(p) predicted frames for \(g) annotated frames; give one prediction per annotated frame"
        }
    }
}
