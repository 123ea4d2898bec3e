// The provenance record of evaluation logs: written as a new log's first line, a resume by another run refused with
// what differs, a log without one refused, `restart` emptying the log, and shard merges checking and keeping it.
import Foundation
import Testing
@testable import Evaluation

func provenance(checkpointSHA: String = "aa11bb22cc33dd44", numSteps: Int = 20, crf: Bool = false,
                checkpoint: String = "run/model.safetensors") -> Provenance {
    Provenance(checkpoint: checkpoint, checkpointSHA256: checkpointSHA,
               config: .object([("H", .int(320)), ("num_steps", .int(numSteps))]), vocabularySHA256: "ee55ff66",
               precision: "fp32", threshold: 0.5, crf: crf, resize: "original", dataset: "a2d", split: "test")
}

@Suite struct ProvenanceTests {
    func runner(_ url: URL, _ provenance: Provenance?, restart: Bool = false) -> EvaluationRunner {
        var r = EvaluationRunner(log: url)
        r.provenance = provenance
        r.restart = restart
        return r
    }

    @Test func aNewLogStartsWithTheProvenanceAndResumesUnderTheSameOne() throws {
        let dir = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let log = dir.appendingPathComponent("log.jsonl")
        _ = try runner(log, provenance()).run(fakeItems(0..<4), predictor: FakePredictor())
        let text = try String(contentsOf: log, encoding: .utf8)
        #expect(text.hasPrefix(#"{"provenance": {"checkpoint": "run/model.safetensors", "checkpoint_sha256": "aa11"#), "\(text)")
        let contents = try readLog(log)
        #expect(contents.provenance == provenance())
        #expect(contents.records.count == 4 && contents.records.first?.line == 2)
        // The same run (the checkpoint copied elsewhere: only its bytes count) resumes without a second record.
        let again = try runner(log, provenance(checkpoint: "elsewhere/copy.safetensors")).run(fakeItems(0..<6),
                                                                                              predictor: FakePredictor())
        #expect(again.resumed == 4 && again.processed == 2)
        #expect(try String(contentsOf: log, encoding: .utf8).components(separatedBy: "provenance").count == 2)
        #expect(try readLog(log).records.count == 6)
    }

    @Test func aResumeByAnotherRunIsRefusedNamingWhatDiffers() throws {
        let dir = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let log = dir.appendingPathComponent("log.jsonl")
        _ = try runner(log, provenance()).run(fakeItems(0..<3), predictor: FakePredictor())
        let before = try Data(contentsOf: log)
        let other = provenance(checkpointSHA: "0123456789abcdef0123", numSteps: 10, crf: true, checkpoint: "b.safetensors")
        let predictor = FakePredictor(crf: true)
        do {
            _ = try runner(log, other).run(fakeItems(0..<3), predictor: predictor)
            Issue.record("a log of another checkpoint was resumed")
        } catch let error as EvaluationLogError {
            guard case .provenanceMismatch(let file, let differences) = error else {
                Issue.record("unexpected \(error)")
                return
            }
            #expect(file == log.path)
            #expect(differences.count == 3, "\(differences)")
            #expect(differences.contains { $0.hasPrefix("checkpoint (sha256 aa11bb22cc33… in the log, 0123456789ab… now") })
            #expect(differences.contains("config.num_steps (20 in the log, 10 now)"))
            #expect(differences.contains("crf (false in the log, true now)"))
            #expect(error.description.contains("--restart"))
        }
        #expect(predictor.calls.isEmpty)
        #expect(try Data(contentsOf: log) == before, "the refused run changed the log")

        // --restart empties the log and starts it under the new provenance.
        let restarted = try runner(log, other, restart: true).run(fakeItems(0..<3), predictor: FakePredictor(crf: true))
        #expect(restarted.resumed == 0 && restarted.processed == 3)
        #expect(try readLog(log).provenance == other)
        #expect(try readLog(log).records.count == 3)
    }

    @Test func aLogWithResultsButNoProvenanceIsRefused() throws {
        let dir = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let log = dir.appendingPathComponent("old.jsonl")
        _ = try runner(log, nil).run(fakeItems(0..<2), predictor: FakePredictor())   // as an older cmpc-video wrote it
        #expect(throws: EvaluationLogError.provenanceMissing(file: log.path)) {
            _ = try runner(log, provenance()).run(fakeItems(0..<2), predictor: FakePredictor())
        }
        #expect(EvaluationLogError.provenanceMissing(file: log.path).description.contains("--restart"))
        // An empty file, or one holding only an interrupted first line, simply starts with the record.
        try Data("{\"provenan".utf8).write(to: log)
        _ = try runner(log, provenance()).run(fakeItems(0..<2), predictor: FakePredictor())
        #expect(try readLog(log).provenance == provenance())
    }

    @Test func aProvenanceRecordAfterTheFirstLineIsMalformed() throws {
        let dir = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let log = dir.appendingPathComponent("log.jsonl")
        let line = LogRecord(info: fakeInfo(0), outcome: .skipped).jsonLine()
        try Data((line + provenance().jsonLine()).utf8).write(to: log)
        #expect(throws: EvaluationLogError.malformedLine(file: log.path, line: 2,
                                                         reason: "a provenance record is only allowed as the first line")) {
            _ = try readLog(log)
        }
    }

    @Test func mergesKeepTheProvenanceAndRefuseShardsOfAnotherRun() throws {
        let dir = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let shard = { (k: Int, p: Provenance) -> URL in
            let url = dir.appendingPathComponent("shard-\(k)-\(UUID().uuidString).jsonl")
            _ = try self.runner(url, p).run(fakeItems((k * 4)..<(k * 4 + 4)), predictor: FakePredictor())
            return url
        }
        let a = try shard(0, provenance()), b = try shard(1, provenance())
        let merged = try EvaluationLog(files: [a, b])
        #expect(merged.provenance == provenance() && merged.warnings.isEmpty)
        let out = dir.appendingPathComponent("merged.jsonl")
        try merged.write(to: out)
        #expect(try readLog(out).provenance == provenance() && readLog(out).records.count == 8)

        let c = try shard(1, provenance(numSteps: 10))
        #expect(throws: EvaluationLogError.provenanceConflict(first: a.path, second: c.path,
                                                               differences: ["config.num_steps (20 in the log, 10 now)"])) {
            _ = try EvaluationLog(files: [a, c])
        }
        let old = try shard(1, provenance())
        let lines = try String(contentsOf: old, encoding: .utf8).split(separator: "\n").dropFirst()
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: old)
        #expect(try EvaluationLog(files: [a, old]).warnings.contains { $0.contains("no provenance record") })
    }
}
