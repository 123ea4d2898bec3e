// fp32 forward convolutions through oneDNN (ConvOneDNN.swift): which shapes take it under each
// CMPC_VIDEO_FP32_CONV setting, results bit-identical for 1, 2 and 3 workers, conv2dFused equal to
// conv2d plus the op-by-op epilogue bit for bit, the prepared form equal to the per-call one, and the
// forward near the direct loops.
import Foundation
import Testing
@testable import Tensor

@Suite struct ConvOneDNNTests {
    /// Windows larger than 1×1 at shapes cut into several row blocks: atrous, strided 7×7, odd sizes, two images.
    static let cases: [(input: [Int], filter: [Int], stride: Int, rate: Int)] = [
        ([2, 40, 33, 16], [3, 3, 16, 24], 1, 2),
        ([1, 64, 64, 3], [7, 7, 3, 16], 2, 1),
        ([1, 36, 36, 32], [3, 3, 32, 32], 1, 4),
    ]

    @Test func theSwitchParsesItsThreeValues() {
        #expect(FP32ConvolutionPath.parse("openblas") == .openblas)
        #expect(FP32ConvolutionPath.parse(" OneDNN ") == .onednn)
        #expect(FP32ConvolutionPath.parse("auto") == .auto)
        #expect(FP32ConvolutionPath.parse("mkl") == nil)
    }

    @Test func windowsLargerThanOneByOneTakeOneDNNUnlessSwitchedOff() {
        for path in FP32ConvolutionPath.allCases {
            Engine.withFP32Convolution(path) {
                let big = fp32ConvolutionUsesOneDNN(input: [1, 40, 40, 64], filter: [3, 3, 64, 64], dilations: (2, 2))
                let stem = fp32ConvolutionUsesOneDNN(input: [1, 64, 64, 3], filter: [7, 7, 3, 64], strides: (2, 2))
                #expect(big == (path != .openblas), "\(path)")
                #expect(stem == (path != .openblas), "\(path)")
                // 1×1 (plain or strided) stays on OpenBLAS; so does nothing to compute.
                #expect(!fp32ConvolutionUsesOneDNN(input: [1, 40, 40, 64], filter: [1, 1, 64, 64]))
                #expect(!fp32ConvolutionUsesOneDNN(input: [1, 40, 40, 64], filter: [1, 1, 64, 64], strides: (2, 2)))
                #expect(!fp32ConvolutionUsesOneDNN(input: [0, 40, 40, 64], filter: [3, 3, 64, 64]))
                #expect(!fp32ConvolutionUsesOneDNN(input: [1, 40, 40, 64], filter: [3, 3, 63, 64]))
            }
        }
    }

    @Test(arguments: 0..<cases.count)
    func oneDNNForwardIsBitIdenticalForAnyWorkerCount(_ index: Int) throws {
        let c = Self.cases[index]
        var rng = SplitMix64(seed: UInt64(40 + index))
        let x = Tensor.uniform(shape: c.input, lo: -1, hi: 1, using: &rng)
        let w = Tensor.uniform(shape: c.filter, lo: -0.2, hi: 0.2, using: &rng)
        let s = (c.stride, c.stride), d = (c.rate, c.rate)
        let cout = c.filter[3]
        let scale = Tensor.uniform(shape: [cout], lo: 0.5, hi: 1.5, using: &rng)
        let shift = Tensor.uniform(shape: [cout], lo: -0.1, hi: 0.1, using: &rng)
        try Engine.withFP32Convolution(.auto) {
            #expect(fp32ConvolutionUsesOneDNN(input: c.input, filter: c.filter, strides: s, dilations: d))
            let plain = try [1, 2, 3].map { n in try Engine.withWorkers(n) { try conv2d(x, w, strides: s, dilations: d) } }
            let residual = Tensor.uniform(shape: plain[0].shape, lo: -0.5, hi: 0.5, using: &rng)
            let fused = try [1, 2, 3].map { n in
                try Engine.withWorkers(n) {
                    try conv2dFused(x, w, strides: s, dilations: d, scale: scale, shift: shift, residual: residual, relu: true)
                }
            }
            #expect(plain[0].scalars == plain[1].scalars && plain[0].scalars == plain[2].scalars)
            #expect(fused[0].scalars == fused[1].scalars && fused[0].scalars == fused[2].scalars)
            // Near the direct loops (oneDNN sums in another order than they do).
            let reference = try naiveConv2d(x, w, strides: s, dilations: d, padding: .same)
            expectClose(plain[0], reference, "oneDNN forward", tolerance: 1e-5)
        }
    }

