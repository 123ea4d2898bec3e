import Testing
@testable import Tensor

/// The engine's generic fused inference pieces equal the op-by-op arithmetic bit for bit. (The
/// model's fused kernels are tested beside their blocks: ImageModelTests/FusedKernelTests.)
@Suite struct FusedInferenceTests {
    @Test func layerNormWithResidualAndReluEqualsTheOpByOpArithmetic() throws {
        var rng = SplitMix64(seed: 9)
        let x = Tensor.uniform(shape: [2, 1, 40, 24], lo: -3, hi: 5, using: &rng)
        let r = Tensor.uniform(shape: [2, 1, 40, 24], lo: -1, hi: 1, using: &rng)
        let gamma = Tensor.uniform(shape: [24], lo: 0.5, hi: 1.5, using: &rng)
        let beta = Tensor.uniform(shape: [24], lo: -0.2, hi: 0.2, using: &rng)
        let n = try layerNorm(x, gamma: gamma, beta: beta)
        #expect(try layerNormInference(x, gamma: gamma, beta: beta).scalars == n.scalars)
        #expect(try layerNormInference(x, gamma: gamma, beta: beta, relu: true).scalars == relu(n).scalars)
        #expect(try layerNormInference(x, gamma: gamma, beta: beta, residual: r).scalars == (r + n).scalars)
        #expect(try layerNormInference(x, gamma: gamma, beta: beta, residual: r, relu: true).scalars == relu(r + n).scalars)
        #expect(try relu(r + n).scalars.contains(0))
        #expect(throws: TensorError.self) { try layerNormInference(x, gamma: gamma, beta: beta, residual: Tensor(shape: [2, 40, 24])) }
        #expect(throws: TensorError.self) { try layerNormInference(x.trackingGradients(), gamma: gamma, beta: beta) }
    }
}
