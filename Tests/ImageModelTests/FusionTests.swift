// The level structure both networks share: the fusion's declared inputs fix its width and its
// concatenation, and the attention helper is exactly the op-by-op attention it replaced.
import Testing
@testable import ImageModel
@testable import Tensor

@Suite struct FusionTests {
    @Test func theDeclaredInputsFixTheFusionWidthOfBothNetworks() throws {
        var image = ModelConfig()
        #expect(image.fusionInputs == [.multimodal, .spatialGraph, .entitySentence, .spatialGrid])
        #expect(image.fusionInputChannels == 3008)                       // fusion_c5/DW [1,1,3008,500] of the original
        var video = image
        video.model = .video
        #expect(video.fusionInputChannels == 4008)                       // the original video network's
        video.motion = true
        #expect(video.fusionInputs.last == .motion && video.fusionInputChannels == 4008 + 4 * 1000)
        image = tinyConfig()
        for config in [image, video] {
            let core = try CMPCCore(config: config)
            for level in core.levels {
                #expect(level.fusion.conv.inChannels == config.fusionInputChannels)
                #expect(level.fusion.widths == config.fusionInputs.map { $0.channels(config) })
                #expect((level.temporalGraph != nil) == (config.model == .video))
            }
        }
    }

    @Test func aFusionPartOfTheWrongWidthIsNamed() throws {
        let c = tinyConfig()
        let fusion = LevelFusion(level: "c4", config: c)
        let p = Parameters(specs: fusion.specs, seed: 1)
        let parts = Dictionary(uniqueKeysWithValues: fusion.inputs.map { ($0, Tensor(shape: [1, 8, 8, $0.channels(c)])) })
        let y = try fusion(p) { parts[$0]! }
        #expect(y.shape == [1, 8, 8, c.mlpDim])
        do {
            _ = try fusion(p) { $0 == .spatialGraph ? Tensor(shape: [1, 8, 8, 3]) : parts[$0]! }
            Issue.record("a part of the wrong width should be refused")
        } catch let e as TensorError {
            #expect(e.description.contains("spatial graph") && e.description.contains("fusion_c4"))
        }
    }

    @Test func attentionIsTheOpByOpAttention() throws {
        var rng = SplitMix64(seed: 21)
        let convA = HeadConv("a", in: 6, out: 5), convB = HeadConv("b", in: 7, out: 5)
        let p = Parameters(specs: convA.specs + convB.specs, seed: 22)
        // One query vector over three frames' maps (the temporal graph's pooling): the query is repeated.
        let a = Tensor.uniform(shape: [1, 1, 1, 6], lo: -1, hi: 1, using: &rng)
        let b = Tensor.uniform(shape: [3, 4, 2, 7], lo: -1, hi: 1, using: &rng)
        let qa = try convA(a, p).reshaped(to: [1, 1, 5]).tiled([3, 1, 1])
        let kb = try convB(b, p).reshaped(to: [3, 8, 5])
        let scores = try matmul(qa, kb, transposeB: true) / Float(5).squareRoot()
        #expect(try attentionScores(a, convA, b, convB, p).scalars == scores.scalars)
        #expect(try attention(a, convA, b, convB, over: 2, p).scalars == softmax(scores, axis: 2).scalars)
        let wide = HeadConv("c", in: 7, out: 4)
        #expect(throws: TensorError.self) { try attentionScores(a, convA, b, wide, Parameters(specs: convA.specs + wide.specs, seed: 1)) }
    }
}
