// The tool's answers to wrong command lines: usage errors exit 64 naming the option or value (and, for a closed
// set, listing the choices); a missing file is named in the error and the exit status is non-zero.
import Foundation
import Testing
import Video

@Suite struct ArgumentErrorTests {
    /// A command line with one bad value of a closed set, the value, and the choices the error must list.
    struct BadChoice: CustomTestStringConvertible, Sendable {
        var arguments: [String]
        var value: String
        var choices: [String]
        var testDescription: String { arguments.prefix(2).joined(separator: " ") + " … " + value }
    }

    static let badChoices: [BadChoice] = [
        BadChoice(arguments: ["train", "--root", "r", "--out", "o", "--finetune", "res4-5"], value: "res4-5",
                  choices: ["none", "res3-5", "all"]),
        BadChoice(arguments: ["train", "--root", "r", "--out", "o", "--ablation", "single-frame"], value: "single-frame",
                  choices: ["single_frame", "no_sentence"]),
        BadChoice(arguments: ["train", "--root", "r", "--out", "o", "--dataset", "jhmdb"], value: "jhmdb",
                  choices: ["a2d"]),
        BadChoice(arguments: ["evaluate", "--dataset", "refcoco-", "--root", "r", "--split", "val"], value: "refcoco-",
                  choices: ["a2d", "jhmdb", "unc", "unc+", "gref", "gref-umd", "referit"]),
        BadChoice(arguments: ["datasets", "check", "--dataset", "coco", "--root", "r"], value: "coco",
                  choices: ["a2d", "jhmdb", "unc", "unc+", "gref", "gref-umd", "referit"]),
        BadChoice(arguments: ["forward", "--checkpoint", "c", "--inputs", "i.npz", "--outputs", "o.npz", "--finetune", "most"],
                  value: "most", choices: ["none", "res3-5", "all"]),
        BadChoice(arguments: ["segment", "clip.mp4", "the red square", "--resize", "blur"], value: "blur",
                  choices: ["original", "antialias"]),
        BadChoice(arguments: ["evaluate", "--dataset", "a2d", "--root", "r", "--split", "test", "--resize", "area"],
                  value: "area", choices: ["original", "antialias"]),
        BadChoice(arguments: ["train", "--root", "r", "--out", "o", "--resize", "gaussian"], value: "gaussian",
                  choices: ["original", "antialias"]),
        BadChoice(arguments: ["bench", "video-model", "--only", "whole-30s"], value: "whole-30s",
                  choices: ["clip", "whole-10s", "whole-60s"]),
        BadChoice(arguments: ["segment", "clip.mp4", "the red square", "--precision", "fp16"], value: "fp16",
                  choices: ["fp32", "bf16", "auto"]),
    ]

    @Test(arguments: badChoices)
    func aValueOutsideAClosedSetIsAUsageErrorListingTheChoices(_ bad: BadChoice) throws {
        let folder = try TemporaryFolder()
        let run = try runTool(bad.arguments, in: folder)
        #expect(run.status == 64, "\(run)")
        #expect(run.stderr.contains("'\(bad.value)'"), "\(run)")
        for choice in bad.choices {
            #expect(run.stderr.contains(choice), "the error does not list \(choice): \(run)")
        }
        #expect(run.stdout.isEmpty, "\(run)")
    }

    @Test func helpListsTheChoicesWithWhatTheyMean() throws {
        let folder = try TemporaryFolder()
        let train = try runToolSucceeding(["train", "--help"], in: folder)
        for text in ["res3-5", "training from scratch", "single_frame", "no_sentence", "default: none"] {
            #expect(train.stdout.contains(text), "train --help lacks \(text):\n\(train.stdout)")
        }
        let evaluate = try runToolSucceeding(["evaluate", "--help"], in: folder)
        for text in ["gref-umd", "RefCOCO+ (UNC splits)", "a2d-sentences", "refcocog-umd"] {
            #expect(evaluate.stdout.contains(text), "evaluate --help lacks \(text):\n\(evaluate.stdout)")
        }
    }

    @Test func anUnknownOptionIsAUsageError() throws {
        let folder = try TemporaryFolder()
        let run = try runTool(["segment", "clip.mp4", "the red square", "--treshold", "0.4"], in: folder)
        #expect(run.status == 64, "\(run)")
        #expect(run.stderr.contains("--treshold"), "\(run)")
        let subcommand = try runTool(["segmnet", "clip.mp4"], in: folder)
        #expect(subcommand.status == 64, "\(subcommand)")
        #expect(subcommand.stderr.contains("segmnet"), "\(subcommand)")
    }

