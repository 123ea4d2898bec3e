import Foundation
import Testing
@testable import ImageModel
@testable import Tensor

/// A tiny configuration for fast structural tests.
func tinyConfig(_ kind: ModelKind = .image, numSteps: Int = 6) -> ModelConfig {
    var c = ModelConfig()
    c.model = kind
    c.H = 64
    c.W = 64
    c.vEmbDim = 16
    c.rnnSize = 16
    c.mlpDim = 8
    c.parseDim = 8
    c.numSteps = numSteps
    c.vocabSize = 30
    c.gloveDim = 5
    c.widthDivisor = 16
    c.depth = [1, 1, 1, 1]
    return c
}

@Suite struct NetworkShapeTests {
    @Test func fullSizeImageNetworkDeclaresTheOriginalVariables() throws {
        var c = ModelConfig()
        c.vocabSize = 20   // the reference list was made with a 20-word vocabulary
        let net = try CMPCImageNetwork(config: c)
        let ours = Dictionary(uniqueKeysWithValues: net.specs.map { ($0.name, $0.shape) })
        // The variable list of the original graph (735 names), read off TensorFlow.
        let url = try #require(Bundle.module.url(forResource: "cmpc_image_variables", withExtension: "txt",
                                                 subdirectory: "Fixtures/reference"))
        let theirs = try referenceShapes(url)
        #expect(ours.count == net.specs.count, "duplicate parameter names")
        #expect(Set(ours.keys) == Set(theirs.keys),
                "missing: \(Set(theirs.keys).subtracting(ours.keys).sorted().prefix(5)); extra: \(Set(ours.keys).subtracting(theirs.keys).sorted().prefix(5))")
        for (name, shape) in theirs { #expect(ours[name] == shape, "\(name)") }
        // In the port's fixed order, which safetensors files and the optimizer state follow.
        let order = try #require(Bundle.module.url(forResource: "cmpc_image_parameter_order", withExtension: "txt",
                                                   subdirectory: "Fixtures/reference"))
        #expect(net.specs.map(\.name) == (try referenceNames(order)))
    }

    @Test func tinyImageNetworkRunsAndHasTheOutputShapes() throws {
        let c = tinyConfig()
        let net = try CMPCImageNetwork(config: c)
        let p = Parameters(specs: net.specs, seed: 1)
        var rng = SplitMix64(seed: 2)
        let image = Tensor.uniform(shape: [1, 64, 64, 3], lo: -100, hi: 100, using: &rng)
        let out = try net(image: image, words: [0, 0, 0, 4, 7, 9], p)
        #expect(out.up.shape == [1, 64, 64, 1])
        #expect(out.pred.shape == [1, 8, 8, 1])
        #expect(out.upC3.shape == [1, 64, 64, 1])
        #expect(out.wordsParse.shape == [3, 4])
        for row in 0..<3 {
            let s = (0..<4).map { out.wordsParse.scalars[row * 4 + $0] }.reduce(0, +)
            #expect(Swift.abs(s - 1) < 1e-5)
        }
        let finite = out.up.scalars.allSatisfy { $0.isFinite }
        #expect(finite)
    }

    @Test func headGradientsReachEveryHeadParameter() throws {
        let c = tinyConfig()
        let net = try CMPCImageNetwork(config: c)
        var p = Parameters(specs: net.specs, seed: 3)
        var rng = SplitMix64(seed: 4)
        let image = Tensor.uniform(shape: [1, 64, 64, 3], lo: -100, hi: 100, using: &rng)
        let features = try net.backbone(image, p)
        let headNames = net.specs.filter { !$0.isBackbone }.map(\.name)
        for n in headNames { p.values[n] = p.values[n]!.trackingGradients(label: n) }
        let out = try net.head(features: features, words: [0, 0, 5, 6, 7, 8], p)
        let loss = try out.up.sum() + out.upC3.sum() + out.upC4.sum() + out.upC5.sum()
        let grads = try Tape.gradients(of: loss, wrt: headNames.map { p.values[$0]! })
        // Every head parameter but the embedding rows of unused words gets some gradient.
        for (n, g) in zip(headNames, grads) where n != "text_objseg/Variable" {
            #expect(g.scalars.contains { $0 != 0 }, "no gradient reached \(n)")
        }
    }

    @Test func configurationIsReadFromCheckpointShapes() throws {
        var base = ModelConfig()
        base.numSteps = 9
        for kind in [ModelKind.image, .video] {
            let c = tinyConfig(kind, numSteps: 9)
            var shapes = Dictionary(uniqueKeysWithValues: try CMPCCore(config: c).specs.map { ($0.name, $0.shape) })
            let inferred = try CheckpointConfig.infer(shapes: shapes, base: base, source: "test")
            #expect(inferred == c)
            // A fusion width that fits no list of fusion inputs is named with the widths expected.
            shapes["text_objseg/fusion_c5/DW"] = [1, 1, c.fusionInputChannels + 1, c.mlpDim]
            do {
                _ = try CheckpointConfig.infer(shapes: shapes, base: base, source: "test")
                Issue.record("a wrong fusion width should be refused")
            } catch let e as ModelConfigError {
                #expect(e.description.contains("fusion_c5/DW") && e.description.contains("spatial graph \(c.vEmbDim)"))
            }
        }
    }

    @Test func badConfigurationsAreExplained() throws {
        var c = ModelConfig()
        c.rnnSize = 500
        #expect(throws: ModelConfigError.self) { try c.validate() }
        c = ModelConfig()
        c.widthDivisor = 3
        #expect(throws: ModelConfigError.self) { try c.validate() }
        c = ModelConfig()
        c.vfH = 41
        #expect(throws: ModelConfigError.self) { try c.validate() }
        let json = #"{"model": "image", "H": 96, "W": 96, "mlp_dim": 8}"#
        let decoded = try JSONDecoder().decode(ModelConfig.self, from: Data(json.utf8))
        #expect(decoded.H == 96 && decoded.mlpDim == 8 && decoded.vEmbDim == 1000 && decoded.featureHeight == 12)
    }

    @Test func loadingReportsMissingUnexpectedAndWrongShapes() throws {
        let net = try CMPCImageNetwork(config: tinyConfig())
        let p = Parameters(specs: net.specs, seed: 5)
        var tensors = net.specs.map { ($0.name, p.values[$0.name]!) }
        tensors.removeFirst()                                              // conv1/weights missing
        tensors.append(("text_objseg/nonsense/DW", Tensor(shape: [1])))    // unexpected
        tensors.append(("text_objseg/text_objseg/score/DW/Adam", Tensor(shape: [1])))   // optimizer slot: skipped
        tensors[3].1 = Tensor(shape: [7])                                  // wrong shape
        do {
            _ = try Parameters(specs: net.specs, tensors: tensors, source: "ckpt")
            Issue.record("loading should fail")
        } catch let e as ParameterError {
            #expect(e.description.contains("conv1/weights"))
            #expect(e.description.contains("text_objseg/nonsense/DW"))
            #expect(e.description.contains("wrong shape"))
            #expect(!e.description.contains("Adam"))
        }
    }

    @Test func nonFiniteWeightsAreRejectedAtLoadNamingTheTensor() throws {
        let net = try CMPCImageNetwork(config: tinyConfig())
        let p = Parameters(specs: net.specs, seed: 5)
        let clean = net.specs.map { ($0.name, p.values[$0.name]!) }
        #expect(throws: Never.self) { _ = try Parameters(specs: net.specs, tensors: clean, source: "ckpt") }
        for (bad, text) in [(Float.nan, "NaN"), (Float.infinity, "inf"), (-Float.infinity, "-inf")] {
            var tensors = clean
            let i = tensors.firstIndex { $0.0 == "text_objseg/score/DW" } ?? 3
            var t = tensors[i].1
            t.scalars = [Float](repeating: bad, count: t.scalars.count)    // all NaN/Inf
            tensors[i].1 = t
            var u = tensors[0].1
            u.scalars[u.scalars.count - 1] = bad                            // a single one
            tensors[0].1 = u
            do {
                _ = try Parameters(specs: net.specs, tensors: tensors, source: "ckpt.safetensors")
                Issue.record("weights with \(text) were accepted")
            } catch let e as ParameterError {
                #expect(e.description.contains("ckpt.safetensors"))
                #expect(e.description.contains("\(tensors[i].0): \(t.scalars.count) of \(t.scalars.count) values are NaN or infinite"))
                #expect(e.description.contains("\(tensors[0].0): 1 of \(u.scalars.count) values"))
                #expect(e.description.contains("(the first, \(text),"))
            }
        }
    }
}

/// A file of the original release's data folder, when a copy sits beside the clone (../shared/data);
/// the original's files are not part of this repository.
func originalData(_ name: String) -> URL {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<4 { url.deleteLastPathComponent() }   // Tests/ImageModelTests/<file> → the clone's parent
    return url.appendingPathComponent("shared/data/\(name)")
}

/// The names of a reference list ("name" or "name\tshape…" per line, "#" comments), in its order.
func referenceNames(_ url: URL) throws -> [String] {
    try String(contentsOf: url, encoding: .utf8).split(separator: "\n").filter { !$0.hasPrefix("#") }
        .compactMap { $0.split(separator: "\t").first.map(String.init) }
}

/// name → shape from a reference variable list ("name\t[a, b]\tdtype").
func referenceShapes(_ url: URL) throws -> [String: [Int]] {
    var out: [String: [Int]] = [:]
    for line in try String(contentsOf: url, encoding: .utf8).split(separator: "\n") {
        let parts = line.split(separator: "\t")
        guard parts.count >= 2 else { continue }
        let dims = parts[1].trimmingCharacters(in: CharacterSet(charactersIn: "[]")).split(separator: ",")
            .compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        out[String(parts[0])] = dims
    }
    return out
}
