// Writes that fail part-way for lack of space, for real and without tmpfs: the built tool runs as a child of
// `/bin/sh -c 'trap "" XFSZ; ulimit -f N; exec …'`, so every file it writes is limited to N blocks of 512 bytes
// and a write past that fails with EFBIG ("File too large"), as ENOSPC fails it on a full disk. Each command must
// name the file and the reason, exit non-zero and leave no half-written or temporary file.
import Foundation
import Testing

@Suite struct DiskFullTests {
    /// segment's overlay (4.5 KB) does not fit in 2 KB: the error names --out's overlay.mp4, not the temporary
    /// folder, and the previous output stays as it was, with nothing left beside it.
    @Test func segmentThatRunsOutOfSpaceLeavesThePreviousOutput() throws {
        let folder = try TemporaryFolder()
        let root = try makeSyntheticSet(in: folder)
        let clip = root + "/Release/clips320H/syn00000.mp4"
        let out = folder.path("out")
        try runToolSucceeding(["segment", clip, "the red square", "--frames", "1", "--out", out, "--quiet"],
                              in: folder)
        let before = try Data(contentsOf: URL(fileURLWithPath: out + "/masks.json"))

        let run = try runToolLimited(["segment", clip, "the red square", "--out", out, "--quiet"], blocks: 4,
                                     in: folder)
        #expect(run.status == 1, "\(run)")
        #expect(run.stderr.contains(out + "/overlay.mp4") && run.stderr.contains("File too large"), "\(run)")
        #expect(!run.stderr.contains(".partial-"), "the message names a temporary file: \(run)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: out + "/masks.json")) == before)
        #expect(listing(out + "/masks/0") == ["00001.png"])
        #expect(leftovers(in: folder.path(".")).isEmpty, "\(listing(folder.path(".")))")
    }

    /// A still image's overlay.png does not fit in 512 bytes: the POSIX reason, not "NSCocoaErrorDomain error 512".
    @Test func segmentOfAStillImageThatRunsOutOfSpaceSaysWhy() throws {
        let folder = try TemporaryFolder()
        let root = try makeSyntheticSet(in: folder)
        let out = folder.path("still")
        let run = try runToolLimited(["segment", root + "/referit/images/1.jpg", "the red square", "--out", out,
                                      "--quiet"], blocks: 1, in: folder)
        #expect(run.status == 1, "\(run)")
        #expect(run.stderr.contains(out + "/overlay.png: writing failed: File too large"), "\(run)")
        #expect(run.stderr.contains("free disk space") && !run.stderr.contains("NSCocoaErrorDomain"), "\(run)")
        #expect(!FileManager.default.fileExists(atPath: out))
        #expect(leftovers(in: folder.path(".")).isEmpty, "\(listing(folder.path(".")))")
    }

    /// evaluate's log stops growing at 1 KB: it keeps whole lines only, says so, and a run with space continues it.
    @Test func evaluateThatRunsOutOfSpaceKeepsWholeLinesAndResumes() throws {
        let folder = try TemporaryFolder()
        let root = try makeSyntheticSet(in: folder)
        let log = folder.path("a2d.jsonl")
        let arguments = ["evaluate", "--dataset", "a2d", "--root", root, "--split", "test", "--limit", "4",
                         "--out", log, "--quiet"]
        let run = try runToolLimited(arguments, blocks: 2, in: folder)
        #expect(run.status != 0, "\(run)")
        #expect(run.stderr.contains(log) && run.stderr.contains("File too large"), "\(run)")
        let bytes = try Data(contentsOf: URL(fileURLWithPath: log))
        #expect(bytes.count <= 1024 && bytes.last == UInt8(ascii: "\n"), "a torn last line is left")
        let kept = try logLines(log)
        #expect(!kept.isEmpty && kept.count < 4, "\(kept)")
        for line in kept { #expect((try? JSONSerialization.jsonObject(with: Data(line.utf8))) != nil, "\(line)") }
        #expect(leftovers(in: folder.path(".")).isEmpty, "\(listing(folder.path(".")))")

        try runToolSucceeding(arguments, in: folder)
        let after = try logLines(log)
        #expect(after.count == 4 && Array(after.prefix(kept.count)) == kept, "\(after)")
    }

    /// A 400 KB checkpoint does not fit in 100 KB: train names it with the reason and leaves no temporary file.
    @Test func trainThatRunsOutOfSpaceLeavesNoPartialCheckpoint() throws {
        let folder = try TemporaryFolder()
        let root = try makeSyntheticSet(in: folder)
        let config = folder.path("tiny.json")
        try tinyConfigJSON.write(toFile: config, atomically: true, encoding: .utf8)
        let out = folder.path("run")
        let run = try runToolLimited(["train", "--root", root, "--config", config, "--out", out, "--steps", "2",
                                      "--checkpoint-every", "0", "--seed", "3"], blocks: 200, in: folder)
        #expect(run.status == 1, "\(run)")
        #expect(run.stderr.contains(out + "/model") && run.stderr.contains(".safetensors: writing failed: File too large"),
                "\(run)")
        #expect(!run.stderr.contains("NSCocoaErrorDomain"), "\(run)")
        // No checkpoint and no temporary; the step log holds whole lines only.
        #expect(listing(out) == ["config.json", "train.jsonl", "vocabulary.txt"])
        let log = try String(contentsOfFile: out + "/train.jsonl", encoding: .utf8)
        #expect(log.isEmpty || log.hasSuffix("\n"), "train.jsonl ends in a torn line: \(log)")
    }
}

/// Runs `cmpc-video arguments…` in `folder` with every file it writes limited to `blocks` × 512 bytes
/// (RLIMIT_FSIZE; SIGXFSZ ignored, so a write past the limit fails with EFBIG instead of killing the process).
func runToolLimited(_ arguments: [String], blocks: Int, in folder: TemporaryFolder) throws -> ToolRun {
    try runProcess("/bin/sh", ["-c", "trap '' XFSZ; ulimit -f \(blocks) && exec \"$0\" \"$@\"", toolURL.path] + arguments,
                   shownAs: arguments, in: folder)
}

/// The temporary files and folders (AtomicFile's `.NAME.partial-…`) and locks in `path`.
func leftovers(in path: String) -> [String] {
    listing(path).filter { $0.contains(".partial-") || $0.hasSuffix(".lock") }
}
