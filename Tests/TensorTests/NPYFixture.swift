// A tiny test-only reader for the fixtures' .npy files (NumPy format v1.0/2.0):
// magic "\x93NUMPY", major, minor, header length (UInt16 LE for v1, UInt32 LE for v2), then an
// ASCII dict {'descr': '<f4', 'fortran_order': False, 'shape': (…), } padded with spaces, then
// the raw little-endian float32 data, C order. Only '<f4' C-order arrays are accepted.
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
        return try parse(Data(contentsOf: url), file: url.lastPathComponent)
    }

    static func parse(_ data: Data, file: String) throws -> Tensor {
        let bytes = [UInt8](data)
        guard bytes.count >= 10, bytes[0] == 0x93, Array(bytes[1..<6]) == Array("NUMPY".utf8) else {
            throw Failure(description: "\(file): not an .npy file")
        }
        let major = bytes[6]
        let headerLength: Int, start: Int
        if major == 1 {
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            start = 10
        } else {
            guard bytes.count >= 12 else { throw Failure(description: "\(file): truncated header") }
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
            start = 12
        }
        guard bytes.count >= start + headerLength,
              let header = String(bytes: bytes[start..<(start + headerLength)], encoding: .ascii) else {
            throw Failure(description: "\(file): truncated header")
        }
        guard header.contains("'descr': '<f4'"), header.contains("'fortran_order': False"),
              let open = header.range(of: "'shape': ("), let close = header[open.upperBound...].firstIndex(of: ")") else {
            throw Failure(description: "\(file): expected '<f4' C-order data, header \(header)")
        }
        let shape = try header[open.upperBound..<close].split(separator: ",").map { part -> Int in
            guard let v = Int(part.trimmingCharacters(in: .whitespaces)), v >= 0 else {
                throw Failure(description: "\(file): bad shape in header \(header)")
            }
            return v
        }
        let count = shape.reduce(1, *)
        let body = start + headerLength
        guard bytes.count - body == count * 4 else {
            throw Failure(description: "\(file): \(bytes.count - body) data bytes for shape \(shape)")
        }
        var scalars = [Float](repeating: 0, count: count)
        for i in 0..<count {
            let o = body + 4 * i
            let bits = UInt32(bytes[o]) | UInt32(bytes[o + 1]) << 8 | UInt32(bytes[o + 2]) << 16 | UInt32(bytes[o + 3]) << 24
            scalars[i] = Float(bitPattern: bits)
        }
        return try Tensor(shape: shape, scalars: scalars)
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
