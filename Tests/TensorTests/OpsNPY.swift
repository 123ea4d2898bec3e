// The op fixtures written by Tools/reference/make_op_fixtures.py (one float32 .npy per array).
import Foundation
@testable import Tensor

/// Reads `Fixtures/ops/<name>.npy` as a Tensor.
func loadOpsFixture(_ name: String) throws -> Tensor {
    try NPYFixture.load(name, subdirectory: "Fixtures/ops")
}

/// Largest |a − b| (infinity when the shapes differ).
func opsMaxDifference(_ a: Tensor, _ b: Tensor) -> Float {
    guard a.shape == b.shape else { return .infinity }
    var worst: Float = 0
    for i in 0..<a.count { worst = Swift.max(worst, Swift.abs(a.scalars[i] - b.scalars[i])) }
    return worst
}
