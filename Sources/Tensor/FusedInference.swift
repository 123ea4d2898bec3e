// Generic pieces of fused inference kernels: raw access to several tensors at once, and layer norm
// with its residual add and ReLU in the output pass. Inference only — nothing here records on the
// tape. The model's own fused kernels (MUTAN, the ConvLSTM cell, the gated exchange) live beside
// their blocks in ImageModel, each next to the op-by-op path it must equal bit for bit.

/// Runs `body` with the base addresses of the tensors' scalars, in order (every tensor non-empty).
public func withScalarPointers<R>(_ tensors: [Tensor], _ body: ([UnsafePointer<Float>]) throws -> R) rethrows -> R {
    func nest(_ k: Int, _ pointers: [UnsafePointer<Float>]) throws -> R {
        guard k < tensors.count else { return try body(pointers) }
        return try tensors[k].scalars.withUnsafeBufferPointer { try nest(k + 1, pointers + [$0.baseAddress!]) }
    }
    return try nest(0, [])
}

/// `count` new tensors of `shape`, every element written by `body` through their base addresses.
public func makeTensors(_ count: Int, shape: [Int], _ body: ([UnsafeMutablePointer<Float>]) -> Void) -> [Tensor] {
    func nest(_ k: Int, _ pointers: [UnsafeMutablePointer<Float>]) -> [Tensor] {
        guard k < count else {
            body(pointers)
            return []
        }
        var rest: [Tensor] = []
        let t = Tensor(shape: shape) { rest = nest(k + 1, pointers + [$0.baseAddress!]) }
        return [t] + rest
    }
    return nest(0, [])
}

/// Inference: layerNorm(x) followed, in the same pass, by `residual + ·` (when given) and ReLU (when
/// `relu`), e.g. a graph convolution's relu(X + LN(A·X)). The same operations in the
/// same order as layerNorm, the add and relu op by op, so the results are identical.
public func layerNormInference(_ x: Tensor, gamma: Tensor?, beta: Tensor?, beginNormAxis: Int = 1,
                               epsilon: Float = 1e-12, residual: Tensor? = nil, relu: Bool = false) throws -> Tensor {
    if Tape.records([x, gamma, beta, residual]) {
        throw TensorError.invalidArgument(op: "layerNormInference", reason: "inference only: an input is tracked")
    }
    return try layerNormForward(x, gamma: gamma, beta: beta, beginNormAxis: beginNormAxis, epsilon: epsilon,
                                residual: residual, relu: relu).y
}
