import Foundation
import Testing
@testable import ImageModel
@testable import Tensor
@testable import VideoModel

/// The configuration's "motion" features (this port's addition): the fusion reads m_f − m_target
/// of the other sampled frames, so it needs their weights; a clip whose sampled frames are all the
/// target frame gives the motion-free network's outputs.
@Suite struct MotionTests {
    @Test func fusionReadsTheFrameDifferences() throws {
        var cfg = tinyVideoConfig()
        cfg.motion = true
        let model = try CMPCModel(config: cfg, seed: 8)
        let c = cfg.vEmbDim
        let fusion = try #require(model.parameters.values["text_objseg/fusion_c4/DW"])
        #expect(fusion.shape == [1, 1, 3 * c + cfg.rnnSize + 8 + 4 * c, cfg.mlpDim])
        // A still clip (every frame the same): the differences are zero, so the network equals the
        // motion-free one whose fusion weights are the first rows.
        var rng = SplitMix64(seed: 4)
        let frame = Tensor.uniform(shape: [1, 32, 32, 3], lo: -50, hi: 50, using: &rng)
        let still = try frame.tiled([16, 1, 1, 1])
        var plain = tinyVideoConfig()
        plain.motion = nil
        let base = 3 * c + cfg.rnnSize + 8
        let tensors = try model.parameters.values.map { name, value -> (String, Tensor) in
            guard name.hasSuffix("/DW"), name.contains("/fusion_") else { return (name, value) }
            return (name, try value.slice(begin: [0, 0, 0, 0], size: [1, 1, base, cfg.mlpDim]))
        }
        let withoutMotion = try CMPCModel(tensors: tensors, base: plain, source: "memory")
        #expect(!withoutMotion.config.usesMotion)
        // The checkpoint's fusion width tells the loader the features are on, whatever the base says.
        let reloaded = try CMPCModel(tensors: model.parameters.values.map { ($0.key, $0.value) }, base: plain, source: "memory")
        #expect(reloaded.config.usesMotion)
        let words: [Int32] = [0, 0, 4, 5, 6, 7]
        let a = try model.forward(input: still, words: words).up.scalars
        let b = try withoutMotion.forward(input: still, words: words).up.scalars
        #expect(zip(a, b).map { abs($0 - $1) }.max()! <= 1e-5)
        // A moving clip: the differences count.
        let moving = Tensor.uniform(shape: [16, 32, 32, 3], lo: -50, hi: 50, using: &rng)
        let x = try model.forward(input: moving, words: words).up.scalars
        let y = try withoutMotion.forward(input: moving, words: words).up.scalars
        #expect(zip(x, y).map { abs($0 - $1) }.max()! > 1e-4)
    }

    @Test func configurationNamesTheMotion() throws {
        let c = try JSONDecoder().decode(ModelConfig.self, from: Data(#"{"model": "video", "motion": true}"#.utf8))
        #expect(c.usesMotion)
        #expect(try JSONDecoder().decode(ModelConfig.self, from: JSONEncoder().encode(c)) == c)
        #expect(try !JSONDecoder().decode(ModelConfig.self, from: Data(#"{"model": "video"}"#.utf8)).usesMotion)
        var image = ModelConfig()
        image.motion = true
        #expect(throws: ModelConfigError.self) { try image.validate() }
    }
}
