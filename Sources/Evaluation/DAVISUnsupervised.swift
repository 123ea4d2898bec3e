// DAVISUnsupervised: the DAVIS 2017 toolkit's *unsupervised* evaluation (davis2017-evaluation,
// davis2017/evaluation.py `_evaluate_unsupervised` and `evaluate`, davis.py and results.py as they read the PNGs),
// the evaluation behind the Ref-DAVIS17 numbers ReferFormer reports. Pinned to the toolkit by
// Tests/EvaluationTests/Fixtures/davis_unsupervised.npz (Tools/reference/make_davis_unsupervised_fixtures.py).
//
// Per sequence of T frames (label maps: 0 background, k object k; 255 in the ground truth is void):
//   ground-truth objects  1 … G, G the highest label of the FIRST frame's annotation (void excluded), as davis.py
//                         counts them; a label appearing only later is not an object;
//   proposals             1 … R, R the highest label of any predicted frame (a label never used in between is an
//                         empty proposal); R > 20 is refused, as the toolkit refuses it; R < G is padded with empty
//                         proposals to G;
//   per frame and pair    J = db_eval_iou and F = f_measure of (proposal r, object g), void pixels left out of both
//                         masks (`mask & ¬void`, which is what the toolkit's void handling amounts to);
//   matching              cost[r][g] = −(mean_t J + mean_t F) / 2, solved by scipy's linear_sum_assignment
//                         (LinearSumAssignment); the G matched pairs, in proposal order, are the sequence's objects
//                         (the toolkit names them <seq>_1 … <seq>_G in that order, whichever object each one matched);
//   per object            J-Mean and F-Mean: the means over the frames (db_statistics' M).
// Over a set of sequences: J = the mean of every object's J-Mean, F likewise, J&F = (J + F) / 2 (eval_davis.py).

/// A label map of one frame: one byte a pixel, row-major; 0 is background, k is object k.
public struct LabelMap: Equatable, Sendable {
    public let width: Int
    public let height: Int
    /// `height × width` labels, row by row.
    public var labels: [UInt8]

    /// A label map from row-major labels (`height × width` of them).
    public init(width: Int, height: Int, labels: [UInt8]) throws {
        guard width >= 0, height >= 0, labels.count == width * height else {
            throw DAVISMetricsError.frameCount(predictions: labels.count, groundTruths: max(0, width) * max(0, height))
        }
        self.width = width
        self.height = height
        self.labels = labels
    }

    /// An all-background map.
    public init(width: Int, height: Int) {
        self.width = max(0, width)
        self.height = max(0, height)
        labels = [UInt8](repeating: 0, count: self.width * self.height)
    }

    /// The pixels labelled `label`, except those set in `except`.
    public func mask(_ label: UInt8, except: [Bool]? = nil) -> PixelMask {
        var m = PixelMask(width: width, height: height)
        for i in labels.indices where labels[i] == label && !(except?[i] ?? false) { m.pixels[i] = 1 }
        return m
    }

    /// The highest label present, ignoring `ignoring` (the void label of a ground truth).
    public func highestLabel(ignoring: UInt8? = nil) -> Int {
        Int(labels.lazy.filter { $0 != ignoring }.max() ?? 0)
    }
}

/// The DAVIS 2017 toolkit's unsupervised evaluation: proposals matched to ground-truth objects by the Hungarian
/// method on their mean (J + F) / 2, then J and F per matched object.
public enum DAVISUnsupervised {
    /// `max_n_proposals` of `_evaluate_unsupervised`: a sequence with a label above it is refused.
    public static let maxProposals = 20
    /// DAVIS's `VOID_LABEL`: ground-truth pixels left out of J and F.
    public static let voidLabel: UInt8 = 255

    /// One ground-truth object of a sequence after matching: db_statistics' M of its matched pair.
    public struct ObjectScores: Equatable, Sendable {
        /// The mean J over the sequence's frames.
        public var j: Double
        /// The mean F over the sequence's frames.
        public var f: Double

        /// Scores from the two means.
        public init(j: Double, f: Double) {
            self.j = j
            self.f = f
        }
    }

