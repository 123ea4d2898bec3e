// ContentHash: SHA-256 through libavutil, streamed over files in blocks, checked against coreutils' sha256sum.
import Foundation
import Testing
import Video

@Suite struct ContentHashTests {
    /// sha256sum's digest of what `input` writes to its standard input.
    func sha256sum(_ bytes: Data) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
        let input = Pipe(), output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        try input.fileHandleForWriting.write(contentsOf: bytes)
        try input.fileHandleForWriting.close()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return String(text.prefix(64))
    }

    @Test func filesAreHashedOneAfterTheOtherAsSha256sumHashesTheirConcatenation() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cmpc-hash-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        // 2.5 MiB and a few bytes: more than one 1 MiB block, and a short one.
        let big = Data((0..<(5 << 19)).map { UInt8(truncatingIfNeeded: $0 &* 2654435761 >> 13) })
        let small = Data("vocabulary\n<pad>\n".utf8)
        let a = dir.appendingPathComponent("model.index"), b = dir.appendingPathComponent("model.data-00000-of-00001")
        try big.write(to: a)
        try small.write(to: b)
        #expect(try ContentHash.sha256(files: [a.path, b.path]) == (try sha256sum(big + small)))
        #expect(try ContentHash.sha256(files: [b.path]) == (try sha256sum(small)))
        #expect(try ContentHash.sha256(Array(small)) == (try sha256sum(small)))
        #expect(try ContentHash.sha256([]) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(throws: VideoError.self) { try ContentHash.sha256(files: [dir.appendingPathComponent("none").path]) }
    }
}
