import Testing
@testable import Tensor

@Suite struct FusedInferenceTests {
    @Test func tanhProductSumEqualsTheOpByOpArithmetic() throws {
        var rng = SplitMix64(seed: 3)
        let heads = (0..<3).map { _ in Tensor.uniform(shape: [2, 5, 7, 33], lo: -4, hi: 4, using: &rng) }
        let factors = (0..<3).map { _ in Tensor.uniform(shape: [1, 1, 1, 33], lo: -1, hi: 1, using: &rng) }
        var expected: Tensor? = nil
        var fused: Tensor? = nil
        for (a, l) in zip(heads, factors) {
            let head = try tanh(a) * l
            expected = try expected.map { try $0 + head } ?? head
            fused = try accumulateTanhProduct(fused, a, channelFactor: l)
        }
        #expect(fused!.shape == expected!.shape)
        #expect(fused!.scalars == expected!.scalars)
    }

    @Test func refusesTrackedInputsAndWrongShapes() throws {
        let a = Tensor(shape: [1, 2, 2, 4], repeating: 0.5)
        let l = Tensor(shape: [4], repeating: 2)
        #expect(throws: TensorError.self) { try accumulateTanhProduct(nil, a.trackingGradients(), channelFactor: l) }
        #expect(throws: TensorError.self) { try accumulateTanhProduct(nil, a, channelFactor: Tensor(shape: [3])) }
        #expect(throws: TensorError.self) { try accumulateTanhProduct(Tensor(shape: [1, 2, 2, 3]), a, channelFactor: l) }
        // Without recording a tracked input is fine (inference inside training).
        let y = try Tape.withoutRecording { try accumulateTanhProduct(nil, a.trackingGradients(), channelFactor: l) }
        #expect(y.scalars.allSatisfy { abs($0 - 2 * Float(0.46211716)) < 1e-6 })
    }

    @Test func gatedPairEqualsTheOpByOpArithmetic() throws {
        var rng = SplitMix64(seed: 5)
        let x = Tensor.uniform(shape: [1, 6, 5, 17], lo: -1, hi: 1, using: &rng)
        let a = Tensor.uniform(shape: [1, 6, 5, 17], lo: -2, hi: 2, using: &rng)
        let b = Tensor.uniform(shape: [1, 6, 5, 17], lo: -2, hi: 2, using: &rng)
        let s = Tensor.uniform(shape: [1, 1, 1, 17], lo: 0, hi: 1, using: &rng)
        let t = Tensor.uniform(shape: [1, 1, 1, 17], lo: 0, hi: 1, using: &rng)
        let expected = try x + relu(a) * s + relu(b) * t
        #expect(try addGatedPair(x, a, gate: s, b, gate: t).scalars == expected.scalars)
        #expect(throws: TensorError.self) { try addGatedPair(x, a.trackingGradients(), gate: s, b, gate: t) }
        #expect(throws: TensorError.self) { try addGatedPair(x, a, gate: Tensor(shape: [3]), b, gate: t) }
    }
}
