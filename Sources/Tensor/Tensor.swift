// Tensor: a value-semantic, row-major Float32 array with a shape, NHWC for images.
//
// Legend used across the engine: N batch (frames), H×W spatial size, C channels,
// kh×kw kernel size, T words. Convolution kernels are HWIO, as TensorFlow stores them.
//
// Storage is a Swift Array, so copies are cheap and copy-on-write. A tensor produced while the
// tape records (see Tape.swift) carries a `node` that knows how to send gradients back to its
// inputs; inference never creates nodes and pays nothing for autodiff.

/// Errors raised by tensor operations: each names the op and the shapes it was given.
public enum TensorError: Error, CustomStringConvertible, Equatable {
    /// An op received shapes it cannot combine.
    case shapeMismatch(op: String, shapes: [[Int]], reason: String)
    /// An op argument is out of range (an axis, a stride, a size...).
    case invalidArgument(op: String, reason: String)

    public var description: String {
        switch self {
        case let .shapeMismatch(op, shapes, reason):
            let s = shapes.map { "[" + $0.map(String.init).joined(separator: ", ") + "]" }.joined(separator: " and ")
            return "\(op): incompatible shapes \(s): \(reason)"
        case let .invalidArgument(op, reason):
            return "\(op): \(reason)"
        }
    }
}

/// A row-major Float32 tensor. Image tensors are NHWC.
///
///     let x = Tensor(shape: [1, 40, 40, 512])           // zeros
///     let y = try relu(x + Tensor(shape: [512], repeating: 0.1))
public struct Tensor: @unchecked Sendable {
    /// The extent of each axis, outermost first.
    public private(set) var shape: [Int]
    /// The elements in row-major order; `scalars.count == shape.product`.
    public var scalars: [Float]
    /// The tape node that produced this tensor while gradients were recorded, else nil.
    public internal(set) var node: TapeNode?

    /// A tensor of the given shape filled with `value`.
    public init(shape: [Int], repeating value: Float = 0) {
        precondition(shape.allSatisfy { $0 >= 0 }, "Tensor: negative extent in shape \(shape)")
        self.shape = shape
        self.scalars = [Float](repeating: value, count: shape.reduce(1, *))
        self.node = nil
    }

    /// A tensor wrapping `scalars`; throws when their count does not match the shape.
    public init(shape: [Int], scalars: [Float]) throws {
        guard shape.allSatisfy({ $0 >= 0 }), shape.reduce(1, *) == scalars.count else {
            throw TensorError.invalidArgument(
                op: "Tensor.init", reason: "\(scalars.count) scalars do not fill shape \(shape)")
        }
        self.shape = shape
        self.scalars = scalars
        self.node = nil
    }

    /// A scalar (rank-0) tensor.
    public init(_ value: Float) {
        self.shape = []
        self.scalars = [value]
        self.node = nil
    }

    /// A tensor of `shape` whose storage is written by `body` (uninitialised until then).
    /// `body` must write every element.
    public init(shape: [Int], unsafeUninitialized body: (UnsafeMutableBufferPointer<Float>) throws -> Void) rethrows {
        let count = shape.reduce(1, *)
        self.shape = shape
        self.scalars = try [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            try body(buffer)
            initialized = count
        }
        self.node = nil
    }

    /// Number of axes.
    @inlinable public var rank: Int { shape.count }
    /// Number of elements.
    @inlinable public var count: Int { scalars.count }

    /// The single element of a tensor holding one.
    public var scalar: Float {
        precondition(scalars.count == 1, "Tensor.scalar: tensor of shape \(shape) holds \(scalars.count) elements")
        return scalars[0]
    }

    /// The same tensor detached from the tape (no gradient flows through it).
    public var detached: Tensor {
        var t = self
        t.node = nil
        return t
    }

    /// Row-major strides of `shape`, in elements.
    public static func strides(of shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var s = 1
        for i in stride(from: shape.count - 1, through: 0, by: -1) {
            strides[i] = s
            s *= shape[i]
        }
        return strides
    }

    /// Replaces the shape with one of the same element count (no copy); used by ops.
    @usableFromInline
    mutating func setShape(_ newShape: [Int]) {
        precondition(newShape.reduce(1, *) == scalars.count)
        shape = newShape
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let head = scalars.prefix(8).map { String($0) }.joined(separator: ", ")
        return "Tensor(shape: \(shape), [\(head)\(scalars.count > 8 ? ", …" : "")])"
    }
}

extension Tensor {
    /// Uniform random values in [lo, hi) from a seeded generator (reproducible).
    public static func uniform<G: RandomNumberGenerator>(
        shape: [Int], lo: Float = -1, hi: Float = 1, using rng: inout G
    ) -> Tensor {
        let span = hi - lo
        return Tensor(shape: shape) { buf in
            for i in buf.indices { buf[i] = lo + span * unitFloat(rng.next()) }
        }
    }

    /// Normal(0, std) values from a seeded generator (Box–Muller).
    public static func normal<G: RandomNumberGenerator>(
        shape: [Int], std: Float = 1, using rng: inout G
    ) -> Tensor {
        Tensor(shape: shape) { buf in
            var i = 0
            while i < buf.count {
                let u1 = Swift.max(unitDouble(rng.next()), Double.ulpOfOne)
                let u2 = unitDouble(rng.next())
                let r = (-2 * _log(u1)).squareRoot()
                buf[i] = Float(r * _cos(2 * Double.pi * u2)) * std
                if i + 1 < buf.count { buf[i + 1] = Float(r * _sin(2 * Double.pi * u2)) * std }
                i += 2
            }
        }
    }
}

/// A uniform Float in [0, 1) from the top 24 bits of a random word.
@inline(__always) func unitFloat(_ bits: UInt64) -> Float { Float(bits >> 40) * 0x1p-24 }
/// A uniform Double in [0, 1) from the top 53 bits of a random word.
@inline(__always) func unitDouble(_ bits: UInt64) -> Double { Double(bits >> 11) * 0x1p-53 }

@inline(__always) func _log(_ x: Double) -> Double { Foundation_log(x) }
@inline(__always) func _cos(_ x: Double) -> Double { Foundation_cos(x) }
@inline(__always) func _sin(_ x: Double) -> Double { Foundation_sin(x) }

/// SplitMix64: a small, fast, seedable generator whose state is one UInt64 (saved in checkpoints).
public struct SplitMix64: RandomNumberGenerator, Sendable, Codable, Equatable {
    public var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
