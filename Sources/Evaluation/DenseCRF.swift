// Fully connected CRF post-processing of a foreground probability map (Krähenbühl & Koltun, "Efficient
// inference in fully connected CRFs with Gaussian edge potentials", NIPS 2011), as CMPC's test script
// applied it through pydensecrf (trainval_model.py, test(), the dcrf branch):
//
//   d = DenseCRF2D(W, H, 2); unary = [−log(1−σ), −log σ]           (float32, no clipping)
//   addPairwiseGaussian(sxy=3, compat=3); addPairwiseBilateral(sxy=20, srgb=3, rgbim, compat=10)
//   Q = inference(5); labels = argmax(Q)
//
// Both kernels are Potts (message −compat·(K·Q)) with pydensecrf's default symmetric normalisation
// K̃ = D^-½·K·D^-½, D = diag(K·1), and are evaluated on the permutohedral lattice (PermutohedralLattice.swift).
// Mean field: Q⁰ = softmax(−U); Qᵗ⁺¹ = softmax(−U + Σ_k compat_k·K̃_k·Qᵗ), per pixel over the two labels.
// The arithmetic is pydensecrf's, operation for operation in Float (and its SSE build's padding quirk),
// so from the same unaries Q comes out bit-identical on the test fixtures; from probabilities it differs by
// the last bits of −log(σ) (numpy's float32 log against the C library's logf).
//
// Threads: the two lattices are built with up to two workers each, then each mean-field iteration filters
// the two labels' channels on separate workers; the results do not depend on the number of workers.
//
// Legend: W×H image, N = W·H pixels (row-major), label 0 background, 1 foreground. Q and unaries are
// label-major, 2·N floats: all of label 0, then all of label 1 (pydensecrf's [2, N] arrays).
import Dispatch
import Tensor
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The kernels and iteration count of the dense CRF; the defaults are the ones CMPC used.
public struct DenseCRFParameters: Sendable, Equatable {
    /// Standard deviation in pixels of the smoothness (Gaussian) kernel.
    public var gaussianSXY: Float = 3
    /// Potts weight of the smoothness kernel.
    public var gaussianCompat: Float = 3
    /// Standard deviation in pixels of the appearance (bilateral) kernel.
    public var bilateralSXY: Float = 20
    /// Standard deviation in 8-bit colour levels of the appearance kernel.
    public var bilateralSRGB: Float = 3
    /// Potts weight of the appearance kernel.
    public var bilateralCompat: Float = 10
    /// Number of mean-field iterations.
    public var iterations: Int = 5

    public init(gaussianSXY: Float = 3, gaussianCompat: Float = 3, bilateralSXY: Float = 20,
                bilateralSRGB: Float = 3, bilateralCompat: Float = 10, iterations: Int = 5) {
        self.gaussianSXY = gaussianSXY
        self.gaussianCompat = gaussianCompat
        self.bilateralSXY = bilateralSXY
        self.bilateralSRGB = bilateralSRGB
        self.bilateralCompat = bilateralCompat
        self.iterations = iterations
    }
}

/// A dense-CRF input problem: what was given and what is wrong with it.
public struct DenseCRFError: Error, CustomStringConvertible, Equatable {
    public let description: String

    public init(_ description: String) {
        self.description = description
    }
}

/// The fully connected two-label CRF CMPC applied to its probability maps at test time.
public enum DenseCRF {
    /// Refines a foreground probability map with the image's colours.
    ///
    /// - Parameters:
    ///   - probabilities: σ per pixel, H·W row-major, each in [0, 1] (0 and 1 pin the label).
    ///   - rgb: the 8-bit RGB image, H·W·3 row-major, interleaved.
    ///   - threads: workers to use (at most two are used: one per label).
    /// - Returns: `labels` H·W (1 = foreground) and the marginals `q`, 2·H·W label-major.
    ///
    ///     let (mask, _) = try DenseCRF.refine(probabilities: sigma, rgb: pixels, width: 320, height: 320)
    public static func refine(probabilities: [Float], rgb: [UInt8], width: Int, height: Int,
                              parameters: DenseCRFParameters = DenseCRFParameters(),
                              threads: Int = Engine.workers) throws -> (labels: [UInt8], q: [Float]) {
        let n = try checkSize(width: width, height: height)
        guard probabilities.count == n else {
            throw DenseCRFError("DenseCRF: the probability map has \(probabilities.count) values but the image is "
                                + "\(width)×\(height) = \(n) pixels")
        }
        var unary = [Float](repeating: 0, count: 2 * n)
        for i in 0..<n {
            let p = probabilities[i]
            guard p >= 0, p <= 1 else {
                let what = p.isNaN ? "NaN" : "\(p), outside [0, 1]"
                throw DenseCRFError("DenseCRF: probability at pixel (x \(i % width), y \(i / width)) is \(what)")
            }
            unary[i] = -logf(1 - p)
            unary[n + i] = -logf(p)
        }
        let q = try inference(unary: unary, rgb: rgb, width: width, height: height, parameters: parameters,
                              threads: threads)
        return (labels(q, count: n), q)
    }

