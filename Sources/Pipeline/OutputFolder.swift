// An output folder replaced as a whole (what `segment --out DIR` writes into):
//   1. lock PARENT/.DIR.lock (flock, held until the run ends, then removed), so two runs into one folder cannot
//      mix;
//   2. remove what killed runs left beside DIR (AtomicFile's `.DIR.partial-PID-RANDOM` of dead processes);
//   3. accept DIR when it is missing, empty or a previous output (it holds `marker`, starting with
//      `markerPrefix`); refuse any other
//      non-empty DIR unless `overwrite`;
//   4. the run writes into the sibling PARENT/.DIR.partial-PID-RANDOM/;
//   5. commit: the old DIR moves aside under another temporary name, the new folder takes its name, the old
//      one is deleted. A failed run removes its folder and leaves DIR as it was.

import Foundation
import FileOutput
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A folder written beside its destination and swapped in whole; see the file header.
public final class OutputFolder {
    /// The destination, as given.
    public let destination: String
    /// Where the run writes (a sibling of `destination`).
    public let temporary: String
    private var lockFD: Int32
    private let lockPath: String
    private var committed = false

    /// Locks `destination`, checks it may be replaced, and makes the temporary folder. `marker` is the file
    /// (beginning with `markerPrefix`)
    /// that says a folder is a previous output (masks.json); `option` names the option in messages.
    public init(_ destination: String, marker: String, markerPrefix: String = "", option: String = "--out",
                overwrite: Bool = false) throws {
        guard !destination.isEmpty else {
            throw PipelineError("\(option) is empty: give the output folder, e.g. \(option) cmpc-out")
        }
        let url = URL(fileURLWithPath: destination).standardizedFileURL
        let name = url.lastPathComponent
        let parent = url.deletingLastPathComponent().path
        guard name != "/", name != ".", name != ".." else {
            throw PipelineError("\(option) \(destination): give a folder by its name (the whole folder is replaced)")
        }
        self.destination = destination
        do {
            try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
        } catch {
            throw PipelineError("\(option) \(destination): cannot create the folder \(parent) "
                                + "(\(plainReason(error))); check the path and its permissions")
        }
        lockPath = parent + "/." + name + ".lock"
        lockFD = try Self.lock(lockPath, option: option, destination: destination)
        do {
            AtomicFile.removeStaleTemporaries(in: parent)
            try Self.checkReplaceable(url.path, marker: marker, prefix: markerPrefix, option: option,
                                      overwrite: overwrite)
            temporary = AtomicFile.temporaryPath(for: url.path)
            do {
                try FileManager.default.createDirectory(atPath: temporary, withIntermediateDirectories: false)
            } catch {
                throw PipelineError("\(option) \(destination): cannot create a folder in \(parent) "
                                    + "(\(plainReason(error))); check the folder's permissions")
            }
        } catch {
            unlink(lockPath)
            Self.unlock(lockFD)
            throw error
        }
    }

    /// Puts the finished folder in the destination's place (the previous output goes as a whole).
    public func commit() throws {
        guard !committed else { return }
        let target = URL(fileURLWithPath: destination).standardizedFileURL.path
        var aside: String?
        var st = stat()
        if lstat(target, &st) == 0 {
            let old = AtomicFile.temporaryPath(for: target)
            guard rename(target, old) == 0 else {
                throw PipelineError("\(destination): cannot move the previous output aside: \(errnoText()); "
                                    + "the new output is in \(temporary)")
            }
            aside = old
        }
        guard rename(temporary, target) == 0 else {
            let reason = errnoText()
            if let aside { _ = rename(aside, target) }
            throw PipelineError("\(destination): cannot move the finished output into place: \(reason); "
                                + "the new output is in \(temporary)")
        }
        committed = true
        if let aside { try? FileManager.default.removeItem(atPath: aside) }
        finish()
    }

    /// `error` as the user should read it when writing into the folder failed part-way (a full disk, a file-size
    /// limit): the temporary folder's path replaced by the destination's, what became of the destination, and the
    /// fix. Errors that do not concern the folder are returned unchanged.
    public func explain(_ error: Error) -> Error {
        let text = "\(error)"
        guard !committed, text.contains(temporary) else { return error }
        var message = text.replacingOccurrences(of: temporary, with: destination)
        if !message.contains("rerun") { message += "; free disk space if the disk is full, and rerun" }
        return PipelineError(message + "; \(destination) was left as it was (the run wrote beside it)")
    }

    /// Removes the temporary folder unless committed, and releases the lock (also done on deinit). The lock file
    /// is removed while still held; a run that opened it meanwhile sees it gone and locks a new one.
    public func finish() {
        if !committed { try? FileManager.default.removeItem(atPath: temporary) }
        if lockFD >= 0 {
            unlink(lockPath)
            Self.unlock(lockFD)
            lockFD = -1
        }
    }

    deinit { finish() }

    // MARK: - Steps

    /// Holds an exclusive flock on `path` (created). Retries when the file was replaced between open and lock.
    static func lock(_ path: String, option: String, destination: String) throws -> Int32 {
        while true {
            let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
            guard fd >= 0 else {
                throw PipelineError("\(option) \(destination): cannot create the lock file \(path): \(errnoText()); "
                                    + "check the folder's permissions")
            }
            if flock(fd, LOCK_EX | LOCK_NB) != 0 {
                let code = errno
                close(fd)
                if code == EWOULDBLOCK {
                    throw PipelineError("\(option) \(destination): another run is writing into this folder (it holds "
                                        + "\(path)); wait for it to finish or choose another \(option)")
                }
                throw PipelineError("\(option) \(destination): cannot lock \(path): \(String(cString: strerror(code)))")
            }
            var held = stat(), now = stat()
            if fstat(fd, &held) == 0, stat(path, &now) == 0, held.st_ino == now.st_ino, held.st_dev == now.st_dev {
                return fd
            }
            close(fd)
        }
    }

    static func unlock(_ fd: Int32) {
        _ = flock(fd, LOCK_UN)
        close(fd)
    }

    /// Missing, empty or a previous output (holds `marker`) may be replaced; anything else needs `overwrite`.
    static func checkReplaceable(_ path: String, marker: String, prefix: String, option: String,
                                 overwrite: Bool) throws {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { return }
        if overwrite { return }
        guard isDir.boolValue else {
            throw PipelineError("\(option) \(path) is a file, not a folder: choose another \(option) "
                                + "(or --overwrite to replace it)")
        }
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: path) } catch {
            throw PipelineError("\(option) \(path): cannot list the folder (\(plainReason(error))); check its permissions")
        }
        if names.isEmpty { return }
        if names.contains(marker), let handle = FileHandle(forReadingAtPath: path + "/" + marker) {
            let head = (try? handle.read(upToCount: prefix.utf8.count)) ?? nil
            try? handle.close()
            if prefix.isEmpty || head == Data(prefix.utf8) { return }
        }
        throw PipelineError("\(option) \(path) is not empty and holds no \(marker), so it is not a previous output "
                            + "(\(names.count) entries, e.g. \(names.sorted()[0])); choose another \(option), or "
                            + "--overwrite to replace the whole folder")
    }

}

extension OutputFolder {
    /// `segment --out DIR`: a previous output holds masks.json as SegmentationOutput writes it (sorted keys, so
    /// it begins with "crf").
    public static func segmentation(_ destination: String, overwrite: Bool) throws -> OutputFolder {
        try OutputFolder(destination, marker: "masks.json", markerPrefix: "{\"crf\":", overwrite: overwrite)
    }
}
