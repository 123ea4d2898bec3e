// TypedArray: an n-d array of any element type, as a checkpoint or array file stores it.
//
// Bytes are little-endian and row-major (C order), `shape.product × dtype.size` of them. A
// TypedArray is the common currency of the readers (NumPy, Safetensors, TFCheckpoint) and the
// writers; `tensor()` turns numeric arrays into the engine's Float32 `Tensor`.

import Foundation
import Tensor

/// Element types a checkpoint or array file can hold.
public enum DType: String, Sendable, CaseIterable {
    case float16, bfloat16, float32, float64
    case int8, int16, int32, int64
    case uint8, uint16, uint32, uint64
    case bool

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .bool, .int8, .uint8: 1
        case .float16, .bfloat16, .int16, .uint16: 2
        case .float32, .int32, .uint32: 4
        case .float64, .int64, .uint64: 8
        }
    }

    /// True for the floating-point types.
    public var isFloatingPoint: Bool {
        switch self {
        case .float16, .bfloat16, .float32, .float64: true
        default: false
        }
    }
}

/// Largest element count a reader accepts for one array (2^34, 16 G elements).
public let maximumElementCount = 1 << 34

/// The number of elements of `shape`, or a `CheckpointError` if an extent is negative or the
/// product overflows or exceeds `maximumElementCount`.
public func elementCount(_ shape: [Int], file: String, name: String) throws -> Int {
    var n = 1
    for d in shape {
        guard d >= 0 else {
            throw CheckpointError(file: file, problem: "\(name): negative extent in shape \(shape)")
        }
        let (p, overflow) = n.multipliedReportingOverflow(by: d)
        guard !overflow, p <= maximumElementCount else {
            throw CheckpointError(file: file, problem: "\(name): shape \(shape) has an absurd element count (limit 2^34)")
        }
        n = p
    }
    return n
}

/// A typed n-d array as stored in a file (any dtype), little-endian row-major bytes.
///
///     let a = TypedArray(float32: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
///     let t = try a.tensor()            // Tensor of shape [2, 3]
public struct TypedArray: Sendable, Equatable, CustomStringConvertible {
    /// The element type.
    public var dtype: DType
    /// The extent of each axis, outermost first; [] for a scalar.
    public var shape: [Int]
    /// `count × dtype.size` little-endian bytes in row-major order.
    public var bytes: [UInt8]

    /// Wraps raw bytes; throws if their count does not match shape and dtype.
    public init(dtype: DType, shape: [Int], bytes: [UInt8], file: String = "array", name: String = "array") throws {
        let n = try elementCount(shape, file: file, name: name)
        guard n * dtype.size == bytes.count else {
            throw CheckpointError(
                file: file,
                problem: "\(name): \(bytes.count) bytes do not hold \(dtype.rawValue) \(shape) (\(n * dtype.size) expected)")
        }
        self.dtype = dtype
        self.shape = shape
        self.bytes = bytes
    }

    /// Unchecked initialiser for internal callers that already validated the sizes.
    init(unchecked dtype: DType, shape: [Int], bytes: [UInt8]) {
        self.dtype = dtype
        self.shape = shape
        self.bytes = bytes
    }

    /// The float32 array holding a tensor's scalars, same shape.
    public init(_ t: Tensor) {
        self.init(float32: t.shape, scalars: t.scalars)
    }

    /// A float32 array; `scalars.count` must equal the shape's product.
    public init(float32 shape: [Int], scalars: [Float]) {
        precondition(shape.reduce(1, *) == scalars.count, "TypedArray: \(scalars.count) scalars do not fill \(shape)")
        let bytes = isLittleEndianHost
            ? scalars.withUnsafeBytes { [UInt8]($0) }
            : littleEndianBytes(scalars.map { $0.bitPattern })
        self.init(unchecked: .float32, shape: shape, bytes: bytes)
    }

