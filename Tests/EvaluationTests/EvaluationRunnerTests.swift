import Foundation
import Testing
@testable import Evaluation

/// A synthetic sample: its index decides its masks.
struct FakeSample: Sendable {
    var index: Int
}

/// Predicts a shifted rectangle; fails on chosen indices; can ask the run to stop after some predictions.
final class FakePredictor: SamplePredictor {
    var failing: Set<Int> = []
    var crf = false
    var wrongSize: Set<Int> = []
    /// After this many predictions, `stopRequested` turns true (the runner's `shouldStop` reads it).
    var stopAfter: Int?
    private(set) var stopRequested = false
    private(set) var calls: [Int] = []
    private(set) var prepared: [[Int]] = []

    init(failing: Set<Int> = [], crf: Bool = false) {
        self.failing = failing
        self.crf = crf
    }

    func prepare(for samples: [FakeSample]) throws {
        prepared.append(samples.map(\.index))
    }

    func predict(_ sample: FakeSample, width: Int, height: Int) throws -> Prediction {
        calls.append(sample.index)
        if let count = stopAfter, calls.count >= count { stopRequested = true }
        if failing.contains(sample.index) { throw SampleError("Release/clips320H/v\(sample.index).mp4: file not found") }
        let w = wrongSize.contains(sample.index) ? width + 1 : width
        return Prediction(mask: try predictedMask(sample.index, width: w, height: height),
                          crfMask: crf ? try crfMask(sample.index, width: width, height: height) : nil,
                          score: sample.index % 3 == 0 ? nil : 0.5 + Double(sample.index) / 100)
    }
}

/// Records what the runner tells its progress, one string an event.
final class RecordingProgress: RunProgress {
    private(set) var events: [String] = []
    func start(total: Int, done: Int) { events.append("start \(total) \(done)") }
    func advance(failed: Bool) { events.append(failed ? "advance failed" : "advance ok") }
    func finish() { events.append("finish") }
}

let fakeWidth = 7, fakeHeight = 5

func rectangle(width: Int, height: Int, x: Range<Int>, y: Range<Int>) throws -> PixelMask {
    var pixels = [UInt8](repeating: 0, count: width * height)
    for r in y where r < height { for c in x where c < width { pixels[r * width + c] = 1 } }
    return try PixelMask(width: width, height: height, pixels: pixels)
}

/// Ground truth of sample i: 3×3 at column i mod 3, rows 1…3; empty when i mod 5 = 4.
func groundTruthMask(_ i: Int) throws -> PixelMask {
    try rectangle(width: fakeWidth, height: fakeHeight, x: i % 5 == 4 ? 0..<0 : (i % 3)..<(i % 3 + 3), y: 1..<4)
}

func predictedMask(_ i: Int, width: Int = fakeWidth, height: Int = fakeHeight) throws -> PixelMask {
    try rectangle(width: width, height: height, x: (i % 4)..<(i % 4 + 3), y: (i % 2)..<(i % 2 + 3 + i % 3))
}

func crfMask(_ i: Int, width: Int = fakeWidth, height: Int = fakeHeight) throws -> PixelMask {
    try rectangle(width: width, height: height, x: (i % 3)..<(i % 4 + 3), y: 1..<(i % 2 + 4))
}

func fakeInfo(_ i: Int) -> SampleInfo {
    SampleInfo(index: i, id: "fake/v\(i / 3)/\(i % 3 + 1)/\(i)", video: "v\(i / 3)", frame: i % 3 + 1,
               instance: String(i % 2), sentence: "the \"man\" \\ in white #\(i)")
}

func fakeItems(_ indices: Range<Int>) -> [EvaluationItem<FakeSample>] {
    indices.map { i in EvaluationItem(info: fakeInfo(i), sample: FakeSample(index: i)) { try groundTruthMask(i) } }
}