    /// Mean-field marginals for explicit unary energies (pydensecrf's `setUnaryEnergy` then `inference`).
    ///
    /// - Parameters:
    ///   - unary: energies 2·H·W label-major (all label-0 pixels, then all label-1), +∞ forbids a label.
    ///   - rgb: the 8-bit RGB image, H·W·3 row-major, interleaved.
    /// - Returns: Q, 2·H·W label-major; each pixel's two values sum to 1.
    public static func inference(unary: [Float], rgb: [UInt8], width: Int, height: Int,
                                 parameters: DenseCRFParameters = DenseCRFParameters(),
                                 threads: Int = Engine.workers) throws -> [Float] {
        let n = try checkSize(width: width, height: height)
        guard rgb.count == 3 * n else {
            throw DenseCRFError("DenseCRF: the RGB image has \(rgb.count) bytes but \(width)×\(height)×3 = \(3 * n) "
                                + "are needed (the image and the probability map differ in size?)")
        }
        guard unary.count == 2 * n else {
            throw DenseCRFError("DenseCRF: \(unary.count) unary energies for \(width)×\(height) pixels "
                                + "(need 2·\(n) = \(2 * n))")
        }
        for i in 0..<n {
            let u0 = unary[i], u1 = unary[n + i]
            guard !u0.isNaN, !u1.isNaN, u0 != -.infinity, u1 != -.infinity, u0.isFinite || u1.isFinite else {
                throw DenseCRFError("DenseCRF: unary energies (\(u0), \(u1)) at pixel (x \(i % width), y \(i / width)) "
                                    + "are NaN, −∞ or both +∞")
            }
        }
        try checkParameters(parameters)

        let workers = max(1, min(threads, 2))
        // The kernels one after the other, each using all the workers.
        let kernels = [
            try PottsKernel(features: gaussianFeatures(width: width, height: height, sxy: parameters.gaussianSXY),
                            dimension: 2, count: n, compat: parameters.gaussianCompat, threads: workers),
            try PottsKernel(features: bilateralFeatures(width: width, height: height, rgb: rgb,
                                                        sxy: parameters.bilateralSXY, srgb: parameters.bilateralSRGB),
                            dimension: 5, count: n, compat: parameters.bilateralCompat, threads: workers),
        ]

        var q = [Float](repeating: 0, count: 2 * n)
        var energy = [Float](repeating: 0, count: 2 * n)
        let scratchCount = kernels.map { $0.lattice.scratchCount }.max() ?? 0
        var scratch = [Float](repeating: 0, count: 2 * (scratchCount + 2 * n))

        unary.withUnsafeBufferPointer { ub in
            q.withUnsafeMutableBufferPointer { qb in
                energy.withUnsafeMutableBufferPointer { eb in
                    scratch.withUnsafeMutableBufferPointer { sb in
                        let u = ub.baseAddress!, qp = qb.baseAddress!, e = eb.baseAddress!, s = sb.baseAddress!
                        for i in 0..<(2 * n) { e[i] = -u[i] }
                        softmax(e, into: qp, count: n, workers: workers)
                        for _ in 0..<parameters.iterations {
                            // One worker per label: e = −U − Σ_k (−compat_k)·K̃_k·Q.
                            PermutohedralLattice.runChunks(2, threads: workers) { label in
                                let area = s + label * (scratchCount + 2 * n)
                                let input = area, filtered = area + n, latticeScratch = area + 2 * n
                                let ql = qp + label * n, el = e + label * n, ul = u + label * n
                                for i in 0..<n { el[i] = -ul[i] }
                                for kernel in kernels {
                                    kernel.message(ql, into: el, input: input, filtered: filtered,
                                                   scratch: latticeScratch)
                                }
                            }
                            softmax(e, into: qp, count: n, workers: workers)
                        }
                    }
                }
            }
        }
        return q
    }

    /// The label with the larger marginal per pixel (label 0 on ties, as argmax takes the first): N bytes.
    public static func labels(_ q: [Float], count n: Int) -> [UInt8] {
        var labels = [UInt8](repeating: 0, count: n)
        for i in 0..<min(n, q.count / 2) where q[n + i] > q[i] {
            labels[i] = 1
        }
        return labels
    }

    // MARK: - Pieces

    static func checkSize(width: Int, height: Int) throws -> Int {
        guard width > 0, height > 0 else {
            throw DenseCRFError("DenseCRF: image size \(width)×\(height) is empty")
        }
        let (n, overflow) = width.multipliedReportingOverflow(by: height)
        guard !overflow, n <= 1 << 24 else {
            throw DenseCRFError("DenseCRF: image size \(width)×\(height) is too large (at most 2^24 pixels)")
        }
        return n
    }

