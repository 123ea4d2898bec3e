import Foundation
import Testing
@testable import ImageModel
@testable import Tensor
@testable import VideoModel
import Video

func tinyVideoConfig(numSteps: Int = 6) -> ModelConfig {
    var c = ModelConfig()
    c.model = .video
    c.H = 32
    c.W = 32
    c.vEmbDim = 8
    c.rnnSize = 8
    c.mlpDim = 4
    c.parseDim = 4
    c.numSteps = numSteps
    c.vocabSize = 20
    c.gloveDim = 3
    c.widthDivisor = 32
    c.depth = [1, 1, 1, 1]
    return c
}

@Suite struct VideoNetworkTests {
    @Test func fullSizeVideoNetworkDeclaresTheOriginalVariables() throws {
        var c = ModelConfig()
        c.model = .video
        c.vocabSize = 20
        let net = try CMPCVideoNetwork(config: c)
        // The variable list of the original video graph (789 names), read off TensorFlow.
        let url = try #require(Bundle.module.url(forResource: "cmpc_video_variables", withExtension: "txt",
                                                 subdirectory: "Fixtures/reference"))
        var theirs: [String: [Int]] = [:]
        for line in try String(contentsOf: url, encoding: .utf8).split(separator: "\n") {
            let parts = line.split(separator: "\t")
            guard parts.count >= 2 else { continue }
            theirs[String(parts[0])] = parts[1].trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
                .split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        }
        let ours = Dictionary(uniqueKeysWithValues: net.specs.map { ($0.name, $0.shape) })
        #expect(ours.count == net.specs.count)
        #expect(Set(ours.keys) == Set(theirs.keys),
                "missing: \(Set(theirs.keys).subtracting(ours.keys).sorted().prefix(5)); extra: \(Set(ours.keys).subtracting(theirs.keys).sorted().prefix(5))")
        for (name, shape) in theirs { #expect(ours[name] == shape, "\(name)") }
        // In the port's fixed order, which safetensors files and the optimizer state follow.
        let orderURL = try #require(Bundle.module.url(forResource: "cmpc_video_parameter_order", withExtension: "txt",
                                                      subdirectory: "Fixtures/reference"))
        let order = try String(contentsOf: orderURL, encoding: .utf8).split(separator: "\n")
            .filter { !$0.hasPrefix("#") }.map(String.init)
        #expect(order.count == 789 && net.specs.map(\.name) == order)
    }

    @Test func anImageGivenToTheVideoNetworkIsItsOwnClip() throws {
        let model = try CMPCModel(config: tinyVideoConfig(), seed: 13)
        var rng = SplitMix64(seed: 1)
        let image = Tensor.uniform(shape: [32, 32, 3], lo: -50, hi: 50, using: &rng)
        let a = try model.forward(input: image, words: [0, 0, 4, 5, 6, 7])
        let b = try model.forward(input: image.reshaped(to: [1, 32, 32, 3]).tiled([16, 1, 1, 1]), words: [0, 0, 4, 5, 6, 7])
        #expect(a.up.scalars == b.up.scalars)
    }
}
