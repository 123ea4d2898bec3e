import Foundation
import Testing
@testable import ImageModel
@testable import Tensor
@testable import VideoModel

/// The baseline variants of ModelConfig.ablation: what they ignore must not change the outputs,
/// and what they keep must.
@Suite struct AblationTests {
    func clip(seed: UInt64) -> Tensor {
        var rng = SplitMix64(seed: seed)
        return Tensor.uniform(shape: [16, 32, 32, 3], lo: -50, hi: 50, using: &rng)
    }

    /// The clip with every frame but the target (position 8) replaced.
    func otherFramesReplaced(_ c: Tensor) throws -> Tensor {
        let other = clip(seed: 99)
        let frames = try (0..<16).map { i in
            try (i == 8 ? c : other).slice(begin: [i, 0, 0, 0], size: [1, 32, 32, 3])
        }
        return try concat(frames, axis: 0)
    }

    @Test func singleFrameSeesOnlyTheTargetFrame() throws {
        var cfg = tinyVideoConfig()
        cfg.ablation = .singleFrame
        let model = try CMPCModel(config: cfg, seed: 5)
        let full = try CMPCModel(tensors: model.parameters.values.map { ($0.key, $0.value) },
                                 base: tinyVideoConfig(), source: "memory")
        let words: [Int32] = [0, 0, 4, 5, 6, 7]
        let a = clip(seed: 1), b = try otherFramesReplaced(a)
        #expect(try model.forward(input: a, words: words).up.scalars == model.forward(input: b, words: words).up.scalars)
        // The same weights without the ablation do look at the other frames.
        #expect(try full.forward(input: a, words: words).up.scalars != full.forward(input: b, words: words).up.scalars)
        // Single frame = the target frame repeated.
        let target = try a.slice(begin: [8, 0, 0, 0], size: [1, 32, 32, 3]).tiled([16, 1, 1, 1])
        let r = try model.forward(input: a, words: words).up.scalars, t = try full.forward(input: target, words: words).up.scalars
        #expect(zip(r, t).map { abs($0 - $1) }.max()! <= 1e-5)
    }

    @Test func noSentenceIgnoresTheWords() throws {
        var cfg = tinyVideoConfig()
        cfg.ablation = .noSentence
        let model = try CMPCModel(config: cfg, seed: 6)
        let a = clip(seed: 2)
        let x = try model.forward(input: a, words: [0, 0, 4, 5, 6, 7]).up.scalars
        let y = try model.forward(input: a, words: [0, 9, 10, 11, 12, 13]).up.scalars
        #expect(x == y)
        #expect(try model.forward(input: clip(seed: 3), words: [0, 0, 4, 5, 6, 7]).up.scalars != x)
        var imageCfg = tinyVideoConfig()
        imageCfg.model = .image
        imageCfg.ablation = .noSentence
        let image = try CMPCModel(config: imageCfg, seed: 7)
        let frame = try a.slice(begin: [8, 0, 0, 0], size: [1, 32, 32, 3])
        #expect(try image.forward(input: frame, words: [0, 0, 4, 5, 6, 7]).up.scalars
                == image.forward(input: frame, words: [0, 9, 10, 11, 12, 13]).up.scalars)
    }

    @Test func configurationNamesTheAblation() throws {
        let json = #"{"model": "video", "ablation": "single_frame", "H": 32, "W": 32}"#
        let c = try JSONDecoder().decode(ModelConfig.self, from: Data(json.utf8))
        #expect(c.ablation == .singleFrame)
        let back = try JSONDecoder().decode(ModelConfig.self, from: JSONEncoder().encode(c))
        #expect(back == c)
        #expect(try JSONDecoder().decode(ModelConfig.self, from: Data(#"{"H": 32}"#.utf8)).ablation == nil)
        #expect(throws: ModelConfigError.self) {
            try JSONDecoder().decode(ModelConfig.self, from: Data(#"{"ablation": "no_video"}"#.utf8))
        }
        var image = tinyVideoConfig()
        image.model = .image
        image.ablation = .singleFrame
        #expect(throws: ModelConfigError.self) { try image.validate() }
    }
}
