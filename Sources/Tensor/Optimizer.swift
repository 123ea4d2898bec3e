// Adam as tf.compat.v1.train.AdamOptimizer applies it, polynomial learning-rate decay, and the
// state both keep for checkpoints. These act on values, never on the tape.
//
// TensorFlow's update (training_ops ApplyAdam), with β1ᵗ and β2ᵗ kept as float32 "power"
// variables that start at β1, β2 and are multiplied by β after every apply:
//     lr_t = lr·√(1 − β2ᵗ)/(1 − β1ᵗ);  m += (g − m)·(1 − β1);  v += (g² − v)·(1 − β2);
//     w −= lr_t·m/(√v + ε)

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Adam with TensorFlow 1.x's update rule, per-parameter gradient and learning-rate multipliers,
/// and named state (m, v and the β powers) for checkpoints.
///
///     let adam = Adam(gradientMultiplier: { $0.hasSuffix("biases") ? 2 : 1 })
///     try adam.step(parameters: &params, gradients: grads, learningRate: schedule(step: t))
public final class Adam {
    /// Exponential decay of the first moment (0.9).
    public let beta1: Float
    /// Exponential decay of the second moment (0.999).
    public let beta2: Float
    /// Added to √v (1e-8).
    public let epsilon: Float
    /// First moments by parameter name (TensorFlow slot `…/Adam`), each of its parameter's shape.
    public var m: [String: Tensor] = [:]
    /// Second moments by parameter name (TensorFlow slot `…/Adam_1`), each of its parameter's shape.
    public var v: [String: Tensor] = [:]
    /// β1ᵗ for the next step (TensorFlow variable `beta1_power`); starts at β1.
    public var beta1Power: Float
    /// β2ᵗ for the next step (TensorFlow variable `beta2_power`); starts at β2.
    public var beta2Power: Float
    /// Number of steps applied so far.
    public var stepCount: Int = 0
    /// Factor applied to a parameter's gradient before the update (the original doubles biases').
    public var gradientMultiplier: (String) -> Float
    /// Factor applied to the learning rate of a parameter.
    public var learningRateMultiplier: (String) -> Float

    /// A fresh optimiser (zero moments, powers β1 and β2).
    public init(
        beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8,
        gradientMultiplier: @escaping (String) -> Float = { _ in 1 },
        learningRateMultiplier: @escaping (String) -> Float = { _ in 1 }
    ) {
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.beta1Power = beta1
        self.beta2Power = beta2
        self.gradientMultiplier = gradientMultiplier
        self.learningRateMultiplier = learningRateMultiplier
    }

    /// Applies one update to every parameter that has a gradient (others are left alone), then
    /// advances the β powers. A gradient for an unknown name or of the wrong shape throws before
    /// anything changes.
    public func step(parameters: inout [String: Tensor], gradients: [String: Tensor], learningRate: Float) throws {
        for (name, g) in gradients {
            guard let p = parameters[name] else {
                throw TensorError.invalidArgument(op: "Adam.step", reason: "gradient for unknown parameter \(name)")
            }
            guard p.shape == g.shape else {
                throw TensorError.shapeMismatch(op: "Adam.step(\(name))", shapes: [p.shape, g.shape],
                                                reason: "gradient shape differs from the parameter's")
            }
            if let mt = m[name], mt.shape != p.shape {
                throw TensorError.shapeMismatch(op: "Adam.step(\(name))", shapes: [p.shape, mt.shape],
                                                reason: "first-moment slot shape differs from the parameter's")
            }
            if let vt = v[name], vt.shape != p.shape {
                throw TensorError.shapeMismatch(op: "Adam.step(\(name))", shapes: [p.shape, vt.shape],
                                                reason: "second-moment slot shape differs from the parameter's")
            }
        }
        let lrT = learningRate * (1 - beta2Power).squareRoot() / (1 - beta1Power)
        let (b1, b2, eps) = (1 - beta1, 1 - beta2, epsilon)
        for name in gradients.keys.sorted() {
            guard let g = gradients[name], var w = parameters[name]?.detached else { continue }
            var mt = m[name] ?? Tensor(shape: w.shape)
            var vt = v[name] ?? Tensor(shape: w.shape)
            let gm = gradientMultiplier(name)
            let lr = lrT * learningRateMultiplier(name)
            parameters[name] = nil   // drop the dictionary's reference: update w's storage in place
            w.scalars.withUnsafeMutableBufferPointer { pw0 in
                mt.scalars.withUnsafeMutableBufferPointer { pm0 in
                    vt.scalars.withUnsafeMutableBufferPointer { pv0 in
                        g.scalars.withUnsafeBufferPointer { pg0 in
                            guard pw0.count > 0 else { return }
                            let pw = pw0.baseAddress!, pm = pm0.baseAddress!, pv = pv0.baseAddress!, pg = pg0.baseAddress!
                            parallelFor(pw0.count) { range in
                                for i in range {
                                    let gi = pg[i] * gm
                                    pm[i] += (gi - pm[i]) * b1
                                    pv[i] += (gi * gi - pv[i]) * b2
                                    pw[i] -= lr * pm[i] / (pv[i].squareRoot() + eps)
                                }
                            }
                        }
                    }
                }
            }
            parameters[name] = w
            m[name] = mt
            v[name] = vt
        }
        beta1Power *= beta1
        beta2Power *= beta2
        stepCount += 1
    }
}

/// tf.train.polynomial_decay without cycling:
/// (initial − end)·(1 − min(step, decaySteps)/decaySteps)^power + end.
public struct PolynomialDecay: Sendable, Equatable, Codable {
    /// Learning rate at step 0.
    public var initial: Float
    /// Steps over which the rate decays.
    public var decaySteps: Int
    /// Learning rate from `decaySteps` on.
    public var end: Float
    /// Exponent of the decay (the original uses 0.9).
    public var power: Float

    /// A schedule; throws when `decaySteps` is not positive.
    public init(initial: Float, decaySteps: Int, end: Float = 1e-5, power: Float = 0.9) throws {
        guard decaySteps > 0 else {
            throw TensorError.invalidArgument(op: "PolynomialDecay", reason: "decaySteps \(decaySteps) must be positive")
        }
        self.initial = initial
        self.decaySteps = decaySteps
        self.end = end
        self.power = power
    }

    /// The learning rate at global step `step` (≥ 0).
    public func callAsFunction(step: Int) -> Float {
        let p = Float(Swift.min(Swift.max(step, 0), decaySteps)) / Float(decaySteps)
        return (initial - end) * powf(1 - p, power) + end
    }
}
