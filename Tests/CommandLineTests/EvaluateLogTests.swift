// evaluate's log as a user meets it: the provenance record (checked against sha256sum of the real files), a rerun
// with another checkpoint or an old log refused with the --restart hint, --restart, and --out's parent folders made.
import Foundation
import Testing

/// sha256sum's digest of a file (the coreutils tool, not our code).
func sha256sum(_ path: String) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
    process.arguments = [path]
    let pipe = Pipe()
    process.standardOutput = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return String(decoding: data, as: UTF8.self).split(separator: " ").first.map(String.init) ?? ""
}

/// The provenance object on a log's first line.
func provenanceRecord(_ log: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> [String: Any] {
    let first = try #require(try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").first,
                             sourceLocation: sourceLocation)
    let object = try #require(try JSONSerialization.jsonObject(with: Data(first.utf8)) as? [String: Any],
                              sourceLocation: sourceLocation)
    return try #require(object["provenance"] as? [String: Any], "first line: \(first)", sourceLocation: sourceLocation)
}

@Suite struct EvaluateLogTests {
    @Test func theLogSaysWhatProducedItAndAnotherCheckpointCannotResumeIt() throws {
        let folder = try TemporaryFolder()
        let root = try makeSyntheticSet(in: folder)
        let model = projectRoot.appendingPathComponent("data/default").path
        let log = folder.path("results/a2d/test.jsonl")   // --out creates its parent folders
        let base = ["evaluate", "--dataset", "a2d", "--root", root, "--split", "test", "--limit", "1", "--quiet",
                    "--out", log]
        try runToolSucceeding(base, in: folder)
        let record = try provenanceRecord(log)
        #expect(record["checkpoint_sha256"] as? String == (try sha256sum(model + "/model.safetensors")), "\(record)")
        #expect(record["vocabulary_sha256"] as? String == (try sha256sum(model + "/vocabulary.txt")), "\(record)")
        let config = try readJSONObject(model + "/config.json")
        #expect((record["config"] as? [String: Any])?["num_steps"] as? Int == config["num_steps"] as? Int, "\(record)")
        #expect(record["precision"] as? String == "fp32" && record["threshold"] as? Double == 0.5, "\(record)")
        #expect(record["crf"] as? Bool == false && record["resize"] as? String == "original", "\(record)")
        #expect(record["dataset"] as? String == "a2d" && record["split"] as? String == "test", "\(record)")
        #expect(try logLines(log).count == 1)

        // Another checkpoint (a tiny network trained one step): refused.
        let tiny = folder.path("tiny.json")
        try tinyConfigJSON.write(toFile: tiny, atomically: true, encoding: .utf8)
        try runToolSucceeding(["train", "--root", root, "--config", tiny, "--out", folder.path("run"), "--steps", "1",
                               "--checkpoint-every", "0"], in: folder)
        let copy = folder.path("run/model.safetensors")
        let other = base + ["--checkpoint", copy]
        let before = try Data(contentsOf: URL(fileURLWithPath: log))
        let refused = try runTool(other, in: folder)
        #expect(refused.status == 1, "\(refused)")
        #expect(refused.stderr.contains("checkpoint (sha256") && refused.stderr.contains("config.H (")
                && refused.stderr.contains("--restart"), "\(refused)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: log)) == before, "the refused run changed the log")

        // --restart starts the log afresh under the new checkpoint.
        try runToolSucceeding(other + ["--restart"], in: folder)
        #expect(try provenanceRecord(log)["checkpoint_sha256"] as? String == (try sha256sum(copy)))
        #expect(try logLines(log).count == 1)

        // Merging into a new folder makes it too, and the merged log keeps the provenance.
        let merged = folder.path("merged/all/a2d.jsonl")
        try runToolSucceeding(["evaluate", "--merge", log, "--out", merged], in: folder)
        #expect(try provenanceRecord(merged)["checkpoint_sha256"] as? String == (try sha256sum(copy)))

        // A log of an older cmpc-video (no provenance record) is refused with the same hint.
        let lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").dropFirst()
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: log))
        let old = try runTool(other, in: folder)
        #expect(old.status == 1 && old.stderr.contains("no provenance record") && old.stderr.contains("--restart"),
                "\(old)")
    }

    @Test func aCorruptClipFailsItsSamplesAndTheRunExitsThree() throws {
        let folder = try TemporaryFolder()
        let root = try makeSyntheticSet(in: folder)
        let clips = root + "/Release/clips320H"
        // The test clip cut to its first 600 bytes: its frames cannot be decoded.
        for name in listing(clips) where name.hasSuffix(".mp4") {
            let url = URL(fileURLWithPath: clips + "/" + name)
            try Data(contentsOf: url).prefix(600).write(to: url)
        }
        let log = folder.path("log.jsonl")
        let run = try runTool(["evaluate", "--dataset", "a2d", "--root", root, "--split", "test", "--quiet",
                               "--out", log], in: folder)
        #expect(run.status == 3, "\(run)")
        let lines = try logLines(log)
        #expect(!lines.isEmpty && lines.allSatisfy { $0.contains("\"error\": ") }, "\(lines)")
        #expect(run.stdout.contains("\(lines.count) sample\(lines.count == 1 ? "" : "s") failed (not in the metrics"),
                "\(run)")
        #expect(try readJSONObject(log + ".summary.json")["errors"] as? Int == lines.count)
    }
}
