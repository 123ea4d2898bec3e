// Combining evaluation log lines (resume within one file, merge across shard files). Per id: two evaluated or
// skipped lines must be equal (else a conflict error names both places); an evaluated or skipped line supersedes a
// failed one; of two failed lines the later wins. Merged files must carry the same provenance record (a file without
// one beside files with one is a warning). Two ids at one index mean logs of different datasets or splits: an error.

import Foundation

/// Records keyed by id under the combining rules at the top of this file; `report()` (EvaluationReport.swift)
/// summarises them in index order.
public struct EvaluationLog: Sendable {
    private var byID: [String: (record: LogRecord, place: String)] = [:]
    private var idAtIndex: [Int: String] = [:]
    /// Notes on the files read: an unterminated last line (an interrupted run), indices without a line, a log
    /// without a provenance record.
    public private(set) var warnings: [String] = []
    /// What produced the records (written first by `write(to:)`); merged files must agree on it.
    public var provenance: Provenance?

    public init() {}

    /// Reads and combines log files in order (shards, or one file being resumed).
    public init(files: [URL]) throws {
        var provenanceFile: String?
        var withoutProvenance: [String] = []
        for url in files {
            guard FileManager.default.fileExists(atPath: url.path) else {
                throw EvaluationLogError.io(file: url.path, reason: "file not found")
            }
            let contents = try readLog(url)
            if let theirs = contents.provenance {
                if let mine = provenance, let first = provenanceFile {
                    let differences = mine.differences(from: theirs)
                    guard differences.isEmpty else {
                        throw EvaluationLogError.provenanceConflict(first: first, second: url.path, differences: differences)
                    }
                } else {
                    provenance = theirs
                    provenanceFile = url.path
                }
            } else if !contents.records.isEmpty {
                withoutProvenance.append(url.path)
            }
            for (line, record) in contents.records { try add(record, place: "\(url.path):\(line)") }
            if contents.incompleteBytes > 0 {
                warnings.append("\(url.path): ignored an unterminated last line (\(contents.incompleteBytes) bytes): "
                                + "an interrupted run; rerun it to finish the shard")
            }
        }
        if provenance != nil {
            for path in withoutProvenance {
                warnings.append("\(path) has no provenance record (an older cmpc-video): it cannot be checked to "
                                + "come from the same checkpoint and settings as the others")
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

    /// Writes every record, in index order, to `url` (through a temporary file).
    public func write(to url: URL) throws {
        try writeAtomically(Data(((provenance.map { [$0.jsonLine()] } ?? []) + records.map { $0.jsonLine() }).joined().utf8),
                            to: url)
    }
}
