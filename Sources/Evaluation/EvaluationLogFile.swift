// Evaluation log files on disk: reading every complete line (an interrupted last line is reported, not parsed;
// the provenance record, when present, is the first line),
// the flock-holding append writer that resumes a run, and atomic whole-file writes.

import Foundation
import FileOutput

/// The complete lines of a log file, and how many bytes an interrupted last line adds after them.
public struct LogFileContents: Sendable {
    /// The provenance record (the first line), when the log has one.
    public var provenance: Provenance?
    /// Records with their 1-based line numbers, in file order.
    public var records: [(line: Int, record: LogRecord)]
    /// Bytes up to and including the last "\n".
    public var completeBytes: Int
    /// Bytes of an unterminated last line (0 when the file ends in "\n").
    public var incompleteBytes: Int
}

/// Reads a log; a missing file is an empty log. Blank lines are ignored; a malformed complete line is an error.
public func readLog(_ url: URL) throws -> LogFileContents {
    guard FileManager.default.fileExists(atPath: url.path) else {
        return LogFileContents(provenance: nil, records: [], completeBytes: 0, incompleteBytes: 0)
    }
    let data: Data
    do { data = try Data(contentsOf: url) } catch {
        throw EvaluationLogError.io(file: url.path, reason: "cannot read: \(error.localizedDescription)")
    }
    let bytes = [UInt8](data)
    let end = (bytes.lastIndex(of: UInt8(ascii: "\n")) ?? -1) + 1
    var records: [(line: Int, record: LogRecord)] = []
    var provenance: Provenance?
    var start = 0
    var number = 0
    while start < end {
        number += 1
        let stop = bytes[start..<end].firstIndex(of: UInt8(ascii: "\n")) ?? end
        let slice = bytes[start..<stop]
        start = stop + 1
        if slice.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { continue }
        guard let text = String(bytes: slice, encoding: .utf8) else {
            throw EvaluationLogError.malformedLine(file: url.path, line: number, reason: "not UTF-8")
        }
        if Provenance.isRecord(Substring(text)) {
            guard provenance == nil, records.isEmpty else {
                throw EvaluationLogError.malformedLine(file: url.path, line: number,
                                                       reason: "a provenance record is only allowed as the first line")
            }
            provenance = try Provenance(jsonLine: Substring(text), file: url.path, line: number)
            continue
        }
        records.append((number, try LogRecord(jsonLine: Substring(text), file: url.path, line: number)))
    }
    return LogFileContents(provenance: provenance, records: records, completeBytes: end, incompleteBytes: bytes.count - end)
}

/// Appends lines to a log, creating it; flushes each line to the kernel at once and to the disk every `syncEvery`
/// lines (and on close), so a crash loses at most the line being written. Holds an exclusive `flock` while open.
/// A line is appended whole or not at all: when a write fails part-way (ENOSPC, EFBIG, EIO) the file is cut back
/// to where the line began.
public final class LogWriter {
    public let url: URL
    private var fd: Int32
    private let syncEvery: Int
    private var unsynced = 0
    /// `write(2)`; tests put a failing one here.
    let writeBytes: (Int32, UnsafeRawPointer, Int) -> Int

    /// Opens (creating) `url` for appending and locks it.
    public convenience init(url: URL, syncEvery: Int = 1) throws {
        try self.init(url: url, syncEvery: syncEvery, writeBytes: posixWrite)
    }

    /// As above, with the function that writes bytes (`write(2)` in the tool; a failing one in tests).
    init(url: URL, syncEvery: Int = 1, writeBytes: @escaping (Int32, UnsafeRawPointer, Int) -> Int) throws {
        self.url = url
        self.syncEvery = max(1, syncEvery)
        self.writeBytes = writeBytes
        fd = open(url.path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw EvaluationLogError.io(file: url.path, reason: "cannot open for appending: \(errnoText())") }
        if flock(fd, LOCK_EX | LOCK_NB) != 0, errno == EWOULDBLOCK {
            posixClose(fd)
            fd = -1
            throw EvaluationLogError.locked(file: url.path)
        }
        // Other flock failures (file systems without locks) are not fatal: the lock only guards against mistakes.
    }

    /// Cuts the file to its first `length` bytes (dropping an interrupted last line); appends follow them.
    public func truncate(to length: Int) throws {
        guard fd >= 0 else { throw EvaluationLogError.io(file: url.path, reason: "truncated after close") }
        guard ftruncate(fd, off_t(length)) == 0 else {
            throw EvaluationLogError.io(file: url.path, reason: "cannot drop the incomplete last line: \(errnoText())")
        }
    }

    /// Appends one record's line.
    public func append(_ record: LogRecord) throws {
        try write(record.jsonLine())
    }

    /// Appends the provenance record (the log's first line).
    public func append(_ provenance: Provenance) throws {
        try write(provenance.jsonLine())
    }

    /// Appends raw text: whole lines, each ending in "\n" (another JSON-lines log, e.g. train.jsonl).
    public func write(_ text: String) throws {
        guard fd >= 0 else { throw EvaluationLogError.io(file: url.path, reason: "written after close") }
        let bytes = Array(text.utf8)
        // Where this line begins: on a failure part-way the file is cut back to it, so no torn line stays.
        let lineStart = lseek(fd, 0, SEEK_END)
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { writeBytes(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 || (n == 0 && offset < bytes.count) {
                if n < 0, errno == EINTR { continue }
                let reason = n < 0 ? errnoText() : "no byte written"
                var kept = ""
                if offset > 0 {
                    if lineStart >= 0, ftruncate(fd, lineStart) == 0 {
                        kept = "; the incomplete line was removed"
                    } else {
                        kept = "; an incomplete last line is left (the next run drops it)"
                    }
                }
                throw EvaluationLogError.io(file: url.path, reason: "cannot append: \(reason)\(kept); "
                                            + "free disk space and rerun to continue")
            }
            offset += n
        }
        unsynced += 1
        if unsynced >= syncEvery { try sync() }
    }

    /// Forces written lines to the disk.
    public func sync() throws {
        guard fd >= 0, unsynced > 0 else { return }
        unsynced = 0
        if fsync(fd) != 0, errno != EINVAL, errno != ENOTSUP {
            throw EvaluationLogError.io(file: url.path, reason: "cannot sync: \(errnoText())")
        }
    }

    /// Syncs and closes (also done on deinit).
    public func close() throws {
        guard fd >= 0 else { return }
        defer { posixClose(fd); fd = -1 }
        try sync()
    }

    deinit { try? close() }
}


private func posixWrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int { write(fd, buffer, count) }
private func posixClose(_ fd: Int32) { _ = close(fd) }

/// Writes `data` to `url` through a temporary file in the same folder, renamed over the target on success.
func writeAtomically(_ data: Data, to url: URL) throws {
    do { try AtomicFile.write(data, to: url.path) } catch let error as AtomicWriteError {
        throw EvaluationLogError.io(file: error.file, reason: error.problem)
    }
}
