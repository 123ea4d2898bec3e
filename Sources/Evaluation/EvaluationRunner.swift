// Runs a predictor over a dataset split's samples and logs one line per sample (see EvaluationRecord.swift), resuming
// from an existing log, with sharding for clusters.
//
// Shards: `K/N` with K in 0..<N (0-based, as SLURM_ARRAY_TASK_ID with --array=0-(N-1) and Kubernetes'
// JOB_COMPLETION_INDEX). Shard K holds the contiguous block of sample indices [K·n/N, (K+1)·n/N) of the n samples,
// so a video's samples stay together (a predictor may reuse its decoded frames and features) and block sizes differ
// by at most one. `limit` then keeps the first M samples of the block.
//
// A run with a provenance writes it as a new log's first line and refuses a log produced by anything else (or
// holding results without a provenance record); `restart` empties the log first.
//
// Per sample: load the ground truth; an empty one is logged as skipped without predicting; else predict, check the
// size, measure I and U (and the CRF prediction's), log. A thrown error is logged as a failed line and the run goes
// on, or with `strict` it ends the run (nothing is logged for that sample). A stop request ends the run between two
// samples.

import Foundation

/// Follows an evaluation run as it goes (a progress bar, log lines); called on the runner's thread.
public protocol RunProgress: AnyObject {
    /// Once, before the first sample: `total` samples in the selection, `done` of them already in the log.
    func start(total: Int, done: Int)
    /// After each sample the run logs (`failed`: it was logged as an error).
    func advance(failed: Bool)
    /// Once, when the run ends: finished, stopped or thrown.
    func finish()
}

/// A predictor's answer for one sample, at the ground truth's size.
public struct Prediction: Sendable {
    public var mask: PixelMask
    /// The DenseCRF-refined mask (required when the runner's `crf` is on).
    public var crfMask: PixelMask?
    /// Detection score for COCO AP (1 when nil).
    public var score: Double?

    public init(mask: PixelMask, crfMask: PixelMask? = nil, score: Double? = nil) {
        self.mask = mask
        self.crfMask = crfMask
        self.score = score
    }
}

/// Produces the predicted mask of one sample; thrown errors are reported per sample.
public protocol SamplePredictor {
    associatedtype Sample
    /// Called once before the first prediction with the samples this run may predict, in the order it will ask
    /// (a video predictor can plan which decoded frames and features to keep); a thrown error ends the run.
    func prepare(for samples: [Sample]) throws
    /// The 0/1 mask (row-major, `width`×`height`, the ground truth's size) the model predicts for `sample`.
    func predict(_ sample: Sample, width: Int, height: Int) throws -> Prediction
}

extension SamplePredictor {
    public func prepare(for samples: [Sample]) throws {}
}

/// One sample to evaluate: its log fields, what the predictor needs, and its ground-truth loader.
public struct EvaluationItem<Sample> {
    public var info: SampleInfo
    public var sample: Sample
    public var loadGroundTruth: () throws -> PixelMask

    public init(info: SampleInfo, sample: Sample, loadGroundTruth: @escaping () throws -> PixelMask) {
        self.info = info
        self.sample = sample
        self.loadGroundTruth = loadGroundTruth
    }
}

/// Shard `index` of `count` (0-based): a contiguous block of sample indices.
public struct Shard: Equatable, Sendable, CustomStringConvertible {
    public var index: Int
    public var count: Int

    public init(index: Int, count: Int) throws {
        guard count >= 1 else { throw EvaluationLogError.badShard("\(index)/\(count)", reason: "N must be at least 1") }
        guard (0..<count).contains(index) else {
            throw EvaluationLogError.badShard(
                "\(index)/\(count)", reason: "K must be in 0…\(count - 1) (K is 0-based, as SLURM_ARRAY_TASK_ID "
                    + "with --array=0-\(count - 1) and JOB_COMPLETION_INDEX)")
        }
        self.index = index
        self.count = count
    }

    /// Parses "K/N".
    public init(parsing text: String) throws {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2,
              let k = Int(parts[0].trimmingCharacters(in: .whitespaces)),
              let n = Int(parts[1].trimmingCharacters(in: .whitespaces)) else {
            throw EvaluationLogError.badShard(text, reason: "expected K/N, e.g. 0/4")
        }
        try self.init(index: k, count: n)
    }

