// VideoExpressionEvaluator: every expression of a video scored through the whole-video segmenter, its frames'
// features computed once for all expressions; the scores are DAVISMetrics' J and F of the segmenter's masks.
import Datasets
import Evaluation
import Foundation
import Testing
@testable import Pipeline
import Video
import VideoModel

@Suite struct VideoExpressionEvaluatorTests {
    @Test func scoresAreTheToolkitsJAndFOfTheSegmentersMasksWithFramesComputedOnce() throws {
        let dir = try temporaryFolder("expressions")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let n = 7
        try writeFrameFolder(dir, frames: n)
        let paths = (1...n).map { SampleSource.framePath(directory: dir, frame: $0) }
        let model = try CMPCModel(config: tinyVideoConfig(), seed: 11)
        let sentences: [[Int32]] = [[0, 0, 4, 5, 6, 7], [0, 0, 0, 9, 3, 2], [0, 2, 3, 4, 5, 6]]

        // The segmenter's own masks, to score independently.
        var masks: [String: PixelMask] = [:]
        var next = 0
        try VideoSegmenter(model: model, sentences: sentences).run(frameCount: n, targets: Array(1...n), nextFrame: {
            next += 1
            return next <= n ? try ImageIO.read(path: paths[next - 1]) : nil
        }, emit: { masks["\($0.sentence)/\($0.frame)"] = $0.mask })

        // Ground truth: a box moving right, the same for every expression.
        func truth(_ e: Int, _ k: Int) -> PixelMask {
            var m = PixelMask(width: 40, height: 30)
            for y in 5..<20 { for x in (2 + 3 * k)..<(14 + 3 * k) { m[y, x] = 1 } }
            return m
        }
        let evaluator = VideoExpressionEvaluator(model: model, sentences: sentences)
        evaluator.keepMasks = true
        let results = try evaluator.evaluate(framePaths: paths, groundTruth: truth)
        #expect(evaluator.backbonePasses == n, "each frame's backbone runs once for all \(sentences.count) expressions")
        #expect(results.map(\.expression) == [0, 1, 2])
        for r in results {
            let predicted = try (1...n).map { try #require(masks["\(r.expression)/\($0)"]) }
            let want = try DAVISMetrics.sequence(predictions: predicted, groundTruths: (0..<n).map { truth(r.expression, $0) })
            #expect(r.scores == want, "expression \(r.expression)")
            #expect(r.masks == predicted)
            // The per-frame counts behind P@K and IoU: J is I/U (1 for an empty union), the area the ground truth's.
            #expect(r.counts.count == n)
            for (k, c) in r.counts.enumerated() {
                #expect(r.scores.j[k] == (c.union == 0 ? 1 : Double(c.intersection) / Double(c.union)))
                #expect(c.groundTruthArea == truth(r.expression, k).area)
            }
        }
        // Scored against its own masks, an expression gets J = F = 1 in every frame.
        let perfect = try VideoExpressionEvaluator(model: model, sentences: [sentences[1]])
            .evaluate(framePaths: paths) { _, k in masks["1/\(k + 1)"]! }
        #expect(perfect[0].scores.j == Array(repeating: 1, count: n) && perfect[0].scores.f == Array(repeating: 1, count: n))
    }

    @Test func groundTruthOfAnotherSizeIsAnErrorNamingBoth() throws {
        let dir = try temporaryFolder("expressions-size")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try writeFrameFolder(dir, frames: 2)
        let model = try CMPCModel(config: tinyVideoConfig(), seed: 12)
        let evaluator = VideoExpressionEvaluator(model: model, sentences: [[0, 0, 4, 5, 6, 7]])
        #expect {
            _ = try evaluator.evaluate(framePaths: [SampleSource.framePath(directory: dir, frame: 1)]) { _, _ in
                PixelMask(width: 41, height: 30)
            }
        } throws: { "\($0)".contains("30×40") && "\($0)".contains("30×41") }
    }
}
