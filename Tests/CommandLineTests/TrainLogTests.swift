// train's OUT/train.jsonl and OUT/curves.svg from the tool: a line per step and one for --eval-split, the curves
// written (with --eval-every), and a resume after a kill that logged steps past its checkpoint keeping each step once.
import Foundation
import Testing

@Suite struct TrainLogTests {
    @Test func trainWritesItsLogAndCurvesAndAResumeKeepsEachStepOnce() throws {
        let folder = try TemporaryFolder()
        let root = try makeSyntheticSet(in: folder)
        let config = folder.path("tiny.json")
        try tinyConfigJSON.write(toFile: config, atomically: true, encoding: .utf8)
        let run = folder.path("run")
        try runToolSucceeding(["train", "--root", root, "--config", config, "--out", run, "--steps", "4",
                               "--stop-after", "2", "--checkpoint-every", "2", "--eval-split", "test", "--eval-every", "1"],
                              in: folder)
        let lines = try String(contentsOfFile: run + "/train.jsonl", encoding: .utf8).split(separator: "\n")
        let records = try lines.map { try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        // Step 1, its evaluation (--eval-every 1), step 2, the evaluation at the end.
        #expect(records.map { $0["step"] as? Int } == [1, 1, 2, 2], "\(lines)")
        #expect(records.map { $0["eval"] != nil } == [false, true, false, true], "\(lines)")
        for key in ["loss", "losses", "lr", "accuracy", "seconds"] { #expect(records[0][key] != nil, "no \(key): \(lines[0])") }
        let eval = try #require(records[3]["eval"] as? [String: Any], "\(lines)")
        #expect(eval["split"] as? String == "test" && eval["overall_iou"] as? Double != nil, "\(eval)")
        let svg = try String(contentsOfFile: run + "/curves.svg", encoding: .utf8)
        #expect(svg.hasPrefix("<svg") && svg.contains(">test overall IoU<"), "\(svg.prefix(300))")
        #expect(svg.components(separatedBy: "<circle").count - 1 == 4, "two evaluations, two IoUs each")

        // A run killed after logging step 3 (and half of step 4) but before its next checkpoint.
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: run + "/train.jsonl"))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data((String(lines[0]).replacingOccurrences(of: "\"step\":1", with: "\"step\":3")
                                           + "\n{\"step\":4,\"lo").utf8))
        try handle.close()
        try runToolSucceeding(["train", "--root", root, "--out", run, "--steps", "4", "--resume"], in: folder)
        let after = try String(contentsOfFile: run + "/train.jsonl", encoding: .utf8)
        #expect(after.hasSuffix("\n"))
        let steps = try after.split(separator: "\n").map {
            try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])["step"] as? Int
        }
        #expect(steps == [1, 1, 2, 2, 3, 4], "\(after)")
        #expect(Array(after.split(separator: "\n").prefix(4)) == Array(lines), "the checkpointed steps' lines changed")
    }

    @Test func evalEveryNeedsTheSplitToEvaluate() throws {
        let folder = try TemporaryFolder()
        let run = try runTool(["train", "--root", folder.path("r"), "--out", folder.path("o"), "--eval-every", "5"],
                              in: folder)
        #expect(run.status == 64 && run.stderr.contains("--eval-every needs --eval-split"), "\(run)")
    }
}
