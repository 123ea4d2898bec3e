import Foundation
import Testing
@testable import Evaluation

struct COCOEvalFixture: Decodable {
    struct Image: Decodable {
        var height: Int
        var width: Int
        var gts: [String]
        var iscrowd: [Int]
        var dts: [String]
        var scores: [Double]
    }
    struct Scenario: Decodable { var name: String; var images: [Image]; var stats: [Double] }
    var iouThrs: [Double]
    var recThrs: [Double]
    var scenarios: [Scenario]
}

@Suite struct COCOEvalTests {
    @Test func thresholdsAreNumpysLinspaceBitForBit() throws {
        let fixture = try loadCOCOFixture("cocoeval", as: COCOEvalFixture.self)
        #expect(COCOEvaluator.iouThresholds == fixture.iouThrs)
        #expect(COCOEvaluator.recallThresholds == fixture.recThrs)
    }

    @Test func averagePrecisionMatchesPycocotoolsCOCOeval() throws {
        let fixture = try loadCOCOFixture("cocoeval", as: COCOEvalFixture.self)
        #expect(fixture.scenarios.count >= 5)
        var maxDifference = 0.0
        for scenario in fixture.scenarios {
            let images = try scenario.images.map { im in
                COCOEvaluator.Image(
                    groundTruths: try im.gts.map { try RLE(compressed: $0, height: im.height, width: im.width) },
                    isCrowd: im.iscrowd.map { $0 != 0 },
                    detections: try zip(im.dts, im.scores).map {
                        (mask: try RLE(compressed: $0, height: im.height, width: im.width), score: $1)
                    })
            }
            let result = COCOEvaluator.evaluate(images: images)
            let got = [result.ap, result.ap50, result.ap75, result.ar100]
            let expected = [scenario.stats[0], scenario.stats[1], scenario.stats[2], scenario.stats[8]]
            for (g, e) in zip(got, expected) {
                maxDifference = max(maxDifference, abs(g - e))
                #expect(abs(g - e) < 1e-9, "\(scenario.name): got \(got), pycocotools \(expected)")
            }
            // The one-sample-per-image entry point agrees where the scenario has that shape.
            if scenario.images.allSatisfy({ $0.gts.count == 1 && $0.dts.count == 1 && $0.iscrowd == [0] }) {
                let samples = images.map { (gt: $0.groundTruths[0], dt: $0.detections[0].mask, score: $0.detections[0].score) }
                let ap = COCOEvaluator.averagePrecision(samples: samples)
                #expect(ap.ap == result.ap && ap.ap50 == result.ap50 && ap.ap75 == result.ap75)
            }
        }
        print("COCOEvalTests: max |stat − pycocotools| = \(maxDifference)")
    }

    @Test func handWorkedTwoSamples() throws {
        // One perfect detection (score 1) and one that misses (score 0.5): at every IoU threshold the ranked list is
        // hit, miss → recall 0.5 reached at precision 1, nothing beyond → AP = 51/101 (recall thresholds 0 … 0.5).
        let gt = try RLE(mask: [1, 1, 0, 0], height: 2, width: 2)
        let miss = try RLE(mask: [0, 0, 0, 1], height: 2, width: 2)
        let result = COCOEvaluator.averagePrecision(samples: [(gt, gt, 1.0), (gt, miss, 0.5)])
        #expect(abs(result.ap - 51.0 / 101.0) < 1e-15)
        #expect(abs(result.ap50 - 51.0 / 101.0) < 1e-15)
        // Reversed scores: miss first, then hit → precision 0.5 up to recall 0.5.
        let reversed = COCOEvaluator.averagePrecision(samples: [(gt, gt, 0.5), (gt, miss, 1.0)])
        #expect(abs(reversed.ap - 0.5 * 51.0 / 101.0) < 1e-12)
        #expect(COCOEvaluator.averagePrecision(samples: []).ap == -1)
    }
}
