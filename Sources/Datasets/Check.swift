// Dataset audits: count samples, list missing or unreadable files, compare with official counts.
import Foundation
import JSON

/// What `check` looks at.
public struct CheckOptions: Sendable {
    /// Stop at the first missing or unreadable file (throws it) instead of counting it.
    public var strict = false
    /// Load every sample's mask too (slow on full datasets: one file read per sample).
    public var verifyMasks = false

    public init(strict: Bool = false, verifyMasks: Bool = false) {
        self.strict = strict
        self.verifyMasks = verifyMasks
    }
}

/// A number counted in the dataset folder next to the number the official release publishes.
public struct CountComparison: Equatable, Sendable {
    public var name: String
    public var counted: Int
    public var official: Int
    /// Where the official number comes from.
    public var source: String
    public var matches: Bool { counted == official }
}

/// A problem with one file: missing, or present but unreadable (the reason says why).
public struct FileProblem: Equatable, Sendable {
    public var file: String
    public var reason: String
}

/// The result of `check`.
public struct CheckReport: Sendable {
    public var dataset: String
    public var split: String
    public var samples: Int
    /// "videos" or "images".
    public var unitName: String
    /// Distinct videos or images the samples use.
    public var units: Int
    public var missing: [String]
    public var unreadable: [FileProblem]
    /// Index rows skipped as malformed, with the reason (file:line: why).
    public var skippedRows: [String]
    /// Other notes (e.g. samples dropped because their mask is empty).
    public var notes: [String]
    public var comparisons: [CountComparison]
    /// Other numbers counted in the folder, in order (Ref-YouTube-VOS: videos, expressions, frames, …); in the JSON
    /// as a "counts" object when there are any.
    public var counts: [(name: String, value: Int)] = []

    /// One JSON object, keys sorted, no whitespace: samples, videos|images, missing, unreadable, skipped_rows, official…
    public func json() -> String {
        func object(_ members: [(String, JSONValue)]) -> JSONValue { .object(members.sorted { $0.0 < $1.0 }) }
        func strings(_ list: [String]) -> JSONValue { .array(list.map { .string($0) }) }
        let extra: [(String, JSONValue)] = counts.isEmpty ? [] : [("counts", .object(counts.map { ($0.name, .int($0.value)) }))]
        return object(extra + [
            ("dataset", .string(dataset)), ("split", .string(split)), ("samples", .int(samples)), (unitName, .int(units)),
            ("missing", strings(missing)), ("missing_count", .int(missing.count)),
            ("unreadable", .array(unreadable.map { object([("file", .string($0.file)), ("reason", .string($0.reason))]) })),
            ("skipped_rows", .int(skippedRows.count)), ("skipped_row_details", strings(skippedRows)),
            ("notes", strings(notes)),
            ("official", .array(comparisons.map {
                object([("name", .string($0.name)), ("counted", .int($0.counted)), ("official", .int($0.official)),
                        ("matches", .bool($0.matches)), ("source", .string($0.source))])
            })),
        ]).text(.compact)
    }

    /// A human-readable summary, one fact per line.
    public func text() -> String {
        var lines = ["\(dataset) \(split): \(samples) samples, \(units) \(unitName)"]
        if !counts.isEmpty { lines.append("  " + counts.map { "\($0.name) \($0.value)" }.joined(separator: ", ")) }
        for c in comparisons {
            lines.append("  \(c.name): \(c.counted) (official \(c.official)) \(c.matches ? "ok" : "DIFFERS")  [\(c.source)]")
        }
        lines.append("  missing files: \(missing.count)")
        for m in missing.prefix(20) { lines.append("    \(m)") }
        if missing.count > 20 { lines.append("    … \(missing.count - 20) more") }
        lines.append("  unreadable files: \(unreadable.count)")
        for u in unreadable.prefix(20) { lines.append("    \(u.file): \(u.reason)") }
        if unreadable.count > 20 { lines.append("    … \(unreadable.count - 20) more") }
        lines.append("  skipped rows: \(skippedRows.count)")
        for s in skippedRows.prefix(20) { lines.append("    \(s)") }
        for n in notes { lines.append("  note: \(n)") }
        return lines.joined(separator: "\n")
    }
}

/// What a reader found while listing a split: the samples and everything it had to step over.
struct Scan {
    var samples: [ReferringSample] = []
    var missing: [String] = []
    var unreadable: [FileProblem] = []
    var skippedRows: [String] = []
    var notes: [String] = []
    /// Other numbers `check` compares with official ones (e.g. "annotation_rows").
    var counts: [String: Int] = [:]
    var strict = false
    /// Ids of samples listed only so that evaluate logs them as failed (their mask cannot load: a bad annotation);
    /// `check` reports their problem (unreadable, skipped row) and does not count them as samples.
    var unloadable: Set<String> = []

    /// Records a missing file, or throws it in strict mode.
    mutating func missingFile(_ path: String) throws {
        if strict { throw DatasetError.missingFile(path) }
        missing.append(path)
    }

    /// Records an unreadable file (or throws in strict mode); a missing-file error is filed as missing.
    mutating func failed(_ path: String, _ error: Error) throws {
        if strict { throw error }
        if case DatasetError.missingFile(let p) = error {
            missing.append(p)
        } else {
            unreadable.append(FileProblem(file: path, reason: "\(error)"))
        }
    }

    /// Prints the skipped rows and file problems to stderr (what `samples(split:)` warns about).
    func warn() {
        var lines: [String] = []
        for r in skippedRows { lines.append("warning: skipped row \(r)") }
        for m in missing { lines.append("warning: missing \(m)") }
        for u in unreadable { lines.append("warning: unreadable \(u.file): \(u.reason)") }
        guard !lines.isEmpty else { return }
        FileHandle.standardError.write(Data((lines.joined(separator: "\n") + "\n").utf8))
    }
}

/// The part of `check` every reader shares: source files exist, masks load (when asked), counts compare.
func finishCheck(dataset: String, split: String, scan: Scan, unitName: String,
                 official: [(name: String, value: Int, source: String)], options: CheckOptions) throws -> CheckReport {
    var scan = scan
    scan.strict = options.strict
    scan.samples.removeAll { scan.unloadable.contains($0.id) }
    var units = Set<String>()
    var seen = Set<String>()
    let fm = FileManager.default
    for s in scan.samples {
        let unit: String
        switch s.source {
        case .video(let path, _, _): unit = path
        case .frames(let dir, _, _): unit = dir
        case .image(let path): unit = path
        }
        units.insert(unit)
        let file = s.source.path
        if seen.insert(file).inserted, !fm.fileExists(atPath: file) { try scan.missingFile(file) }
    }
    if options.verifyMasks {
        var checkedMasks = Set<String>()
        for s in scan.samples where checkedMasks.insert(s.id).inserted {
            do { _ = try s.loadMask() } catch { try scan.failed(s.maskPath, error) }
        }
    }
    var counted: [String: Int] = ["samples": scan.samples.count, unitName: units.count]
    counted.merge(scan.counts) { a, _ in a }
    let comparisons = official.compactMap { o -> CountComparison? in
        guard let c = counted[o.name] else { return nil }
        return CountComparison(name: o.name, counted: c, official: o.value, source: o.source)
    }
    return CheckReport(dataset: dataset, split: split, samples: scan.samples.count, unitName: unitName,
                       units: units.count, missing: Array(Set(scan.missing)).sorted(),
                       unreadable: scan.unreadable, skippedRows: scan.skippedRows, notes: scan.notes,
                       comparisons: comparisons)
}
