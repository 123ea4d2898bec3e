// Test media made at test time with the ffmpeg command-line tool (Debian's ffmpeg package) into one
// temporary folder shared by the suites. Every frame k (1-based) of a pattern video shows k as an
// 8-bit binary code of big grey blocks (4 columns × 2 rows, bit b at column b % 4, row b / 4),
// which survives lossy coding, so numbering and seeking are checked exactly.
import Foundation
import Testing
@testable import Video

enum MediaFiles {
    /// Removed when the test process exits.
    static let folder: String = {
        let dir = FileManager.default.temporaryDirectory
            .appendingPathComponent("cmpc-video-tests-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        atexit { try? FileManager.default.removeItem(atPath: MediaFiles.folder) }
        return dir
    }()
    private static let lock = NSLock()

    /// The file `name` in the shared folder, made by `make` (given the path) the first time it is asked for.
    static func file(_ name: String, _ make: (String) throws -> Void) throws -> String {
        lock.lock()
        defer { lock.unlock() }
        let path = (folder as NSString).appendingPathComponent(name)
        if !FileManager.default.fileExists(atPath: path) { try make(path) }
        return path
    }

    /// A fresh empty folder for one test.
    static func scratchFolder(_ name: String) throws -> String {
        let dir = (folder as NSString).appendingPathComponent("\(name)-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    struct ToolError: Error, CustomStringConvertible { let description: String }

    /// Runs a tool (ffmpeg, ffprobe) and returns its standard output; throws with its stderr on failure.
    @discardableResult
    static func run(_ tool: String, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [tool] + arguments
        let out = (folder as NSString).appendingPathComponent("tool-\(UInt32.random(in: 0...UInt32.max)).out")
        let err = out + ".err"
        _ = FileManager.default.createFile(atPath: out, contents: nil)
        _ = FileManager.default.createFile(atPath: err, contents: nil)
        defer { unlink(out); unlink(err) }
        process.standardOutput = FileHandle(forWritingAtPath: out)
        process.standardError = FileHandle(forWritingAtPath: err)
        process.standardInput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        let stdout = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
        guard process.terminationStatus == 0 else {
            let stderr = (try? String(contentsOfFile: err, encoding: .utf8)) ?? ""
            throw ToolError(description: "\(tool) \(arguments.joined(separator: " ")) failed: \(stderr)")
        }
        return stdout
    }

    static func ffmpeg(_ arguments: [String]) throws {
        try run("ffmpeg", ["-nostdin", "-v", "error", "-y"] + arguments)
    }

    // MARK: - The frame-number pattern

    static let bits = 8

    /// The picture of frame `k`: bit b of k is a light (230) or dark (25) block; a colour tint marks the channels.
    static func pattern(_ k: Int, width: Int, height: Int) -> RGBImage {
        var image = RGBImage(width: width, height: height)
        for y in 0..<height {
            for x in 0..<width {
                let column = min(3, x * 4 / width), row = min(1, y * 2 / height)
                let on = (k >> (row * 4 + column)) & 1 == 1
                let v: UInt8 = on ? 230 : 25
                let i = (y * width + x) * 3
                image.pixels[i] = v
                image.pixels[i + 1] = v
                image.pixels[i + 2] = v
            }
        }
        return image
    }

    /// The frame number a (decoded, possibly resized) pattern picture shows.
    static func number(in image: RGBImage) -> Int {
        var k = 0
        for b in 0..<bits {
            let column = b % 4, row = b / 4
            let x0 = column * image.width / 4, x1 = (column + 1) * image.width / 4
            let y0 = row * image.height / 2, y1 = (row + 1) * image.height / 2
            // The middle half of the block, away from coding artefacts at its edges.
            let (ax, bx) = (x0 + (x1 - x0) / 4, x1 - (x1 - x0) / 4)
            let (ay, by) = (y0 + (y1 - y0) / 4, y1 - (y1 - y0) / 4)
            var sum = 0, n = 0
            for y in ay..<max(ay + 1, by) {
                for x in ax..<max(ax + 1, bx) {
                    let p = image[x, y]
                    sum += Int(p.0) + Int(p.1) + Int(p.2)
                    n += 3
                }
            }
            if n > 0, sum / n > 127 { k |= 1 << b }
        }
        return k
    }

    /// Writes frames 1…count of the pattern as raw RGB24 and returns the raw file's path.
    static func rawPattern(count: Int, width: Int, height: Int) throws -> String {
        try file("pattern-\(count)-\(width)x\(height).rgb") { path in
            var data = Data()
            for k in 1...count { data.append(contentsOf: pattern(k, width: width, height: height).pixels) }
            try data.write(to: URL(fileURLWithPath: path))
        }
    }

    /// Encodes the pattern with ffmpeg: `count` frames of width×height at `rate`, then `arguments` before the output.
    static func patternVideo(_ name: String, count: Int = 60, width: Int = 160, height: Int = 120, rate: String = "25",
                             _ arguments: [String]) throws -> String {
        let raw = try rawPattern(count: count, width: width, height: height)
        return try file(name) { path in
            try ffmpeg(["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "\(width)x\(height)", "-r", rate, "-i", raw]
                       + arguments + [path])
        }
    }

    // MARK: - The test media

    static let x264BFrames = ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-x264-params",
                              "bframes=3:b-adapt=0:keyint=12:min-keyint=12:scenecut=0"]

    static func h264BFrames() throws -> String { try patternVideo("bframes.mp4", x264BFrames) }

    static func vp9() throws -> String {
        try patternVideo("vp9.webm", count: 48, ["-c:v", "libvpx-vp9", "-g", "12", "-cpu-used", "8", "-b:v", "400k",
                                                 "-auto-alt-ref", "1", "-lag-in-frames", "16"])
    }

    static func mpeg4Avi() throws -> String {
        try patternVideo("mpeg4.avi", count: 48, ["-c:v", "mpeg4", "-bf", "2", "-g", "12", "-q:v", "3"])
    }

    static func oddSize() throws -> String {
        try patternVideo("odd.mp4", count: 30, width: 321, height: 241,
                         ["-c:v", "libx264", "-pix_fmt", "yuv444p", "-g", "10"])
    }

    /// A 40×30 yuv420p clip: rows of 120 RGB bytes, which swscale's vector code overruns in an exact buffer.
    static func small() throws -> String {
        try patternVideo("small.mp4", count: 24, width: 40, height: 30, ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "8"])
    }

    /// Frames at irregular times: 0, 1, 2, 5, 6, 7, 10, … (in 1/25 s), kept as they are.
    static func variableRate() throws -> String {
        try patternVideo("vfr.mp4", count: 40,
                         ["-vf", "setpts='(N+floor(N/3)*2)/(25*TB)'", "-fps_mode", "passthrough"] + x264BFrames)
    }

    /// A stream copy of the B-frame file from 0.5 s: an edit list hides the frames before it.
    static func editList() throws -> String {
        let source = try h264BFrames()
        return try file("editlist.mp4") { path in try ffmpeg(["-ss", "0.5", "-i", source, "-c", "copy", path]) }
    }

    /// The B-frame file with a display matrix asking for a 90° clockwise turn.
    static func rotated() throws -> String {
        let source = try h264BFrames()
        return try file("rotated.mp4") { path in
            try ffmpeg(["-i", source, "-c", "copy", "-metadata:s:v", "rotate=90", path])
        }
    }

    /// A folder of 00001.png … like A2D's and J-HMDB's frame folders.
    static func pngFolder() throws -> String {
        let raw = try rawPattern(count: 20, width: 160, height: 120)
        return try file("png-frames") { path in
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            try ffmpeg(["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "160x120", "-i", raw, path + "/%05d.png"])
        }
    }

    /// A folder of 00001.jpg …, read through its pattern `…/%05d.jpg`.
    static func jpegFolder() throws -> String {
        let raw = try rawPattern(count: 20, width: 160, height: 120)
        return try file("jpg-frames") { path in
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            try ffmpeg(["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "160x120", "-i", raw, "-q:v", "3",
                        path + "/%05d.jpg"])
        }
    }

    /// The B-frame file with its index in front (faststart), cut at 60 % of its length.
    static func truncated() throws -> String {
        let source = try h264BFrames()
        let whole = try file("faststart.mp4") { path in
            try ffmpeg(["-i", source, "-c", "copy", "-movflags", "+faststart", path])
        }
        return try file("truncated.mp4") { path in
            let data = try Data(contentsOf: URL(fileURLWithPath: whole))
            try data.prefix(data.count * 6 / 10).write(to: URL(fileURLWithPath: path))
        }
    }

    /// The B-frame file copied into Matroska (seeking goes through its cues, by presentation time).
    static func h264Matroska() throws -> String {
        let source = try h264BFrames()
        return try file("bframes.mkv") { path in try ffmpeg(["-i", source, "-c", "copy", path]) }
    }

    /// The B-frame file as Matroska, cut at 60 %.
    static func truncatedMatroska() throws -> String {
        let whole = try h264Matroska()
        return try file("truncated.mkv") { path in
            let data = try Data(contentsOf: URL(fileURLWithPath: whole))
            try data.prefix(data.count * 6 / 10).write(to: URL(fileURLWithPath: path))
        }
    }

    static func randomBytes() throws -> String {
        try file("random.mp4") { path in
            var rng = SystemRandomNumberGenerator()
            let bytes = (0..<65536).map { _ in UInt8.random(in: 0...255, using: &rng) }
            try Data(bytes).write(to: URL(fileURLWithPath: path))
        }
    }

    /// Decodes `path` with the ffmpeg tool to raw RGB24 frames (autorotated, as the tool does by default).
    static func ffmpegFrames(_ path: String, width: Int, height: Int) throws -> [RGBImage] {
        let out = (folder as NSString).appendingPathComponent("decoded-\(UInt32.random(in: 0...UInt32.max)).rgb")
        defer { unlink(out) }
        try ffmpeg(["-i", path, "-f", "rawvideo", "-pix_fmt", "rgb24", out])
        let data = [UInt8](try Data(contentsOf: URL(fileURLWithPath: out)))
        let size = width * height * 3
        return stride(from: 0, to: data.count - size + 1, by: size).map {
            RGBImage(width: width, height: height, unchecked: Array(data[$0..<($0 + size)]))
        }
    }
}

/// Decodes every frame of `reader` in order.
func decodeAll(_ reader: VideoReader) throws -> [RGBImage] {
    var frames: [RGBImage] = []
    while let f = try reader.nextFrame() { frames.append(f) }
    return frames
}

extension MediaFiles {
    /// A 159×119 yuv420p MPEG-4 clip of 60 pattern frames at 25/s with a 440 Hz AAC sound track (2.4 s).
    static func oddWithAudio() throws -> String {
        try patternVideo("odd-audio.mp4", count: 60, width: 159, height: 119,
                         ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=2.4",
                          "-c:v", "mpeg4", "-q:v", "3", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest"])
    }

    /// The top-level boxes of an mp4 file, in file order ("ftyp", "moov", "mdat", …).
    static func topLevelBoxes(_ path: String) throws -> [String] {
        let data = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        var boxes: [String] = [], at = 0
        while at + 8 <= data.count {
            var size = data[at..<(at + 4)].reduce(0) { $0 << 8 | Int($1) }
            let type = String(decoding: data[(at + 4)..<(at + 8)], as: UTF8.self)
            if size == 1, at + 16 <= data.count { size = data[(at + 8)..<(at + 16)].reduce(0) { $0 << 8 | Int($1) } }
            if size == 0 { size = data.count - at }
            boxes.append(type)
            guard size >= 8 else { break }
            at += size
        }
        return boxes
    }

    /// ffprobe's streams of `path` as "codec_type,codec_name" lines.
    static func streams(_ path: String) throws -> [String] {
        try run("ffprobe", ["-v", "error", "-show_entries", "stream=codec_type,codec_name", "-of", "csv=p=0", path])
            .split(whereSeparator: \.isNewline).map(String.init)
    }

    /// The duration ffprobe gives the first stream of `kind` ("audio", "video") of `path`, in seconds.
    static func streamDuration(_ path: String, _ kind: String) throws -> Double? {
        Double(try run("ffprobe", ["-v", "error", "-select_streams", kind == "audio" ? "a:0" : "v:0", "-show_entries",
                                   "stream=duration", "-of", "csv=p=0", path]).trimmingCharacters(in: .whitespacesAndNewlines))
    }
}
