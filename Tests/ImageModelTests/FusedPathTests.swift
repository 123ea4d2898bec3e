import Testing
@testable import ImageModel
@testable import Tensor

/// The blocks' fused inference paths (MUTAN's head sum, the ConvLSTM cell) give exactly what the
/// op-by-op path gives — the one taken when gradients are recorded.
@Suite struct FusedPathTests {
    @Test func inferenceEqualsTheRecordedPathBitForBit() throws {
        let c = tinyConfig()
        let net = try CMPCImageNetwork(config: c)
        let plain = Parameters(specs: net.specs, seed: 3)
        var tracked = Parameters(specs: net.specs, seed: 3)
        for spec in net.specs where spec.name.hasPrefix("text_objseg") {
            tracked.values[spec.name] = try tracked(spec.name).trackingGradients(label: spec.name)
        }
        var rng = SplitMix64(seed: 4)
        let image = Tensor.uniform(shape: [1, 64, 64, 3], lo: -100, hi: 100, using: &rng)
        let words: [Int32] = [0, 0, 4, 7, 9, 11]
        let a = try net(image: image, words: words, plain)
        let b = try net(image: image, words: words, tracked)
        #expect(b.up.isTracked && !a.up.isTracked)
        #expect(a.up.scalars == b.up.scalars)
        #expect(a.upC3.scalars == b.upC3.scalars)
        // The blocks themselves.
        let sequence = (0..<3).map { _ in Tensor.uniform(shape: [1, 8, 8, c.mlpDim], lo: -1, hi: 1, using: &rng) }
        #expect(try net.tail.convLSTM(sequence, plain).scalars == net.tail.convLSTM(sequence, tracked).scalars)
        let visual = Tensor.uniform(shape: [1, 8, 8, c.vEmbDim], lo: -1, hi: 1, using: &rng)
        let sentence = Tensor.uniform(shape: [1, 1, 1, c.rnnSize], lo: -1, hi: 1, using: &rng)
        let grid = spatialGrid(height: 8, width: 8)
        #expect(try net.levels[1].mutan(visual: visual, spatial: grid, sentence: sentence, plain).scalars
                == net.levels[1].mutan(visual: visual, spatial: grid, sentence: sentence, tracked).scalars)
    }
}
