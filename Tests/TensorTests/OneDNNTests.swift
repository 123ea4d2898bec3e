// bf16 through oneDNN (OneDNN.swift): prepared convolutions against the fp32 engine within bf16's
// tolerance, bit-identical for any worker count, the residual and ReLU post-ops, padding at every
// row-block boundary, bf16 rounding, max pooling and the bf16 matrix product.
import Foundation
import Testing
@testable import Tensor

@Suite struct OneDNNTests {
    /// Relative error ‖a − b‖ / ‖b‖.
    func normwise(_ a: [Float], _ b: [Float]) -> Double {
        var num = 0.0, den = 0.0
        for (x, y) in zip(a, b) { num += Double(x - y) * Double(x - y); den += Double(y) * Double(y) }
        return (num / max(den, 1e-30)).squareRoot()
    }

    /// The shapes of the network (small): strided 7×7, 1×1 strided, atrous 3×3, odd sizes.
    static let cases: [(input: [Int], filter: [Int], stride: Int, rate: Int)] = [
        ([1, 38, 38, 3], [7, 7, 3, 16], 2, 1),
        ([2, 21, 19, 32], [1, 1, 32, 64], 2, 1),
        ([1, 40, 40, 64], [3, 3, 64, 32], 1, 2),
        ([1, 40, 40, 64], [3, 3, 64, 48], 1, 4),
        ([1, 17, 23, 48], [1, 1, 48, 40], 1, 1),
    ]

    @Test(.enabled(if: OneDNN.hasNativeBF16), arguments: 0..<cases.count)
    func matchesFP32WithinBF16Tolerance(_ index: Int) throws {
        let c = Self.cases[index]
        var rng = SplitMix64(seed: UInt64(10 + index))
        let x = Tensor.uniform(shape: c.input, lo: -1, hi: 1, using: &rng)
        let w = Tensor.uniform(shape: c.filter, lo: -0.2, hi: 0.2, using: &rng)
        let scale = (0..<c.filter[3]).map { _ in Float.random(in: 0.5...1.5, using: &rng) }
        let shift = (0..<c.filter[3]).map { _ in Float.random(in: -0.2...0.2, using: &rng) }
        let s = (c.stride, c.stride), d = (c.rate, c.rate)
        let expected = try conv2dFused(x, w, strides: s, dilations: d, scale: Tensor(shape: [scale.count], scalars: scale),
                                       shift: Tensor(shape: [shift.count], scalars: shift), relu: true)
        let conv = try PreparedConvolution(input: c.input, filter: w, strides: s, dilations: d, scale: scale,
                                           bias: shift, relu: true, bf16Output: false)
        let y = try conv.float(x)
        #expect(y.shape == expected.shape)
        #expect(!conv.implementation.hasPrefix("ref"))
        let error = normwise(y.scalars, expected.scalars)
        #expect(error < 1e-2, "normwise error \(error) (\(conv.implementation))")
        #expect(error > 0, "bf16 cannot equal fp32 exactly on random data")
    }

    @Test(.enabled(if: OneDNN.hasNativeBF16))
    func residualAndReLUPostOpsInBF16() throws {
        var rng = SplitMix64(seed: 3)
        let x = Tensor.uniform(shape: [1, 24, 24, 64], lo: -1, hi: 1, using: &rng)
        let w = Tensor.uniform(shape: [1, 1, 64, 96], lo: -0.2, hi: 0.2, using: &rng)
        let r = Tensor.uniform(shape: [1, 24, 24, 96], lo: -1, hi: 1, using: &rng)
        let bias = (0..<96).map { Float($0) / 96 - 0.5 }
        let conv = try PreparedConvolution(input: x.shape, filter: w, bias: bias, residual: true, relu: true)
        let residual = BF16Tensor(r)
        let out = try conv(BF16Tensor(x), addingInto: residual)
        #expect(out === residual)
        let expected = try conv2dFused(x, w, shift: Tensor(shape: [96], scalars: bias), residual: BF16Tensor(r).float(),
                                       relu: true)
        let y = out.float()
        #expect(normwise(y.scalars, expected.scalars) < 1e-2)
        #expect(y.scalars.allSatisfy { $0 >= 0 })
    }

