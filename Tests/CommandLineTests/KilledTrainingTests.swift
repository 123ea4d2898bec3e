// Training SIGKILLed while it writes a checkpoint, for real: `train --resume` runs as a child that writes a
// checkpoint at every step, and is killed the moment one of its `.model….partial-PID-….safetensors` temporaries
// appears (that of the numbered checkpoint or of model.safetensors, plus a short random delay, so the kill lands at different points of the write), several times. The
// next `--resume` removes what the killed runs left, and continues from the last complete checkpoint.
import Foundation
import Testing

@Suite struct KilledTrainingTests {
    @Test func trainingKilledWhileWritingACheckpointResumesAndLeavesNoTemporary() throws {
        let folder = try TemporaryFolder()
        let root = try makeSyntheticSet(in: folder)
        let config = folder.path("tiny.json")
        try tinyConfigJSON.write(toFile: config, atomically: true, encoding: .utf8)
        let out = folder.path("run")
        try runToolSucceeding(["train", "--root", root, "--config", config, "--out", out, "--steps", "1",
                               "--seed", "3"], in: folder)

        var caught = 0     // kills that left a temporary checkpoint behind
        var lastLeft = false
        for attempt in 0..<6 {
            let child = Process()
            child.executableURL = toolURL
            child.arguments = ["train", "--root", root, "--out", out, "--resume", "--steps", "100000",
                               "--checkpoint-every", "1"]
            child.currentDirectoryURL = folder.url
            child.standardOutput = FileHandle.nullDevice
            child.standardError = FileHandle.nullDevice
            try child.run()
            let mine = ".partial-\(child.processIdentifier)-"
            // Even attempts stop in the write of the numbered checkpoint, odd ones in that of model.safetensors.
            let target = attempt % 2 == 0 ? ".model-" : ".model.partial-"
            let deadline = Date().addingTimeInterval(60)
            while child.isRunning, Date() < deadline,
                  !listing(out).contains(where: { $0.hasPrefix(target) && $0.contains(mine) }) {
                usleep(100)
            }
            usleep(UInt32.random(in: 0...(attempt == 0 ? 0 : 3000)))
            kill(child.processIdentifier, SIGKILL)
            child.waitUntilExit()
            #expect(child.terminationReason == .uncaughtSignal, "the run ended before it was killed")
            // Each run removed what the runs killed before it left; only this one's temporaries may be there.
            let left = leftovers(in: out)
            #expect(left.allSatisfy { $0.contains(mine) }, "\(left)")
            lastLeft = !left.isEmpty
            if lastLeft { caught += 1 }
        }
        #expect(caught > 0, "no kill landed during a checkpoint write: \(listing(out))")
        let latest = try Data(contentsOf: URL(fileURLWithPath: out + "/model.safetensors"))

        let resumed = try runToolSucceeding(["train", "--root", root, "--out", out, "--resume", "--steps", "100000",
                                             "--stop-after", "1", "--checkpoint-every", "0"], in: folder)
        #expect(leftovers(in: out).isEmpty, "\(listing(out))")
        #expect(!lastLeft || resumed.stderr.contains("a temporary file left by an interrupted run"), "\(resumed)")
        let line = try #require(resumed.stdout.split(separator: "\n").first { $0.hasPrefix("resumed ") },
                                "\(resumed)")
        let step = try #require(Int(line.split(separator: " ").last ?? ""), "\(line)")
        #expect(step >= 1, "\(line)")
        #expect(resumed.stdout.contains("step \(step + 1)/"), "the resumed run did not continue: \(resumed)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: out + "/model.safetensors")) != latest)
    }
}
