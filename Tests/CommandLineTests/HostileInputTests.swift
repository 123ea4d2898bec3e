// Hostile and mistaken inputs of issue 15 §2: each must end with a message that names the option, the file and
// the fix, with a non-zero exit (64 for usage errors), and never with exit 0 having done nothing.
import Foundation
import Testing
import Video

@Suite struct HostileInputTests {
    @Test func aSentenceStartingWithADashIsAUsageErrorOrWorksAfterDoubleDashOrInText() throws {
        let folder = try TemporaryFolder()
        let root = try makeSyntheticSet(in: folder)
        let image = root + "/referit/images/1.jpg"
        let sentence = "-the small green star"
        // Read as the short options -t -h -e…, it printed help and exited 0.
        let misread = try runTool(["segment", image, sentence, "--out", folder.path("o0")], in: folder)
        #expect(misread.status == 64, "\(misread)")
        #expect(misread.stderr.contains("\"\(sentence)\"") && misread.stderr.contains("--text")
                && misread.stderr.contains(" -- "), "\(misread)")
        #expect(!misread.stdout.contains("OVERVIEW"), "\(misread)")
        #expect(listing(folder.path("o0")).isEmpty)
        let combined = try runTool(["segment", image, "-th", "--out", folder.path("o0")], in: folder)
        #expect(combined.status == 64, "\(combined)")

        for (name, arguments) in [("o1", ["segment", "--out", folder.path("o1"), "--quiet", image, "--", sentence]),
                                  ("o2", ["segment", image, "--text", sentence, "--out", folder.path("o2"), "--quiet"])] {
            try runToolSucceeding(arguments, in: folder)
            let json = try readJSONObject(folder.path(name) + "/masks.json")
            #expect(json["sentences"] as? [String] == [sentence], "\(json)")
        }
    }

    @Test func aWrongCheckpointIsNamedBeforeTheVocabulary() throws {
        let folder = try TemporaryFolder()
        let clip = folder.path("still.png")   // a real input: the input is checked before the checkpoint
        try ImageIO.writePNG(RGBImage(width: 32, height: 24, fill: (200, 30, 30)), to: clip)
        let missing = folder.path("no-such.safetensors")
        let dir = folder.path("run")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let loop = folder.path("loop.safetensors")
        try FileManager.default.createSymbolicLink(atPath: loop, withDestinationPath: loop)
        for (checkpoint, words) in [(missing, "no such file"), (dir, "is a folder"), (loop, "symbolic link loop")] {
            let run = try runTool(["segment", clip, "the red square", "--checkpoint", checkpoint], in: folder)
            #expect(run.status != 0 && run.status != 64, "\(run)")
            #expect(run.stderr.contains("--checkpoint \(checkpoint)") && run.stderr.contains(words), "\(run)")
            #expect(!run.stderr.contains("--vocab"), "\(run)")
        }
        let input = try runTool(["segment", loop, "the red square"], in: folder)
        #expect(input.status != 0 && input.stderr.contains("\(loop): a symbolic link loop"), "\(input)")
    }

    @Test func aTextsFileThatIsNoTextFileIsNamed() throws {
        let folder = try TemporaryFolder()
        let clip = folder.path("clip.mp4")
        #expect(FileManager.default.createFile(atPath: clip, contents: Data([0])))
        let huge = folder.path("huge.txt")
        #expect(FileManager.default.createFile(atPath: huge, contents: nil))
        let handle = try #require(FileHandle(forWritingAtPath: huge))
        try handle.truncate(atOffset: 17 << 20)                          // sparse: no disk space used
        try handle.close()
        let notUTF8 = folder.path("latin1.txt")
        try Data([0x63, 0x61, 0x66, 0xE9, 0x0A]).write(to: URL(fileURLWithPath: notUTF8))
        for (texts, words) in [("/dev/zero", "is not a regular file"), (folder.path(""), "is a folder"),
                               (huge, "larger than 16 MiB"), (notUTF8, "not UTF-8"),
                               (folder.path("none.txt"), "no such file")] {
            let run = try runTool(["segment", clip, "--texts", texts, "--out", folder.path("out")], in: folder)
            #expect(run.status == 1, "\(run)")
            #expect(run.stderr.contains("--texts \(texts)") && run.stderr.contains(words), "\(run)")
            #expect(!run.stderr.contains("NSCocoaErrorDomain"), "\(run)")
        }
    }

    @Test func aBadOutFolderIsNamedWithTheFix() throws {
        let folder = try TemporaryFolder()
        let clip = folder.path("clip.mp4")
        #expect(FileManager.default.createFile(atPath: clip, contents: Data([0])))
        let empty = try runTool(["segment", clip, "the red square", "--out", ""], in: folder)
        #expect(empty.status == 64 && empty.stderr.contains("--out is empty"), "\(empty)")
        let file = folder.path("a-file")
        #expect(FileManager.default.createFile(atPath: file, contents: Data([1])))
        for out in [file, file + "/sub"] {
            let run = try runTool(["segment", clip, "the red square", "--out", out], in: folder)
            #expect(run.status == 1 && run.stderr.contains("--out \(out)"), "\(run)")
            #expect(run.stderr.contains("give a folder") || run.stderr.contains("choose a folder"), "\(run)")
            #expect(!run.stderr.contains("NSCocoaErrorDomain") && !run.stderr.contains("The operation"), "\(run)")
        }
        // train and synth, whose folders are made by Foundation: the path and the POSIX reason, not error 512.
        for command in [["train", "--root", folder.path("none"), "--out", file + "/run"],
                        ["synth", "--out", file + "/set", "--videos", "1"]] {
            let run = try runTool(command, in: folder)
            #expect(run.status == 1 && run.stderr.contains(file) && run.stderr.contains("Not a directory"), "\(run)")
            #expect(!run.stderr.contains("NSCocoaErrorDomain") && !run.stderr.contains("The operation"), "\(run)")
        }
    }
}