    @Test(.enabled(if: OneDNN.hasNativeBF16))
    func bitIdenticalForAnyWorkerCount() throws {
        var rng = SplitMix64(seed: 5)
        let x = Tensor.uniform(shape: [1, 40, 40, 128], lo: -1, hi: 1, using: &rng)
        let w = Tensor.uniform(shape: [3, 3, 128, 64], lo: -0.1, hi: 0.1, using: &rng)
        let conv = try PreparedConvolution(input: x.shape, filter: w, dilations: (2, 2), relu: true)
        #expect(PreparedConvolution.rowBlocks(height: 40, width: 40) > 1)
        let input = BF16Tensor(x)
        let runs = try [1, 2, 3].map { n in try Engine.withWorkers(n) { try conv(input).float().scalars } }
        #expect(runs[0] == runs[1])
        #expect(runs[0] == runs[2])
    }

    @Test func bf16RoundsToNearestEven() throws {
        // 1 + 2⁻⁸ is halfway between 1 and 1 + 2⁻⁷: ties go to the even (1); just above goes up.
        let values: [Float] = [1, 1 + 1.0 / 256, 1 + 1.0 / 256 + 1.0 / 65536, -2.5, .infinity, 3 * 1.0 / 128 + 1]
        let x = try Tensor(shape: [values.count], scalars: values)
        let y = BF16Tensor(x).float().scalars
        #expect(y[0] == 1)
        #expect(y[1] == 1)
        #expect(y[2] == 1 + 1.0 / 128)
        #expect(y[3] == -2.5)
        #expect(y[4] == .infinity)
        #expect(y[5] == 1 + 3.0 / 128)
        let nan = BF16Tensor(try Tensor(shape: [1], scalars: [.nan])).float().scalars[0]
        #expect(nan.isNaN)
    }

    @Test func maxPoolMatchesFP32OnBF16Values() throws {
        var rng = SplitMix64(seed: 7)
        let x = BF16Tensor(Tensor.uniform(shape: [2, 13, 15, 8], lo: -1, hi: 1, using: &rng))
        let y = try maxPool2d(x, window: (3, 3), strides: (2, 2), padding: .same).float()
        let expected = try maxPool2d(x.float(), window: (3, 3), strides: (2, 2), padding: .same)
        #expect(y.shape == expected.shape)
        #expect(y.scalars == expected.scalars)
    }

    @Test(.enabled(if: OneDNN.hasNativeBF16))
    func matrixProductMatchesFP32() throws {
        var rng = SplitMix64(seed: 9)
        let (m, n, k) = (600, 96, 80)
        let a = BF16Tensor(Tensor.uniform(shape: [m, k], lo: -1, hi: 1, using: &rng))
        let b = BF16Tensor(Tensor.uniform(shape: [k, n], lo: -1, hi: 1, using: &rng))
        let product = try PreparedBF16MatrixProduct(m: m, n: n, k: k)
        var c = [Float](repeating: 0, count: m * n)
        try c.withUnsafeMutableBufferPointer { try product.run(a: a.storage, b: b.storage, c: $0.baseAddress!) }
        let expected = try matmul(a.float(), b.float())
        // Products of bf16 values are exact in fp32; only the summation order differs.
        #expect(normwise(c, expected.scalars) < 1e-5)
    }

    @Test(.enabled(if: OneDNN.hasNativeBF16))
    func wrongInputShapeIsAnError() throws {
        let w = Tensor(shape: [1, 1, 8, 8], repeating: 0.1)
        let conv = try PreparedConvolution(input: [1, 8, 8, 8], filter: w)
        #expect(throws: TensorError.self) { try conv(BF16Tensor(Tensor(shape: [1, 9, 8, 8]))) }
        #expect(throws: TensorError.self) {
            try PreparedConvolution(input: [1, 8, 8, 7], filter: w)
        }
    }
}
