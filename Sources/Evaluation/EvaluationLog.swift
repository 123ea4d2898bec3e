// The per-sample evaluation log (`cmpc-video evaluate --out results.jsonl`) and the summary built from it.
//
// Format: JSON Lines, UTF-8, one object per sample, each line ending in "\n". Keys, in the order written:
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
//
// Combining lines (resume within one file, merge across shard files), per id: two evaluated or skipped lines must be
// equal (else a conflict error names both places); an evaluated or skipped line supersedes a failed one; of two
// failed lines the later wins. Two ids at one index mean logs of different datasets or splits: an error.

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
        }
    }
}

extension EvaluationLogError: LocalizedError {
    public var errorDescription: String? { description }
}

// MARK: - One line

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

// MARK: - Files

/// The complete lines of a log file, and how many bytes an interrupted last line adds after them.
public struct LogFileContents: Sendable {
    /// Records with their 1-based line numbers, in file order.
    public var records: [(line: Int, record: LogRecord)]
    /// Bytes up to and including the last "\n".
    public var completeBytes: Int
    /// Bytes of an unterminated last line (0 when the file ends in "\n").
    public var incompleteBytes: Int
}

/// Reads a log; a missing file is an empty log. Blank lines are ignored; a malformed complete line is an error.
public func readLog(_ url: URL) throws -> LogFileContents {
    guard FileManager.default.fileExists(atPath: url.path) else {
        return LogFileContents(records: [], completeBytes: 0, incompleteBytes: 0)
    }
    let data: Data
    do { data = try Data(contentsOf: url) } catch {
        throw EvaluationLogError.io(file: url.path, reason: "cannot read: \(error.localizedDescription)")
    }
    let bytes = [UInt8](data)
    let end = (bytes.lastIndex(of: UInt8(ascii: "\n")) ?? -1) + 1
    var records: [(line: Int, record: LogRecord)] = []
    var start = 0
    var number = 0
    while start < end {
        number += 1
        let stop = bytes[start..<end].firstIndex(of: UInt8(ascii: "\n")) ?? end
        let slice = bytes[start..<stop]
        start = stop + 1
        if slice.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { continue }
        guard let text = String(bytes: slice, encoding: .utf8) else {
            throw EvaluationLogError.malformedLine(file: url.path, line: number, reason: "not UTF-8")
        }
        records.append((number, try LogRecord(jsonLine: Substring(text), file: url.path, line: number)))
    }
    return LogFileContents(records: records, completeBytes: end, incompleteBytes: bytes.count - end)
}

/// Appends lines to a log, creating it; flushes each line to the kernel at once and to the disk every `syncEvery`
/// lines (and on close), so a crash loses at most the line being written. Holds an exclusive `flock` while open.
public final class LogWriter {
    public let url: URL
    private var fd: Int32
    private let syncEvery: Int
    private var unsynced = 0

    /// Opens (creating) `url` for appending and locks it.
    public init(url: URL, syncEvery: Int = 1) throws {
        self.url = url
        self.syncEvery = max(1, syncEvery)
        fd = open(url.path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw EvaluationLogError.io(file: url.path, reason: "cannot open for appending: \(errnoText())") }
        if flock(fd, LOCK_EX | LOCK_NB) != 0, errno == EWOULDBLOCK {
            posixClose(fd)
            fd = -1
            throw EvaluationLogError.locked(file: url.path)
        }
        // Other flock failures (file systems without locks) are not fatal: the lock only guards against mistakes.
    }

    /// Cuts the file to its first `length` bytes (dropping an interrupted last line); appends follow them.
    public func truncate(to length: Int) throws {
        guard fd >= 0 else { throw EvaluationLogError.io(file: url.path, reason: "truncated after close") }
        guard ftruncate(fd, off_t(length)) == 0 else {
            throw EvaluationLogError.io(file: url.path, reason: "cannot drop the incomplete last line: \(errnoText())")
        }
    }

    /// Appends one record's line.
    public func append(_ record: LogRecord) throws {
        try write(record.jsonLine())
    }

    /// Appends raw text (whole lines).
    func write(_ text: String) throws {
        guard fd >= 0 else { throw EvaluationLogError.io(file: url.path, reason: "written after close") }
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { posixWrite(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 {
                if errno == EINTR { continue }
                throw EvaluationLogError.io(file: url.path, reason: "cannot append: \(errnoText())")
            }
            offset += n
        }
        unsynced += 1
        if unsynced >= syncEvery { try sync() }
    }

    /// Forces written lines to the disk.
    public func sync() throws {
        guard fd >= 0, unsynced > 0 else { return }
        unsynced = 0
        if fsync(fd) != 0, errno != EINVAL, errno != ENOTSUP {
            throw EvaluationLogError.io(file: url.path, reason: "cannot sync: \(errnoText())")
        }
    }

    /// Syncs and closes (also done on deinit).
    public func close() throws {
        guard fd >= 0 else { return }
        defer { posixClose(fd); fd = -1 }
        try sync()
    }

    deinit { try? close() }
}

func errnoText() -> String { String(cString: strerror(errno)) }

private func posixWrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int { write(fd, buffer, count) }
private func posixClose(_ fd: Int32) { _ = close(fd) }

/// Writes `data` to `url` through a temporary file in the same folder, renamed over the target on success.
func writeAtomically(_ data: Data, to url: URL) throws {
    let temporary = url.deletingLastPathComponent()
        .appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString).tmp")
    do { try data.write(to: temporary) } catch {
        throw EvaluationLogError.io(file: url.path, reason: "cannot write: \(error.localizedDescription)")
    }
    guard rename(temporary.path, url.path) == 0 else {
        let reason = errnoText()
        try? FileManager.default.removeItem(at: temporary)
        throw EvaluationLogError.io(file: url.path, reason: "cannot rename \(temporary.path) into place: \(reason)")
    }
}

