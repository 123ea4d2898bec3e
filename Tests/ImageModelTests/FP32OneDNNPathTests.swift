// The backbone's fp32 convolutions through oneDNN (ConvBatchNorm, PreparedWeights.fp32Convolution):
// at the backbone's shapes the fused inference path, with its convolution prepared once per
// parameter, gives exactly what the op-by-op path training records gives, and whole backbones agree
// bit for bit the same way.
import Testing
@testable import ImageModel
@testable import Tensor

@Suite struct FP32OneDNNPathTests {
    /// Backbone units at (reduced) real sizes: conv1 7×7/2, a res2 3×3, a res4 3×3 at rate 2, a res5 3×3 at rate 4.
    static let units: [(unit: ConvBatchNorm, input: [Int])] = [
        (ConvBatchNorm(conv: "conv1", bn: "bn_conv1", kernel: 7, inChannels: 3, outChannels: 64, stride: 2, dilation: 1,
                       withReLU: true), [1, 96, 96, 3]),
        (ConvBatchNorm(conv: "res2a_branch2b", bn: "bn2a_branch2b", kernel: 3, inChannels: 64, outChannels: 64, stride: 1,
                       dilation: 1, withReLU: true), [1, 48, 48, 64]),
        (ConvBatchNorm(conv: "res4b1_branch2b", bn: "bn4b1_branch2b", kernel: 3, inChannels: 256, outChannels: 256,
                       stride: 1, dilation: 2, withReLU: true), [1, 24, 24, 256]),
        (ConvBatchNorm(conv: "res5a_branch2b", bn: "bn5a_branch2b", kernel: 3, inChannels: 512, outChannels: 512,
                       stride: 1, dilation: 4, withReLU: false), [1, 24, 24, 512]),
    ]

    /// Seeded values with batch-norm statistics that are not the identity.
    static func parameters(_ specs: [ParameterSpec], seed: UInt64) -> Parameters {
        var p = Parameters(specs: specs, seed: seed)
        var rng = SplitMix64(seed: seed + 100)
        for s in specs where s.name.hasSuffix("moving_variance") {
            p.values[s.name] = Tensor.uniform(shape: s.shape, lo: 0.5, hi: 2, using: &rng)
        }
        for s in specs where s.name.hasSuffix("moving_mean") || s.name.hasSuffix("beta") {
            p.values[s.name] = Tensor.uniform(shape: s.shape, lo: -0.3, hi: 0.3, using: &rng)
        }
        return p
    }

    @Test(arguments: 0..<units.count)
    func fusedUnitEqualsTheRecordedPathBitForBit(_ index: Int) throws {
        let (unit, input) = Self.units[index]
        let plain = Self.parameters(unit.specs, seed: UInt64(7 + index))
        var tracked = plain
        let weights = unit.conv + "/weights"
        tracked.values[weights] = try plain(weights).trackingGradients(label: weights)
        var rng = SplitMix64(seed: UInt64(20 + index))
        let x = Tensor.uniform(shape: input, lo: -1, hi: 1, using: &rng)
        try Engine.withFP32Convolution(.auto) {
            let filter = try plain(weights).shape
            #expect(fp32ConvolutionUsesOneDNN(input: input, filter: filter, strides: (unit.stride, unit.stride),
                                              dilations: (unit.dilation, unit.dilation)))
            let recorded = try unit(x, tracked)
            let residual = Tensor.uniform(shape: recorded.shape, lo: -1, hi: 1, using: &rng)
            let recordedWithResidual = try unit(x, tracked, residual: residual, reluAfter: true)
            #expect(recorded.isTracked)
            #expect(plain.prepared.weightBytes == 0)
            let fused = try unit(x, plain)
            // The fused path prepared the convolution once, for this parameter and image size.
            let bytes = plain.prepared.weightBytes, weightCount = try plain(weights).count
            #expect(bytes >= weightCount * 4)
            #expect(plain.prepared.weightBytes(of: .fp32) == bytes && plain.prepared.weightBytes(of: .bf16) == 0)
            let fusedWithResidual = try unit(x, plain, residual: residual, reluAfter: true)
            #expect(plain.prepared.weightBytes == bytes)
            #expect(fused.scalars == recorded.scalars)
            #expect(fusedWithResidual.scalars == recordedWithResidual.scalars)
            #expect(fusedWithResidual.scalars.contains(0) && fusedWithResidual.scalars.contains { $0 > 0 })
        }
    }

    @Test func backboneInferenceEqualsTheRecordedPathBitForBit() throws {
        var c = tinyConfig()
        c.widthDivisor = 4            // 16-channel stem, 3×3s of 16…128 channels
        let backbone = DeepLabResNet(config: c)
        let plain = Self.parameters(backbone.specs, seed: 3)
        var tracked = plain
        for spec in backbone.specs where spec.name.hasSuffix("/weights") {
            tracked.values[spec.name] = try plain(spec.name).trackingGradients(label: spec.name)
        }
        var rng = SplitMix64(seed: 4)
        let image = Tensor.uniform(shape: [1, 64, 64, 3], lo: -100, hi: 100, using: &rng)
        try Engine.withFP32Convolution(.auto) {
            let a = try Engine.withWorkers(1) { try backbone(image, plain) }
            let b = try backbone(image, tracked)
            let a3 = try Engine.withWorkers(3) { try backbone(image, plain) }
            #expect(plain.prepared.weightBytes > 0)
            #expect(b.c5.isTracked && !a.c5.isTracked)
            for (x, y) in [(a.c3, b.c3), (a.c4, b.c4), (a.c5, b.c5), (a.c5, a3.c5)] { #expect(x.scalars == y.scalars) }
            // The same network on OpenBLAS alone agrees within float rounding.
            let blas = try Engine.withFP32Convolution(.openblas) { try backbone(image, plain) }
            let diff = zip(blas.c5.scalars, a.c5.scalars).map { abs($0 - $1) }.max() ?? 0
            let size = blas.c5.scalars.map { abs($0) }.max() ?? 0
            #expect(diff <= 1e-4 * max(size, 1))
        }
    }
}