    /// J, F and J&F of a set of sequences: the means over all their objects (eval_davis.py's J-Mean, F-Mean, J&F-Mean).
    public static func summary(_ objects: [ObjectScores]) -> (j: Double, f: Double, jf: Double) {
        let j = DAVISMetrics.mean(objects.map(\.j)), f = DAVISMetrics.mean(objects.map(\.f))
        return (j, f, (j + f) / 2)
    }

    /// The objects of one sequence: `results[t]` (predicted label maps) against `groundTruths[t]`.
    public static func evaluate(results: [LabelMap], groundTruths: [LabelMap]) throws -> [ObjectScores] {
        guard results.count == groundTruths.count else {
            throw DAVISMetricsError.frameCount(predictions: results.count, groundTruths: groundTruths.count)
        }
        var sequence = Sequence(proposals: min(results.map { $0.highestLabel() }.max() ?? 0, maxProposals + 1))
        for (r, g) in zip(results, groundTruths) { try sequence.add(result: r, groundTruth: g) }
        return try sequence.finish()
    }

    /// One frame's annotation as the evaluation uses it: its objects 1 … `objects` as masks with their boundaries, and
    /// its void pixels. Made once per frame however many sequences are scored against it.
    public struct Annotation: Sendable {
        /// The label map as read.
        public let labels: LabelMap
        /// The objects scored: labels 1 … objects (the sequence's, from its first frame).
        public let objects: Int
        let void: [Bool]
        let masks: [PixelMask]
        let boundaries: [DAVISMetrics.Boundary]
        let radius: Int

        /// Prepares `labels` (0 background, k object k, 255 void) for objects 1 … `objects` (at most 254).
        public init(_ labels: LabelMap, objects: Int) throws {
            guard (0...254).contains(objects) else { throw DAVISUnsupervisedError.objectCount(objects, first: 254) }
            self.labels = labels
            self.objects = objects
            void = labels.labels.map { $0 == DAVISUnsupervised.voidLabel }
            let r = labels.width > 0 && labels.height > 0
                ? try DAVISMetrics.boundaryRadius(height: labels.height, width: labels.width) : 0
            let objectMasks = (0..<objects).map { labels.mask(UInt8($0 + 1)) }
            radius = r
            masks = objectMasks
            boundaries = objectMasks.map { DAVISMetrics.Boundary($0, radius: r) }
        }
    }

    /// One sequence evaluated frame by frame (so a video's label maps need not be held at once): `add` each frame's
    /// predicted and ground-truth label maps in order, then `finish`.
    public struct Sequence: Sendable {
        /// The proposals scored: labels 1 … `proposals` (a higher predicted label is an error).
        public let proposals: Int
        /// The ground-truth objects, from the first frame (nil before it).
        public private(set) var objects: Int?
        /// The highest predicted label seen so far (R).
        public private(set) var highestLabel = 0
        /// Frames added.
        public private(set) var frames = 0
        var size: (width: Int, height: Int)?
        /// [row][object][frame], rows = max(proposals, objects).
        var j: [[[Double]]] = [], f: [[[Double]]] = []

        /// A sequence whose predictions use labels 1 … `proposals`.
        public init(proposals: Int) {
            self.proposals = max(0, proposals)
        }

        /// Scores one frame: every proposal against every object.
        public mutating func add(result: LabelMap, groundTruth: LabelMap) throws {
            let objects = self.objects ?? groundTruth.highestLabel(ignoring: DAVISUnsupervised.voidLabel)
            try add(result: result, groundTruth: Annotation(groundTruth, objects: objects))
        }

