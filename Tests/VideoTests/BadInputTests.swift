import Foundation
import Testing
@testable import Video

@Suite struct BadInputTests {
    /// Opens `path` expecting a VideoError of one of `kinds` that names the file.
    func expectOpenError(_ path: String, _ kinds: Set<VideoError.Kind>, options: VideoReader.Options = .init(),
                         sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            _ = try VideoReader(path: path, options: options)
            Issue.record("opening \(path) did not fail", sourceLocation: sourceLocation)
        } catch let error as VideoError {
            #expect(kinds.contains(error.kind), "\(error.kind): \(error)", sourceLocation: sourceLocation)
            #expect(error.description.contains(path), "\(error)", sourceLocation: sourceLocation)
        } catch {
            Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
        }
    }

    @Test func missingFile() {
        expectOpenError(MediaFiles.folder + "/no-such-clip.mp4", [.missingFile])
        expectOpenError(MediaFiles.folder + "/no-such-folder/%05d.png", [.missingFile])
    }

    @Test func randomBytesAreNotMedia() throws {
        expectOpenError(try MediaFiles.randomBytes(), [.notMedia, .noVideoStream, .noFrames])
    }

    @Test func textFileIsNotMedia() throws {
        let path = try MediaFiles.file("notes.mp4") { p in
            try "these are not the frames you are looking for\n".write(toFile: p, atomically: true, encoding: .utf8)
        }
        expectOpenError(path, [.notMedia])
    }

    @Test func emptyFileIsNotMedia() throws {
        let path = try MediaFiles.file("empty.mkv") { p in _ = FileManager.default.createFile(atPath: p, contents: Data()) }
        expectOpenError(path, [.notMedia])
    }

    @Test func audioOnlyFileHasNoVideoStream() throws {
        let path = try MediaFiles.file("tone.m4a") { p in
            try MediaFiles.ffmpeg(["-f", "lavfi", "-i", "sine=d=0.3", p])
        }
        expectOpenError(path, [.noVideoStream])
    }

    @Test func videoStreamWithoutFrames() throws {
        let path = try MediaFiles.file("zero-frames.mkv") { p in
            try MediaFiles.ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25", "-frames:v", "0",
                                   "-c:v", "libx264", p])
        }
        expectOpenError(path, [.noFrames, .notMedia])
        // A YUV4MPEG header (64×48) and no frame after it: the stream exists, it has no frames.
        let header = try MediaFiles.file("header-only.y4m") { p in
            try "YUV4MPEG2 W64 H48 F25:1 Ip A1:1 C420jpeg\n".write(toFile: p, atomically: true, encoding: .utf8)
        }
        expectOpenError(header, [.noFrames])
    }

    @Test func emptyFolderHasNoFrames() throws {
        let folder = try MediaFiles.scratchFolder("empty-frames")
        try "x".write(toFile: folder + "/readme.txt", atomically: true, encoding: .utf8)
        expectOpenError(folder, [.noFrames])
    }

    @Test func absurdDeclaredSize() throws {
        // YUV4MPEG headers declaring huge frames, with no frame data. FFmpeg itself refuses 20000×20000;
        // 17000×64 passes its checks and is refused by the reader's limit of 16384 on a side.
        let ours = try MediaFiles.file("wide.y4m") { p in
            try "YUV4MPEG2 W17000 H64 F25:1 Ip A1:1 C420jpeg\n".write(toFile: p, atomically: true, encoding: .utf8)
        }
        expectOpenError(ours, [.absurdSize])
        let theirs = try MediaFiles.file("huge.y4m") { p in
            try "YUV4MPEG2 W20000 H20000 F25:1 Ip A1:1 C420jpeg\n".write(toFile: p, atomically: true, encoding: .utf8)
        }
        expectOpenError(theirs, [.absurdSize, .notMedia])
    }

    @Test func absurdRequestedSize() throws {
        let path = try MediaFiles.h264BFrames()
        expectOpenError(path, [.absurdSize], options: .init(outputSize: (0, 100)))
        expectOpenError(path, [.absurdSize], options: .init(outputSize: (20000, 100)))
        #expect(throws: VideoError.self) { try ImageIO.resize(RGBImage(width: 2, height: 2), width: 17000, height: 2) }
    }

    @Test func frameIndexOutOfRange() throws {
        let reader = try VideoReader(path: try MediaFiles.h264BFrames())
        for k in [0, -3, 61] {
            #expect { try reader.frame(at: k) } throws: { ($0 as? VideoError)?.kind == .frameOutOfRange }
        }
    }

    @Test func truncatedFileDecodesWhatItCanAndSaysWhere() throws {
        let path = try MediaFiles.truncated()
        let reader = try VideoReader(path: path)
        #expect(!reader.damage.isEmpty)
        var frames: [RGBImage] = []
        var failure: VideoError?
        do {
            while let f = try reader.nextFrame() { frames.append(f) }
        } catch let error as VideoError {
            failure = error
        }
        let error = try #require(failure, "reading a truncated file to its end must report the damage")
        #expect(error.kind == .damaged)
        #expect(error.description.contains(path))
        #expect(error.message.contains("truncated") && error.message.contains("byte"), "\(error)")
        // Every frame before the damage is there, in order.
        #expect(frames.count >= 10 && frames.count < 60)
        #expect(frames.map(MediaFiles.number) == Array(1...frames.count))
        // Asking for a frame past the damage is an error, not a crash.
        #expect { try reader.frame(at: reader.info.frameCount) } throws: { ($0 as? VideoError)?.kind == .damaged }
        // A frame before the damage still decodes exactly.
        #expect(try reader.frame(at: 5).pixels == frames[4].pixels)
    }

    @Test func truncatedMatroskaDecodesItsBeginning() throws {
        let reader = try VideoReader(path: try MediaFiles.truncatedMatroska())
        var numbers: [Int] = []
        do {
            while let f = try reader.nextFrame() { numbers.append(MediaFiles.number(in: f)) }
        } catch let error as VideoError {
            #expect(error.kind == .damaged)
        }
        #expect(numbers.count >= 10 && numbers.count < 60)
        // The last frame may be half decoded; all before it are intact.
        #expect(numbers.dropLast() == ArraySlice(1..<numbers.count))
    }

    @Test func corruptedMiddleIsReportedNotFatal() throws {
        // Overwrite 300 bytes of frame data (the index is in front) with garbage: the decoder conceals, the reader
        // goes on.
        _ = try MediaFiles.truncated()
        let source = MediaFiles.folder + "/faststart.mp4"
        let path = try MediaFiles.file("corrupt-middle.mp4") { p in
            var data = try Data(contentsOf: URL(fileURLWithPath: source))
            let start = data.count * 7 / 10
            var rng = SplitMix(seed: 3)
            for i in start..<min(data.count, start + 300) { data[i] = UInt8(truncatingIfNeeded: rng.next()) }
            try data.write(to: URL(fileURLWithPath: p))
        }
        let reader = try VideoReader(path: path)
        var count = 0
        do {
            while try reader.nextFrame() != nil { count += 1 }
        } catch let error as VideoError {
            #expect(error.kind == .damaged && error.description.contains(path))
        }
        #expect(count > 0 && count <= 60)
    }

    @Test func devicesAreRefusedNotReadForever() {
        expectOpenError("/dev/urandom", [.notMedia])
        expectOpenError("/dev/zero", [.notMedia])
    }

    @Test func truncatedPNGIsAnError() throws {
        let raw = try MediaFiles.rawPattern(count: 1, width: 160, height: 120)
        let whole = try MediaFiles.file("uncompressed.png") { p in
            try MediaFiles.ffmpeg(["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "160x120", "-i", raw,
                                   "-compression_level", "0", "-frames:v", "1", "-update", "1", p])
        }
        let path = try MediaFiles.file("truncated.png") { p in
            let data = try Data(contentsOf: URL(fileURLWithPath: whole))
            try data.prefix(data.count / 3).write(to: URL(fileURLWithPath: p))
        }
        #expect { try ImageIO.read(path: path) } throws: {
            ($0 as? VideoError)?.kind == .damaged && "\($0)".contains(path)
        }
    }

    /// FFmpeg decodes half a JPEG with no error (the rest grey); the reader refuses it, naming the file.
    @Test func truncatedJPEGIsAnError() throws {
        let raw = try MediaFiles.rawPattern(count: 1, width: 160, height: 120)
        let whole = try MediaFiles.file("whole.jpg") { p in
            try MediaFiles.ffmpeg(["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "160x120", "-i", raw,
                                   "-q:v", "3", "-frames:v", "1", "-update", "1", p])
        }
        let image = try ImageIO.read(path: whole)
        #expect(image.width == 160 && image.height == 120)
        let path = try MediaFiles.file("half.jpg") { p in
            let data = try Data(contentsOf: URL(fileURLWithPath: whole))
            try data.prefix(data.count / 2).write(to: URL(fileURLWithPath: p))
        }
        #expect { _ = try ImageIO.read(path: path) } throws: {
            ($0 as? VideoError)?.kind == .damaged && "\($0)".contains(path) && "\($0)".contains("cut short")
        }
        #expect(throws: VideoError.self) { try ImageIO.readGray(path: path) }
    }

    /// A frame folder whose frame 3 has another size is an error naming that frame, not a silent rescale; a
    /// requested output size still scales every frame.
    @Test func frameFolderOfMixedSizesIsAnError() throws {
        let folder = try MediaFiles.scratchFolder("mixed-sizes")
        let raw = try MediaFiles.rawPattern(count: 4, width: 160, height: 120)
        try MediaFiles.ffmpeg(["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "160x120", "-i", raw, folder + "/%05d.png"])
        let odd = folder + "/00003.png"
        try FileManager.default.removeItem(atPath: odd)
        try MediaFiles.ffmpeg(["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "160x120", "-i", raw, "-vf",
                               "scale=80:60", "-frames:v", "1", "-update", "1", odd])
        let reader = try VideoReader(path: folder)
        #expect(try reader.nextFrame() != nil && reader.nextFrame() != nil)
        #expect { try reader.nextFrame() } throws: {
            ($0 as? VideoError)?.kind == .invalidArgument && "\($0)".contains(odd) && "\($0)".contains("80×60")
        }
        let scaled = try VideoReader(path: folder, options: .init(outputSize: (width: 40, height: 30)))
        #expect(try decodeAll(scaled).count == 4)
    }

    @Test func imageErrorsNameTheFile() throws {
        let missing = MediaFiles.folder + "/missing.png"
        #expect { try ImageIO.read(path: missing) } throws: {
            ($0 as? VideoError)?.kind == .missingFile && "\($0)".contains(missing)
        }
        let random = try MediaFiles.randomBytes()
        #expect { try ImageIO.read(path: random) } throws: { "\($0)".contains(random) }
    }
}
