// One line of the per-sample evaluation log (`cmpc-video evaluate --out results.jsonl`): the schema, its JSON
// encoding (through the JSON module's writer) and its decoding with consistency checks.
//
// Format: JSON Lines, UTF-8, each line ending in "\n": first the provenance record `{"provenance": {…}}` (what
// produced the log: EvaluationProvenance.swift), then one object per sample. Keys, in the order written:
//   index      Int     the sample's position in the dataset split (merges sort by it)
//   id         String  the dataset's sample id (unique; resume and merge key on it)
//   video      String  video id (A2D clip name, J-HMDB video folder) — or —
//   image      String  image file name (RefCOCO family, ReferIt)
//   frame      Int     1-based frame of the video (absent for images)
//   instance   String  the referred instance
//   sentence   String  the referring expression
//   then exactly one of:
//   · evaluated: `I`, `U` (pixels, at the ground truth's size), `gt_area`, optional `score`, and with the CRF
//     `I_crf`, `U_crf`; then `rle` (the prediction as pycocotools writes it: {"size": [h, w], "counts": "…"}),
//     `gt_rle`, and with the CRF `rle_crf`
//   · skipped (empty ground truth, not predicted): `"skipped": true`, `"gt_area": 0`
//   · failed (the sample could not be evaluated): `"error": "<message>"`
// Readers ignore keys they do not know. A last line without its "\n" is an interrupted write: `readLog` reports it
// and the writer truncates it away before appending.

import Foundation
import JSON

/// Where a sample comes from and what it says: the leading fields of its log line.
public struct SampleInfo: Equatable, Sendable {
    /// Position in the dataset split (0-based).
    public var index: Int
    public var id: String
    /// Video id, for video datasets.
    public var video: String?
    /// Image file name, for image datasets.
    public var image: String?
    /// 1-based frame of the video.
    public var frame: Int?
    public var instance: String
    public var sentence: String

    public init(index: Int, id: String, video: String? = nil, image: String? = nil, frame: Int? = nil,
                instance: String, sentence: String) {
        self.index = index
        self.id = id
        self.video = video
        self.image = image
        self.frame = frame
        self.instance = instance
        self.sentence = sentence
    }
}

/// The DenseCRF-refined prediction of a sample: I and U against the same ground truth, and the mask.
public struct CRFResult: Equatable, Sendable {
    public var intersection: Int
    public var union: Int
    public var prediction: RLE

    public init(intersection: Int, union: Int, prediction: RLE) {
        self.intersection = intersection
        self.union = union
        self.prediction = prediction
    }
}

/// One line of the log: a sample and what became of it.
public struct LogRecord: Equatable, Sendable {
    public enum Outcome: Equatable, Sendable {
        /// Predicted and measured; `result.id` equals the record's id.
        case evaluated(SampleResult, crf: CRFResult?)
        /// Empty ground truth: not predicted, counted in `skipped`.
        case skipped
        /// Could not be evaluated (missing file, decoding or model error): counted in `errors`, retried on resume.
        case failed(String)
    }

    public var info: SampleInfo
    public var outcome: Outcome

    public init(info: SampleInfo, outcome: Outcome) {
        self.info = info
        self.outcome = outcome
    }

    public var id: String { info.id }
    public var isFailed: Bool { if case .failed = outcome { return true } else { return false } }
}

/// Problems reading, writing or combining logs; each names the file (and line) at fault.
public enum EvaluationLogError: Error, Equatable, CustomStringConvertible {
    case malformedLine(file: String, line: Int, reason: String)
    case conflict(id: String, first: String, second: String, fields: [String])
    case indexClash(index: Int, first: String, second: String)
    case foreignRecord(file: String, line: Int, reason: String)
    case io(file: String, reason: String)
    case locked(file: String)
    case badShard(String, reason: String)
    case duplicateSample(id: String)
    case sampleFailed(id: String, index: Int, reason: String)
    /// A log with results but no provenance record (written by an older cmpc-video) cannot be resumed safely.
    case provenanceMissing(file: String)
    /// The log was produced by another checkpoint, configuration or setting: what differs.
    case provenanceMismatch(file: String, differences: [String])
    /// Logs to merge come from different runs.
    case provenanceConflict(first: String, second: String, differences: [String])

