// Atomic file output: every file the project writes (checkpoints, masks, overlays, logs, summaries,
// synthetic sets) is filled under a temporary name in the destination folder and renamed over the
// destination only when complete, so a reader never sees a half-written file and a failed write
// leaves the old file as it was. The one implementation; each module maps `AtomicWriteError` to its
// own error type where its callers expect one.

import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why a file could not be written; names the file and the fix.
public struct AtomicWriteError: Error, CustomStringConvertible, Sendable {
    /// The destination path.
    public let file: String
    /// What went wrong.
    public let problem: String

    public init(file: String, problem: String) {
        self.file = file
        self.problem = problem
    }

    public var description: String { "\(file): \(problem)" }
}

/// Writing through a temporary file beside the destination, renamed over it on success.
public enum AtomicFile {
    /// A fresh temporary path beside `path` that keeps its extension (FFmpeg's muxers choose by it):
    /// `dir/.name.partial-<pid>-<random>.ext`.
    public static func temporaryPath(for path: String) -> String {
        let url = URL(fileURLWithPath: path)
        let ext = url.pathExtension
        let tag = String(UInt64.random(in: 0...UInt64.max), radix: 36)
        let name = ".\(url.deletingPathExtension().lastPathComponent).partial-\(getpid())-\(tag)"
            + (ext.isEmpty ? "" : ".\(ext)")
        return url.deletingLastPathComponent().appendingPathComponent(name).path
    }

    /// The process id in a name made by `temporaryPath(for:)` (`.name.partial-<pid>-<random>[.ext]`), or nil
    /// for any other name: only files of this pattern are ever treated as ours.
    public static func temporaryOwner(_ name: String) -> pid_t? {
        guard name.hasPrefix("."), let marker = name.range(of: ".partial-", options: .backwards),
              marker.lowerBound > name.index(after: name.startIndex) else { return nil }
        let rest = name[marker.upperBound...].split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        guard rest.count == 2, let pid = pid_t(rest[0]), pid > 0, String(pid) == rest[0] else { return nil }
        let tail = rest[1].split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard let tag = tail.first, !tag.isEmpty, UInt64(tag, radix: 36) != nil,
              tag.allSatisfy({ $0.isASCII && ($0.isNumber || $0.isLowercase) }),
              tail.count == 1 || !(tail[1].isEmpty || tail[1].contains(".")) else { return nil }
        return pid
    }

    /// Whether process `pid` is running (a process of another user counts as running).
    public static func isRunning(_ pid: pid_t) -> Bool {
        pid == getpid() || kill(pid, 0) == 0 || errno == EPERM
    }

    /// Removes the temporary files (and folders) of `temporaryPath(for:)`'s pattern in `folder` whose process is
    /// no longer running: what a killed run left half-written. Anything else is left alone. Returns the removed
    /// paths; a missing folder has none.
    @discardableResult
    public static func removeStaleTemporaries(in folder: String) -> [String] {
        let dir = folder.isEmpty ? "." : folder
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return [] }
        var removed: [String] = []
        for name in names.sorted() {
            guard let pid = temporaryOwner(name), !isRunning(pid) else { continue }
            let path = (dir as NSString).appendingPathComponent(name)
            if (try? FileManager.default.removeItem(atPath: path)) != nil { removed.append(path) }
        }
        return removed
    }

    /// Renames the finished `temporary` to `path` (replacing an older file); removes `temporary`
    /// when that fails.
    public static func commit(_ temporary: String, to path: String) throws {
        if rename(temporary, path) != 0 {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw AtomicWriteError(file: path, problem: "cannot move the finished file into place: \(reason)")
        }
    }

    /// Streams a file through `body` into a temporary file beside `path`, then renames it over `path`.
    /// On any error the temporary file is removed and `path` is left as it was; the error thrown by
    /// `body` is rethrown unchanged.
    public static func write(to path: String, _ body: (FileHandle) throws -> Void) throws {
        let folder = (path as NSString).deletingLastPathComponent
        let dir = folder.isEmpty ? "." : folder
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
            throw AtomicWriteError(file: path, problem: "the folder \(dir) does not exist; create it first")
        }
        let temporary = temporaryPath(for: path)
        guard FileManager.default.createFile(atPath: temporary, contents: nil) else {
            throw AtomicWriteError(file: path, problem: "cannot create a temporary file in \(dir): "
                                   + String(cString: strerror(errno)) + "; check the folder's permissions")
        }
        do {
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: temporary))
            do {
                try body(handle)
                try handle.synchronize()
                try handle.close()
            } catch {
                try? handle.close()
                throw error
            }
        } catch let error as AtomicWriteError {
            unlink(temporary)
            throw error
        } catch {
            unlink(temporary)
            if error is CocoaError || error is POSIXError || (error as NSError).domain == NSCocoaErrorDomain {
                throw AtomicWriteError(file: path, problem: "writing failed: \(plainReason(error)); "
                                       + writeFailureFix(error))
            }
            throw error
        }
        try commit(temporary, to: path)
    }

    /// Writes `bytes` to `path` atomically.
    public static func write<Bytes: DataProtocol>(_ bytes: Bytes, to path: String) throws {
        try write(to: path) { handle in
            var start = bytes.startIndex
            while start != bytes.endIndex {
                let end = bytes.index(start, offsetBy: 64 << 20, limitedBy: bytes.endIndex) ?? bytes.endIndex
                try handle.write(contentsOf: bytes[start..<end])
                start = end
            }
        }
    }
}

/// A Foundation error as one line: the POSIX reason underneath when there is one, not "error 256".
public func plainReason(_ error: Error) -> String {
    let ns = error as NSError
    // swift-corelibs-foundation keeps the underlying error as a Swift value (POSIXError), which a cast to
    // NSError does not find on Linux.
    if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? Error {
        if let posix = underlying as? POSIXError { return String(cString: strerror(posix.code.rawValue)) }
        let u = underlying as NSError
        if u.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(u.code))) }
    }
    if ns.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(ns.code))) }
    guard ns.domain == NSCocoaErrorDomain else { return "\(error)" }
    switch CocoaError.Code(rawValue: ns.code) {
    case .fileNoSuchFile, .fileReadNoSuchFile: return "no such file"
    case .fileWriteNoPermission, .fileReadNoPermission: return "permission denied"
    case .fileWriteFileExists: return "a file is in the way"
    case .fileWriteOutOfSpace: return "no space left on the device"
    case .fileWriteVolumeReadOnly: return "the file system is read-only"
    default: return ns.localizedDescription
    }
}

/// The POSIX error code under a Foundation error (FileHandle's writes wrap it), or nil.
public func posixCode(_ error: Error) -> Int32? {
    if let posix = error as? POSIXError { return posix.code.rawValue }
    let ns = error as NSError
    if ns.domain == NSPOSIXErrorDomain { return Int32(ns.code) }
    if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? Error { return posixCode(underlying) }
    if ns.domain == NSCocoaErrorDomain, CocoaError.Code(rawValue: ns.code) == .fileWriteOutOfSpace { return ENOSPC }
    return nil
}

/// What to do about a failed write: free space for a full disk, a quota or a file-size limit; else check the disk.
/// Says that nothing half-written was kept.
public func writeFailureFix(_ error: Error) -> String {
    switch posixCode(error) {
    case ENOSPC?, EDQUOT?, EFBIG?:
        return "no partial file was kept; free disk space (or raise the quota or file-size limit) and rerun"
    default:
        return "no partial file was kept; check the disk and the folder's permissions and rerun"
    }
}

/// The C library's text for the current `errno`.
public func errnoText() -> String { String(cString: strerror(errno)) }
