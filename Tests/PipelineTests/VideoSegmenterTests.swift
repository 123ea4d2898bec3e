// The whole-video segmenter: the same results as running each clip from scratch, each frame's
// features computed once, only the frames the targets need decoded and kept.
import Foundation
import Testing
import ImageModel
@testable import Pipeline
import Tensor
import Video
import VideoModel

@Suite struct VideoSegmenterTests {
    @Test func wholeVideoSegmentationEqualsOneClipPerFrameAndComputesEachFrameOnce() throws {
        let model = try CMPCModel(config: tinyVideoConfig(), seed: 11)
        let n = 20
        let sentences: [[Int32]] = [[0, 0, 4, 5, 6, 7], [0, 0, 0, 9, 3, 2]]
        let segmenter = try VideoSegmenter(model: model, sentences: sentences)
        var whole: [String: FrameMask] = [:]
        var decoded = 0
        try segmenter.run(frameCount: n, targets: Array(1...n), nextFrame: {
            decoded += 1
            return decoded <= n ? syntheticFrame(decoded) : nil
        }, emit: { r in whole["\(r.sentence)/\(r.frame)"] = r })
        #expect(decoded == n)
        #expect(segmenter.backbonePasses == n)
        #expect(segmenter.frameSentencePasses == n * sentences.count)
        #expect(segmenter.peakCachedFrames <= 16)

        // The same frames one clip at a time, from scratch.
        for t in [1, 2, 9, 14, 20] {
            let frames = try ClipWindow(frameCount: n).sampledFrames(around: t)
            let prepared = try frames.map { i in
                let f = syntheticFrame(i)
                return try Preprocess.prepare(rgb: f.pixels, width: f.width, height: f.height, H: 32, W: 32)
            }
            let clip = try concat(prepared.map { try $0.tensor.reshaped(to: [1, 32, 32, 3]) }, axis: 0)
            for (si, words) in sentences.enumerated() {
                let out = try model.forward(input: clip, words: words)
                let reference = try out.sigm().scalars
                let got = try #require(whole["\(si)/\(t)"])
                let diff = zip(reference, got.probabilities).map { abs($0 - $1) }.max()!
                #expect(diff < 1e-5, "sentence \(si) frame \(t): max difference \(diff)")
                // The mask is the thresholded logits brought back to the frame.
                let mask = try MaskPostprocess(config: model.config)
                    .mask(logits: out.up.scalars, geometry: prepared[ClipWindow.targetSlot].geometry)
                #expect((got.mask.width, got.mask.height) == (40, 30))
                let differing = zip(mask.pixels, got.mask.pixels).filter { $0 != $1 }.count
                #expect(differing <= 2, "sentence \(si) frame \(t): \(differing) mask pixels differ")
            }
        }
    }

    @Test func perFrameSentenceFeaturesStayWithinTheirBudgetWithTheSameResults() throws {
        // Memory flat in the number of sentences: a frame keeps the features of the sentences that fit its
        // budget; the others are recomputed in every window, to the same values.
        let model = try CMPCModel(config: tinyVideoConfig(), seed: 11)
        let n = 12
        let sentences: [[Int32]] = (0..<6).map { [0, 0, Int32(4 + $0), 5, 6, Int32(9 - $0)] }
        func run(budget: Int?) throws -> (results: [String: [Float]], segmenter: VideoSegmenter) {
            let segmenter = try VideoSegmenter(model: model, sentences: sentences)
            if let budget { segmenter.runner.frameSentenceCacheBytes = budget }
            var results: [String: [Float]] = [:]
            var decoded = 0
            try segmenter.run(frameCount: n, targets: Array(1...n), nextFrame: {
                decoded += 1
                return decoded <= n ? syntheticFrame(decoded) : nil
            }, emit: { results["\($0.sentence)/\($0.frame)"] = $0.probabilities })
            return (results, segmenter)
        }
        let all = try run(budget: nil)
        #expect(all.segmenter.frameSentencePasses == n * sentences.count)
        let perSentence = all.segmenter.runner.peakFrameSentenceBytes / sentences.count
        #expect(perSentence > 0 && all.segmenter.runner.peakFrameSentenceBytes == perSentence * sentences.count)

        let two = try run(budget: 2 * perSentence)
        #expect(two.segmenter.runner.peakFrameSentenceBytes == 2 * perSentence)
        // The others: once per distinct frame of each window (a window clamped at the clip's ends reads a
        // frame in several slots, computed once).
        let clip = try ClipWindow(frameCount: n)
        let distinctPerWindow = try (1...n).reduce(0) { $0 + Set(try clip.sampledFrames(around: $1)).count }
        #expect(distinctPerWindow < n * ClipWindow.slotCount)
        #expect(two.segmenter.frameSentencePasses == n * 2 + distinctPerWindow * (sentences.count - 2))
        #expect(two.results == all.results)
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

    @Test func theImageNetworkSegmentsEachTargetFromItsOwnFrameOnce() throws {
        var config = tinyVideoConfig()
        config.model = .image
        let model = try CMPCModel(config: config, seed: 14)
        let sentences: [[Int32]] = [[0, 0, 4, 5, 6, 7], [0, 0, 0, 9, 3, 2]]
        let segmenter = try VideoSegmenter(model: model, sentences: sentences)
        var got: [String: [Float]] = [:]
        var decoded = 0
        try segmenter.run(frameCount: 12, targets: [3, 7, 8], nextFrame: { decoded += 1; return syntheticFrame(decoded) },
                          emit: { got["\($0.sentence)/\($0.frame)"] = $0.probabilities })
        #expect(decoded == 8)
        #expect(segmenter.backbonePasses == 3)
        #expect(segmenter.peakCachedFrames == 1)
        for t in [3, 7, 8] {
            let f = syntheticFrame(t)
            let image = try Preprocess.prepare(rgb: f.pixels, width: f.width, height: f.height, H: 32, W: 32).tensor
            for (si, words) in sentences.enumerated() {
                #expect(try model.forward(input: image, words: words).sigm().scalars == got["\(si)/\(t)"], "sentence \(si) frame \(t)")
            }
        }
    }

    @Test func aVideoThatEndsEarlyIsAnErrorNamingTheFrame() throws {
        let model = try CMPCModel(config: tinyVideoConfig(), seed: 15)
        let segmenter = try VideoSegmenter(model: model, sentences: [[0, 0, 4, 5, 6, 7]])
        var decoded = 0
        do {
            try segmenter.run(frameCount: 20, targets: [10], nextFrame: {
                decoded += 1
                return decoded <= 12 ? syntheticFrame(decoded) : nil
            }, emit: { _ in Issue.record("no result expected") })
            Issue.record("no error")
        } catch {
            #expect("\(error)".contains("ended after frame 12"), "\(error)")
        }
    }

    @Test func noSentenceIsAnError() throws {
        let model = try CMPCModel(config: tinyVideoConfig(), seed: 16)
        #expect(throws: (any Error).self) { try VideoSegmenter(model: model, sentences: []) }
    }
}
