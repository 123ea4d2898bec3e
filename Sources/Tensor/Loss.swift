// Losses: sigmoid cross-entropy on logits, and the L2 weight penalty.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Elementwise max(x, 0) − x·z + log(1 + e^−|x|), as tf.nn.sigmoid_cross_entropy_with_logits.
/// logits and labels share one shape; the gradient (σ(x) − z) flows to the logits only.
public func sigmoidCrossEntropy(logits: Tensor, labels: Tensor) throws -> Tensor {
    guard logits.shape == labels.shape else {
        throw TensorError.shapeMismatch(op: "sigmoidCrossEntropy", shapes: [logits.shape, labels.shape],
                                        reason: "logits and labels must have the same shape")
    }
    let y = zipElements(logits, labels) { x, z in Swift.max(x, 0) - x * z + log1pf(expf(-Swift.abs(x))) }
    let (x, z) = (logits.detached, labels.detached)
    return Tensor.recorded(y, op: "sigmoidCrossEntropy", inputs: [logits]) { g in
        let d = zipElements(x, z) { sigmoidScalar($0) - $1 }
        return [zipElements(g, d) { $0 * $1 }]
    }
}

/// ½·Σx², as tf.nn.l2_loss: a scalar (shape []).
public func l2Loss(_ x: Tensor) throws -> Tensor {
    var s = 0.0
    x.scalars.withUnsafeBufferPointer { p in
        for v in p { s += Double(v) * Double(v) }
    }
    let xs = x.detached
    return Tensor.recorded(Tensor(Float(0.5 * s)), op: "l2Loss", inputs: [x]) { g in
        let k = g.scalar
        return [mapElements(xs) { $0 * k }]
    }
}
