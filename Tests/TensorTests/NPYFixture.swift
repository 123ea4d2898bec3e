// Loading the committed TensorFlow fixtures (Fixtures/kernels and Fixtures/ops: .npy files, one array
// each, written by Tools/reference/make_kernel_fixtures.py and make_op_fixtures.py) through the project's own
// reader, NumPy.readNPY.
import Checkpoint
import Foundation
import Testing
@testable import Tensor

enum NPYFixture {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// Loads Fixtures/<subdirectory>/<name>.npy from the test bundle as a Tensor.
    static func load(_ name: String, subdirectory: String = "Fixtures/kernels") throws -> Tensor {
        guard let url = Bundle.module.url(forResource: name, withExtension: "npy", subdirectory: subdirectory) else {
            throw Failure(description: "\(subdirectory)/\(name).npy: fixture not found in the test bundle")
        }
        return try NumPy.readNPY(url).tensor()
    }
}
/// Max |a − b| / max(1, |b|) over two same-shaped tensors; records a failure naming `name`, the
/// first values side by side and the worst difference when it exceeds `tolerance`.
@discardableResult
func expectClose(_ a: Tensor, _ b: Tensor, _ name: String, tolerance: Float = 1e-4,
                 sourceLocation: SourceLocation = #_sourceLocation) -> Float {
    guard a.shape == b.shape else {
        Issue.record("\(name): shape \(a.shape) vs expected \(b.shape)", sourceLocation: sourceLocation)
        return .infinity
    }
    var worst: Float = 0
    for i in 0..<a.count {
        let d = abs(a.scalars[i] - b.scalars[i]) / max(1, abs(b.scalars[i]))
        if !(d <= worst) { worst = d.isNaN ? .infinity : d }
    }
    if worst > tolerance {
        let head = (0..<min(4, a.count)).map { "\(a.scalars[$0]) vs \(b.scalars[$0])" }.joined(separator: ", ")
        Issue.record("\(name): max diff \(worst) > \(tolerance) (first: \(head))", sourceLocation: sourceLocation)
    }
    return worst
}
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
