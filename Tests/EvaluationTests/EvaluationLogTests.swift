import Foundation
import Testing
@testable import Evaluation

@Suite struct EvaluationLogTests {
    /// An evaluated record of sample i from the synthetic masks, with or without CRF results.
    func evaluated(_ i: Int, crf: Bool = false, score: Double? = nil) throws -> LogRecord {
        let gt = try groundTruthMask(i).rle()
        let pred = try predictedMask(i).rle()
        let result = try SampleResult(id: fakeInfo(i).id, prediction: pred, groundTruth: gt, score: score)
        var crfResult: CRFResult?
        if crf {
            let mask = try crfMask(i).rle()
            let (ci, cu) = try #require(mask.intersectionAndUnion(with: gt))
            crfResult = CRFResult(intersection: ci, union: cu, prediction: mask)
        }
        return LogRecord(info: fakeInfo(i), outcome: .evaluated(result, crf: crfResult))
    }

    func keys(_ line: String) throws -> Set<String> {
        let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
        return Set(try #require(object).keys)
    }

    @Test func jsonLineKeysOfEachKind() throws {
        let plain = try evaluated(3).jsonLine()
        #expect(plain.hasPrefix("{\"index\": 3, \"id\": \"fake/v1/1/3\", \"video\": \"v1\", \"frame\": 1, ") && plain.hasSuffix("}\n"))
        #expect(plain.filter { $0 == "\n" }.count == 1)
        #expect(try keys(plain) == ["index", "id", "video", "frame", "instance", "sentence", "I", "U", "gt_area",
                                    "rle", "gt_rle"])
        let withCRF = try evaluated(3, crf: true, score: 0.75).jsonLine()
        #expect(try keys(withCRF) == ["index", "id", "video", "frame", "instance", "sentence", "I", "U", "gt_area",
                                      "score", "I_crf", "U_crf", "rle", "gt_rle", "rle_crf"])
        let skipped = LogRecord(info: fakeInfo(4), outcome: .skipped).jsonLine()
        #expect(try keys(skipped) == ["index", "id", "video", "frame", "instance", "sentence", "skipped", "gt_area"])
        let image = SampleInfo(index: 0, id: "unc/testA/0", image: "COCO_train2014_000000000009.jpg",
                               instance: "1234", sentence: "left dog")
        let failed = LogRecord(info: image, outcome: .failed("cannot decode")).jsonLine()
        #expect(try keys(failed) == ["index", "id", "image", "instance", "sentence", "error"])

        // Values: the counts, and the masks as pycocotools writes them.
        let object = try #require(try JSONSerialization.jsonObject(with: Data(withCRF.utf8)) as? [String: Any])
        let record = try evaluated(3, crf: true, score: 0.75)
        guard case .evaluated(let r, let c?) = record.outcome else { Issue.record("not evaluated"); return }
        #expect(object["I"] as? Int == r.intersection && object["U"] as? Int == r.union)
        #expect(object["gt_area"] as? Int == r.groundTruthArea && object["score"] as? Double == 0.75)
        #expect(object["I_crf"] as? Int == c.intersection && object["U_crf"] as? Int == c.union)
        let rle = try #require(object["rle"] as? [String: Any])
        #expect(rle["size"] as? [Int] == [fakeHeight, fakeWidth])
        #expect(rle["counts"] as? String == r.prediction?.compressedString)
        #expect(Set(rle.keys) == ["size", "counts"])
        #expect((object["gt_rle"] as? [String: Any])?["counts"] as? String == r.groundTruth?.compressedString)
        #expect((object["rle_crf"] as? [String: Any])?["counts"] as? String == c.prediction.compressedString)
        #expect((try JSONSerialization.jsonObject(with: Data(skipped.utf8)) as? [String: Any])?["skipped"] as? Bool == true)
    }

    @Test func linesRoundTripWithHardStrings() throws {
        var info = fakeInfo(5)
        info.sentence = "a \"quoted\" back\\slash, tab\there, new\nline, bell \u{7}, del \u{7F}, é, 🐕, </b>"
        info.instance = "inst/\u{0}"
        for record in [try evaluated(5, crf: true, score: 1e-7), LogRecord(info: info, outcome: .skipped),
                       LogRecord(info: info, outcome: .failed("line 1\nline 2 \"x\""))] {
            var r = record
            r.info = info
            let line = r.jsonLine()
            #expect(line.dropLast().contains("\n") == false)
            #expect(try LogRecord(jsonLine: Substring(line.dropLast())) == r)
            // An independent JSON parser reads the same sentence.
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            #expect(object?["sentence"] as? String == info.sentence)
        }
    }

    @Test func badLinesAreErrorsNamingTheLine() throws {
        let good = try evaluated(0).jsonLine()
        let cases: [(String, String)] = [
            ("{\"index\": 1, \"id\": \"x\"", "not JSON"),
            ("{\"index\": 1, \"id\": \"x\", \"instance\": \"1\", \"sentence\": \"s\"}", "no counts"),
            ("{\"index\": 1, \"id\": \"x\", \"instance\": \"1\", \"sentence\": \"s\", \"I\": 5, \"U\": 4, \"gt_area\": 1}",
             "I > U"),
            (good.replacingOccurrences(of: "\"I\": ", with: "\"I\": 1"), "I disagrees with the masks"),
            ("{\"id\": \"x\", \"instance\": \"1\", \"sentence\": \"s\", \"skipped\": true}", "no index"),
            ("{\"index\": 1, \"id\": \"x\", \"instance\": \"1\", \"sentence\": \"s\", \"I\": 1, \"U\": 2, \"gt_area\": 1, "
             + "\"I_crf\": 1}", "CRF counts without the CRF mask"),
        ]
        let dir = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        for (bad, why) in cases {
            let url = dir.appendingPathComponent("bad.jsonl")
            try (good + bad + "\n" + good).write(to: url, atomically: true, encoding: .utf8)
            #expect(throws: EvaluationLogError.self, "\(why)") { try readLog(url) }
            do { _ = try readLog(url) } catch let EvaluationLogError.malformedLine(file, line, _) {
                #expect(file == url.path && line == 2, "\(why)")
            }
        }
    }

    @Test func anUnterminatedLastLineIsReportedAndDroppedByTheWriter() throws {
        let dir = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("results.jsonl")
        let lines = try (0..<3).map { try evaluated($0).jsonLine() }
        let complete = lines[0] + lines[1]
        let partial = String(lines[2].prefix(30))
        try (complete + partial).write(to: url, atomically: true, encoding: .utf8)
        let contents = try readLog(url)
        #expect(contents.records.map(\.line) == [1, 2])
        #expect(contents.records.map(\.record) == [try evaluated(0), try evaluated(1)])
        #expect(contents.completeBytes == complete.utf8.count && contents.incompleteBytes == 30)

        let writer = try LogWriter(url: url)
        try writer.truncate(to: contents.completeBytes)
        try writer.append(try evaluated(2))
        try writer.close()
        #expect(try String(contentsOf: url, encoding: .utf8) == lines.joined())

        // A missing file is an empty log.
        #expect(try readLog(dir.appendingPathComponent("none.jsonl")).records.isEmpty)
    }

    /// ENOSPC part-way through a line (an injected `write` that stores 40 bytes of it, then fails): the line is
    /// cut back out, so the log holds whole lines only and the next append continues cleanly.
    @Test func aLineIsAppendedWholeOrNotAtAll() throws {
        let dir = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("results.jsonl")
        let lines = try (0..<3).map { try evaluated($0).jsonLine() }
        final class Budget: @unchecked Sendable { var bytes = Int.max }
        let budget = Budget()
        let writer = try LogWriter(url: url, writeBytes: { fd, buffer, count in
            guard budget.bytes > 0 else { errno = ENOSPC; return -1 }
            let n = write(fd, buffer, min(count, budget.bytes))
            if n > 0 { budget.bytes -= n }
            return n
        })
        try writer.append(try evaluated(0))
        budget.bytes = 40
        #expect(throws: EvaluationLogError.self) { try writer.append(try evaluated(1)) }
        #expect(try String(contentsOf: url, encoding: .utf8) == lines[0])
        #expect(try readLog(url).incompleteBytes == 0)
        budget.bytes = .max
        try writer.append(try evaluated(2))
        try writer.close()
        #expect(try String(contentsOf: url, encoding: .utf8) == lines[0] + lines[2])
    }

    @Test func aSecondWriterOnTheSameLogIsRefused() throws {
        let dir = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("results.jsonl")
        let first = try LogWriter(url: url)
        #expect(throws: EvaluationLogError.locked(file: url.path)) { try LogWriter(url: url) }
        try first.close()
        let second = try LogWriter(url: url)
        try second.close()
        #expect(throws: EvaluationLogError.self) {
            try LogWriter(url: dir.appendingPathComponent("no-such-folder/results.jsonl"))
        }
    }

    @Test func duplicatesCombineAndConflictsAreErrors() throws {
        var log = EvaluationLog()
        try log.add(try evaluated(1), place: "a:1")
        try log.add(try evaluated(1), place: "b:1")                     // the same result twice: fine
        #expect(log.count == 1)

        var changed = try evaluated(1)
        if case .evaluated(var r, let c) = changed.outcome { r.intersection -= 1; changed.outcome = .evaluated(r, crf: c) }
        #expect(throws: EvaluationLogError.conflict(id: fakeInfo(1).id, first: "a:1", second: "c:7", fields: ["I/U"])) {
            try log.add(changed, place: "c:7")
        }
        #expect(throws: EvaluationLogError.self) { try log.add(LogRecord(info: fakeInfo(1), outcome: .skipped)) }
        // A result supersedes a failure, in either order; of two failures the later stays.
        try log.add(LogRecord(info: fakeInfo(1), outcome: .failed("late failure")))
        #expect(log.record(id: fakeInfo(1).id) == (try evaluated(1)))
        try log.add(LogRecord(info: fakeInfo(2), outcome: .failed("first")))
        try log.add(LogRecord(info: fakeInfo(2), outcome: .failed("second")))
        #expect(log.record(id: fakeInfo(2).id)?.outcome == .failed("second"))
        #expect(log.doneIDs == [fakeInfo(1).id])
        try log.add(try evaluated(2))
        #expect(log.record(id: fakeInfo(2).id) == (try evaluated(2)))
        // Two ids at one index: logs of different splits.
        var other = fakeInfo(2)
        other.id = "elsewhere"
        #expect(throws: EvaluationLogError.indexClash(index: 2, first: fakeInfo(2).id, second: "elsewhere")) {
            try log.add(LogRecord(info: other, outcome: .skipped))
        }
    }

    @Test func summaryJSONHasTheDocumentedKeys() throws {
        var log = EvaluationLog()
        for i in 0..<8 { try log.add(i % 5 == 4 ? LogRecord(info: fakeInfo(i), outcome: .skipped) : try evaluated(i)) }
        try log.add(LogRecord(info: fakeInfo(8), outcome: .failed("no video")))
        let report = log.report()
        #expect(report.summary.samples == 7 && report.summary.skipped == 1 && report.errors == 1)
        let metricKeys: Set<String> = Set(["samples", "skipped", "mAP", "mAP_coco", "overall_iou", "mean_iou"]
                                          + EvaluationSummary.precisionKeys)
        #expect(EvaluationSummary.precisionKeys.first == "P@0.5" && EvaluationSummary.precisionKeys.last == "P@0.95")
        let object = try #require(try JSONSerialization.jsonObject(with: report.jsonData()) as? [String: Any])
        #expect(Set(object.keys) == metricKeys.union(["errors"]))
        #expect(object["samples"] as? Int == 7 && object["skipped"] as? Int == 1 && object["errors"] as? Int == 1)
        // Values through JSONDecoder (Foundation's JSONSerialization rounds some doubles on Linux).
        #expect(try JSONDecoder().decode(EvaluationSummary.self, from: report.jsonData()) == report.summary)

        var crfLog = EvaluationLog()
        for i in 0..<6 { try crfLog.add(i == 4 ? LogRecord(info: fakeInfo(i), outcome: .skipped) : try evaluated(i, crf: true)) }
        let crfReport = crfLog.report()
        let crfObject = try #require(try JSONSerialization.jsonObject(with: crfReport.jsonData()) as? [String: Any])
        #expect(Set(crfObject.keys) == metricKeys.union(["errors", "crf"]))
        let nested = try #require(crfObject["crf"] as? [String: Any])
        #expect(Set(nested.keys) == metricKeys)
        struct Nested: Decodable { var crf: EvaluationSummary; var errors: Int }
        let decoded = try JSONDecoder().decode(Nested.self, from: crfReport.jsonData())
        #expect(decoded.crf == crfReport.crf && decoded.errors == 0)
        #expect(try JSONDecoder().decode(EvaluationSummary.self, from: crfReport.jsonData()) == crfReport.summary)
        #expect(crfReport.crf?.skipped == 1 && crfReport.crf?.samples == 5)

        // Written next to the log, through a temporary file.
        let dir = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let target = summaryURL(forLog: dir.appendingPathComponent("results.jsonl"))
        #expect(target.lastPathComponent == "results.jsonl.summary.json")
        try report.write(to: target)
        #expect(try Data(contentsOf: target) == report.jsonData())
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["results.jsonl.summary.json"])
    }

    @Test func mergedShardsGiveTheSingleRunTable() throws {
        let dir = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let records = try (0..<fakeCount).map { i -> LogRecord in
            i % 5 == 4 ? LogRecord(info: fakeInfo(i), outcome: .skipped)
                : try evaluated(i, score: i % 2 == 0 ? 0.5 : Double(i) / 10)
        }
        let single = dir.appendingPathComponent("single.jsonl")
        try records.map { $0.jsonLine() }.joined().write(to: single, atomically: true, encoding: .utf8)
        // Three shards in scrambled order, one line duplicated across two of them.
        let parts = [[7, 2, 11, 5], [0, 9, 3, 8, 5], [10, 1, 6, 4]]
        let files = try parts.enumerated().map { k, indices -> URL in
            let url = dir.appendingPathComponent("results-\(k).jsonl")
            try indices.map { records[$0].jsonLine() }.joined().write(to: url, atomically: true, encoding: .utf8)
            return url
        }
        let merged = try EvaluationLog(files: files)
        let whole = try EvaluationLog(files: [single])
        #expect(merged.records == records && whole.records == records)
        #expect(merged.warnings.isEmpty)
        // Notes for an unfinished shard: its unterminated last line, and the indices without a line.
        let cut = dir.appendingPathComponent("cut.jsonl")
        try (records[0].jsonLine() + records[2].jsonLine().prefix(20)).write(to: cut, atomically: true, encoding: .utf8)
        let partial = try EvaluationLog(files: [cut, files[0]])
        #expect(partial.warnings.count == 2)
        #expect(partial.warnings.first?.hasPrefix("\(cut.path): ignored an unterminated last line (20 bytes)") == true)
        #expect(partial.warnings.last?.hasPrefix("7 of the indices 0…11 have no line") == true)
        #expect(throws: EvaluationLogError.io(file: dir.appendingPathComponent("none.jsonl").path, reason: "file not found")) {
            try EvaluationLog(files: [dir.appendingPathComponent("none.jsonl")])
        }
        #expect(merged.report() == whole.report())
        #expect(merged.report().table() == whole.report().table())
        #expect(merged.report().summary.mAPCOCO != nil)
        // The merged log written out reads back in index order.
        let out = dir.appendingPathComponent("merged.jsonl")
        try merged.write(to: out)
        #expect(try readLog(out).records.map(\.record) == records)
        #expect(try Data(contentsOf: out) == Data(contentsOf: single))
    }
}