    /// The sample indices of this shard among `total`.
    public func range(total: Int) -> Range<Int> {
        let n = max(0, total)
        return (index * n / count)..<((index + 1) * n / count)
    }

    public var description: String { "\(index)/\(count)" }
}

/// The sample indices to run: the shard's block (all when nil), then the first `limit`.
public func selectSamples(total: Int, shard: Shard?, limit: Int?) -> Range<Int> {
    let block = shard?.range(total: total) ?? 0..<max(0, total)
    guard let limit else { return block }
    return block.lowerBound..<min(block.upperBound, block.lowerBound + max(0, limit))
}

/// A sample the runner cannot measure (a prediction of the wrong size, a missing CRF prediction).
public struct SampleError: Error, Equatable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// What a run did and the summary of its log.
public struct RunOutcome: Sendable {
    /// Samples the log already held (done) when the run started.
    public var resumed: Int
    /// Samples handled by this run (evaluated, skipped or failed).
    public var processed: Int
    /// Of `processed`, the failed ones.
    public var failed: Int
    /// Bytes of an interrupted last line dropped from the log.
    public var droppedBytes: Int
    /// The run ended on a stop request before every sample was done.
    public var stopped: Bool
    /// Samples of the selection not done (remaining after a stop, or failed).
    public var remaining: Int
    /// The summary over the whole log.
    public var report: EvaluationReport
}

/// Evaluates samples into a log file, resuming it.
public struct EvaluationRunner {
    public var log: URL
    /// Stop at the first failed sample (with its error) instead of logging it.
    public var strict = false
    /// Require and log the CRF prediction of every sample.
    public var crf = false
    /// Precision counts IoU > K instead of IoU ≥ K.
    public var strictThresholds = false
    /// fsync every this many lines.
    public var syncEvery = 1
    /// Follows the run (the command line draws a progress bar with it); nil follows nothing.
    public var progress: RunProgress?
    /// Asked before each sample; true ends the run there (the command line's Ctrl-C sets it).
    public var shouldStop: () -> Bool = { false }
    /// Receives notes about the log before the run starts (a dropped partial line, samples resumed).
    public var notes: (String) -> Void = { _ in }
    /// What produces this run's results: written as the first line of a new log, and a log made by anything else
    /// (or with results but no provenance record) is refused. Nil checks nothing and writes no record.
    public var provenance: Provenance?
    /// Empty the log before running (under its lock) instead of resuming it.
    public var restart = false

    public init(log: URL) {
        self.log = log
    }

