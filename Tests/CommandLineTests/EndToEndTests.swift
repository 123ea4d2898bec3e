// Tiny end-to-end runs of the tool on a synthetic set made by `cmpc-video synth` in each test's own temporary
// folder: segment (a clip and a still image, with the shipped model of data/default), evaluate (log, summary,
// resume, cues) and train (a tiny configuration for 2 steps, resumed for a third, then loaded by evaluate and
// segment).
import Foundation
import Testing

@Suite struct EndToEndTests {
    @Test func segmentWritesMasksJSONPNGsAndOverlayForAClip() throws {
        let folder = try TemporaryFolder()
        let root = try makeSyntheticSet(in: folder)
        let clip = root + "/Release/clips320H/syn00000.mp4"
        let out = folder.path("out")
        let sentences = ["the red square", "the big blue circle moving left"]
        try runToolSucceeding(["segment", clip, sentences[0], "--text", sentences[1], "--every", "4", "--out", out,
                               "--quiet"], in: folder)

        let json = try readJSONObject(out + "/masks.json")
        #expect(json["source"] as? String == clip)
        #expect(json["width"] as? Int == 64 && json["height"] as? Int == 48, "\(json)")
        #expect(json["frame_rate"] as? Double == 24)
        #expect(json["sentences"] as? [String] == sentences)
        let masks = try #require(json["masks"] as? [[String: Any]])
        #expect(masks.map { $0["frame"] as? Int } == [1, 1, 5, 5, 9, 9])
        #expect(masks.map { $0["sentence"] as? Int } == [0, 1, 0, 1, 0, 1])
        for mask in masks {
            let rle = try #require(mask["segmentation"] as? [String: Any])
            #expect(rle["size"] as? [Int] == [48, 64], "pycocotools' [height, width]: \(rle)")
            #expect(rle["counts"] is String, "\(rle)")
        }
        for sentence in ["0", "1"] {
            #expect(listing(out + "/masks/" + sentence) == ["00001.png", "00005.png", "00009.png"])
            #expect(try pngSize(out + "/masks/\(sentence)/00005.png") == [64, 48])
        }
        let overlay = try Data(contentsOf: URL(fileURLWithPath: out + "/overlay.mp4"))
        #expect(overlay.count > 1000 && overlay[4..<8] == Data("ftyp".utf8), "overlay.mp4 is no MP4 file")
    }

    /// --out is replaced as a whole: a 1-sentence rerun into a 2-sentence output leaves none of the old masks; a
    /// folder that is no previous output is refused (named, with the fix) unless --overwrite; a locked folder is
    /// refused; what a killed run left beside --out (a dead process's `.out.partial-PID-…` folder) is removed.
    @Test func segmentReplacesItsOutputFolderWhole() throws {
        let folder = try TemporaryFolder()
        let root = try makeSyntheticSet(in: folder)
        let clip = root + "/Release/clips320H/syn00000.mp4"
        let out = folder.path("out")
        try runToolSucceeding(["segment", clip, "the red square", "--text", "the big blue circle", "--frames", "1,5",
                               "--out", out, "--quiet"], in: folder)
        #expect(listing(out + "/masks") == ["0", "1"])

        let exited = Process()
        exited.executableURL = URL(fileURLWithPath: "/bin/true")
        try exited.run()
        exited.waitUntilExit()
        let stale = folder.path(".out.partial-\(exited.processIdentifier)-k3x9")
        try FileManager.default.createDirectory(atPath: stale + "/masks/0", withIntermediateDirectories: true)
        try Data(count: 10).write(to: URL(fileURLWithPath: stale + "/.overlay.partial-1-k3x9.mp4"))
        try runToolSucceeding(["segment", clip, "the red square", "--frames", "9", "--out", out, "--quiet"],
                              in: folder)
        #expect(listing(out) == ["masks", "masks.json", "overlay.mp4"])
        #expect(listing(out + "/masks") == ["0"])
        #expect(listing(out + "/masks/0") == ["00009.png"])
        #expect(!FileManager.default.fileExists(atPath: stale))
        #expect(listing(folder.path(".")).filter { $0.contains(".partial-") || $0.hasSuffix(".lock") }.isEmpty,
                "\(listing(folder.path(".")))")