        /// Scores one frame against an annotation prepared once for every sequence scored against it (Ref-DAVIS17's
        /// four expression sets share each frame's annotation); its `objects` must be this sequence's.
        public mutating func add(result: LabelMap, groundTruth truth: Annotation) throws {
            let groundTruth = truth.labels
            guard result.width == groundTruth.width, result.height == groundTruth.height else {
                throw DAVISMetricsError.sizeMismatch(prediction: (result.height, result.width),
                                                     groundTruth: (groundTruth.height, groundTruth.width))
            }
            if let size, size != (groundTruth.width, groundTruth.height) {
                throw DAVISUnsupervisedError.frameSize(frame: frames, size: (groundTruth.height, groundTruth.width),
                                                       first: (size.height, size.width))
            }
            guard objects == nil || objects == truth.objects else {
                throw DAVISUnsupervisedError.objectCount(truth.objects, first: objects ?? 0)
            }
            let label = result.highestLabel()
            guard label <= DAVISUnsupervised.maxProposals else { throw DAVISUnsupervisedError.tooManyProposals(label) }
            guard label <= proposals else { throw DAVISUnsupervisedError.labelAboveProposals(label, proposals: proposals) }
            highestLabel = max(highestLabel, label)
            if objects == nil {
                let g = truth.objects
                objects = g
                size = (groundTruth.width, groundTruth.height)
                let rows = max(proposals, g)
                j = Array(repeating: Array(repeating: [], count: g), count: rows)
                f = j
            }
            let g = truth.objects, rows = j.count
            frames += 1
            guard g > 0 else { return }
            for r in 0..<rows {
                let proposal = result.mask(UInt8(r + 1), except: truth.void)   // r + 1 ≤ 254: rows ≤ max(20, G)
                let boundary = DAVISMetrics.Boundary(proposal, radius: truth.radius)
                for o in 0..<g {
                    j[r][o].append(try DAVISMetrics.jaccard(prediction: proposal, groundTruth: truth.masks[o]))
                    f[r][o].append(DAVISMetrics.boundaryF(boundary, truth.boundaries[o]))
                }
            }
        }

        /// The matched objects, in proposal order (the toolkit's <seq>_1 … <seq>_G).
        public func finish() throws -> [ObjectScores] {
            guard highestLabel <= maxProposals else { throw DAVISUnsupervisedError.tooManyProposals(highestLabel) }
            guard let g = objects, g > 0, frames > 0 else { return [] }
            // Rows 1 … R are the proposals, R + 1 … G the padding; both are what rows hold (an unused label is empty).
            let rows = max(highestLabel, g)
            var jMean = [[Double]](), fMean = [[Double]](), cost = [[Double]]()
            for r in 0..<rows {
                let jr: [Double] = j[r].map { DAVISMetrics.mean($0) }
                let fr: [Double] = f[r].map { DAVISMetrics.mean($0) }
                jMean.append(jr)
                fMean.append(fr)
                cost.append(zip(jr, fr).map { (pair: (Double, Double)) -> Double in -((pair.0 + pair.1) / 2) })
            }
            let (rowIndex, columnIndex) = try LinearSumAssignment.solve(cost)
            return zip(rowIndex, columnIndex).map { ObjectScores(j: jMean[$0.0][$0.1], f: fMean[$0.0][$0.1]) }
        }
    }
}

/// A sequence the unsupervised evaluation cannot score, with what to fix.
public enum DAVISUnsupervisedError: Error, CustomStringConvertible, Equatable {
    /// A predicted label above the toolkit's 20 proposals.
    case tooManyProposals(Int)
    /// A predicted label above the number of proposals the sequence was set up for.
    case labelAboveProposals(Int, proposals: Int)
    /// A frame whose size differs from the sequence's first.
    case frameSize(frame: Int, size: (Int, Int), first: (Int, Int))
    /// An annotation prepared for another number of objects than the sequence's (or more than 254).
    case objectCount(Int, first: Int)

    public var description: String {
        switch self {
        case let .tooManyProposals(label):
            return "unsupervised J&F: a predicted label \(label) is above the toolkit's \(DAVISUnsupervised.maxProposals) "
                + "proposals a sequence; label at most \(DAVISUnsupervised.maxProposals) objects"
        case let .labelAboveProposals(label, proposals):
            return "unsupervised J&F: a predicted label \(label) above the \(proposals) proposals the sequence was set up for"
        case let .frameSize(frame, size, first):
            return "unsupervised J&F: frame \(frame) is \(size.0)×\(size.1) but the sequence's first frame "
                + "\(first.0)×\(first.1); all frames of a sequence must have one size"
        case let .objectCount(objects, first):
            return "unsupervised J&F: an annotation prepared for \(objects) objects where the sequence has \(first); "
                + "prepare each frame with the objects of the sequence's first frame"
        }
    }

    public static func == (a: Self, b: Self) -> Bool { a.description == b.description }
}
