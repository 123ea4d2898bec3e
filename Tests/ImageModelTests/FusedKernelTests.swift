import Testing
@testable import ImageModel
@testable import Tensor

/// CMPC's fused inference kernels (MutanFusion+Fused, ConvLSTMFusion+Fused, GatedExchange+Fused)
/// equal the op-by-op arithmetic of their blocks bit for bit, and refuse tracked inputs.
@Suite struct FusedKernelTests {
    @Test func mutanEqualsTheOpByOpArithmetic() throws {
        var rng = SplitMix64(seed: 3)
        // 70 rows, 19 input channels, 33 output channels, 5 heads; some rows far from zero so tanh
        // saturates, and one row of zeros for the clamped norm.
        var x = Tensor.uniform(shape: [2, 5, 7, 19], lo: -2, hi: 2, using: &rng)
        x.scalars.withUnsafeMutableBufferPointer { p in for j in 0..<19 { p[j] = 0 } }
        let weights = (0..<5).map { _ in Tensor.uniform(shape: [1, 1, 19, 33], lo: -1, hi: 1, using: &rng) }
        let biases = (0..<5).map { _ in Tensor.uniform(shape: [33], lo: -0.5, hi: 0.5, using: &rng) }
        let factors = (0..<5).map { _ in Tensor.uniform(shape: [1, 1, 1, 33], lo: -1, hi: 1, using: &rng) }
        var sum: Tensor? = nil
        for k in 0..<5 {
            let head = try tanh(biasAdd(conv2d(x, weights[k], padding: .same), biases[k])) * factors[k]
            sum = try sum.map { try $0 + head } ?? head
        }
        let expected = try l2Normalize(tanh(sum!), axes: [3])
        let fused = try mutanInference(x, weights: weights, biases: biases, factors: factors)
        #expect(fused.shape == expected.shape)
        #expect(fused.scalars == expected.scalars)
    }

    @Test func mutanRefusesTrackedInputsAndWrongShapes() throws {
        let x = Tensor(shape: [1, 2, 2, 3], repeating: 0.5)
        let w = [Tensor(shape: [1, 1, 3, 4], repeating: 1)], b = [Tensor(shape: [4])], l = [Tensor(shape: [4], repeating: 2)]
        #expect(throws: TensorError.self) { try mutanInference(x.trackingGradients(), weights: w, biases: b, factors: l) }
        #expect(throws: TensorError.self) { try mutanInference(x, weights: w, biases: b, factors: [Tensor(shape: [3])]) }
        #expect(throws: TensorError.self) { try mutanInference(x, weights: [Tensor(shape: [1, 1, 2, 4])], biases: b, factors: l) }
        #expect(throws: TensorError.self) { try mutanInference(x, weights: [], biases: [], factors: []) }
        // Without recording a tracked input is fine (inference inside training): every row is
        // tanh(tanh(1.5)·2) spread evenly over 4 channels, so 1/2 each.
        let y = try Tape.withoutRecording { try mutanInference(x.trackingGradients(), weights: w, biases: b, factors: l) }
        #expect(y.shape == [1, 2, 2, 4])
        #expect(y.scalars.allSatisfy { abs($0 - 0.5) < 1e-6 })
    }

    @Test func convLSTMCellEqualsTheOpByOpArithmetic() throws {
        var rng = SplitMix64(seed: 11)
        let (n, h, w, d) = (2, 3, 5, 7)
        let y = Tensor.uniform(shape: [n, h, w, 4 * d], lo: -3, hi: 3, using: &rng)
        let c = Tensor.uniform(shape: [n, h, w, d], lo: -1, hi: 1, using: &rng)
        let (wci, wcf, wco) = (Tensor.uniform(shape: [h, w, d], lo: -0.5, hi: 0.5, using: &rng),
                               Tensor.uniform(shape: [h, w, d], lo: -0.5, hi: 0.5, using: &rng),
                               Tensor.uniform(shape: [h, w, d], lo: -0.5, hi: 0.5, using: &rng))
        let norms = (0..<5).map { _ in (gamma: Tensor.uniform(shape: [d], lo: 0.5, hi: 1.5, using: &rng),
                                        beta: Tensor.uniform(shape: [d], lo: -0.3, hi: 0.3, using: &rng)) }
        func ln(_ x: Tensor, _ k: Int) throws -> Tensor { try layerNorm(x, gamma: norms[k].gamma, beta: norms[k].beta) }
        // The op-by-op cell of ConvLSTMFusion.
        let gates = try split(y, count: 4, axis: 3)
        let j = try ln(gates[0], 0), i = try ln(gates[1] + wci * c, 1)
        let f = try sigmoid(ln(gates[2] + wcf * c, 2) + 1.0)
        let cRaw = try c * f + sigmoid(i) * tanh(j)
        let o = try ln(gates[3] + wco * cRaw, 3), cNext = try ln(cRaw, 4)
        let h1 = try sigmoid(o) * tanh(cNext)
        let fused = try convLSTMCellInference(gates: y, state: c, wci: wci, wcf: wcf, wco: wco, norms: norms)
        #expect(fused.c.scalars == cNext.scalars)
        #expect(fused.h.scalars == h1.scalars)
        #expect(throws: TensorError.self) {
            try convLSTMCellInference(gates: y, state: c, wci: wci, wcf: wcf, wco: wco, norms: Array(norms.prefix(4)))
        }
        #expect(throws: TensorError.self) {
            try convLSTMCellInference(gates: y, state: c.trackingGradients(), wci: wci, wcf: wcf, wco: wco, norms: norms)
        }
        #expect(throws: TensorError.self) {
            try convLSTMCellInference(gates: y, state: c, wci: Tensor(shape: [h, w, d + 1]), wcf: wcf, wco: wco, norms: norms)
        }
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
