// Referring-segmentation metrics as the CMPC evaluation (trainval_video.py / util/eval_tools.py) counts them:
// per sample the intersection I and union U of the predicted and ground-truth masks at the ground truth's
// resolution; precision@K = share of samples with I/U ≥ K (K = 0.50, 0.55 … 0.95); overall IoU = ΣI / ΣU;
// mean IoU = mean of I/U; mAP = mean of the ten precisions (the Gavrilyuk et al. / CMPC protocol).
// COCO-style AP over the per-sample masks comes from `COCOEvaluator`.

/// The ten IoU thresholds of precision@K.
public let precisionThresholds: [Double] = [0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95]

/// Intersection and union pixel counts of a row-major prediction and ground truth of one size (nonzero = foreground).
public func intersectionAndUnion(prediction: [UInt8], groundTruth: [UInt8]) throws -> (intersection: Int, union: Int) {
    guard prediction.count == groundTruth.count else {
        throw RLEError.sizeMismatch(reason: "prediction has \(prediction.count) pixels, ground truth \(groundTruth.count)")
    }
    var i = 0, u = 0
    for (p, g) in zip(prediction, groundTruth) {
        let (a, b) = (p != 0, g != 0)
        if a && b { i += 1 }
        if a || b { u += 1 }
    }
    return (i, u)
}

/// One evaluated sample: I and U at the ground truth's resolution, and optionally the masks for COCO AP.
///
/// JSON keys: `id`, `I`, `U`, `gt_area`, `rle` (the prediction, as pycocotools writes it), `gt_rle`, `score`.
public struct SampleResult: Codable, Sendable, Equatable {
    public var id: String
    public var intersection: Int
    public var union: Int
    /// Foreground pixels of the ground truth; 0 marks a sample to skip.
    public var groundTruthArea: Int
    /// The predicted mask (for COCO AP and the per-sample JSON line).
    public var prediction: RLE?
    /// The ground-truth mask (for COCO AP).
    public var groundTruth: RLE?
    /// Detection score for COCO AP (1.0 when absent).
    public var score: Double?

    public init(id: String, intersection: Int, union: Int, groundTruthArea: Int,
                prediction: RLE? = nil, groundTruth: RLE? = nil, score: Double? = nil) {
        self.id = id
        self.intersection = intersection
        self.union = union
        self.groundTruthArea = groundTruthArea
        self.prediction = prediction
        self.groundTruth = groundTruth
        self.score = score
    }

    /// A sample from its two masks (same size): I, U and the ground-truth area from the RLEs, both masks kept.
    public init(id: String, prediction: RLE, groundTruth: RLE, score: Double? = nil) throws {
        guard let (i, u) = prediction.intersectionAndUnion(with: groundTruth) else {
            throw RLEError.sizeMismatch(reason: "sample \(id): prediction \(prediction.height)×\(prediction.width), "
                                        + "ground truth \(groundTruth.height)×\(groundTruth.width)")
        }
        self.init(id: id, intersection: i, union: u, groundTruthArea: groundTruth.area,
                  prediction: prediction, groundTruth: groundTruth, score: score)
    }

    /// I/U (0 when the union is empty).
    public var iou: Double { union > 0 ? Double(intersection) / Double(union) : 0 }

    enum CodingKeys: String, CodingKey {
        case id
        case intersection = "I"
        case union = "U"
        case groundTruthArea = "gt_area"
        case prediction = "rle"
        case groundTruth = "gt_rle"
        case score
    }
}

/// Collects samples (possibly from several shards) and computes the summary.
public struct MetricsAccumulator: Sendable {
    /// Evaluated samples in order (ground truth non-empty).
    public private(set) var samples: [SampleResult] = []
    /// Samples skipped because their ground truth is empty.
    public private(set) var skipped = 0

    public init() {}

    /// Adds a sample; one with an empty ground truth is only counted as skipped.
    public mutating func add(_ sample: SampleResult) {
        if sample.groundTruthArea == 0 || sample.union == 0 { skipped += 1 } else { samples.append(sample) }
    }

    /// Appends another shard's samples after this one's (COCO AP breaks score ties by this order).
    public mutating func merge(_ other: MetricsAccumulator) {
        samples += other.samples
        skipped += other.skipped
    }

    /// Precision@K, overall and mean IoU, both mAPs. `strict` counts a hit when IoU > K (MTTR / ReferFormer)
    /// instead of IoU ≥ K (CMPC). COCO AP is nil unless every sample carries both masks.
    public func summary(strict: Bool = false) -> EvaluationSummary {
        var hits = [Int](repeating: 0, count: precisionThresholds.count)
        var sumI = 0, sumU = 0
        var sumIoU = 0.0
        for s in samples {
            let iou = Double(s.intersection) / Double(s.union)
            sumIoU += iou
            sumI += s.intersection
            sumU += s.union
            for (k, t) in precisionThresholds.enumerated() where strict ? iou > t : iou >= t { hits[k] += 1 }
        }
        let n = samples.count
        let precision = hits.map { n > 0 ? Double($0) / Double(n) : 0 }
        var coco: Double?
        if n > 0 {
            let pairs = samples.compactMap { s -> (gt: RLE, dt: RLE, score: Double)? in
                guard let p = s.prediction, let g = s.groundTruth else { return nil }
                return (g, p, s.score ?? 1)
            }
            if pairs.count == n { coco = COCOEvaluator.averagePrecision(samples: pairs).ap }
        }
        return EvaluationSummary(
            samples: n, skipped: skipped, precision: precision,
            mAP: precision.reduce(0, +) / Double(precision.count), mAPCOCO: coco,
            overallIoU: sumU > 0 ? Double(sumI) / Double(sumU) : 0,
            meanIoU: n > 0 ? sumIoU / Double(n) : 0)
    }
}