    public var description: String {
        switch self {
        case .malformedLine(let f, let l, let r): return "\(f):\(l): malformed log line: \(r)"
        case .conflict(let id, let a, let b, let fields):
            return "sample \(id) has different results at \(a) and \(b) (\(fields.joined(separator: ", ")))"
        case .indexClash(let i, let a, let b):
            return "index \(i) is sample \(a) and sample \(b): logs of different datasets or splits?"
        case .foreignRecord(let f, let l, let r): return "\(f):\(l): \(r)"
        case .io(let f, let r): return "\(f): \(r)"
        case .locked(let f): return "\(f) is being written by another process"
        case .badShard(let s, let r): return "--shard \(s): \(r)"
        case .duplicateSample(let id): return "sample id \(id) occurs twice in the sample list"
        case .sampleFailed(let id, let i, let r): return "sample \(id) (index \(i)): \(r)"
        case .provenanceMissing(let f):
            return "\(f) holds results but no provenance record (it was written by an older cmpc-video), so it cannot "
                + "be checked to come from this checkpoint and settings: rerun with --restart to start it afresh, "
                + "or choose another --out"
        case .provenanceMismatch(let f, let d):
            return "\(f) was produced by another run; it differs in: \(d.joined(separator: "; ")). Rerun with "
                + "--restart to start it afresh, or choose another --out"
        case .provenanceConflict(let a, let b, let d):
            return "\(a) and \(b) come from different runs (\(d.joined(separator: "; "))): merge logs of one checkpoint "
                + "and settings only"
        }
    }
}

extension EvaluationLogError: LocalizedError {
    public var errorDescription: String? { description }
}

extension LogRecord {
    /// The record as one JSON line (with its "\n"), keys in the documented order.
    public func jsonLine() -> String {
        json.text(.spaced) + "\n"
    }

    /// The record as a JSON object, keys in the documented order.
    public var json: JSONValue {
        var fields: [(String, JSONValue)] = [("index", .int(info.index)), ("id", .string(info.id))]
        if let v = info.video { fields.append(("video", .string(v))) }
        if let v = info.image { fields.append(("image", .string(v))) }
        if let f = info.frame { fields.append(("frame", .int(f))) }
        fields.append(("instance", .string(info.instance)))
        fields.append(("sentence", .string(info.sentence)))
        switch outcome {
        case .evaluated(let r, let crf):
            fields.append(("I", .int(r.intersection)))
            fields.append(("U", .int(r.union)))
            fields.append(("gt_area", .int(r.groundTruthArea)))
            if let s = r.score { fields.append(("score", .double(s))) }
            if let crf {
                fields.append(("I_crf", .int(crf.intersection)))
                fields.append(("U_crf", .int(crf.union)))
            }
            if let p = r.prediction { fields.append(("rle", p.json)) }
            if let g = r.groundTruth { fields.append(("gt_rle", g.json)) }
            if let crf { fields.append(("rle_crf", crf.prediction.json)) }
        case .skipped:
            fields.append(("skipped", .bool(true)))
            fields.append(("gt_area", .int(0)))
        case .failed(let message):
            fields.append(("error", .string(message)))
        }
        return .object(fields)
    }

