// DenseCRF pinned to pydensecrf 1.0rc3 on four synthetic scenes (fixtures written by
// Tools/reference/make_densecrf_fixtures.py), plus its properties and its errors.
import Checkpoint
import Foundation
import Tensor
import Testing
@testable import Evaluation

/// A fixture array read with the engine's .npy reader: float32 values or uint8 bytes, and the shape.
private struct NPYArray {
    var shape: [Int]
    var floats: [Float] = []
    var bytes: [UInt8] = []

    init(fixture name: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let url = try #require(Bundle.module.url(forResource: name, withExtension: "npy",
                                                 subdirectory: "Fixtures/densecrf"),
                               "missing fixture \(name).npy", sourceLocation: sourceLocation)
        let array = try NumPy.readNPY(url)
        shape = array.shape
        switch array.dtype {
        case .float32: floats = try array.floats()
        case .uint8: bytes = array.bytes
        default: Issue.record("\(name).npy: unexpected dtype \(array.dtype)", sourceLocation: sourceLocation)
        }
    }
}

/// One fixture scene: inputs and pydensecrf's output.
private struct CRFScene {
    let width: Int
    let height: Int
    let probabilities: [Float]
    let rgb: [UInt8]
    let unary: [Float]
    let q: [Float]

    init(_ name: String) throws {
        let prob = try NPYArray(fixture: name + "_prob")
        let rgb = try NPYArray(fixture: name + "_rgb")
        let unary = try NPYArray(fixture: name + "_unary")
        let q = try NPYArray(fixture: name + "_q")
        try #require(prob.shape.count == 2 && rgb.shape == prob.shape + [3])
        height = prob.shape[0]
        width = prob.shape[1]
        try #require(unary.shape == [2, width * height] && q.shape == [2, width * height])
        probabilities = prob.floats
        self.rgb = rgb.bytes
        self.unary = unary.floats
        self.q = q.floats
    }
}