@Suite struct UnreadableGroundTruthTests {
    /// The synthetic set with every frame-5 annotation (.h5) cut in half; returns the root and the files' bytes.
    func setWithUnreadableAnnotations(in folder: TemporaryFolder) throws -> (root: String, originals: [String: Data]) {
        let root = try makeSyntheticSet(in: folder)
        var originals: [String: Data] = [:]
        let enumerator = try #require(FileManager.default.enumerator(atPath: root))
        for case let relative as String in enumerator where relative.hasSuffix("/00005.h5") {
            let path = root + "/" + relative
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            originals[path] = data
            try data.prefix(data.count / 2).write(to: URL(fileURLWithPath: path))
        }
        try #require(originals.count == 2, "expected one frame-5 annotation per video")
        return (root, originals)
    }

    @Test func strictEvaluationStopsOnUnreadableGroundTruth() throws {
        let folder = try TemporaryFolder()
        let (root, originals) = try setWithUnreadableAnnotations(in: folder)
        let run = try runTool(["evaluate", "--dataset", "a2d", "--root", root, "--split", "test", "--strict",
                               "--out", folder.path("log.jsonl"), "--quiet"], in: folder)
        #expect(run.status != 0, "\(run)")
        #expect(originals.keys.contains { run.stderr.contains("sample a2d/") && run.stderr.contains($0) }, "\(run)")
    }

    @Test func droppedGroundTruthIsCountedAsFailedAndRetriedOnceReadable() throws {
        let folder = try TemporaryFolder()
        let (root, originals) = try setWithUnreadableAnnotations(in: folder)
        let log = folder.path("log.jsonl")
        let arguments = ["evaluate", "--dataset", "a2d", "--root", root, "--split", "test", "--out", log, "--quiet"]
        let first = try runTool(arguments, in: folder)
        #expect(first.status == 3, "failures remain: \(first)")
        #expect(first.stdout.contains("failed (not in the metrics"), "\(first)")
        let summary = try readJSONObject(log + ".summary.json")
        let errors = try #require(summary["errors"] as? Int)
        #expect(errors >= 1, "\(summary)")

        for (path, data) in originals { try data.write(to: URL(fileURLWithPath: path)) }
        let second = try runToolSucceeding(arguments, in: folder)
        #expect(!second.stdout.contains("failed"), "\(second)")
        #expect(try readJSONObject(log + ".summary.json")["errors"] as? Int == 0)
    }
}
