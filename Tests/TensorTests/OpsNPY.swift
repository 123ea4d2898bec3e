// A test-only reader for the op fixtures written by Tools/reference/make_op_fixtures.py.
//
// Format: NumPy .npy version 1.0 — the magic "\x93NUMPY", bytes 1 and 0, a little-endian UInt16
// header length, an ASCII dict {'descr': '<f4', 'fortran_order': False, 'shape': (…), }, then
// the float32 elements in row-major order.
import Foundation
@testable import Tensor

/// Why an op fixture could not be read.
private struct OpsFixtureError: Error, CustomStringConvertible {
    let description: String
}

/// Reads `Fixtures/ops/<name>.npy` (little-endian float32, C order) as a Tensor.
func loadOpsFixture(_ name: String) throws -> Tensor {
    guard let dir = Bundle.module.resourceURL?.appendingPathComponent("Fixtures/ops") else {
        throw OpsFixtureError(description: "no resource folder in the test bundle")
    }
    let url = dir.appendingPathComponent(name + ".npy")
    let data = try Data(contentsOf: url)
    let bytes = [UInt8](data)
    guard bytes.count >= 10, bytes[0] == 0x93, Array(bytes[1..<6]) == Array("NUMPY".utf8), bytes[6] == 1 else {
        throw OpsFixtureError(description: "\(url.path): not a version-1 .npy file")
    }
    let headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
    guard bytes.count >= 10 + headerLength,
          let header = String(bytes: bytes[10..<(10 + headerLength)], encoding: .ascii) else {
        throw OpsFixtureError(description: "\(url.path): truncated header")
    }
    guard header.contains("'descr': '<f4'"), header.contains("'fortran_order': False"),
          let open = header.range(of: "'shape': ("), let close = header[open.upperBound...].firstIndex(of: ")") else {
        throw OpsFixtureError(description: "\(url.path): expected little-endian float32 in C order, got \(header)")
    }
    let shape = try header[open.upperBound..<close].split(separator: ",").filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }.map { part -> Int in
        guard let n = Int(part.trimmingCharacters(in: .whitespaces)), n >= 0 else {
            throw OpsFixtureError(description: "\(url.path): bad shape in \(header)")
        }
        return n
    }
    let count = shape.reduce(1, *)
    let start = 10 + headerLength
    guard bytes.count == start + 4 * count else {
        throw OpsFixtureError(description: "\(url.path): \(bytes.count - start) data bytes for shape \(shape)")
    }
    var scalars = [Float](repeating: 0, count: count)
    for i in 0..<count {
        let o = start + 4 * i
        let bits = UInt32(bytes[o]) | UInt32(bytes[o + 1]) << 8 | UInt32(bytes[o + 2]) << 16 | UInt32(bytes[o + 3]) << 24
        scalars[i] = Float(bitPattern: bits)
    }
    return try Tensor(shape: shape, scalars: scalars)
}

/// Max |a − b| of two same-shape tensors (infinity when the shapes differ).
func opsMaxDifference(_ a: Tensor, _ b: Tensor) -> Float {
    guard a.shape == b.shape else { return .infinity }
    var worst: Float = 0
    for i in 0..<a.count { worst = Swift.max(worst, Swift.abs(a.scalars[i] - b.scalars[i])) }
    return worst
}
