// Shared plumbing for the checkpoint readers and writers: the error type, bounds-checked
// little-endian byte reading, random access to files, and atomic writes.
//
// Every reader here treats its input as hostile: each offset, length and element count is
// checked (with overflow checks) before it is used, and a problem becomes a `CheckpointError`
// naming the file. The Tensor target is built with -Ounchecked, so nothing may rely on Swift's
// own array bounds traps.

import Foundation
import FileOutput

/// A checkpoint or array file that cannot be read or written; the message names the file and the fix.
public struct CheckpointError: Error, CustomStringConvertible, Equatable {
    /// The file (or prefix) concerned.
    public var file: String
    /// What is wrong, and where it helps, what to do about it.
    public var problem: String

    public init(file: String, problem: String) {
        self.file = file
        self.problem = problem
    }

    public var description: String { "\(file): \(problem)" }
}

/// Random access to the bytes of a file or an in-memory buffer, with checked ranges.
public protocol ByteSource: Sendable {
    /// Total number of bytes.
    var count: Int { get }
    /// Bytes [offset, offset+length); throws if the range leaves the source.
    func read(at offset: Int, count length: Int) throws -> [UInt8]
    /// The name used in error messages.
    var name: String { get }
}

/// A `ByteSource` over bytes already in memory.
public struct MemorySource: ByteSource {
    public let bytes: [UInt8]
    public let name: String
    public init(_ bytes: [UInt8], name: String) {
        self.bytes = bytes
        self.name = name
    }
    public var count: Int { bytes.count }
    public func read(at offset: Int, count length: Int) throws -> [UInt8] {
        try checkRange(offset, length, within: bytes.count, file: name, what: "read")
        return Array(bytes[offset ..< offset + length])
    }
}

/// A `ByteSource` over an open file, read on demand (a 700 MB checkpoint is never held whole).
/// Reads use pread, so one source may serve several threads at once.
public final class FileSource: ByteSource, @unchecked Sendable {
    public let name: String
    public let count: Int
    private let handle: FileHandle

    /// Opens `url` for reading; throws a `CheckpointError` if it is missing or unreadable.
    public init(_ url: URL) throws {
        name = url.path
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir) else {
            throw CheckpointError(file: url.path, problem: "no such file; check the path")
        }
        guard !isDir.boolValue else {
            throw CheckpointError(file: url.path, problem: "is a directory, expected a file")
        }
        do {
            handle = try FileHandle(forReadingFrom: url)
            let end = try handle.seekToEnd()
            guard end <= UInt64(Int.max) else {
                throw CheckpointError(file: url.path, problem: "file too large")
            }
            count = Int(end)
        } catch let error as CheckpointError {
            throw error
        } catch {
            throw CheckpointError(file: url.path, problem: "cannot open: \(error.localizedDescription)")
        }
    }

    deinit { try? handle.close() }

    public func read(at offset: Int, count length: Int) throws -> [UInt8] {
        try checkRange(offset, length, within: count, file: name, what: "read")
        let fd = handle.fileDescriptor
        var out = [UInt8](repeating: 0, count: length)
        var done = 0
        try out.withUnsafeMutableBytes { buffer in
            while done < length {
                let n = pread(fd, buffer.baseAddress! + done, min(length - done, 1 << 30), off_t(offset + done))
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else {
                    let why = n < 0 ? String(cString: strerror(errno)) : "end of file"
                    throw CheckpointError(file: name, problem: "read of \(length) bytes at offset \(offset) failed (\(why)); was the file truncated while reading?")
                }
                done += n
            }
        }
        return out
    }
}

/// Throws unless [offset, offset+length) lies inside [0, size).
@inline(__always)
func checkRange(_ offset: Int, _ length: Int, within size: Int, file: String, what: String) throws {
    let (end, overflow) = offset.addingReportingOverflow(length)
    guard offset >= 0, length >= 0, !overflow, end <= size else {
        throw CheckpointError(
            file: file,
            problem: "\(what): range at offset \(offset) of \(length) bytes runs past the end (\(size) bytes); the file is truncated or corrupt")
    }
}

/// Reads the whole file at `url`; a missing file or directory becomes a `CheckpointError`.
func readWholeFile(_ url: URL) throws -> [UInt8] {
    let source = try FileSource(url)
    return try source.read(at: 0, count: source.count)
}

/// A cursor over a byte array that throws, naming the file, instead of reading past the end.
struct ByteReader {
    let bytes: [UInt8]
    let file: String
    var position: Int
    let end: Int

    init(_ bytes: [UInt8], file: String, start: Int = 0, end: Int? = nil) {
        self.bytes = bytes
        self.file = file
        self.position = max(0, min(start, bytes.count))
        self.end = max(self.position, min(end ?? bytes.count, bytes.count))
    }

