// The summary of an evaluation log: the metrics without (and with) the CRF, its table and its JSON file
// (`<out>.summary.json`).

import Foundation

/// The summary of a log: the metrics table without (and with) the CRF, and the count of failed samples.
///
/// JSON (`<out>.summary.json`): the `EvaluationSummary` keys (`samples`, `skipped`, `P@0.5` … `P@0.95`, `mAP`,
/// `mAP_coco`, `overall_iou`, `mean_iou`), plus `errors`, plus `crf` (an object with the same metric keys) when the
/// samples carry CRF results.
public struct EvaluationReport: Equatable, Sendable, Encodable {
    public var summary: EvaluationSummary
    /// Samples that failed (not in the metrics).
    public var errors: Int
    /// The same metrics over the DenseCRF predictions.
    public var crf: EvaluationSummary?
    /// Some but not all evaluated samples carry CRF results (a log resumed with and without `--crf`).
    public var crfPartial: Bool

    public init(summary: EvaluationSummary, errors: Int = 0, crf: EvaluationSummary? = nil, crfPartial: Bool = false) {
        self.summary = summary
        self.errors = errors
        self.crf = crf
        self.crfPartial = crfPartial
    }

    /// The printed table(s); with the CRF both are shown, as the original printed both.
    public func table() -> String {
        var out = ""
        if let crf {
            out += "without DenseCRF:\n" + summary.table() + "with DenseCRF:\n" + crf.table()
        } else {
            out += summary.table()
        }
        if crfPartial { out += "(CRF results are missing for some samples: no CRF table)\n" }
        if errors > 0 { out += "\(errors) sample\(errors == 1 ? "" : "s") failed (not in the metrics; see `error` in the log)\n" }
        return out
    }

    public func encode(to encoder: Encoder) throws {
        try summary.encode(to: encoder)
        var c = encoder.container(keyedBy: EvaluationSummary.Key.self)
        try c.encode(errors, forKey: .init("errors"))
        if let crf { try c.encode(crf, forKey: .init("crf")) }
    }

    /// The JSON object (sorted keys, pretty-printed).
    public func jsonData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self)
    }

    /// Writes the JSON object to `url` through a temporary file in the same folder.
    public func write(to url: URL) throws {
        try writeAtomically(jsonData(), to: url)
    }
}

/// `<log>.summary.json` next to a log file.
public func summaryURL(forLog url: URL) -> URL {
    url.deletingLastPathComponent().appendingPathComponent(url.lastPathComponent + ".summary.json")
}

extension EvaluationLog {
    /// The summary over all records in index order (with the CRF's when every evaluated record has one).
    public func report(strictThresholds: Bool = false) -> EvaluationReport {
        var plain = MetricsAccumulator()
        var crf = MetricsAccumulator()
        var errors = 0
        var withCRF = 0, evaluated = 0
        for record in records {
            switch record.outcome {
            case .failed: errors += 1
            case .skipped:
                let empty = SampleResult(id: record.id, intersection: 0, union: 0, groundTruthArea: 0)
                plain.add(empty)
                crf.add(empty)
            case .evaluated(let r, let c):
                evaluated += 1
                plain.add(r)
                if let c {
                    withCRF += 1
                    crf.add(SampleResult(id: r.id, intersection: c.intersection, union: c.union,
                                         groundTruthArea: r.groundTruthArea, prediction: c.prediction,
                                         groundTruth: r.groundTruth, score: r.score))
                }
            }
        }
        let crfSummary = withCRF > 0 && withCRF == evaluated ? crf.summary(strict: strictThresholds) : nil
        return EvaluationReport(summary: plain.summary(strict: strictThresholds), errors: errors, crf: crfSummary,
                                crfPartial: withCRF > 0 && withCRF < evaluated)
    }
}