/// Largest |a − b| and where, with the first values side by side on failure.
private func compare(_ name: String, _ got: [Float], _ want: [Float], tolerance: Float,
             sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(got.count == want.count, "\(name): \(got.count) values, want \(want.count)", sourceLocation: sourceLocation)
    var worst: Float = 0, at = 0
    for i in 0..<min(got.count, want.count) where !(abs(got[i] - want[i]) <= worst) {
        worst = abs(got[i] - want[i])
        at = i
    }
    #expect(worst <= tolerance, """
        \(name): maxdiff \(worst) at \(at) (got \(got[at]), want \(want[at])); \
        first got \(got.prefix(4)), want \(want.prefix(4))
        """, sourceLocation: sourceLocation)
}

/// Fraction of equal labels.
private func agreement(_ a: [UInt8], _ b: [UInt8]) -> Double {
    guard a.count == b.count, !a.isEmpty else { return 0 }
    return Double(zip(a, b).filter { $0 == $1 }.count) / Double(a.count)
}

@Suite struct DenseCRFTests {
    static let scenes = ["scene48x40", "scene97x61", "scene160x120", "dark61x37"]

    @Test(arguments: scenes)
    func inferenceMatchesPydensecrfOnItsUnaries(_ name: String) throws {
        let scene = try CRFScene(name)
        let q = try DenseCRF.inference(unary: scene.unary, rgb: scene.rgb, width: scene.width, height: scene.height)
        // Bit-identical here; the tolerance leaves room for another C library's expf.
        compare("\(name) Q", q, scene.q, tolerance: 1e-6)
        let n = scene.width * scene.height
        let labels = DenseCRF.labels(q, count: n)
        #expect(agreement(labels, DenseCRF.labels(scene.q, count: n)) >= 0.999)
    }

    @Test(arguments: scenes)
    func refineMatchesPydensecrf(_ name: String) throws {
        let scene = try CRFScene(name)
        let (labels, q) = try DenseCRF.refine(probabilities: scene.probabilities, rgb: scene.rgb,
                                              width: scene.width, height: scene.height)
        let n = scene.width * scene.height
        compare("\(name) Q from probabilities", q, scene.q, tolerance: 2e-5)
        let want = DenseCRF.labels(scene.q, count: n)
        #expect(agreement(labels, want) >= 0.999)
        // The CRF changed the thresholded map, so the comparison above is not vacuous.
        let thresholded = scene.probabilities.map { UInt8($0 > 0.5 ? 1 : 0) }
        #expect(agreement(thresholded, want) < 0.99)
    }

    @Test func oneThreadGivesTheSameBitsAsTwo() throws {
        let scene = try CRFScene("scene160x120")  // large enough that every stage splits
        let one = try DenseCRF.refine(probabilities: scene.probabilities, rgb: scene.rgb, width: scene.width,
                                      height: scene.height, threads: 1)
        let two = try DenseCRF.refine(probabilities: scene.probabilities, rgb: scene.rgb, width: scene.width,
                                      height: scene.height, threads: 2)
        #expect(one.q.map(\.bitPattern) == two.q.map(\.bitPattern))
        #expect(one.labels == two.labels)
    }

    @Test func zeroIterationsThresholdsAtOneHalf() throws {
        let scene = try CRFScene("scene48x40")
        var parameters = DenseCRFParameters()
        parameters.iterations = 0
        let (labels, q) = try DenseCRF.refine(probabilities: scene.probabilities, rgb: scene.rgb, width: scene.width,
                                              height: scene.height, parameters: parameters)
        #expect(labels == scene.probabilities.map { UInt8($0 > 0.5 ? 1 : 0) })
        let n = scene.width * scene.height
        compare("Q⁰ foreground", Array(q[n...]), scene.probabilities, tolerance: 1e-6)
    }

    @Test func saturatedProbabilitiesPinTheirLabels() throws {
        let (w, h) = (24, 20)
        var probabilities = [Float](repeating: 0.5, count: w * h)
        let rgb = [UInt8](repeating: 128, count: w * h * 3)
        for i in 0..<(w * h) where i % 7 == 0 { probabilities[i] = i % 2 == 0 ? 0 : 1 }
        let (labels, q) = try DenseCRF.refine(probabilities: probabilities, rgb: rgb, width: w, height: h)
        #expect(q.allSatisfy { $0.isFinite && $0 >= 0 && $0 <= 1 })
        for i in 0..<(w * h) where i % 7 == 0 {
            #expect(labels[i] == (i % 2 == 0 ? 0 : 1), "pixel \(i)")
        }
    }

    @Test(arguments: [(1, 1), (3, 1), (1, 5), (2, 2)])
    func tinyImagesKeepTheirSinglePixelDecisions(_ size: (Int, Int)) throws {
        let (w, h) = size
        let n = w * h
        let probabilities = (0..<n).map { Float($0 % 2 == 0 ? 0.7 : 0.3) }
        let rgb = (0..<(3 * n)).map { UInt8(truncatingIfNeeded: $0 * 37) }
        let (labels, q) = try DenseCRF.refine(probabilities: probabilities, rgb: rgb, width: w, height: h)
        if n == 1 { #expect(labels == [1]) }
        #expect(labels.count == n)
        for i in 0..<n { #expect(abs(q[i] + q[n + i] - 1) < 1e-6) }
    }

    @Test func latticeApproximatesTheGaussianSum() throws {
        // K·1 on the lattice against the exact Σ_j exp(−|f_i − f_j|²/2) on a small image: the ratio is
        // close to constant (the lattice approximates the kernel up to a scale).
        let scene = try CRFScene("scene48x40")
        let (w, h) = (scene.width, scene.height)
        let features = DenseCRF.bilateralFeatures(width: w, height: h, rgb: scene.rgb, sxy: 5, srgb: 20)
        let lattice = try features.withUnsafeBufferPointer {
            try PermutohedralLattice(features: $0, dimension: 5, count: w * h, threads: 1)
        }
        let n = w * h
        var sums = [Float](repeating: 0, count: n)
        var scratch = [Float](repeating: 0, count: lattice.scratchCount)
        let ones = [Float](repeating: 1, count: n)
        ones.withUnsafeBufferPointer { o in
            sums.withUnsafeMutableBufferPointer { s in
                scratch.withUnsafeMutableBufferPointer { lattice.filter(o.baseAddress!, into: s.baseAddress!, scratch: $0.baseAddress!) }
            }
        }
        var ratios: [Double] = []
        for i in stride(from: 0, to: n, by: 37) {
            var exact = 0.0
            for j in 0..<n {
                var d2 = 0.0
                for k in 0..<5 { let t = Double(features[i * 5 + k] - features[j * 5 + k]); d2 += t * t }
                exact += Foundation.exp(-d2 / 2)
            }
            ratios.append(Double(sums[i]) / exact)
        }
        let mean = ratios.reduce(0, +) / Double(ratios.count)
        let spread = (ratios.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(ratios.count)).squareRoot()
        #expect(spread / mean < 0.1, "lattice/exact ratio \(mean) ± \(spread)")
    }

    @Test func mismatchedSizesAreErrors() throws {
        let rgb = [UInt8](repeating: 0, count: 8 * 6 * 3)
        #expect(throws: DenseCRFError.self) {
            try DenseCRF.refine(probabilities: [Float](repeating: 0.5, count: 8 * 5), rgb: rgb, width: 8, height: 6)
        }
        #expect(throws: DenseCRFError.self) {
            try DenseCRF.refine(probabilities: [Float](repeating: 0.5, count: 8 * 6), rgb: Array(rgb.dropLast(3)),
                                width: 8, height: 6)
        }
        #expect(throws: DenseCRFError.self) {
            try DenseCRF.refine(probabilities: [], rgb: [], width: 0, height: 6)
        }
        #expect(throws: DenseCRFError.self) {
            try DenseCRF.inference(unary: [Float](repeating: 1, count: 8 * 6), rgb: rgb, width: 8, height: 6)
        }
    }

    @Test func badValuesAreErrorsNamingThePixel() throws {
        let rgb = [UInt8](repeating: 0, count: 8 * 6 * 3)
        var probabilities = [Float](repeating: 0.5, count: 8 * 6)
        probabilities[2 * 8 + 3] = .nan
        do {
            _ = try DenseCRF.refine(probabilities: probabilities, rgb: rgb, width: 8, height: 6)
            Issue.record("NaN accepted")
        } catch let error as DenseCRFError {
            #expect(error.description.contains("NaN") && error.description.contains("x 3, y 2"), "\(error)")
        }
        probabilities[2 * 8 + 3] = 1.5
        #expect(throws: DenseCRFError.self) {
            try DenseCRF.refine(probabilities: probabilities, rgb: rgb, width: 8, height: 6)
        }
        var unary = [Float](repeating: 1, count: 2 * 8 * 6)
        unary[5] = .infinity
        unary[8 * 6 + 5] = .infinity
        #expect(throws: DenseCRFError.self) {
            try DenseCRF.inference(unary: unary, rgb: rgb, width: 8, height: 6)
        }
        var parameters = DenseCRFParameters()
        parameters.bilateralSRGB = 0
        #expect(throws: DenseCRFError.self) {
            try DenseCRF.refine(probabilities: [Float](repeating: 0.5, count: 8 * 6), rgb: rgb, width: 8, height: 6,
                                parameters: parameters)
        }
        parameters = DenseCRFParameters()
        parameters.gaussianSXY = 1e-6  // lattice coordinates far beyond 16 bits
        #expect(throws: DenseCRFError.self) {
            try DenseCRF.refine(probabilities: [Float](repeating: 0.5, count: 8 * 6), rgb: rgb, width: 8, height: 6,
                                parameters: parameters)
        }
    }
}