    @Test(arguments: 0..<cases.count)
    func fusedEqualsTheOpByOpPathBitForBit(_ index: Int) throws {
        let c = Self.cases[index]
        var rng = SplitMix64(seed: UInt64(50 + index))
        let x = Tensor.uniform(shape: c.input, lo: -1, hi: 1, using: &rng)
        let w = Tensor.uniform(shape: c.filter, lo: -0.2, hi: 0.2, using: &rng)
        let s = (c.stride, c.stride), d = (c.rate, c.rate)
        let cout = c.filter[3]
        let mean = Tensor.uniform(shape: [cout], lo: -0.2, hi: 0.2, using: &rng)
        let variance = Tensor.uniform(shape: [cout], lo: 0.5, hi: 2, using: &rng)
        let beta = Tensor.uniform(shape: [cout], lo: -0.3, hi: 0.3, using: &rng)
        let gamma = Tensor.uniform(shape: [cout], lo: 0.5, hi: 1.5, using: &rng)
        try Engine.withFP32Convolution(.auto) {
            // Op by op, recording gradients (the training path): conv2d, batch norm, add, ReLU.
            let tw = w.trackingGradients()
            let y = try conv2d(x, tw, strides: s, dilations: d)
            let residual = Tensor.uniform(shape: y.shape, lo: -0.5, hi: 0.5, using: &rng)
            let opByOp = try relu(batchNormInference(y, mean: mean, variance: variance, offset: beta, scale: gamma,
                                                     epsilon: 0.001) + residual)
            #expect(opByOp.isTracked)
            let folded = try foldBatchNorm(mean: mean, variance: variance, offset: beta, scale: gamma, epsilon: 0.001)
            let fused = try conv2dFused(x, w, strides: s, dilations: d, scale: folded.scale, shift: folded.shift,
                                        residual: residual, relu: true)
            #expect(fused.scalars == opByOp.scalars)
            // Prepared once (as the networks do) and run with the engine's epilogue: the same bits.
            let conv = try PreparedConvolution(input: x.shape, filter: w, strides: s, dilations: d, bf16Output: false,
                                               operands: .fp32)
            #expect(conv.isRawFP32)
            let prepared = try conv2dFused(x, conv, scale: folded.scale, shift: folded.shift, residual: residual, relu: true)
            #expect(prepared.scalars == opByOp.scalars)
            #expect(try conv2dFused(x, conv).scalars == y.scalars)
            // The backward pass still runs (im2col + OpenBLAS).
            let g = try Tape.gradients(of: y, wrt: [tw])
            #expect(g[0].shape == w.shape)
        }
    }

    @Test func theSwitchChoosesTheLibrary() throws {
        var rng = SplitMix64(seed: 60)
        let x = Tensor.uniform(shape: [1, 32, 32, 16], lo: -1, hi: 1, using: &rng)
        let w = Tensor.uniform(shape: [3, 3, 16, 16], lo: -0.2, hi: 0.2, using: &rng)
        let (g, cout) = try convGeometry(op: "t", x: x.shape, filter: w.shape, strides: (1, 1), dilations: (1, 1),
                                         padding: .same)
        let blas = try convForward(g, cout: cout, x: x.scalars, filter: w.scalars, epilogue: ConvEpilogue(relu: false))
        let dnnl = try PreparedConvolution(input: x.shape, filter: w, bf16Output: false, operands: .fp32).float(x)
        #expect(try Engine.withFP32Convolution(.openblas) { try conv2d(x, w) }.scalars == blas)
        #expect(try Engine.withFP32Convolution(.onednn) { try conv2d(x, w) }.scalars == dnnl.scalars)
        #expect(try Engine.withFP32Convolution(.auto) { try conv2d(x, w) }.scalars == dnnl.scalars)
        // Blocks of a parallel loop inherit the setting.
        let inner = Engine.withFP32Convolution(.openblas) {
            var seen: [FP32ConvolutionPath] = []
            let lock = NSLock()
            Engine.withWorkers(2) {
                Engine.run(4) { _ in lock.lock(); seen.append(Engine.fp32Convolution); lock.unlock() }
            }
            return seen
        }
        #expect(inner == [FP32ConvolutionPath](repeating: .openblas, count: 4))
    }

    @Test func preparedConvolutionRefusesAnotherImageSizeAndTrackedInputs() throws {
        let w = Tensor(shape: [3, 3, 4, 4], repeating: 0.1)
        let conv = try PreparedConvolution(input: [1, 16, 16, 4], filter: w, bf16Output: false, operands: .fp32)
        #expect(throws: TensorError.self) { try conv2dFused(Tensor(shape: [1, 15, 16, 4]), conv) }
        #expect(throws: TensorError.self) {
            try conv2dFused(Tensor(shape: [1, 16, 16, 4]), conv, residual: Tensor(shape: [1, 16, 16, 3]))
        }
        #expect(throws: TensorError.self) { try conv2dFused(Tensor(shape: [1, 16, 16, 4]).trackingGradients(), conv) }
        let withReLU = try PreparedConvolution(input: [1, 16, 16, 4], filter: w, relu: true, bf16Output: false,
                                               operands: .fp32)
        #expect(!withReLU.isRawFP32)
        #expect(throws: OneDNNError.self) { try conv2dFused(Tensor(shape: [1, 16, 16, 4]), withReLU) }
    }
}