    /// A float64 array; `scalars.count` must equal the shape's product.
    public init(float64 shape: [Int], scalars: [Double]) {
        precondition(shape.reduce(1, *) == scalars.count, "TypedArray: \(scalars.count) scalars do not fill \(shape)")
        self.init(unchecked: .float64, shape: shape, bytes: littleEndianBytes(scalars.map { $0.bitPattern }))
    }

    /// An int32 array; `scalars.count` must equal the shape's product.
    public init(int32 shape: [Int], scalars: [Int32]) {
        precondition(shape.reduce(1, *) == scalars.count, "TypedArray: \(scalars.count) scalars do not fill \(shape)")
        self.init(unchecked: .int32, shape: shape, bytes: littleEndianBytes(scalars.map { UInt32(bitPattern: $0) }))
    }

    /// An int64 array; `scalars.count` must equal the shape's product.
    public init(int64 shape: [Int], scalars: [Int64]) {
        precondition(shape.reduce(1, *) == scalars.count, "TypedArray: \(scalars.count) scalars do not fill \(shape)")
        self.init(unchecked: .int64, shape: shape, bytes: littleEndianBytes(scalars.map { UInt64(bitPattern: $0) }))
    }

    /// A uint8 array; `scalars.count` must equal the shape's product.
    public init(uint8 shape: [Int], scalars: [UInt8]) {
        precondition(shape.reduce(1, *) == scalars.count, "TypedArray: \(scalars.count) scalars do not fill \(shape)")
        self.init(unchecked: .uint8, shape: shape, bytes: scalars)
    }

    /// A bool array stored one byte per element (0 or 1).
    public init(bool shape: [Int], scalars: [Bool]) {
        precondition(shape.reduce(1, *) == scalars.count, "TypedArray: \(scalars.count) scalars do not fill \(shape)")
        self.init(unchecked: .bool, shape: shape, bytes: scalars.map { $0 ? 1 : 0 })
    }

    /// Number of elements.
    public var count: Int { shape.reduce(1, *) }

    public var description: String {
        "\(dtype.rawValue)[\(shape.map(String.init).joined(separator: ", "))]"
    }

    /// The elements as Float32 in a `Tensor` of the same shape (any numeric or bool dtype;
    /// float64 and 64-bit integers are rounded).
    public func tensor() throws -> Tensor {
        try Tensor(shape: shape, scalars: floats())
    }