    @Test func missingRequiredOptionsAreNamed() throws {
        let folder = try TemporaryFolder()
        let train = try runTool(["train", "--out", folder.path("run")], in: folder)
        #expect(train.status == 64, "\(train)")
        #expect(train.stderr.contains("--root"), "\(train)")
        let evaluate = try runTool(["evaluate", "--root", folder.path("r")], in: folder)
        #expect(evaluate.status == 64, "\(evaluate)")
        #expect(evaluate.stderr.contains("--dataset") && evaluate.stderr.contains("--split"), "\(evaluate)")
        #expect(!evaluate.stderr.contains("--root,"), "--root was given: \(evaluate)")
        let synth = try runTool(["synth", "--out", folder.path("s")], in: folder)
        #expect(synth.status == 64, "\(synth)")
        #expect(synth.stderr.contains("--videos"), "\(synth)")
        #expect(listing(folder.path("s")).isEmpty, "synth wrote files despite the usage error")
    }

    @Test func badNumbersAreUsageErrors() throws {
        let folder = try TemporaryFolder()
        let steps = try runTool(["train", "--root", "r", "--out", "o", "--steps", "0"], in: folder)
        #expect(steps.status == 64, "\(steps)")
        #expect(steps.stderr.contains("--steps"), "\(steps)")
        let threshold = try runTool(["segment", "clip.mp4", "the red square", "--threshold", "1.5"], in: folder)
        #expect(threshold.status == 64, "\(threshold)")
        #expect(threshold.stderr.contains("--threshold") && threshold.stderr.contains("1.5"), "\(threshold)")
        let shard = try runTool(["evaluate", "--dataset", "a2d", "--root", "r", "--split", "test", "--shard", "3/2"],
                                in: folder)
        #expect(shard.status == 64, "\(shard)")
        #expect(shard.stderr.contains("3/2"), "\(shard)")
        for command in [["segment", "clip.mp4", "the red square"], ["train", "--root", "r", "--out", "o"],
                        ["bench", "gemm"]] {
            let threads = try runTool(command + ["--threads", "0"], in: folder)
            #expect(threads.status == 64, "\(threads)")
            #expect(threads.stderr.contains("--threads"), "\(threads)")
        }
    }

    @Test func aMissingInputFileIsNamed() throws {
        let folder = try TemporaryFolder()
        let clip = folder.path("no-such-clip.mp4")
        let segment = try runTool(["segment", clip, "the red square", "--out", folder.path("out"), "--quiet"], in: folder)
        #expect(segment.status != 0, "\(segment)")
        #expect(segment.stderr.contains(clip), "\(segment)")

        let checkpoint = folder.path("no-such-model.safetensors")
        let still = folder.path("still.png")   // a real input: the input is checked before the checkpoint
        try ImageIO.writePNG(RGBImage(width: 32, height: 24, fill: (200, 30, 30)), to: still)
        let model = try runTool(["segment", still, "the red square", "--checkpoint", checkpoint,
                                 "--vocab", projectRoot.appendingPathComponent("data/default/vocabulary.txt").path],
                                in: folder)
        #expect(model.status != 0, "\(model)")
        #expect(model.stderr.contains(checkpoint), "\(model)")

        let root = folder.path("no-such-dataset")
        let train = try runTool(["train", "--root", root, "--out", folder.path("run"), "--steps", "1"], in: folder)
        #expect(train.status != 0, "\(train)")
        #expect(train.stderr.contains(root), "\(train)")

        let cues = folder.path("no-such-cues.json")
        let evaluate = try runTool(["evaluate", "--dataset", "a2d", "--root", root, "--split", "test", "--cues", cues],
                                   in: folder)
        #expect(evaluate.status != 0, "\(evaluate)")
        #expect(evaluate.stderr.contains(cues), "\(evaluate)")
    }

    @Test func imagesFolderIsOnlyForTheRefCOCOFamily() throws {
        let folder = try TemporaryFolder()
        let run = try runTool(["datasets", "check", "--dataset", "a2d", "--root", folder.path("r"),
                               "--images", folder.path("coco")], in: folder)
        #expect(run.status != 0, "\(run)")
        #expect(run.stderr.contains(folder.path("coco")) && run.stderr.contains("RefCOCO"), "\(run)")
    }
}
