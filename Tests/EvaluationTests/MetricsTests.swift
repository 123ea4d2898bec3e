import Foundation
import Testing
@testable import Evaluation

@Suite struct MetricsTests {
    /// Three samples with IoU 0.9, 0.6 and 0.3, plus one with an empty ground truth.
    func threeSamples() -> MetricsAccumulator {
        var acc = MetricsAccumulator()
        acc.add(SampleResult(id: "a", intersection: 90, union: 100, groundTruthArea: 95))
        acc.add(SampleResult(id: "b", intersection: 30, union: 50, groundTruthArea: 40))
        acc.add(SampleResult(id: "c", intersection: 3, union: 10, groundTruthArea: 10))
        acc.add(SampleResult(id: "empty", intersection: 0, union: 7, groundTruthArea: 0))
        return acc
    }

    @Test func handWorkedPrecisionIoUAndMAP() throws {
        let s = threeSamples().summary()
        #expect(s.samples == 3 && s.skipped == 1)
        // IoU ≥ 0.5, 0.55, 0.6 for a and b; ≥ 0.65 … 0.9 for a only; none at 0.95.
        let expected: [Double] = [2, 2, 2, 1, 1, 1, 1, 1, 1, 0].map { $0 / 3 }
        for (p, e) in zip(s.precision, expected) { #expect(abs(p - e) < 1e-15) }
        #expect(abs(s.mAP - 12.0 / 30.0) < 1e-15)
        #expect(abs(s.overallIoU - 123.0 / 160.0) < 1e-15)
        #expect(abs(s.meanIoU - (0.9 + 0.6 + 0.3) / 3) < 1e-15)
        #expect(s.mAPCOCO == nil)          // no masks were kept
    }

    @Test func strictComparisonDiffersOnlyAtAnExactThreshold() throws {
        let strict = threeSamples().summary(strict: true)
        // b has IoU exactly 0.6: counted at 0.6 with ≥, not with >.
        #expect(abs(try #require(strict.precision(at: 0.6)) - 1.0 / 3) < 1e-15)
        #expect(abs(try #require(threeSamples().summary().precision(at: 0.6)) - 2.0 / 3) < 1e-15)
        #expect(abs(try #require(strict.precision(at: 0.55)) - 2.0 / 3) < 1e-15)
        #expect(strict.overallIoU == threeSamples().summary().overallIoU)
    }

    @Test func shardsMergeToTheWhole() throws {
        var a = MetricsAccumulator()
        var b = MetricsAccumulator()
        a.add(SampleResult(id: "a", intersection: 90, union: 100, groundTruthArea: 95))
        b.add(SampleResult(id: "b", intersection: 30, union: 50, groundTruthArea: 40))
        b.add(SampleResult(id: "c", intersection: 3, union: 10, groundTruthArea: 10))
        b.add(SampleResult(id: "empty", intersection: 0, union: 7, groundTruthArea: 0))
        a.merge(b)
        #expect(a.summary() == threeSamples().summary())
        #expect(a.samples.map(\.id) == ["a", "b", "c"])
    }

    @Test func samplesFromMasksGiveIUAndCOCOAP() throws {
        // 2×3 masks: ground truth [1 1 0; 1 1 0], prediction [1 1 1; 0 1 0] → I = 3, U = 5.
        let gt = try RLE(mask: [1, 1, 0, 1, 1, 0], height: 2, width: 3)
        let pred = try RLE(mask: [1, 1, 1, 0, 1, 0], height: 2, width: 3)
        let sample = try SampleResult(id: "x", prediction: pred, groundTruth: gt)
        #expect(sample.intersection == 3 && sample.union == 5 && sample.groundTruthArea == 4)
        let direct = try intersectionAndUnion(prediction: pred.decode(), groundTruth: gt.decode())
        #expect(direct.intersection == 3 && direct.union == 5)
        #expect(throws: RLEError.self) { try intersectionAndUnion(prediction: [1], groundTruth: [1, 0]) }
        #expect(throws: RLEError.self) {
            try SampleResult(id: "bad", prediction: pred, groundTruth: try RLE(mask: [1], height: 1, width: 1))
        }
        var acc = MetricsAccumulator()
        acc.add(sample)
        acc.add(try SampleResult(id: "y", prediction: gt, groundTruth: gt))
        let s = acc.summary()
        // IoU 0.6 (hit at 0.5 … 0.6) and 1.0: sorted by score ties → hit order x, y. COCO AP at 0.5..0.6: 1;
        // above: the first detection misses, the second hits → precision 0.5 up to recall 0.5 (51 of 101 points).
        let expectedCOCO = (3 * 1.0 + 7 * 0.5 * 51 / 101) / 10
        #expect(abs(try #require(s.mAPCOCO) - expectedCOCO) < 1e-12)
    }

    @Test func summaryJSONHasTheExactKeysAndRoundTrips() throws {
        let s = threeSamples().summary()
        let object = try #require(JSONSerialization.jsonObject(with: s.jsonData()) as? [String: Any])
        let keys = Set(object.keys)
        #expect(keys == Set(["samples", "skipped", "P@0.5", "P@0.55", "P@0.6", "P@0.65", "P@0.7", "P@0.75", "P@0.8",
                             "P@0.85", "P@0.9", "P@0.95", "mAP", "mAP_coco", "overall_iou", "mean_iou"]))
        #expect(object["mAP_coco"] is NSNull)
        #expect((object["samples"] as? Int) == 3)
        #expect(try JSONDecoder().decode(EvaluationSummary.self, from: s.jsonData()) == s)

        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("metrics-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("run.summary.json")
        try s.write(to: url)
        try s.write(to: url)     // replaces an existing file
        #expect(try JSONDecoder().decode(EvaluationSummary.self, from: Data(contentsOf: url)) == s)
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["run.summary.json"])

        let table = s.table()
        #expect(table.contains("P@0.5") && table.contains("mAP(COCO)") && table.contains("66.67"))
    }

    @Test func sampleJSONUsesTheLineKeys() throws {
        let gt = try RLE(mask: [1, 1, 0, 1, 1, 0], height: 2, width: 3)
        let sample = try SampleResult(id: "v/12/0", prediction: gt, groundTruth: gt)
        let object = try #require(JSONSerialization.jsonObject(with: JSONEncoder().encode(sample)) as? [String: Any])
        #expect((object["I"] as? Int) == 4 && (object["U"] as? Int) == 4)
        let rle = try #require(object["rle"] as? [String: Any])
        #expect((rle["size"] as? [Int]) == [2, 3] && (rle["counts"] as? String) == gt.compressedString)
        #expect(try JSONDecoder().decode(SampleResult.self, from: JSONEncoder().encode(sample)) == sample)
    }

    @Test func noSamplesGiveZerosNotNaN() throws {
        var acc = MetricsAccumulator()
        acc.add(SampleResult(id: "e", intersection: 0, union: 0, groundTruthArea: 0))
        let s = acc.summary()
        #expect(s.samples == 0 && s.skipped == 1)
        #expect(s.precision.allSatisfy { $0 == 0 } && s.mAP == 0 && s.overallIoU == 0 && s.meanIoU == 0)
        #expect(throws: Never.self) { try s.jsonData() }
    }
}
