// `forward --media`: the real preprocessing and the network on a clip made here, the prepared input and
// the words written beside the outputs and held against Pipeline's own preparation of the same frames.
import Checkpoint
import Foundation
import ImageModel
import Pipeline
import Tensor
import Testing
import Video

@Suite struct ForwardMediaTests {
    @Test func forwardMediaWritesTheClipPipelinePreparesAndTheWords() throws {
        let folder = try TemporaryFolder()
        let root = try makeSyntheticSet(in: folder)
        let config = folder.path("tiny.json")
        try tinyConfigJSON.write(toFile: config, atomically: true, encoding: .utf8)
        let run = folder.path("run")
        try runToolSucceeding(["train", "--root", root, "--config", config, "--out", run, "--steps", "1",
                               "--checkpoint-every", "0", "--seed", "3"], in: folder)
        let clip = root + "/Release/clips320H/syn00001.mp4"
        let text = "the red square above"
        for resize in ResizeMode.allCases {
            let out = folder.path("forward-\(resize.rawValue).npz")
            // With .antialias the configuration is given; with .original it is found beside the checkpoint
            // (its num_steps, 10, not the default 20).
            let config = resize == .antialias ? ["--config", run + "/config.json"] : []
            try runToolSucceeding(["forward", "--media", clip, "--frame", "3", "--text", text, "--resize", resize.rawValue,
                                   "--checkpoint", run + "/model.safetensors", "--outputs", out] + config, in: folder)
            var arrays: [String: TypedArray] = [:]
            for (name, array) in try NumPy.readNPZ(URL(fileURLWithPath: out)) { arrays[name] = array }
            #expect(arrays["up"] != nil && arrays["sigm"] != nil, "\(arrays.keys.sorted())")

            // The 16-frame window around frame 3 of 12: frames 1 (clamped) … 10.
            let got = try #require(arrays["clip"]).tensor()
            #expect(got.shape == [1, 16, 48, 64, 3])
            let reader = try VideoReader(path: clip)
            var frames: [Int: [Float]] = [:]
            for n in 1...10 {
                frames[n] = try Preprocess.prepare(rgb: try reader.frame(at: n).pixels, width: 64, height: 48,
                                                   H: 48, W: 64, resize: resize).tensor.scalars
            }
            let size = 48 * 64 * 3
            for slot in 0..<16 {
                let n = min(12, max(1, 3 - 8 + slot))
                let slice = Array(got.scalars[(slot * size)..<((slot + 1) * size)])
                #expect(slice == frames[n], "\(resize): slot \(slot) is not frame \(n) as Pipeline prepares it")
            }
            let vocabulary = try Vocabulary.load(URL(fileURLWithPath: run + "/vocabulary.txt"))
            #expect(try #require(arrays["words"]).int32s() == (try vocabulary.encode(text, steps: 10).ids))
        }
    }

    @Test func forwardMediaUsageErrors() throws {
        let folder = try TemporaryFolder()
        for arguments in [["forward", "--media", "clip.mp4", "--outputs", "o.npz"],
                          ["forward", "--media", "clip.mp4", "--inputs", "i.npz", "--text", "a", "--outputs", "o.npz"],
                          ["forward", "--media", "clip.mp4", "--text", "a", "--frame", "0", "--outputs", "o.npz"]] {
            let run = try runTool(arguments, in: folder)
            #expect(run.status == 64, "\(run)")
        }
        let missing = try runTool(["forward", "--media", folder.path("none.mp4"), "--text", "a", "--checkpoint", "c.safetensors",
                                   "--vocab", "v.txt", "--outputs", "o.npz"], in: folder)
        #expect(missing.status != 0, "\(missing)")
    }
}