    /// Parses one line (without its "\n"); `file` and `line` only name the place in errors.
    public init(jsonLine text: Substring, file: String = "", line: Int = 0) throws {
        let raw: RawLine
        do {
            raw = try JSONDecoder().decode(RawLine.self, from: Data(text.utf8))
        } catch {
            throw EvaluationLogError.malformedLine(file: file, line: line, reason: Self.describe(error))
        }
        let bad = { (reason: String) in EvaluationLogError.malformedLine(file: file, line: line, reason: reason) }
        guard raw.index >= 0 else { throw bad("negative index \(raw.index)") }
        if raw.video != nil && raw.image != nil { throw bad("both `video` and `image`") }
        info = SampleInfo(index: raw.index, id: raw.id, video: raw.video, image: raw.image, frame: raw.frame,
                          instance: raw.instance, sentence: raw.sentence)
        if let message = raw.error {
            outcome = .failed(message)
        } else if raw.skipped == true {
            outcome = .skipped
        } else {
            guard let i = raw.I, let u = raw.U, let area = raw.gt_area else {
                throw bad("an evaluated line needs `I`, `U` and `gt_area` (or `skipped` / `error`)")
            }
            guard i >= 0, u >= i, area >= 0, area <= u else { throw bad("inconsistent counts I \(i), U \(u), gt_area \(area)") }
            let result = SampleResult(id: raw.id, intersection: i, union: u, groundTruthArea: area,
                                      prediction: raw.rle, groundTruth: raw.gt_rle, score: raw.score)
            try Self.checkMasks(result.prediction, result.groundTruth, i, u, area, "rle", bad)
            var crf: CRFResult?
            switch (raw.I_crf, raw.U_crf, raw.rle_crf) {
            case (nil, nil, nil): break
            case let (ic?, uc?, mask?):
                guard ic >= 0, uc >= ic else { throw bad("inconsistent CRF counts I_crf \(ic), U_crf \(uc)") }
                try Self.checkMasks(mask, result.groundTruth, ic, uc, area, "rle_crf", bad)
                crf = CRFResult(intersection: ic, union: uc, prediction: mask)
            default: throw bad("`I_crf`, `U_crf` and `rle_crf` go together")
            }
            outcome = .evaluated(result, crf: crf)
        }
    }

    /// When both masks are present, their sizes must agree and give the stored counts.
    private static func checkMasks(_ prediction: RLE?, _ groundTruth: RLE?, _ i: Int, _ u: Int, _ area: Int,
                                   _ key: String, _ bad: (String) -> EvaluationLogError) throws {
        guard let p = prediction, let g = groundTruth else { return }
        guard let (mi, mu) = p.intersectionAndUnion(with: g) else {
            throw bad("`\(key)` is \(p.height)×\(p.width), `gt_rle` \(g.height)×\(g.width)")
        }
        guard mi == i, mu == u, g.area == area else {
            throw bad("the masks give I \(mi), U \(mu), gt_area \(g.area); the line says \(i), \(u), \(area)")
        }
    }

    private static func describe(_ error: Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, _): return "missing key `\(key.stringValue)`"
        case DecodingError.typeMismatch(_, let c), DecodingError.valueNotFound(_, let c):
            return "wrong type at `\(c.codingPath.map(\.stringValue).joined(separator: "."))`"
        case DecodingError.dataCorrupted(let c):
            let path = c.codingPath.map(\.stringValue).joined(separator: ".")
            return path.isEmpty ? "not a JSON object" : "`\(path)`: \(c.debugDescription)"
        default: return "\(error)"
        }
    }

    /// The line as JSON decodes it.
    private struct RawLine: Decodable {
        var index: Int
        var id: String
        var video: String?
        var image: String?
        var frame: Int?
        var instance: String
        var sentence: String
        var I: Int?
        var U: Int?
        var gt_area: Int?
        var score: Double?
        var rle: RLE?
        var gt_rle: RLE?
        var I_crf: Int?
        var U_crf: Int?
        var rle_crf: RLE?
        var skipped: Bool?
        var error: String?
    }
}


extension RLE {
    /// The mask as pycocotools writes it: {"size": [h, w], "counts": "…"}.
    public var json: JSONValue {
        .object([("size", .array([.int(height), .int(width)])), ("counts", .string(compressedString))])
    }
}