// MARK: - Combining

/// Records keyed by id under the combining rules at the top of this file; the summary is over them in index order.
public struct EvaluationLog: Sendable {
    private var byID: [String: (record: LogRecord, place: String)] = [:]
    private var idAtIndex: [Int: String] = [:]
    /// Notes on the files read: an unterminated last line (an interrupted run), indices without a line.
    public private(set) var warnings: [String] = []

    public init() {}

    /// Reads and combines log files in order (shards, or one file being resumed).
    public init(files: [URL]) throws {
        for url in files {
            guard FileManager.default.fileExists(atPath: url.path) else {
                throw EvaluationLogError.io(file: url.path, reason: "file not found")
            }
            let contents = try readLog(url)
            for (line, record) in contents.records { try add(record, place: "\(url.path):\(line)") }
            if contents.incompleteBytes > 0 {
                warnings.append("\(url.path): ignored an unterminated last line (\(contents.incompleteBytes) bytes): "
                                + "an interrupted run; rerun it to finish the shard")
            }
        }
        if let last = idAtIndex.keys.max(), idAtIndex.count < last + 1 {
            warnings.append("\(last + 1 - idAtIndex.count) of the indices 0…\(last) have no line "
                            + "(a shard missing or unfinished, or runs with --limit)")
        }
    }

    /// Adds a record; `place` ("file:line") names it in conflict errors.
    public mutating func add(_ record: LogRecord, place: String = "") throws {
        if let other = idAtIndex[record.info.index], other != record.id {
            throw EvaluationLogError.indexClash(index: record.info.index, first: other, second: record.id)
        }
        if let (old, oldPlace) = byID[record.id] {
            switch (old.isFailed, record.isFailed) {
            case (false, true): return                                  // a result beats a failure
            case (false, false):
                let fields = Self.differences(old, record)
                guard fields.isEmpty else {
                    throw EvaluationLogError.conflict(id: record.id, first: oldPlace, second: place, fields: fields)
                }
                return
            default:
                guard old.info.index == record.info.index else {
                    throw EvaluationLogError.conflict(id: record.id, first: oldPlace, second: place, fields: ["index"])
                }
            }
        }
        byID[record.id] = (record, place)
        idAtIndex[record.info.index] = record.id
    }

    /// Records in index order.
    public var records: [LogRecord] { byID.values.map(\.record).sorted { $0.info.index < $1.info.index } }

    /// The record of a sample id, if any.
    public func record(id: String) -> LogRecord? { byID[id]?.record }

    /// Ids whose sample is done (evaluated or skipped); failed ones are retried.
    public var doneIDs: Set<String> { Set(byID.values.filter { !$0.record.isFailed }.map(\.record.id)) }

    public var count: Int { byID.count }

    /// Where the first `place` of a record came from ("file:line"), for messages.
    public func place(id: String) -> String? { byID[id]?.place }

    /// Names of the fields in which two records differ.
    static func differences(_ a: LogRecord, _ b: LogRecord) -> [String] {
        var out: [String] = []
        if a.info.index != b.info.index { out.append("index") }
        if a.info.video != b.info.video || a.info.image != b.info.image { out.append("video/image") }
        if a.info.frame != b.info.frame { out.append("frame") }
        if a.info.instance != b.info.instance { out.append("instance") }
        if a.info.sentence != b.info.sentence { out.append("sentence") }
        switch (a.outcome, b.outcome) {
        case (.skipped, .skipped): break
        case let (.evaluated(ra, ca), .evaluated(rb, cb)):
            if ra.intersection != rb.intersection || ra.union != rb.union { out.append("I/U") }
            if ra.groundTruthArea != rb.groundTruthArea || ra.groundTruth != rb.groundTruth { out.append("ground truth") }
            if ra.prediction != rb.prediction { out.append("rle") }
            if ra.score != rb.score { out.append("score") }
            if ca != cb { out.append("crf") }
        default: out.append("skipped")
        }
        return out
    }

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

    /// Writes every record, in index order, to `url` (through a temporary file).
    public func write(to url: URL) throws {
        try writeAtomically(Data(records.map { $0.jsonLine() }.joined().utf8), to: url)
    }
}

// MARK: - Report

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