    static func checkParameters(_ p: DenseCRFParameters) throws {
        for (name, value) in [("gaussianSXY", p.gaussianSXY), ("bilateralSXY", p.bilateralSXY),
                              ("bilateralSRGB", p.bilateralSRGB)] {
            guard value.isFinite, value > 0 else {
                throw DenseCRFError("DenseCRF: \(name) is \(value); a standard deviation must be positive and finite")
            }
        }
        for (name, value) in [("gaussianCompat", p.gaussianCompat), ("bilateralCompat", p.bilateralCompat)] {
            guard value.isFinite else { throw DenseCRFError("DenseCRF: \(name) is \(value), not finite") }
        }
        guard p.iterations >= 0, p.iterations <= 1000 else {
            throw DenseCRFError("DenseCRF: \(p.iterations) iterations is outside 0...1000")
        }
    }

    /// Features x/sxy, y/sxy per pixel: N·2.
    static func gaussianFeatures(width: Int, height: Int, sxy: Float) -> [Float] {
        var f = [Float](repeating: 0, count: width * height * 2)
        for y in 0..<height {
            for x in 0..<width {
                let o = (y * width + x) * 2
                f[o] = Float(x) / sxy
                f[o + 1] = Float(y) / sxy
            }
        }
        return f
    }

    /// Features x/sxy, y/sxy, r/srgb, g/srgb, b/srgb per pixel: N·5.
    static func bilateralFeatures(width: Int, height: Int, rgb: [UInt8], sxy: Float, srgb: Float) -> [Float] {
        var f = [Float](repeating: 0, count: width * height * 5)
        for y in 0..<height {
            for x in 0..<width {
                let i = y * width + x
                let o = i * 5
                f[o] = Float(x) / sxy
                f[o + 1] = Float(y) / sxy
                f[o + 2] = Float(rgb[3 * i]) / srgb
                f[o + 3] = Float(rgb[3 * i + 1]) / srgb
                f[o + 4] = Float(rgb[3 * i + 2]) / srgb
            }
        }
        return f
    }

    /// Per pixel over the two labels: q = exp(e − max e) / Σ exp(e − max e). `e` and `q` are 2·N label-major.
    static func softmax(_ e: UnsafePointer<Float>, into q: UnsafeMutablePointer<Float>, count n: Int, workers: Int) {
        let chunks = max(1, min(workers, n / 16384))
        PermutohedralLattice.runChunks(chunks, threads: workers) { c in
            for i in (c * n / chunks)..<((c + 1) * n / chunks) {
                let a = e[i], b = e[n + i]
                let m = max(a, b)
                let ea = expf(a - m), eb = expf(b - m)
                let sum = ea + eb
                q[i] = ea / sum
                q[n + i] = eb / sum
            }
        }
    }
}

/// One Potts pairwise term: a symmetrically normalised Gaussian kernel on the lattice and its weight.
struct PottsKernel {
    let lattice: PermutohedralLattice
    /// N factors 1/sqrt(K·1) of the symmetric normalisation.
    let norm: [Float]
    let compat: Float

    init(features: [Float], dimension: Int, count n: Int, compat: Float, threads: Int) throws {
        let lattice = try features.withUnsafeBufferPointer {
            try PermutohedralLattice(features: $0, dimension: dimension, count: n, threads: threads)
        }
        let ones = [Float](repeating: 1, count: n)
        var sums = [Float](repeating: 0, count: n)
        var scratch = [Float](repeating: 0, count: lattice.scratchCount)
        ones.withUnsafeBufferPointer { o in
            sums.withUnsafeMutableBufferPointer { s in
                scratch.withUnsafeMutableBufferPointer { sc in
                    lattice.filter(o.baseAddress!, into: s.baseAddress!, scratch: sc.baseAddress!)
                }
            }
        }
        // pydensecrf: 1.0 / sqrt(norm + 1e-20) in Double, stored as Float.
        norm = sums.map { Float(1.0 / (Double($0) + 1e-20).squareRoot()) }
        self.lattice = lattice
        self.compat = compat
    }

    /// Subtracts this term's message from one label's energy: `energy −= (−compat)·D^-½·K·D^-½·q` (N floats each).
    /// `input`, `filtered` (N floats each) and `scratch` (lattice.scratchCount) are work space.
    func message(_ q: UnsafePointer<Float>, into energy: UnsafeMutablePointer<Float>,
                 input: UnsafeMutablePointer<Float>, filtered: UnsafeMutablePointer<Float>,
                 scratch: UnsafeMutablePointer<Float>) {
        let n = lattice.pointCount
        let w = -compat
        norm.withUnsafeBufferPointer { nb in
            let norm = nb.baseAddress!
            for i in 0..<n { input[i] = q[i] * norm[i] }
            lattice.filter(input, into: filtered, scratch: scratch)
            for i in 0..<n {
                energy[i] -= w * (filtered[i] * norm[i])
            }
        }
    }
}
