// The dataset predictor (evaluate), the whole-video segmenter (segment) and the training sample
// reader (train) read the same frames for the same target: the clip window's at the clip's ends and
// in its middle, the target in every slot for single_frame, the target alone for the image network,
// and a still image as a clip of one frame. The expected frame lists are written out by hand.
import Datasets
import Foundation
import Testing
import ImageModel
@testable import Pipeline
import Tensor
import Video
import VideoModel

/// A network kind and the frames each target of a 20-frame video reads with it.
struct ReadCase: CustomTestStringConvertible, Sendable {
    var name: String
    var model: ModelKind
    var ablation: ModelAblation?
    var expected: [Int: [Int]]
    var testDescription: String { name }
}

let readCases: [ReadCase] = [
    ReadCase(name: "video", model: .video, ablation: nil, expected: [
        1: [1, 1, 1, 5, 8], 2: [1, 1, 2, 6, 9], 9: [1, 5, 9, 13, 16], 13: [5, 9, 13, 17, 20],
        19: [11, 15, 19, 20, 20], 20: [12, 16, 20, 20, 20]]),
    ReadCase(name: "video single_frame", model: .video, ablation: .singleFrame, expected: [
        1: [1, 1, 1, 1, 1], 9: [9, 9, 9, 9, 9], 20: [20, 20, 20, 20, 20]]),
    ReadCase(name: "image", model: .image, ablation: nil, expected: [1: [1], 9: [9], 20: [20]]),
]

@Suite struct FramesReadTests {
    static let frameCount = 20

    func config(_ c: ReadCase) -> ModelConfig {
        var config = tinyVideoConfig()
        config.model = c.model
        config.ablation = c.ablation
        return config
    }

    /// The prepared frames, one per slot: [5,H,W,3] for the video network, [H,W,3] for the image network.
    func input(_ frames: [Int]) throws -> Tensor {
        let tensors = try frames.map { i in
            let f = syntheticFrame(i)
            return try Preprocess.prepare(rgb: f.pixels, width: f.width, height: f.height, H: 32, W: 32).tensor
        }
        return tensors.count == 1 ? tensors[0] : try stack(tensors, axis: 0)
    }

    @Test(arguments: readCases)
    func allThreeReadersReadTheSameFrames(_ c: ReadCase) throws {
        let dir = try temporaryFolder("frames")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try writeFrameFolder(dir, frames: Self.frameCount)
        let config = config(c)
        let model = try CMPCModel(config: config, seed: 21)
        // The same weights without the ablation: its network reads every slot it is given, so a wrong
        // frame in any slot changes its output (the single_frame network would look at the target slot only).
        var plain = config
        plain.ablation = nil
        let reference = try CMPCModel(tensors: model.parameters.values.map { ($0.key, $0.value) }, base: plain, source: "memory")
        let words = try testVocabulary.encode("the red square jumping", steps: config.numSteps).ids
        let targets = c.expected.keys.sorted()

        // The whole-video segmenter over the folder, decoded in order.
        let segmenter = try VideoSegmenter(model: model, sentences: [words])
        let reader = try VideoReader(path: dir)
        var segmented: [Int: FrameMask] = [:]
        try segmenter.run(frameCount: reader.info.frameCount, targets: targets, nextFrame: { try reader.nextFrame() },
                          emit: { segmented[$0.frame] = $0 })

        let predictor = ModelPredictor(model: model, vocabulary: testVocabulary, crf: false)
        let preparer = SamplePreparer(config: config, vocabulary: testVocabulary)
        for t in targets {
            let frames = try #require(c.expected[t])
            #expect(try config.framesRead(target: t, frameCount: Self.frameCount).frames == frames, "target \(t)")
            let expected = try reference.forward(input: input(frames), words: words).sigm().scalars
            func check(_ got: [Float], _ who: String, sourceLocation: SourceLocation = #_sourceLocation) {
                let diff = zip(expected, got).map { abs($0 - $1) }.max() ?? .infinity
                #expect(got.count == expected.count && diff < 1e-5, "\(c.name) target \(t): \(who) differs by \(diff)",
                        sourceLocation: sourceLocation)
            }
            // A wrong frame in any one slot shows in the output by more than the tolerance.
            for k in frames.indices {
                var wrong = frames
                wrong[k] = frames[k] % Self.frameCount + 1
                let other = try reference.forward(input: input(wrong), words: words).sigm().scalars
                #expect(zip(expected, other).map { abs($0 - $1) }.max()! > 1e-4, "\(c.name) target \(t): slot \(k) is not seen")
            }

            let source = SampleSource.frames(directory: dir, frame: t, frameCount: Self.frameCount)
            // The training sample reader: the prepared frames themselves.
            let prepared = try preparer.prepare(sample(source))
            #expect(prepared.input.shape == (c.model == .video ? [5, 32, 32, 3] : [32, 32, 3]))
            #expect(prepared.input.scalars == (try input(frames)).scalars, "\(c.name) target \(t): the training input")
            check(try reference.forward(input: prepared.input, words: prepared.words).sigm().scalars, "the training sample")
            // The dataset predictor and the segmenter.
            let predicted = try predictor.outputs(for: sample(source))
            check(try predicted.outputs.sigm().scalars, "the predictor")
            let whole = try #require(segmented[t])
            check(whole.probabilities, "the segmenter")
            // Predictor and segmenter run the same per-frame path: the same bits, the same mask.
            #expect(try predicted.outputs.sigm().scalars == whole.probabilities)
            #expect(try predictor.predict(sample(source), width: 40, height: 30).mask == whole.mask)
        }
    }

    @Test(arguments: readCases)
    func aStillImageIsAClipOfOneFrame(_ c: ReadCase) throws {
        let dir = try temporaryFolder("still")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/still.png"
        try ImageIO.writePNG(syntheticFrame(7), to: path)
        let config = config(c)
        let model = try CMPCModel(config: config, seed: 22)
        let words = try testVocabulary.encode("the blue circle", steps: config.numSteps).ids
        let frames = c.model == .video ? [Int](repeating: 1, count: 5) : [1]
        #expect(try config.framesRead(target: 1, frameCount: 1).frames == frames)
        let image = try input([7])
        let expected = try model.forward(input: image, words: words).sigm().scalars

        let prepared = try SamplePreparer(config: config, vocabulary: testVocabulary)
            .prepare(sample(.image(path: path), sentence: "the blue circle"))
        let stacked = c.model == .video ? try stack(Array(repeating: image, count: 5), axis: 0) : image
        #expect(prepared.input.scalars == stacked.scalars && prepared.input.shape == stacked.shape)
        #expect(try model.forward(input: prepared.input, words: words).sigm().scalars == expected)

        let predicted = try ModelPredictor(model: model, vocabulary: testVocabulary, crf: false)
            .outputs(for: sample(.image(path: path), sentence: "the blue circle"))
        let segmented = try VideoSegmenter(model: model, sentences: [words]).run(image: try ImageIO.read(path: path))
        #expect(segmented.count == 1)
        #expect(try predicted.outputs.sigm().scalars == segmented[0].probabilities)
        let diff = zip(expected, segmented[0].probabilities).map { abs($0 - $1) }.max()!
        #expect(diff < 1e-5, "\(c.name): the still image differs by \(diff)")
    }
}