/// A fresh folder under the temporary directory, removed by the caller.
func temporaryFolder() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("cmpc-eval-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

let fakeCount = 12

@Suite struct EvaluationRunnerTests {
    func runner(_ url: URL, crf: Bool = false, strict: Bool = false) -> EvaluationRunner {
        var r = EvaluationRunner(log: url)
        r.crf = crf
        r.strict = strict
        return r
    }

    /// The metrics computed straight from the masks, without the runner.
    func directSummary(_ indices: Range<Int>, failing: Set<Int>, crf: Bool = false) throws -> EvaluationSummary {
        var acc = MetricsAccumulator()
        for i in indices where !failing.contains(i) {
            let gt = try groundTruthMask(i).rle()
            let pred = try (crf ? crfMask(i) : predictedMask(i)).rle()
            acc.add(gt.area == 0
                    ? SampleResult(id: fakeInfo(i).id, intersection: 0, union: 0, groundTruthArea: 0)
                    : try SampleResult(id: fakeInfo(i).id, prediction: pred, groundTruth: gt,
                                       score: i % 3 == 0 ? nil : 0.5 + Double(i) / 100))
        }
        return acc.summary()
    }

    @Test func fullRunLogsEverySampleAndMatchesTheDirectMetrics() throws {
        let dir = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let log = dir.appendingPathComponent("results.jsonl")
        let predictor = FakePredictor(failing: [7])
        let outcome = try runner(log).run(fakeItems(0..<fakeCount), predictor: predictor)
        #expect(outcome.processed == fakeCount && outcome.failed == 1 && outcome.resumed == 0 && !outcome.stopped)
        #expect(outcome.remaining == 1)
        // Samples 4 and 9 have an empty ground truth: logged as skipped, never predicted.
        #expect(predictor.calls == (0..<fakeCount).filter { $0 % 5 != 4 })
        let contents = try readLog(log)
        #expect(contents.records.map(\.record.info) == (0..<fakeCount).map(fakeInfo))
        #expect(contents.incompleteBytes == 0)
        #expect(contents.records.filter { $0.record.outcome == .skipped }.map(\.record.info.index) == [4, 9])
        #expect(contents.records[7].record.outcome == .failed("Release/clips320H/v7.mp4: file not found"))

        let expected = try directSummary(0..<fakeCount, failing: [7])
        #expect(outcome.report.summary == expected)
        #expect(outcome.report.summary.samples == 9 && outcome.report.summary.skipped == 2)
        #expect(outcome.report.errors == 1 && outcome.report.crf == nil)
        #expect(outcome.report.summary.mAPCOCO != nil)
        // The log read back gives the same report.
        #expect(try EvaluationLog(files: [log]).report() == outcome.report)
    }

    @Test func resumeAfterACutMidLineRedoesOnlyTheMissingSamples() throws {
        let dir = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let reference = dir.appendingPathComponent("reference.jsonl")
        let full = try runner(reference).run(fakeItems(0..<fakeCount), predictor: FakePredictor())

        // An interrupted run: the file ends in the middle of line 7 (sample 6).
        let bytes = try Data(contentsOf: reference)
        let newlines = bytes.indices.filter { bytes[$0] == UInt8(ascii: "\n") }
        let cut = newlines[5] + 1 + 25
        let log = dir.appendingPathComponent("results.jsonl")
        try bytes.prefix(cut).write(to: log)

        let predictor = FakePredictor()
        var resuming = runner(log)
        var notes: [String] = []
        resuming.notes = { notes.append($0) }
        let resumed = try resuming.run(fakeItems(0..<fakeCount), predictor: predictor)
        #expect(notes == ["dropped an incomplete last line (25 bytes) from \(log.path)",
                          "resuming: 6 of 12 samples are already in \(log.path)"])
        #expect(resumed.droppedBytes == 25)
        #expect(resumed.resumed == 6 && resumed.processed == 6)
        #expect(predictor.calls == [6, 7, 8, 10, 11])
        #expect(predictor.prepared == [[6, 7, 8, 9, 10, 11]])     // 9 has an empty ground truth: never predicted
        #expect(try Data(contentsOf: log) == bytes)
        #expect(resumed.report == full.report)

        // A third run has nothing to do.
        let idle = FakePredictor()
        let again = try runner(log).run(fakeItems(0..<fakeCount), predictor: idle)
        #expect(idle.calls.isEmpty && again.processed == 0 && again.resumed == fakeCount && again.report == full.report)
    }

    @Test func stopRequestEndsBetweenSamplesWithCompleteLines() throws {
        let dir = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let log = dir.appendingPathComponent("results.jsonl")
        let predictor = FakePredictor()
        predictor.stopAfter = 3
        var r = runner(log)
        r.shouldStop = { predictor.stopRequested }
        let progress = RecordingProgress()
        r.progress = progress
        let first = try r.run(fakeItems(0..<fakeCount), predictor: predictor)
        #expect(progress.events == ["start 12 0", "advance ok", "advance ok", "advance ok", "finish"])
        // The third prediction asks to stop; its sample is still logged, then the run ends.
        #expect(first.stopped && predictor.calls == [0, 1, 2] && first.processed == 3)
        #expect(first.remaining == fakeCount - 3)
        let contents = try readLog(log)
        #expect(contents.records.count == 3 && contents.incompleteBytes == 0)

        let rest = FakePredictor(failing: [5])
        var resumed = runner(log)
        let restProgress = RecordingProgress()
        resumed.progress = restProgress
        let second = try resumed.run(fakeItems(0..<fakeCount), predictor: rest)
        // Samples 4 and 9 are skipped (empty ground truth), 5 fails: every logged sample advances the progress.
        #expect(restProgress.events == ["start 12 3"] + (3..<fakeCount).map { $0 == 5 ? "advance failed" : "advance ok" }
                + ["finish"])
        #expect(!second.stopped && second.resumed == 3 && second.remaining == 1)
        #expect(rest.calls == [3, 5, 6, 7, 8, 10, 11])
        // The failed sample is retried by the next run.
        let retry = FakePredictor()
        let third = try runner(log).run(fakeItems(0..<fakeCount), predictor: retry)
        #expect(retry.calls == [5] && third.processed == 1 && third.resumed == fakeCount - 1 && third.remaining == 0)
        #expect(third.report.summary == (try directSummary(0..<fakeCount, failing: [])))
    }

    @Test func shardUnionEqualsTheUnshardedRun() throws {
        let dir = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let whole = dir.appendingPathComponent("whole.jsonl")
        let single = try runner(whole).run(fakeItems(0..<fakeCount), predictor: FakePredictor(failing: [7]))
        for n in [2, 3, 5] {
            var files: [URL] = []
            var covered: [Int] = []
            for k in 0..<n {
                let range = selectSamples(total: fakeCount, shard: try Shard(index: k, count: n), limit: nil)
                covered += Array(range)
                let url = dir.appendingPathComponent("results-\(n)-\(k).jsonl")
                _ = try runner(url).run(fakeItems(range), predictor: FakePredictor(failing: [7]))
                files.append(url)
            }
            #expect(covered == Array(0..<fakeCount))
            // Merging in any file order gives the single run's records and table.
            let merged = try EvaluationLog(files: files.reversed())
            #expect(merged.records == (try EvaluationLog(files: [whole])).records)
            #expect(merged.report() == single.report)
            #expect(merged.report().table() == single.report.table())
        }
    }

    @Test func aLogOfAnotherSelectionIsRefused() throws {
        let dir = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let log = dir.appendingPathComponent("results.jsonl")
        let shard0 = selectSamples(total: fakeCount, shard: try Shard(index: 0, count: 3), limit: nil)
        let shard1 = selectSamples(total: fakeCount, shard: try Shard(index: 1, count: 3), limit: nil)
        _ = try runner(log).run(fakeItems(shard0), predictor: FakePredictor())
        #expect {
            try runner(log).run(fakeItems(shard1), predictor: FakePredictor())
        } throws: { error in
            guard case EvaluationLogError.foreignRecord(let file, let line, _)? = error as? EvaluationLogError else { return false }
            return file == log.path && line == 1
        }
        // Same ids at other indices (another split's order) are refused too.
        let shifted = fakeItems(shard0).map { item -> EvaluationItem<FakeSample> in
            var moved = item
            moved.info.index += 100
            return moved
        }
        #expect(throws: EvaluationLogError.self) { try runner(log).run(shifted, predictor: FakePredictor()) }
        // Resuming a log without CRF results with --crf is refused.
        #expect(throws: EvaluationLogError.self) {
            try runner(log, crf: true).run(fakeItems(shard0), predictor: FakePredictor(crf: true))
        }
    }

    @Test func strictStopsAtTheFirstFailureWithoutLoggingIt() throws {
        let dir = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let log = dir.appendingPathComponent("results.jsonl")
        #expect(throws: EvaluationLogError.sampleFailed(id: fakeInfo(7).id, index: 7,
                                                         reason: "Release/clips320H/v7.mp4: file not found")) {
            try runner(log, strict: true).run(fakeItems(0..<fakeCount), predictor: FakePredictor(failing: [7]))
        }
        #expect(try readLog(log).records.map(\.record.info.index) == Array(0..<7))
    }

    @Test func failedSamplesAreRetriedWhenRerun() throws {
        let dir = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let log = dir.appendingPathComponent("results.jsonl")
        let first = try runner(log).run(fakeItems(0..<fakeCount), predictor: FakePredictor(failing: [2, 7]))
        #expect(first.report.errors == 2 && first.remaining == 2)
        let fixed = FakePredictor()
        let second = try runner(log).run(fakeItems(0..<fakeCount), predictor: fixed)
        #expect(fixed.calls == [2, 7] && second.resumed == fakeCount - 2 && second.remaining == 0)
        #expect(second.report.errors == 0)
        #expect(second.report.summary == (try directSummary(0..<fakeCount, failing: [])))
        // The failed lines stay in the file; the later results supersede them.
        #expect(try readLog(log).records.count == fakeCount + 2)
        #expect(try EvaluationLog(files: [log]).report() == second.report)
    }

    @Test func aPredictionOfTheWrongSizeIsAFailedSample() throws {
        let dir = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let log = dir.appendingPathComponent("results.jsonl")
        let predictor = FakePredictor()
        predictor.wrongSize = [3]
        let outcome = try runner(log).run(fakeItems(0..<6), predictor: predictor)
        #expect(outcome.report.errors == 1)
        let record = try readLog(log).records[3].record
        #expect(record.outcome == .failed("the prediction is 5×8 (H×W), the ground truth 5×7"))
    }

    @Test func crfResultsAreLoggedAndReportedBesideThePlainOnes() throws {
        let dir = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let log = dir.appendingPathComponent("results.jsonl")
        let outcome = try runner(log, crf: true).run(fakeItems(0..<fakeCount), predictor: FakePredictor(crf: true))
        #expect(outcome.report.summary == (try directSummary(0..<fakeCount, failing: [])))
        let crf = try #require(outcome.report.crf)
        #expect(crf == (try directSummary(0..<fakeCount, failing: [], crf: true)))
        #expect(crf != outcome.report.summary)
        #expect(outcome.report.table().contains("without DenseCRF:") && outcome.report.table().contains("with DenseCRF:"))
        // A predictor that gives no CRF mask while --crf is on fails its samples.
        let other = dir.appendingPathComponent("other.jsonl")
        let missing = try runner(other, crf: true).run(fakeItems(0..<3), predictor: FakePredictor(crf: false))
        #expect(missing.report.errors == 3)
        // Resuming a CRF log without --crf is refused.
        #expect(throws: EvaluationLogError.self) {
            try runner(log).run(fakeItems(0..<fakeCount), predictor: FakePredictor())
        }
    }

    @Test func duplicateSampleIdsInTheSelectionAreRefused() throws {
        let dir = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        var items = fakeItems(0..<3)
        items[2].info.id = items[0].info.id
        #expect(throws: EvaluationLogError.duplicateSample(id: items[0].info.id)) {
            try runner(dir.appendingPathComponent("r.jsonl")).run(items, predictor: FakePredictor())
        }
    }

    @Test func shardsAreZeroBasedContiguousBlocks() throws {
        #expect(try Shard(parsing: "0/4") == Shard(index: 0, count: 4))
        #expect(try Shard(parsing: " 3 / 4 ") == Shard(index: 3, count: 4))
        for bad in ["4/4", "-1/4", "1/0", "a/b", "1/2/3", "3", ""] {
            #expect(throws: EvaluationLogError.self) { try Shard(parsing: bad) }
        }
        for total in 0...13 {
            for n in 1...5 {
                let blocks = try (0..<n).map { try Shard(index: $0, count: n).range(total: total) }
                #expect(blocks.flatMap { Array($0) } == Array(0..<total))
                let sizes = blocks.map(\.count)
                #expect((sizes.max() ?? 0) - (sizes.min() ?? 0) <= 1)
            }
        }
        // --limit keeps the first M of the shard's block.
        let shard = try Shard(index: 1, count: 3)
        #expect(selectSamples(total: 12, shard: shard, limit: 2) == 4..<6)
        #expect(selectSamples(total: 12, shard: shard, limit: 10) == 4..<8)
        #expect(selectSamples(total: 12, shard: nil, limit: 5) == 0..<5)
        #expect(selectSamples(total: 12, shard: nil, limit: 0) == 0..<0)
    }
}