    /// The elements converted to Float (any dtype).
    public func floats() throws -> [Float] {
        let n = count
        return try [Float](unsafeUninitializedCapacity: n) { out, initialized in
            try bytes.withUnsafeBytes { raw in
                guard raw.count == n * dtype.size else { throw sizeError() }
                switch dtype {
                case .float32 where isLittleEndianHost:
                    if n > 0 { UnsafeMutableRawPointer(out.baseAddress!).copyMemory(from: raw.baseAddress!, byteCount: 4 * n) }
                case .float32:
                    for i in 0 ..< n { out[i] = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))) }
                case .float64:
                    for i in 0 ..< n { out[i] = Float(Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self)))) }
                case .float16:
                    for i in 0 ..< n { out[i] = halfToFloat(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) }
                case .bfloat16:
                    for i in 0 ..< n { out[i] = Float(bitPattern: UInt32(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) << 16) }
                case .int8:
                    for i in 0 ..< n { out[i] = Float(Int8(bitPattern: raw[i])) }
                case .uint8, .bool:
                    for i in 0 ..< n { out[i] = Float(raw[i]) }
                case .int16:
                    for i in 0 ..< n { out[i] = Float(Int16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: Int16.self))) }
                case .uint16:
                    for i in 0 ..< n { out[i] = Float(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) }
                case .int32:
                    for i in 0 ..< n { out[i] = Float(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self))) }
                case .uint32:
                    for i in 0 ..< n { out[i] = Float(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))) }
                case .int64:
                    for i in 0 ..< n { out[i] = Float(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self))) }
                case .uint64:
                    for i in 0 ..< n { out[i] = Float(UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self))) }
                }
            }
            initialized = n
        }
    }

    /// The elements as Double (float32/float64/float16/bfloat16 exactly, integers converted).
    public func doubles() throws -> [Double] {
        switch dtype {
        case .float64:
            return try withElements(UInt64.self) { Double(bitPattern: $0) }
        case .int64:
            return try withElements(Int64.self) { Double($0) }
        case .uint64:
            return try withElements(UInt64.self) { Double($0) }
        default:
            return try floats().map(Double.init)
        }
    }

    /// The elements of an int32 array (int8/16, uint8/16 and bool widen; others throw).
    public func int32s() throws -> [Int32] {
        switch dtype {
        case .int32: return try withElements(Int32.self) { $0 }
        case .int16: return try withElements(Int16.self) { Int32($0) }
        case .uint16: return try withElements(UInt16.self) { Int32($0) }
        case .int8: return bytes.map { Int32(Int8(bitPattern: $0)) }
        case .uint8, .bool: return bytes.map { Int32($0) }
        default:
            throw CheckpointError(file: "array", problem: "int32s(): a \(dtype.rawValue) array is not int32; use int64s() or floats()")
        }
    }

    /// The elements of an integer array as Int64 (uint64 values above Int64.max throw).
    public func int64s() throws -> [Int64] {
        switch dtype {
        case .int64: return try withElements(Int64.self) { $0 }
        case .uint64:
            let v = try withElements(UInt64.self) { $0 }
            guard v.allSatisfy({ $0 <= UInt64(Int64.max) }) else {
                throw CheckpointError(file: "array", problem: "int64s(): uint64 value above Int64.max")
            }
            return v.map { Int64($0) }
        case .uint32: return try withElements(UInt32.self) { Int64($0) }
        case .int32, .int16, .uint16, .int8, .uint8, .bool: return try int32s().map(Int64.init)
        default:
            throw CheckpointError(file: "array", problem: "int64s(): a \(dtype.rawValue) array is not an integer array; use floats()")
        }
    }

    /// The elements of a bool array (or any integer array: non-zero is true).
    public func bools() throws -> [Bool] {
        switch dtype {
        case .bool, .uint8, .int8: return bytes.map { $0 != 0 }
        default: return try int64s().map { $0 != 0 }
        }
    }

    private func sizeError() -> CheckpointError {
        CheckpointError(file: "array", problem: "\(bytes.count) bytes do not hold \(description)")
    }

    private func withElements<T: FixedWidthInteger, R>(_: T.Type, _ f: (T) -> R) throws -> [R] {
        let n = count
        guard bytes.count == n * MemoryLayout<T>.size else { throw sizeError() }
        return bytes.withUnsafeBytes { raw in
            (0 ..< n).map { f(T(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * MemoryLayout<T>.size, as: T.self))) }
        }
    }
}

/// True on little-endian machines (every platform Swift runs this package on), where float32
/// bytes can be copied as they are.
let isLittleEndianHost = 1.littleEndian == 1

/// Little-endian bytes of fixed-width integers, in order.
func littleEndianBytes<T: FixedWidthInteger>(_ values: [T]) -> [UInt8] {
    let size = MemoryLayout<T>.size
    var out = [UInt8](repeating: 0, count: values.count * size)
    out.withUnsafeMutableBytes { raw in
        for (i, v) in values.enumerated() { raw.storeBytes(of: v.littleEndian, toByteOffset: i * size, as: T.self) }
    }
    return out
}

/// IEEE half → Float, including subnormals, infinities and NaN.
func halfToFloat(_ h: UInt16) -> Float {
    let sign = UInt32(h >> 15) << 31
    let exp = Int((h >> 10) & 0x1f)
    let mant = UInt32(h & 0x3ff)
    if exp == 0 {
        let v = Float(mant) * Float(sign: .plus, exponent: -24, significand: 1)
        return sign != 0 ? -v : v
    }
    if exp == 31 { return Float(bitPattern: sign | 0x7f80_0000 | (mant << 13)) }
    return Float(bitPattern: sign | UInt32(exp - 15 + 127) << 23 | (mant << 13))
}
