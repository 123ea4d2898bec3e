// Central finite-difference gradient checks for differentiable ops.
//
// The op runs in Float32; the check forms a random linear functional L = Σ wᵢ·yᵢ of the op's
// output, accumulated in Double, and compares dL/dx from the tape with
// (L(x + h·eᵢ) − L(x − h·eᵢ)) / 2h for every element of every input.
import Testing
@testable import Tensor

/// Checks the tape's gradients of `op` against central differences at `inputs`.
/// - Parameters:
///   - tolerance: allowed |analytic − numeric| / max(1, |numeric|) per element.
///   - step: the finite-difference step h.
///   - skip: indices of inputs not to check (integer-like inputs, say).
func checkGradients(
    _ name: String,
    inputs: [Tensor],
    tolerance: Double = 2e-2,
    step: Float = 1e-2,
    skip: Set<Int> = [],
    seed: UInt64 = 7,
    sourceLocation: SourceLocation = #_sourceLocation,
    _ op: ([Tensor]) throws -> Tensor
) throws {
    var rng = SplitMix64(seed: seed)
    // Forward once to learn the output shape, then fix the random functional weights.
    let probe = try op(inputs)
    let weights = Tensor.uniform(shape: probe.shape, lo: -1, hi: 1, using: &rng)

    func functional(_ xs: [Tensor]) throws -> Double {
        let y = try op(xs)
        var s = 0.0
        for i in 0..<y.count { s += Double(y.scalars[i]) * Double(weights.scalars[i]) }
        return s
    }

    let tracked = inputs.enumerated().map { i, t in skip.contains(i) ? t : t.trackingGradients(label: "input\(i)") }
    let y = try op(tracked)
    let analytic = try Tape.gradients(of: y, wrt: tracked, seed: weights)

    var worst = 0.0
    var worstAt = ""
    for (i, x) in inputs.enumerated() where !skip.contains(i) {
        for e in 0..<x.count {
            var plus = inputs, minus = inputs
            plus[i].scalars[e] += step
            minus[i].scalars[e] -= step
            let numeric = (try functional(plus) - functional(minus)) / (2 * Double(step))
            let a = Double(analytic[i].scalars[e])
            let err = abs(a - numeric) / max(1, abs(numeric))
            if err > worst {
                worst = err
                worstAt = "input \(i) element \(e): analytic \(a), numeric \(numeric)"
            }
        }
    }
    #expect(worst <= tolerance, "\(name): worst relative gradient error \(worst) at \(worstAt)",
            sourceLocation: sourceLocation)
}