    var remaining: Int { end - position }
    var atEnd: Bool { position >= end }

    func fail(_ problem: String) -> CheckpointError { CheckpointError(file: file, problem: problem) }

    mutating func need(_ n: Int, _ what: String) throws {
        guard n >= 0, n <= remaining else {
            throw fail("truncated \(what): need \(n) bytes at offset \(position), \(remaining) left")
        }
    }

    mutating func u8(_ what: String = "byte") throws -> UInt8 {
        try need(1, what)
        defer { position += 1 }
        return bytes[position]
    }

    mutating func u16(_ what: String = "uint16") throws -> UInt16 {
        try need(2, what)
        defer { position += 2 }
        return UInt16(bytes[position]) | UInt16(bytes[position + 1]) << 8
    }

    mutating func u32(_ what: String = "uint32") throws -> UInt32 {
        try need(4, what)
        defer { position += 4 }
        return loadLE32(bytes, position)
    }

    mutating func u64(_ what: String = "uint64") throws -> UInt64 {
        try need(8, what)
        defer { position += 8 }
        return UInt64(loadLE32(bytes, position)) | UInt64(loadLE32(bytes, position + 4)) << 32
    }

    mutating func take(_ n: Int, _ what: String) throws -> ArraySlice<UInt8> {
        try need(n, what)
        defer { position += n }
        return bytes[position ..< position + n]
    }

    mutating func skip(_ n: Int, _ what: String) throws {
        try need(n, what)
        position += n
    }

    /// A base-128 varint of at most `maxBytes` bytes (5 for varint32, 10 for varint64).
    mutating func varint(_ what: String, maxBytes: Int = 10) throws -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        for i in 0 ..< maxBytes {
            let b = try u8(what)
            if i == 9 && b > 1 { throw fail("\(what): varint overflows 64 bits at offset \(position - 1)") }
            result |= UInt64(b & 0x7f) << shift
            if b & 0x80 == 0 {
                if maxBytes == 5 && result > UInt64(UInt32.max) {
                    throw fail("\(what): varint32 out of range at offset \(position - 1)")
                }
                return result
            }
            shift += 7
        }
        throw fail("\(what): varint longer than \(maxBytes) bytes at offset \(position)")
    }

    /// A varint that must fit an `Int` no larger than `limit`.
    mutating func varintInt(_ what: String, maxBytes: Int = 10, limit: Int = Int.max) throws -> Int {
        let v = try varint(what, maxBytes: maxBytes)
        guard v <= UInt64(limit) else { throw fail("\(what): value \(v) is out of range (at most \(limit))") }
        return Int(v)
    }
}

@inline(__always)
func loadLE32(_ b: [UInt8], _ i: Int) -> UInt32 {
    UInt32(b[i]) | UInt32(b[i + 1]) << 8 | UInt32(b[i + 2]) << 16 | UInt32(b[i + 3]) << 24
}

extension Array where Element == UInt8 {
    mutating func appendLE16(_ v: UInt16) {
        append(UInt8(v & 0xff)); append(UInt8(v >> 8))
    }
    mutating func appendLE32(_ v: UInt32) {
        for s in stride(from: 0, to: 32, by: 8) { append(UInt8((v >> UInt32(s)) & 0xff)) }
    }
    mutating func appendLE64(_ v: UInt64) {
        for s in stride(from: 0, to: 64, by: 8) { append(UInt8((v >> UInt64(s)) & 0xff)) }
    }
    mutating func appendVarint(_ v: UInt64) {
        var v = v
        while v >= 0x80 { append(UInt8(v & 0x7f) | 0x80); v >>= 7 }
        append(UInt8(v))
    }
}

/// Writes bytes to a temporary file in the destination folder, then renames (no half-written file ever).
///
///     try writeAtomically(bytes, to: URL(fileURLWithPath: "out/model.safetensors"))
public func writeAtomically(_ bytes: [UInt8], to url: URL) throws {
    try writeAtomically(to: url) { handle in
        var offset = 0
        while offset < bytes.count {
            let n = min(bytes.count - offset, 64 << 20)
            try handle.write(contentsOf: bytes[offset ..< offset + n])
            offset += n
        }
    }
}

/// Streams a file through `body` into a temporary file beside `url`, then renames it over `url`
/// (FileOutput's AtomicFile). On any error the temporary file is removed and `url` is left as it was.
public func writeAtomically(to url: URL, _ body: (FileHandle) throws -> Void) throws {
    do {
        try AtomicFile.write(to: url.path, body)
    } catch let error as AtomicWriteError {
        throw CheckpointError(file: error.file, problem: error.problem)
    } catch let error as CheckpointError {
        throw error
    } catch {
        throw CheckpointError(file: url.path, problem: "write failed: \(error)")
    }
}