    /// Runs `predictor` over `items` (a selection of one dataset split), appending to the log.
    ///
    /// Every line already in the log must belong to `items` (same id at the same index): a log of another shard,
    /// split or dataset is an error rather than a silent mix. Failed lines are retried.
    public func run<P: SamplePredictor>(_ items: [EvaluationItem<P.Sample>], predictor: P) throws -> RunOutcome {
        var indexOfID: [String: Int] = [:]
        for item in items {
            guard indexOfID.updateValue(item.info.index, forKey: item.info.id) == nil else {
                throw EvaluationLogError.duplicateSample(id: item.info.id)
            }
        }
        // Lock first, then read: no other run can append in between.
        let writer = try LogWriter(url: log, syncEvery: syncEvery)
        defer { try? writer.close() }
        var contents = try readLog(log)
        if restart, contents.completeBytes + contents.incompleteBytes > 0 {
            try writer.truncate(to: 0)
            notes("--restart: emptied \(log.path) (\(contents.records.count) records)")
            contents = LogFileContents(provenance: nil, records: [], completeBytes: 0, incompleteBytes: 0)
        }
        if let provenance {
            if let logged = contents.provenance {
                let differences = logged.differences(from: provenance)
                guard differences.isEmpty else {
                    throw EvaluationLogError.provenanceMismatch(file: log.path, differences: differences)
                }
            } else if !contents.records.isEmpty {
                throw EvaluationLogError.provenanceMissing(file: log.path)
            }
        }
        var combined = EvaluationLog()
        combined.provenance = contents.provenance ?? provenance
        for (line, record) in contents.records {
            guard let index = indexOfID[record.id] else {
                // A failed sample may leave the selection once its ground truth reads (an unreadable annotation
                // listed every instance; the file, fixed, has fewer): nothing of it is in the metrics.
                if record.isFailed {
                    notes("\(log.path):\(line): failed sample \(record.id) is no longer in the selection; ignored")
                    continue
                }
                throw EvaluationLogError.foreignRecord(
                    file: log.path, line: line, reason: "sample \(record.id) is not in this run's selection "
                        + "(another shard, split, dataset or a smaller --limit?); use another --out")
            }
            guard index == record.info.index else {
                throw EvaluationLogError.foreignRecord(
                    file: log.path, line: line, reason: "sample \(record.id) is at index \(record.info.index) in the log "
                        + "but \(index) in the dataset (another split or dataset?); use another --out")
            }
            if case .evaluated(_, let c) = record.outcome, (c != nil) != crf {
                throw EvaluationLogError.foreignRecord(
                    file: log.path, line: line, reason: "sample \(record.id) was evaluated \(crf ? "without" : "with") "
                        + "the CRF; rerun \(crf ? "without" : "with") --crf or use another --out")
            }
            try combined.add(record, place: "\(log.path):\(line)")
        }
        if contents.incompleteBytes > 0 {
            try writer.truncate(to: contents.completeBytes)
            notes("dropped an incomplete last line (\(contents.incompleteBytes) bytes) from \(log.path)")
        }
        if let provenance, contents.provenance == nil { try writer.append(provenance) }
        let done = combined.doneIDs
        let resumed = items.filter { done.contains($0.info.id) }.count
        if resumed > 0 { notes("resuming: \(resumed) of \(items.count) samples are already in \(log.path)") }
        progress?.start(total: items.count, done: resumed)
        defer { progress?.finish() }
        var processed = 0, failed = 0, stopped = false
        let pending = items.filter { !done.contains($0.info.id) }
        try predictor.prepare(for: pending.map(\.sample))
        for item in pending {
            if shouldStop() { stopped = true; break }
            let record: LogRecord
            do {
                record = try evaluate(item, predictor: predictor)
            } catch {
                if strict {
                    throw EvaluationLogError.sampleFailed(id: item.info.id, index: item.info.index,
                                                          reason: Self.message(error))
                }
                record = LogRecord(info: item.info, outcome: .failed(Self.message(error)))
            }
            try writer.append(record)
            try combined.add(record, place: "\(log.path) (this run)")
            processed += 1
            if record.isFailed { failed += 1 }
            progress?.advance(failed: record.isFailed)
        }
        try writer.close()
        let doneNow = combined.doneIDs
        return RunOutcome(resumed: resumed, processed: processed, failed: failed,
                          droppedBytes: contents.incompleteBytes, stopped: stopped,
                          remaining: items.filter { !doneNow.contains($0.info.id) }.count,
                          report: combined.report(strictThresholds: strictThresholds))
    }

    /// Evaluates one sample into its log record (skipped when the ground truth is empty).
    func evaluate<P: SamplePredictor>(_ item: EvaluationItem<P.Sample>, predictor: P) throws -> LogRecord {
        let truth = try item.loadGroundTruth()
        let truthRLE = try truth.rle()
        if truthRLE.area == 0 { return LogRecord(info: item.info, outcome: .skipped) }
        let prediction = try predictor.predict(item.sample, width: truth.width, height: truth.height)
        let masks = [("prediction", prediction.mask)] + (prediction.crfMask.map { [("CRF prediction", $0)] } ?? [])
        for (name, mask) in masks where (mask.width, mask.height) != (truth.width, truth.height) {
            throw SampleError("the \(name) is \(mask.height)×\(mask.width) (H×W), "
                                        + "the ground truth \(truth.height)×\(truth.width)")
        }
        let result = try SampleResult(id: item.info.id, prediction: prediction.mask.rle(), groundTruth: truthRLE,
                                      score: prediction.score)
        var crfResult: CRFResult?
        if crf {
            guard let crfMask = prediction.crfMask else {
                throw SampleError("the predictor gave no CRF prediction while --crf is on")
            }
            let rle = try crfMask.rle()
            let (i, u) = rle.intersectionAndUnion(with: truthRLE) ?? (0, 0)
            crfResult = CRFResult(intersection: i, union: u, prediction: rle)
        }
        return LogRecord(info: item.info, outcome: .evaluated(result, crf: crfResult))
    }

    /// An error's text for the log.
    static func message(_ error: Error) -> String {
        String(describing: error)
    }
}
