// ZipArchive: the zip writer and reader of Zip.swift for whole files of members (a challenge submission, a
// folder of masks): members stored or deflated, written atomically; read back with every CRC-32 checked.
import Foundation

/// Zip archives of named members.
///
///     try ZipArchive.write([("Annotations/v/0/00000.png", bytes)], to: URL(fileURLWithPath: "submission.zip"))
public enum ZipArchive {
    /// Writes `members` (name, bytes) in order as one archive at `url`, through a temporary file beside it;
    /// `compressed` deflates them (PNGs gain little: they are stored by default). Names must be unique.
    public static func write(_ members: [(name: String, data: [UInt8])], to url: URL, compressed: Bool = false) throws {
        var zip = ZipWriter(file: url.path)
        var seen = Set<String>()
        for m in members {
            guard seen.insert(m.name).inserted else {
                throw CheckpointError(file: url.path, problem: "member '\(m.name)' given twice")
            }
            try zip.add(name: m.name, data: m.data, compressed: compressed)
        }
        try writeAtomically(zip.finish(), to: url)
    }

    /// The members of the archive at `url`, in file order (directory entries left out).
    public static func read(_ url: URL) throws -> [(name: String, data: [UInt8])] {
        let zip = try ZipReader(FileSource(url))
        return try zip.members.filter { !$0.name.hasSuffix("/") }.map { ($0.name, try zip.data(of: $0)) }
    }
}
