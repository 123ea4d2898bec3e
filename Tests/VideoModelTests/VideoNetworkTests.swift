import Foundation
import Testing
@testable import ImageModel
@testable import Tensor
@testable import VideoModel
import Video

func tinyVideoConfig(numSteps: Int = 6) -> ModelConfig {
    var c = ModelConfig()
    c.model = .video
    c.H = 32
    c.W = 32
    c.vEmbDim = 8
    c.rnnSize = 8
    c.mlpDim = 4
    c.parseDim = 4
    c.numSteps = numSteps
    c.vocabSize = 20
    c.gloveDim = 3
    c.widthDivisor = 32
    c.depth = [1, 1, 1, 1]
    return c
}

/// A deterministic little "video": frame i is a gradient shifted by i.
func syntheticFrame(_ i: Int, width: Int = 40, height: Int = 30) -> RGBImage {
    var px = [UInt8](repeating: 0, count: width * height * 3)
    for y in 0..<height {
        for x in 0..<width {
            px[(y * width + x) * 3] = UInt8((x * 6 + i * 17) % 256)
            px[(y * width + x) * 3 + 1] = UInt8((y * 8 + i * 5) % 256)
            px[(y * width + x) * 3 + 2] = UInt8((x * y + i * 31) % 256)
        }
    }
    return try! RGBImage(width: width, height: height, pixels: px)
}

@Suite struct VideoNetworkTests {
    @Test func fullSizeVideoNetworkDeclaresTheOriginalVariables() throws {
        var c = ModelConfig()
        c.model = .video
        c.vocabSize = 20
        let net = try CMPCVideoNetwork(config: c)
        // The variable list of the original video graph (789 names), read off TensorFlow.
        let url = try #require(Bundle.module.url(forResource: "cmpc_video_variables", withExtension: "txt",
                                                 subdirectory: "Fixtures/reference"))
        var theirs: [String: [Int]] = [:]
        for line in try String(contentsOf: url, encoding: .utf8).split(separator: "\n") {
            let parts = line.split(separator: "\t")
            guard parts.count >= 2 else { continue }
            theirs[String(parts[0])] = parts[1].trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
                .split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        }
        let ours = Dictionary(uniqueKeysWithValues: net.specs.map { ($0.name, $0.shape) })
        #expect(ours.count == net.specs.count)
        #expect(Set(ours.keys) == Set(theirs.keys),
                "missing: \(Set(theirs.keys).subtracting(ours.keys).sorted().prefix(5)); extra: \(Set(ours.keys).subtracting(theirs.keys).sorted().prefix(5))")
        for (name, shape) in theirs { #expect(ours[name] == shape, "\(name)") }
        // In the port's fixed order, which safetensors files and the optimizer state follow.
        let orderURL = try #require(Bundle.module.url(forResource: "cmpc_video_parameter_order", withExtension: "txt",
                                                      subdirectory: "Fixtures/reference"))
        let order = try String(contentsOf: orderURL, encoding: .utf8).split(separator: "\n")
            .filter { !$0.hasPrefix("#") }.map(String.init)
        #expect(order.count == 789 && net.specs.map(\.name) == order)
    }

    @Test func wholeVideoSegmentationEqualsOneClipPerFrameAndComputesEachFrameOnce() throws {
        let model = try CMPCModel(config: tinyVideoConfig(), seed: 11)
        let n = 20
        let sentences: [[Int32]] = [[0, 0, 4, 5, 6, 7], [0, 0, 0, 9, 3, 2]]
        let segmenter = try VideoSegmenter(model: model, sentences: sentences)
        var whole: [String: [Float]] = [:]
        var decoded = 0
        try segmenter.run(frameCount: n, targets: Array(1...n), nextFrame: {
            decoded += 1
            return decoded <= n ? syntheticFrame(decoded) : nil
        }, emit: { r in whole["\(r.sentence)/\(r.frame)"] = r.probabilities })
        #expect(decoded == n)
        #expect(segmenter.backbonePasses == n)
        #expect(segmenter.frameSentencePasses == n * sentences.count)
        #expect(segmenter.peakCachedFrames <= 16)

        // The same frames one clip at a time, from scratch.
        for t in [1, 2, 9, 14, 20] {
            let frames = try ClipWindow(frameCount: n).sampledFrames(around: t)
            let clip = try concat(frames.map { i in
                let f = syntheticFrame(i)
                return try Preprocess.prepare(rgb: f.pixels, width: f.width, height: f.height, H: 32, W: 32)
                    .tensor.reshaped(to: [1, 32, 32, 3])
            }, axis: 0)
            for (si, words) in sentences.enumerated() {
                let out = try model.forward(input: clip, words: words)
                let reference = try out.sigm().scalars
                let got = try #require(whole["\(si)/\(t)"])
                let diff = zip(reference, got).map { abs($0 - $1) }.max()!
                #expect(diff < 1e-5, "sentence \(si) frame \(t): max difference \(diff)")
            }
        }
    }

    @Test func aSubsetOfFramesReadsOnlyWhatItNeeds() throws {
        let model = try CMPCModel(config: tinyVideoConfig(), seed: 12)
        let segmenter = try VideoSegmenter(model: model, sentences: [[0, 0, 4, 5, 6, 7]])
        var results: [Int] = []
        var decoded = 0
        try segmenter.run(frameCount: 40, targets: [5, 30], nextFrame: { decoded += 1; return syntheticFrame(decoded) },
                          emit: { results.append($0.frame) })
        #expect(results == [5, 30])
        let sampler = try ClipWindow(frameCount: 40)
        let needed = Set(try sampler.sampledFrames(around: 5) + sampler.sampledFrames(around: 30))
        #expect(segmenter.backbonePasses == needed.count)
        #expect(decoded == needed.max()!)
    }

    @Test func anImageGivenToTheVideoNetworkIsItsOwnClip() throws {
        let model = try CMPCModel(config: tinyVideoConfig(), seed: 13)
        var rng = SplitMix64(seed: 1)
        let image = Tensor.uniform(shape: [32, 32, 3], lo: -50, hi: 50, using: &rng)
        let a = try model.forward(input: image, words: [0, 0, 4, 5, 6, 7])
        let b = try model.forward(input: image.reshaped(to: [1, 32, 32, 3]).tiled([16, 1, 1, 1]), words: [0, 0, 4, 5, 6, 7])
        #expect(a.up.scalars == b.up.scalars)
    }
}
