// DAVISMetrics pinned to the DAVIS 2017 toolkit: per-frame J (db_eval_iou) and F (f_measure, bound_th 0.008),
// the sequence means (db_statistics' M) and skimage's disk, from Tests/EvaluationTests/Fixtures/davis.npz
// (written by Tools/reference/make_davis_fixtures.py with davis2017-evaluation's own functions).
import Checkpoint
import Foundation
import Testing
@testable import Evaluation

/// One fixture sequence: T frames of ground truth and prediction, and the toolkit's numbers.
private struct DAVISCase: CustomStringConvertible {
    let name: String
    let groundTruths: [PixelMask]
    let predictions: [PixelMask]
    let j: [Double]
    let f: [Double]
    let jMean: Double
    let fMean: Double
    let radius: Double
    var description: String { name }
}

/// The fixture's arrays by name (read once).
private let davisArrays: [String: TypedArray] = {
    guard let url = Bundle.module.url(forResource: "davis", withExtension: "npz", subdirectory: "Fixtures"),
          let arrays = try? NumPy.readNPZ(url) else { return [:] }
    return Dictionary(uniqueKeysWithValues: arrays.map { ($0.name, $0.array) })
}()

private func frames(_ array: TypedArray) throws -> [PixelMask] {
    try #require(array.dtype == .uint8 && array.shape.count == 3, "masks are uint8 (T, H, W), got \(array)")
    let (t, h, w) = (array.shape[0], array.shape[1], array.shape[2])
    return try (0..<t).map { try PixelMask(width: w, height: h, pixels: Array(array.bytes[($0 * h * w)..<(($0 + 1) * h * w)])) }
}

private func loadCases() throws -> [DAVISCase] {
    try #require(!davisArrays.isEmpty, "Fixtures/davis.npz is missing or unreadable; run Tools/reference/make_davis_fixtures.py")
    let names = davisArrays.keys.filter { $0.hasSuffix(".gt") }.map { String($0.dropLast(3)) }.sorted()
    return try names.map { name in
        func array(_ key: String) throws -> TypedArray { try #require(davisArrays["\(name).\(key)"], "davis.npz lacks \(name).\(key)") }
        return DAVISCase(
            name: name, groundTruths: try frames(array("gt")), predictions: try frames(array("pred")),
            j: try array("J").doubles(), f: try array("F").doubles(),
            jMean: try array("JM").doubles()[0], fMean: try array("FM").doubles()[0], radius: try array("bound").doubles()[0])
    }
}

@Suite struct DAVISMetricsTests {
    @Test func fixtureHoldsTheCraftedCases() throws {
        let names = Set(try loadCases().map(\.name))
        for needed in ["empty_pred_48x64", "empty_gt_48x64", "both_empty_31x29", "thin_97x61", "border_64x80",
                       "pixel_1x1", "blobs_480x854", "frames150_6x7"] {
            #expect(names.contains(needed), "davis.npz lacks the case \(needed)")
        }
    }

    @Test func perFrameJAndFEqualTheToolkits() throws {
        var maxFDifference = 0.0, frames = 0
        for c in try loadCases() {
            let (h, w) = (c.groundTruths[0].height, c.groundTruths[0].width)
            #expect(Double(try DAVISMetrics.boundaryRadius(height: h, width: w)) == c.radius, "\(c): radius")
            let scores = try DAVISMetrics.sequence(predictions: c.predictions, groundTruths: c.groundTruths)
            for t in c.j.indices {
                #expect(scores.j[t] == c.j[t], "\(c) frame \(t): J \(scores.j[t]), toolkit \(c.j[t])")
                #expect(abs(scores.f[t] - c.f[t]) <= 1e-12, "\(c) frame \(t): F \(scores.f[t]), toolkit \(c.f[t])")
                maxFDifference = max(maxFDifference, abs(scores.f[t] - c.f[t]))
                frames += 1
            }
            #expect(scores.jMean == c.jMean, "\(c): mean J \(scores.jMean), toolkit \(c.jMean)")
            #expect(abs(scores.fMean - c.fMean) <= 1e-12, "\(c): mean F \(scores.fMean), toolkit \(c.fMean)")
        }
        #expect(frames > 200)
        print("DAVISMetricsTests: \(frames) frames, max |F − toolkit| = \(maxFDifference)")
    }

    @Test(arguments: 1...10)
    func diskIsScikitImages(radius: Int) throws {
        let want = try #require(davisArrays["disk.\(radius)"], "davis.npz lacks disk.\(radius)")
        let got = DAVISMetrics.disk(radius: radius)
        #expect(want.shape == [got.height, got.width])
        #expect(got.pixels == want.bytes, "disk(\(radius)) differs from skimage.morphology.disk")
    }

    @Test func dilationEqualsTheDefinition() throws {
        // The row-span dilation against the plain definition: max over the disk's offsets inside the image.
        var mask = PixelMask(width: 23, height: 17)
        for (y, x) in [(0, 0), (16, 22), (8, 11), (3, 20), (15, 1)] { mask[y, x] = 1 }
        for radius in [0, 1, 2, 4] {
            let d = DAVISMetrics.disk(radius: radius)
            var want = PixelMask(width: 23, height: 17)
            for y in 0..<17 { for x in 0..<23 {
                for dy in -radius...radius { for dx in -radius...radius where d[dy + radius, dx + radius] != 0 {
                    let (yy, xx) = (y + dy, x + dx)
                    if yy >= 0, yy < 17, xx >= 0, xx < 23, mask[yy, xx] != 0 { want[y, x] = 1 }
                } }
            } }
            #expect(DAVISMetrics.dilate(mask, radius: radius) == want, "radius \(radius)")
        }
    }

    @Test(arguments: [1, 7, 8, 9, 15, 16, 17, 127, 128, 129, 255, 300, 1000])
    func meanIsNumpysBitForBit(count: Int) throws {
        // The toolkit's means are np.nanmean: pairwise sums, which differ from a running sum in the last bits.
        let values = try #require(davisArrays["mean.\(count).values"], "davis.npz lacks mean.\(count)").doubles()
        let want = try #require(davisArrays["mean.\(count).mean"]).doubles()[0]
        #expect(values.count == count)
        #expect(DAVISMetrics.mean(values) == want, "mean of \(count): \(DAVISMetrics.mean(values)), numpy \(want)")
    }

    @Test func meanOfNothingIsNaN() {
        #expect(DAVISMetrics.mean([]).isNaN)
    }

    @Test func unlikeSizesAndCountsAreErrorsThatSayWhatToDo() {
        let a = PixelMask(width: 4, height: 3), b = PixelMask(width: 3, height: 4)
        #expect {
            _ = try DAVISMetrics.boundaryF(prediction: a, groundTruth: b)
        } throws: { "\($0)".contains("3×4") && "\($0)".contains("4×3") && "\($0)".contains("resize") }
        #expect {
            _ = try DAVISMetrics.sequence(predictions: [a], groundTruths: [a, a])
        } throws: { "\($0)".contains("1 predicted frames for 2") }
        #expect {
            _ = try DAVISMetrics.boundaryRadius(height: 4, width: 4, threshold: 1.5)
        } throws: { "\($0)".contains("1.5") }
    }
}
