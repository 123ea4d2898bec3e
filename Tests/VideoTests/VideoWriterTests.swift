import Foundation
import Testing
@testable import Video

@Suite struct VideoWriterTests {
    func writePattern(_ path: String, count: Int, width: Int, height: Int, rate: FrameRate,
                      codec: VideoWriter.Codec = .automatic) throws -> VideoWriter {
        let writer = try VideoWriter(path: path, width: width, height: height, frameRate: rate, codec: codec)
        for k in 1...count { try writer.append(MediaFiles.pattern(k, width: width, height: height)) }
        try writer.finish()
        return writer
    }

    @Test func h264RoundTripKeepsRateSizeAndFrames() throws {
        let folder = try MediaFiles.scratchFolder("writer-h264")
        let path = folder + "/out.mp4"
        let writer = try writePattern(path, count: 30, width: 160, height: 120, rate: FrameRate(30000, 1001))
        #expect(writer.codecName == "libx264")
        let reader = try VideoReader(path: path)
        #expect(reader.info.frameCount == 30 && reader.info.width == 160 && reader.info.height == 120)
        #expect(reader.info.codec == "h264")
        #expect(reader.info.frameRate == FrameRate(30000, 1001))
        #expect(try decodeAll(reader).map(MediaFiles.number) == Array(1...30))
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder) == ["out.mp4"])
    }

    /// 4:2:0 needs even sides: an odd-sized picture is padded by repeating its last column and row, and the video
    /// is yuv420p (the yuv444p of before would not play in browsers or QuickTime).
    @Test func oddSizeIsPaddedToEvenYUV420() throws {
        let folder = try MediaFiles.scratchFolder("writer-odd")
        let path = folder + "/odd.mp4"
        let writer = try writePattern(path, count: 12, width: 321, height: 241, rate: FrameRate(25))
        #expect((writer.encodedWidth, writer.encodedHeight) == (322, 242))
        let probe = try MediaFiles.run("ffprobe", ["-v", "error", "-select_streams", "v:0", "-show_entries",
                                                   "stream=width,height,pix_fmt", "-of", "csv=p=0", path])
        #expect(probe.trimmingCharacters(in: .whitespacesAndNewlines) == "322,242,yuv420p")
        let frames = try decodeAll(try VideoReader(path: path))
        #expect(frames.count == 12)
        for (k, frame) in frames.enumerated() {
            // The visible picture is the pattern; the added column and row repeat their neighbours.
            let inner = try RGBImage(width: 321, height: 241, pixels: (0..<241).flatMap { y in
                Array(frame.pixels[(y * 322 * 3)..<(y * 322 * 3 + 321 * 3)]) })
            #expect(MediaFiles.number(in: inner) == k + 1)
            for (x, y) in [(321, 10), (321, 200), (40, 241), (300, 241)] {
                let (a, b) = (frame[x, y], frame[min(x, 320), min(y, 240)])
                #expect(abs(Int(a.0) - Int(b.0)) < 24, "padding at \(x),\(y) of frame \(k + 1)")
            }
        }
    }

    @Test func mpeg4FallbackWorks() throws {
        let folder = try MediaFiles.scratchFolder("writer-mpeg4")
        let path = folder + "/out.mp4"
        let writer = try writePattern(path, count: 20, width: 160, height: 120, rate: FrameRate(25), codec: .mpeg4)
        #expect(writer.codecName == "mpeg4")
        let reader = try VideoReader(path: path)
        #expect(reader.info.codec == "mpeg4" && reader.info.frameRate == FrameRate(25))
        #expect(try decodeAll(reader).map(MediaFiles.number) == Array(1...20))
    }

    @Test func unfinishedWriterLeavesNothing() throws {
        let folder = try MediaFiles.scratchFolder("writer-abandoned")
        do {
            let writer = try VideoWriter(path: folder + "/never.mp4", width: 64, height: 48, frameRate: FrameRate(25))
            try writer.append(RGBImage(width: 64, height: 48))
            #expect(try FileManager.default.contentsOfDirectory(atPath: folder).count == 1)  // the temporary file
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder).isEmpty)
    }

    @Test func writerRefusesBadInput() throws {
        let folder = try MediaFiles.scratchFolder("writer-bad")
        let writer = try VideoWriter(path: folder + "/a.mp4", width: 64, height: 48, frameRate: FrameRate(25))
        #expect { try writer.append(RGBImage(width: 48, height: 64)) } throws: {
            ($0 as? VideoError)?.kind == .invalidArgument
        }
        #expect(throws: VideoError.self) {
            try VideoWriter(path: folder + "/b.mp4", width: 64, height: 48, frameRate: FrameRate(0))
        }
        #expect(throws: VideoError.self) {
            try VideoWriter(path: folder + "/c.mp4", width: 20000, height: 48, frameRate: FrameRate(25))
        }
        #expect { try VideoWriter(path: folder + "/missing/d.mp4", width: 64, height: 48, frameRate: FrameRate(25)) }
            throws: { ($0 as? VideoError)?.kind == .writeFailed && "\($0)".contains("missing/d.mp4") }
    }

    @Test func overlayFillsAndOutlinesTheMask() throws {
        let frame = RGBImage(width: 40, height: 30, fill: (100, 100, 100))
        let mask = GrayImage.mask(width: 40, height: 30) { x, y in (10..<30).contains(x) && (5..<25).contains(y) }
        let out = try Overlay.blend(frame, mask: mask, colour: (255, 0, 0), opacity: 0.5, outlineWidth: 2)
        #expect(out[0, 0] == (100, 100, 100))                 // outside: unchanged
        #expect(out[10, 5] == (255, 0, 0) && out[11, 15] == (255, 0, 0) && out[29, 24] == (255, 0, 0))  // outline band
        #expect(out[20, 15] == (178, 50, 50))                 // inside: half-way to red
        #expect(out[12, 15] == (178, 50, 50))                 // just inside the 2-pixel band
        #expect(throws: VideoError.self) { try Overlay.blend(frame, mask: GrayImage(width: 4, height: 4)) }
    }

    /// An evenly spaced clip's overlay has its rate (a variable-rate clip's keeps its timestamps: below).
    @Test func overlayVideoFromAReaderKeepsTheSourceRate() throws {
        let source = try MediaFiles.h264BFrames()
        let reader = try VideoReader(path: source)
        let folder = try MediaFiles.scratchFolder("overlay-video")
        let writer = try VideoWriter(path: folder + "/overlay.mp4", matching: reader)
        let mask = GrayImage.mask(width: reader.outputWidth, height: reader.outputHeight) { x, _ in x < 10 }
        while let frame = try reader.nextFrame() { try writer.append(try Overlay.blend(frame, mask: mask)) }
        try writer.finish()
        let back = try VideoReader(path: folder + "/overlay.mp4")
        #expect(back.info.frameCount == reader.info.frameCount && back.info.frameRate == reader.info.frameRate)
    }

    /// A variable-frame-rate clip (frames at 0, 1, 2, 5, 6, 7, 10, … / 25 s): the overlay keeps every frame's
    /// time (ffprobe reads both), where a constant rate would put frame 40 at 1.56 s instead of 2.08 s.
    @Test func overlayOfAVariableRateClipKeepsTheSourceTimestamps() throws {
        let source = try MediaFiles.variableRate()
        let reader = try VideoReader(path: source)
        #expect(reader.variableFrameTimes != nil)
        let folder = try MediaFiles.scratchFolder("overlay-vfr")
        let writer = try VideoWriter(path: folder + "/overlay.mp4", matching: reader)
        while let frame = try reader.nextFrame() { try writer.append(frame) }
        try writer.finish()
        func times(_ path: String) throws -> [Double] {
            try MediaFiles.run("ffprobe", ["-v", "error", "-select_streams", "v:0", "-show_entries", "frame=pts_time",
                                           "-of", "default=nw=1:nk=1", path])
                .split(whereSeparator: \.isNewline).compactMap { Double($0.trimmingCharacters(in: .whitespaces)) }
        }
        let expected = try times(source).map { $0 - (try times(source).first ?? 0) }
        let got = try times(folder + "/overlay.mp4")
        #expect(expected.count == 40 && got.count == 40, "\(got)")
        #expect(zip(expected, got).allSatisfy { abs($0 - $1) < 0.001 }, "source \(expected)\noverlay \(got)")
        // An evenly spaced clip has no table: its overlay is written at the constant rate as before.
        #expect(try VideoReader(path: MediaFiles.h264BFrames()).variableFrameTimes == nil)
    }
}
