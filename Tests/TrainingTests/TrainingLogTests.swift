// OUT/train.jsonl and OUT/curves.svg: a line per step with the documented keys, a fresh run starting the file
// afresh, a resumed run keeping only the steps its checkpoint holds (and no torn line), the curves redrawn from them.
import Foundation
import Testing
@testable import Training

func stepReport(_ step: Int) -> StepReport {
    var terms = LossTerms()
    terms.clsLoss = 1 / Float(step)
    terms.cost = 2 / Float(step)
    return StepReport(step: step, terms: terms, accuracy: PixelAccuracy(all: 0.5 + 0.01 * Double(step), positive: 0.25,
                                                                        negative: 0.75),
                      learningRate: 0.001)
}

@Suite struct TrainingLogTests {
    func folder() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("cmpc-trainlog-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    @Test func stepsAreLoggedAndAResumeKeepsOnlyTheCheckpointedOnes() throws {
        let dir = try folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let log = try TrainingLog(folder: dir, resumingAt: nil)
        for step in 1...5 { try log.append(TrainingLogLine(stepReport(step), seconds: 0.25)) }
        try log.append(TrainingLogLine(step: 5, eval: .init(split: "test", samples: 3, overallIoU: 0.5, meanIoU: 0.25)))
        try log.close()
        let text = try String(contentsOf: log.url, encoding: .utf8)
        let first = try #require(text.split(separator: "\n").first)
        #expect(first == #"{"accuracy":{"all":0.51,"negative":0.75,"positive":0.25},"loss":1,"losses":{"cls_loss":1,"#
                + #""cls_loss_all":0,"cls_loss_c3":0,"cls_loss_c4":0,"cls_loss_c5":0,"cost":2,"reg_loss":0},"#
                + #""lr":0.001,"seconds":0.25,"step":1}"#)
        #expect(text.hasSuffix(#"{"eval":{"mean_iou":0.25,"overall_iou":0.5,"samples":3,"split":"test"},"step":5}"# + "\n"))

        // A run killed after its checkpoint at step 3: steps 4 and 5 and a torn line go, the resumed run appends.
        try (text + #"{"step":6,"lo"#).write(to: log.url, atomically: true, encoding: .utf8)
        let resumed = try TrainingLog(folder: dir, resumingAt: 3)
        #expect(resumed.lines.map(\.step) == [1, 2, 3])
        try resumed.append(TrainingLogLine(stepReport(4), seconds: 0.5))
        try resumed.checkpointed()
        try resumed.close()
        let after = try String(contentsOf: log.url, encoding: .utf8).split(separator: "\n")
        #expect(after.count == 4 && Array(after.prefix(3)) == Array(text.split(separator: "\n").prefix(3)))
        #expect(after[3].contains(#""seconds":0.5,"step":4}"#))

        // A fresh run (no --resume) into the same folder starts the file afresh.
        let fresh = try TrainingLog(folder: dir, resumingAt: nil)
        #expect(fresh.lines.isEmpty)
        try fresh.close()
        #expect(try Data(contentsOf: log.url).isEmpty)
    }

    @Test func curvesDrawLossAccuracyAndEvaluationPoints() throws {
        var lines = (1...3000).map { TrainingLogLine(stepReport($0), seconds: 0.1) }
        lines.append(TrainingLogLine(step: 1500, eval: .init(split: "test", samples: 4, overallIoU: 0.4, meanIoU: 0.3)))
        lines.append(TrainingLogLine(step: 3000, eval: .init(split: "test", samples: 4, overallIoU: 0.6, meanIoU: 0.5)))
        let svg = TrainingCurves(lines: lines).svg()
        #expect(svg.hasPrefix("<svg xmlns=\"http://www.w3.org/2000/svg\"") && svg.hasSuffix("</svg>\n"))
        #expect(svg.components(separatedBy: "<g>").count == svg.components(separatedBy: "</g>").count)
        for label in ["training loss (cls_loss)", "moving average", "accuracy (all)", "test overall IoU", "test mean IoU"] {
            #expect(svg.contains(">\(label)<"), "no \(label)")
        }
        // 4 polylines of at most 1,200 points (3,000 steps averaged into buckets), 2 eval points per IoU.
        let polylines = svg.components(separatedBy: "<polyline").dropFirst()
        #expect(polylines.count == 6)
        for p in polylines.prefix(4) {
            let points = p.components(separatedBy: "points=\"")[1].prefix { $0 != "\"" }.split(separator: " ")
            #expect(points.count == 1000, "\(points.count)")
        }
        #expect(svg.components(separatedBy: "<circle").count - 1 == 4)
        #expect(svg.contains("<title>step 3000: 0.6000</title>"))
        // The step axis ends at a round number at or past the last step.
        #expect(svg.contains(">3000</text>"))
        // Without evaluations, the second panel is accuracy only.
        #expect(!TrainingCurves(lines: Array(lines.prefix(10))).svg().contains("IoU"))
    }
}
