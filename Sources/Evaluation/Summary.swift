// The evaluation summary: the table `cmpc-video evaluate` prints and the `<out>.summary.json` object, whose keys are
// `samples`, `skipped`, `P@0.5`, `P@0.55` … `P@0.95`, `mAP`, `mAP_coco` (null when unavailable), `overall_iou`,
// `mean_iou`; precisions and IoUs are fractions in [0, 1].

import Foundation

/// Precision@K at 0.50 … 0.95, overall and mean IoU, mAP (mean of the precisions) and COCO-style mAP.
public struct EvaluationSummary: Sendable, Equatable {
    public var samples: Int
    public var skipped: Int
    /// Precision at `precisionThresholds` (10 values).
    public var precision: [Double]
    public var mAP: Double
    /// COCOeval AP over IoU 0.50:0.95, or nil when masks were not kept.
    public var mAPCOCO: Double?
    public var overallIoU: Double
    public var meanIoU: Double

    public init(samples: Int, skipped: Int, precision: [Double], mAP: Double, mAPCOCO: Double?,
                overallIoU: Double, meanIoU: Double) {
        self.samples = samples
        self.skipped = skipped
        self.precision = precision
        self.mAP = mAP
        self.mAPCOCO = mAPCOCO
        self.overallIoU = overallIoU
        self.meanIoU = meanIoU
    }

    /// JSON names of the precisions: "P@0.5", "P@0.55", … "P@0.95".
    public static let precisionKeys = ["P@0.5", "P@0.55", "P@0.6", "P@0.65", "P@0.7", "P@0.75",
                                       "P@0.8", "P@0.85", "P@0.9", "P@0.95"]

    /// Precision at threshold `k` (one of `precisionThresholds`), or nil.
    public func precision(at k: Double) -> Double? {
        precisionThresholds.firstIndex(where: { abs($0 - k) < 1e-9 })
            .flatMap { precision.indices.contains($0) ? precision[$0] : nil }
    }

    /// The printed table: P@0.5 … P@0.9, both mAPs, overall and mean IoU, in percent.
    public func table() -> String {
        let p = { (i: Int) -> Double? in self.precision.indices.contains(i) ? self.precision[i] : nil }
        let columns: [(String, Double?)] = [
            ("P@0.5", p(0)), ("P@0.6", p(2)), ("P@0.7", p(4)),
            ("P@0.8", p(6)), ("P@0.9", p(8)), ("mAP", mAP), ("mAP(COCO)", mAPCOCO),
            ("overall IoU", overallIoU), ("mean IoU", meanIoU),
        ]
        let cells = columns.map { name, value -> (String, String) in
            let text = value.map { String(format: "%.2f", $0 * 100) } ?? "-"
            let width = max(name.count, text.count)
            return (name.padding(toLength: width, withPad: " ", startingAt: 0),
                    String(repeating: " ", count: width - text.count) + text)
        }
        return "samples \(samples) (skipped \(skipped) with empty ground truth)\n"
            + cells.map(\.0).joined(separator: "  ") + "\n"
            + cells.map(\.1).joined(separator: "  ") + "\n"
    }

    /// The summary JSON object (sorted keys, pretty-printed).
    public func jsonData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self)
    }

    /// Writes the JSON object to `url` through a temporary file in the same folder.
    public func write(to url: URL) throws {
        let data = try jsonData()
        let temporary = url.deletingLastPathComponent()
            .appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString).tmp")
        try data.write(to: temporary)
        // rename(2) replaces an existing file atomically.
        guard rename(temporary.path, url.path) == 0 else {
            let code = errno
            try? FileManager.default.removeItem(at: temporary)
            throw CocoaError(.fileWriteUnknown, userInfo: [
                NSFilePathErrorKey: url.path,
                NSLocalizedDescriptionKey: "cannot rename \(temporary.path) to \(url.path): \(String(cString: strerror(code)))"])
        }
    }
}

extension EvaluationSummary: Codable {
    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ s: String) { stringValue = s }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: Key.self)
        samples = try c.decode(Int.self, forKey: Key("samples"))
        skipped = try c.decode(Int.self, forKey: Key("skipped"))
        precision = try Self.precisionKeys.map { try c.decode(Double.self, forKey: Key($0)) }
        mAP = try c.decode(Double.self, forKey: Key("mAP"))
        mAPCOCO = try c.decodeIfPresent(Double.self, forKey: Key("mAP_coco"))
        overallIoU = try c.decode(Double.self, forKey: Key("overall_iou"))
        meanIoU = try c.decode(Double.self, forKey: Key("mean_iou"))
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Key.self)
        try c.encode(samples, forKey: Key("samples"))
        try c.encode(skipped, forKey: Key("skipped"))
        for (key, value) in zip(Self.precisionKeys, precision) { try c.encode(value, forKey: Key(key)) }
        try c.encode(mAP, forKey: Key("mAP"))
        if let mAPCOCO { try c.encode(mAPCOCO, forKey: Key("mAP_coco")) } else { try c.encodeNil(forKey: Key("mAP_coco")) }
        try c.encode(overallIoU, forKey: Key("overall_iou"))
        try c.encode(meanIoU, forKey: Key("mean_iou"))
    }
}