        // A folder of other files is refused, and left as it was.
        let other = folder.path("photos")
        try FileManager.default.createDirectory(atPath: other, withIntermediateDirectories: true)
        try Data(count: 10).write(to: URL(fileURLWithPath: other + "/holiday.jpg"))
        try Data("{\"photos\": []}".utf8).write(to: URL(fileURLWithPath: other + "/masks.json"))   // not ours
        let refused = try runTool(["segment", clip, "the red square", "--frames", "1", "--out", other, "--quiet"],
                                  in: folder)
        #expect(refused.status != 0 && refused.stderr.contains(other) && refused.stderr.contains("--overwrite"),
                "\(refused)")
        #expect(listing(other) == ["holiday.jpg", "masks.json"])
        try runToolSucceeding(["segment", clip, "the red square", "--frames", "1", "--out", other, "--overwrite",
                               "--quiet"], in: folder)
        #expect(listing(other) == ["masks", "masks.json", "overlay.mp4"])

        // While another run holds the folder's lock, a second run is refused and changes nothing.
        let lock = open(folder.path(".out.lock"), O_RDWR | O_CREAT, 0o644)
        #expect(lock >= 0 && flock(lock, LOCK_EX | LOCK_NB) == 0)
        let locked = try runTool(["segment", clip, "the red square", "--frames", "1", "--out", out, "--quiet"],
                                 in: folder)
        close(lock)
        #expect(locked.status != 0 && locked.stderr.contains("another run is writing"), "\(locked)")
        #expect(listing(out + "/masks/0") == ["00009.png"])
    }

    /// A segment run SIGKILLed mid-way (its temporary folder already holds mask PNGs) leaves the previous output
    /// as it was; the next run into the folder removes what the killed one left.
    @Test func aKilledSegmentRunLeavesThePreviousOutputAndItsLeftoversGo() throws {
        let folder = try TemporaryFolder()
        let root = folder.path("long")
        try runToolSucceeding(["synth", "--out", root, "--videos", "1", "--size", "64x48", "--frames", "200",
                               "--quiet"], in: folder)
        let clip = root + "/Release/clips320H/syn00000.mp4"
        let out = folder.path("out")
        try runToolSucceeding(["segment", clip, "the red square", "--frames", "1", "--out", out, "--quiet"],
                              in: folder)

        let child = Process()
        child.executableURL = toolURL
        child.arguments = ["segment", clip, "the red square", "--out", out, "--quiet"]
        child.currentDirectoryURL = folder.url
        child.standardOutput = FileHandle.nullDevice
        child.standardError = FileHandle.nullDevice
        try child.run()
        // Wait until the run has written masks into its temporary folder (or has ended), then kill it.
        let partial = ".out.partial-\(child.processIdentifier)-"
        var leftover: String?
        while child.isRunning, leftover == nil {
            if let name = listing(folder.path(".")).first(where: { $0.hasPrefix(partial) }),
               !listing(folder.path(name) + "/masks/0").isEmpty {
                leftover = folder.path(name)
            } else {
                usleep(2000)
            }
        }
        kill(child.processIdentifier, SIGKILL)
        child.waitUntilExit()
        let dir = try #require(leftover, "the run ended before it wrote a mask; make the clip longer")
        #expect(child.terminationReason == .uncaughtSignal)
        #expect(FileManager.default.fileExists(atPath: dir))
        #expect(listing(out + "/masks/0") == ["00001.png"], "the previous output is unchanged")

        try runToolSucceeding(["segment", clip, "the red square", "--frames", "2", "--out", out, "--quiet"],
                              in: folder)
        #expect(!FileManager.default.fileExists(atPath: dir))
        #expect(listing(out + "/masks/0") == ["00002.png"])
    }

    /// A clip named .png is judged by its content: segmented as a video (with a warning about the name), not as
    /// one still.
    @Test func segmentReadsAnMP4NamedPNGAsAVideo() throws {
        let folder = try TemporaryFolder()
        let root = try makeSyntheticSet(in: folder)
        let disguised = folder.path("clip.png")
        try FileManager.default.copyItem(atPath: root + "/Release/clips320H/syn00000.mp4", toPath: disguised)
        let out = folder.path("out")
        let run = try runToolSucceeding(["segment", disguised, "the red square", "--frames", "2,3", "--out", out,
                                         "--quiet"], in: folder)
        #expect(run.stderr.contains("holds no still image"), "\(run)")
        #expect(listing(out) == ["masks", "masks.json", "overlay.mp4"])
        #expect(listing(out + "/masks/0") == ["00002.png", "00003.png"])
    }

    @Test func segmentWritesMaskAndOverlayForAStillImage() throws {
        let folder = try TemporaryFolder()
        let root = try makeSyntheticSet(in: folder)
        let image = root + "/referit/images/1.jpg"
        let out = folder.path("out")
        let run = try runToolSucceeding(["segment", image, "the small green star", "--out", out], in: folder)
        #expect(run.stdout.contains("mask.png"), "\(run)")
        #expect(listing(out) == ["mask.png", "masks.json", "overlay.png"])
        #expect(try pngSize(out + "/mask.png") == [64, 48])
        #expect(try pngSize(out + "/overlay.png") == [64, 48])
        let masks = try #require(try readJSONObject(out + "/masks.json")["masks"] as? [[String: Any]])
        #expect(masks.count == 1 && masks.first?["frame"] as? Int == 1)
    }

    @Test func evaluateWritesLogAndSummaryAndResumes() throws {
        let folder = try TemporaryFolder()
        let root = try makeSyntheticSet(in: folder)
        let log = folder.path("a2d.jsonl")
        let arguments = ["evaluate", "--dataset", "A2D-Sentences", "--root", root, "--split", "test", "--limit", "2",
                         "--out", log, "--quiet", "--cues", root + "/cues.json"]
        let first = try runToolSucceeding(arguments, in: folder)
        #expect(first.stdout.contains("summary \(log).summary.json"), "\(first)")
        #expect(first.stdout.contains("mean IoU"), "\(first)")
        let lines = try logLines(log)
        #expect(lines.count == 2, "\(lines)")
        for line in lines {
            let record = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            #expect(record["video"] as? String != nil && record["sentence"] as? String != nil, "\(record)")
        }
        let summary = try readJSONObject(log + ".summary.json")
        #expect(summary["samples"] as? Int == 2, "\(summary)")

        // A rerun finds both samples in the log and adds none; a larger --limit adds only the new one. It also
        // removes the summary a killed run left half-written (its process is gone), and nothing else.
        let exited = Process()
        exited.executableURL = URL(fileURLWithPath: "/bin/true")
        try exited.run()
        exited.waitUntilExit()
        let stale = folder.path(".a2d.jsonl.summary.partial-\(exited.processIdentifier)-k3x9.json")
        let kept = folder.path(".a2d.jsonl.summary.partial-\(getpid())-k3x9.json")
        for path in [stale, kept] { try Data(count: 10).write(to: URL(fileURLWithPath: path)) }
        try runToolSucceeding(arguments, in: folder)
        #expect(try logLines(log) == lines)
        #expect(!FileManager.default.fileExists(atPath: stale), "the killed run's summary temporary is still there")
        #expect(FileManager.default.fileExists(atPath: kept), "a running process's temporary was removed")
        var more = arguments
        more[more.firstIndex(of: "2")!] = "3"
        try runToolSucceeding(more, in: folder)
        let after = try logLines(log)
        #expect(after.count == 3 && Array(after.prefix(2)) == lines, "\(after)")
    }

    @Test func trainWritesACheckpointThatResumesAndThatEvaluateAndSegmentLoad() throws {
        let folder = try TemporaryFolder()
        let root = try makeSyntheticSet(in: folder)
        let config = folder.path("tiny.json")
        try tinyConfigJSON.write(toFile: config, atomically: true, encoding: .utf8)
        let run = folder.path("run")
        let train = try runToolSucceeding(["train", "--root", root, "--config", config, "--out", run, "--steps", "3",
                                           "--stop-after", "2", "--finetune", "res3-5", "--ablation", "no_sentence",
                                           "--checkpoint-every", "0", "--log-every", "1", "--seed", "3"], in: folder)
        #expect(train.stdout.contains("finetune res3-5"), "\(train)")
        #expect(listing(run).contains("model.safetensors") && listing(run).contains("vocabulary.txt"), "\(listing(run))")
        let saved = try readJSONObject(run + "/config.json")
        #expect(saved["ablation"] as? String == "no_sentence" && saved["H"] as? Int == 48, "\(saved)")

        // What a run killed while writing a checkpoint leaves (its process is gone), beside files that are not
        // stale: the temporary file of a running process (this one) and names outside AtomicFile's pattern.
        let exited = Process()
        exited.executableURL = URL(fileURLWithPath: "/bin/true")
        try exited.run()
        exited.waitUntilExit()
        let stale = ".model.partial-\(exited.processIdentifier)-k3x9.safetensors"
        let kept = [".model.partial-\(getpid())-k3x9.safetensors", "model.partial-\(exited.processIdentifier)-k3x9.txt",
                    ".notes.partial-\(exited.processIdentifier).txt"]
        for name in [stale] + kept { try Data(count: 100).write(to: URL(fileURLWithPath: run + "/" + name)) }
        let resumed = try runToolSucceeding(["train", "--root", root, "--out", run, "--steps", "3", "--resume",
                                             "--log-every", "1"], in: folder)
        #expect(!listing(run).contains(stale), "\(listing(run))")
        #expect(Set(kept).isSubset(of: listing(run)), "\(listing(run))")
        #expect(resumed.stderr.contains(stale), "\(resumed)")
        #expect(resumed.stdout.contains("at step 2"), "\(resumed)")
        #expect(resumed.stdout.contains("1 steps in"), "\(resumed)")

        let checkpoint = run + "/model.safetensors"
        let log = folder.path("trained.jsonl")
        try runToolSucceeding(["evaluate", "--dataset", "a2d", "--root", root, "--split", "test", "--limit", "1",
                               "--checkpoint", checkpoint, "--out", log, "--quiet"], in: folder)
        #expect(try logLines(log).count == 1)

        let out = folder.path("out")
        try runToolSucceeding(["segment", root + "/Release/clips320H/syn00001.mp4", "the red square", "--frames", "5",
                               "--checkpoint", checkpoint, "--out", out, "--quiet"], in: folder)
        let masks = try #require(try readJSONObject(out + "/masks.json")["masks"] as? [[String: Any]])
        #expect(masks.map { $0["frame"] as? Int } == [5])
        #expect(listing(out + "/masks/0") == ["00005.png"])
    }

    /// Two training runs in two processes, one on 1 engine thread and one on 2 with the batch's samples side
    /// by side, write the same checkpoint to the byte: the engine's results do not depend on its threads, and
    /// the file holds nothing that varies between processes.
    @Test func trainingGivesTheSameCheckpointBytesOnOneAndTwoThreads() throws {
        let folder = try TemporaryFolder()
        let root = try makeSyntheticSet(in: folder)
        let config = folder.path("tiny.json")
        try tinyConfigJSON.write(toFile: config, atomically: true, encoding: .utf8)
        var checkpoints: [Data] = []
        for threads in ["1", "2"] {
            let run = folder.path("run-\(threads)")
            try runToolSucceeding(["train", "--root", root, "--config", config, "--out", run, "--steps", "2",
                                   "--batch", "2", "--finetune", "all", "--checkpoint-every", "0", "--seed", "5",
                                   "--threads", threads], in: folder)
            checkpoints.append(try Data(contentsOf: URL(fileURLWithPath: run + "/model.safetensors")))
        }
        #expect(checkpoints[0].count > 1000)
        #expect(checkpoints[0] == checkpoints[1], "the checkpoints of --threads 1 and --threads 2 differ")
    }

    @Test func datasetsCheckReadsTheSyntheticSetUnderAnAlias() throws {
        let folder = try TemporaryFolder()
        let root = try makeSyntheticSet(in: folder)
        let run = try runToolSucceeding(["datasets", "check", "--dataset", "a2d-sentences", "--root", root,
                                         "--split", "test", "--json", "--verify-masks"], in: folder)
        let report = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any],
                                  "\(run)")
        #expect(report["videos"] as? Int == 1, "\(report)")
        #expect((report["missing"] as? [Any])?.isEmpty ?? (report["missing"] as? Int == 0), "\(report)")
    }
}

/// The non-empty lines of a JSON-lines log.
/// The sample lines of an evaluation log (the provenance record on the first line left out).
func logLines(_ path: String) throws -> [String] {
    try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map(String.init)
        .filter { !$0.hasPrefix("{\"provenance\"") }
}

/// [width, height] from a PNG file's IHDR chunk; throws when the file is not a PNG.
func pngSize(_ path: String) throws -> [Int] {
    let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    guard bytes.count > 24, bytes[0..<8] == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A],
          bytes[12..<16] == Array("IHDR".utf8)[...] else { throw ToolError("\(path) is not a PNG file") }
    func be32(_ i: Int) -> Int { bytes[i..<(i + 4)].reduce(0) { $0 << 8 | Int($1) } }
    return [be32(16), be32(20)]
}
