import Foundation
import Testing
@testable import Video

/// One test medium: how to make it and what it must hold.
struct MediaCase: CustomTestStringConvertible, Sendable {
    let name: String
    let make: @Sendable () throws -> String
    let count: Int
    let width: Int
    let height: Int
    var testDescription: String { name }

    static let all: [MediaCase] = [
        MediaCase(name: "H.264 mp4 with B-frames", make: { try MediaFiles.h264BFrames() }, count: 60, width: 160, height: 120),
        MediaCase(name: "H.264 mkv with B-frames", make: { try MediaFiles.h264Matroska() }, count: 60, width: 160, height: 120),
        MediaCase(name: "VP9 webm with alt-ref frames", make: { try MediaFiles.vp9() }, count: 48, width: 160, height: 120),
        MediaCase(name: "MPEG-4 part 2 avi with B-frames", make: { try MediaFiles.mpeg4Avi() }, count: 48, width: 160, height: 120),
        MediaCase(name: "small 40×30 yuv420p", make: { try MediaFiles.small() }, count: 24, width: 40, height: 30),
        MediaCase(name: "odd size 321×241", make: { try MediaFiles.oddSize() }, count: 30, width: 321, height: 241),
        MediaCase(name: "variable frame rate", make: { try MediaFiles.variableRate() }, count: 40, width: 160, height: 120),
        MediaCase(name: "PNG frame folder", make: { try MediaFiles.pngFolder() }, count: 20, width: 160, height: 120),
        MediaCase(name: "JPEG frame pattern", make: { try MediaFiles.jpegFolder() + "/%05d.jpg" }, count: 20,
                  width: 160, height: 120),
    ]
}

@Suite struct VideoReaderTests {
    @Test(arguments: MediaCase.all)
    func sequentialDecodingNumbersFramesFromOne(_ medium: MediaCase) throws {
        let reader = try VideoReader(path: try medium.make())
        #expect(reader.info.frameCount == medium.count)
        #expect(reader.info.width == medium.width && reader.info.height == medium.height)
        let frames = try decodeAll(reader)
        #expect(frames.count == medium.count)
        #expect(frames.map(MediaFiles.number) == Array(1...medium.count))
        #expect(frames.allSatisfy { $0.width == medium.width && $0.height == medium.height })
        #expect(reader.damage.isEmpty, "\(reader.damage)")
        #expect(try reader.nextFrame() == nil)
    }

    @Test(arguments: MediaCase.all)
    func randomAccessReturnsTheSequentialFrame(_ medium: MediaCase) throws {
        let path = try medium.make()
        let sequential = try decodeAll(try VideoReader(path: path))
        try #require(sequential.count == medium.count)
        // A fresh reader, every frame once in a shuffled order (backward and forward jumps), then a few repeats.
        let reader = try VideoReader(path: path)
        var rng = SplitMix(seed: 11)
        var order = Array(1...medium.count)
        for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
        for k in order + [medium.count, 1, medium.count / 2, medium.count / 2 + 1] {
            let frame = try reader.frame(at: k)
            #expect(frame.pixels == sequential[k - 1].pixels, "frame \(k) differs from sequential decoding")
        }
        if medium.name.contains("avi") {
            // AVI carries no presentation times with B-frames: random access decodes from the start.
            #expect(!reader.seeksByTimestamp)
        } else if !medium.name.contains("folder") && !medium.name.contains("pattern") {
            #expect(reader.seeksByTimestamp && reader.seeks > 0 && reader.restarts == 0,
                    "seeks \(reader.seeks), restarts \(reader.restarts)")
        }
        // Sequential reading resumes after the last random access.
        let next = try reader.nextFrame()
        #expect(next == sequential[medium.count / 2 + 1])
    }

    @Test func bFrameFileReallyReordersFrames() throws {
        let path = try MediaFiles.h264BFrames()
        let probe = try MediaFiles.run("ffprobe", ["-v", "error", "-select_streams", "v", "-show_entries",
                                                   "stream=has_b_frames", "-of", "csv=p=0", path])
        #expect((Int(probe.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0) > 0)
        let index = try PacketIndex.build(path: path)
        #expect(index.keyframes.count == 5)
        #expect(index.framePts?.count == 60)
    }

    @Test func infoReportsRateAndDuration() throws {
        let info = try VideoReader(path: try MediaFiles.h264BFrames()).info
        #expect(info.frameRate == FrameRate(25, 1))
        #expect(abs(info.duration - 2.4) < 0.05)
        #expect(info.codec == "h264")
        #expect(info.rotation == 0)
        let vfr = try VideoReader(path: try MediaFiles.variableRate()).info
        // 40 frames over 66 ticks of 1/25 s: the average rate is below the nominal one.
        #expect(vfr.frameRate.value > 12 && vfr.frameRate.value < 20, "\(vfr.frameRate)")
        let folder = try VideoReader(path: try MediaFiles.pngFolder(),
                                     options: .init(imageSequenceFrameRate: FrameRate(24))).info
        #expect(folder.frameRate == FrameRate(24) && folder.codec == "image sequence")
    }

    @Test func editListHidesTheFramesBeforeItsStart() throws {
        let path = try MediaFiles.editList()
        let counted = try MediaFiles.run("ffprobe", ["-v", "error", "-count_frames", "-select_streams", "v",
                                                     "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", path])
        let expected = try #require(Int(counted.trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(expected < 60)
        let reader = try VideoReader(path: path)
        #expect(reader.info.frameCount == expected)
        let frames = try decodeAll(reader)
        // The copy ends where the source ends: it shows source frames 61 − expected … 60.
        #expect(frames.map(MediaFiles.number) == Array((61 - expected)...60))
        let again = try VideoReader(path: path)
        for k in [expected, 1, 7, 2, expected - 1, 13] {
            #expect(try again.frame(at: k) == frames[k - 1], "frame \(k)")
        }
    }

    @Test func rotationIsReportedAndAppliedOnRequest() throws {
        let path = try MediaFiles.rotated()
        let stored = try VideoReader(path: path)
        // `rotate=90` makes FFmpeg 5.1 write a matrix turning 90° counter-clockwise (ffprobe: rotation=90),
        // so the frame is shown after a 270° clockwise turn, as the ffmpeg tool does.
        #expect(stored.info.rotation == 270)
        let first = try #require(try stored.nextFrame())
        #expect(first.width == 160 && first.height == 120)
        #expect(MediaFiles.number(in: first) == 1)

        let upright = try VideoReader(path: path, options: .init(autorotate: true))
        #expect(upright.outputWidth == 120 && upright.outputHeight == 160)
        let turned = try #require(try upright.nextFrame())
        #expect(turned.pixels == first.rotated(clockwise: 270).pixels, "autorotate differs from turning by hand")
        // The ffmpeg tool turns the frame the same way.
        let reference = try MediaFiles.ffmpegFrames(path, width: 120, height: 160)
        try #require(reference.count == 60)
        let diff = zip(turned.pixels, reference[0].pixels).map { abs(Int($0) - Int($1)) }.max() ?? 255
        #expect(diff <= 3, "largest difference to ffmpeg's upright frame: \(diff)")
    }

    @Test func framesMatchTheFFmpegTool() throws {
        let path = try MediaFiles.h264BFrames()
        let ours = try decodeAll(try VideoReader(path: path))
        let theirs = try MediaFiles.ffmpegFrames(path, width: 160, height: 120)
        try #require(ours.count == theirs.count)
        var worst = 0
        for (a, b) in zip(ours, theirs) {
            worst = max(worst, zip(a.pixels, b.pixels).map { abs(Int($0) - Int($1)) }.max() ?? 0)
        }
        #expect(worst <= 3, "largest difference to ffmpeg's rgb24: \(worst)")
    }

    @Test func requestedOutputSizeIsHonoured() throws {
        for path in [try MediaFiles.oddSize(), try MediaFiles.pngFolder()] {
            let reader = try VideoReader(path: path, options: .init(outputSize: (80, 64)))
            let frames = try decodeAll(reader)
            #expect(frames.allSatisfy { $0.width == 80 && $0.height == 64 })
            #expect(frames.map(MediaFiles.number) == Array(1...frames.count))
            #expect(try reader.frame(at: 3) == frames[2])
        }
    }

    @Test func threadCountDoesNotChangeTheFrames() throws {
        let path = try MediaFiles.h264BFrames()
        let one = try decodeAll(try VideoReader(path: path, options: .init(threads: 1)))
        let two = try decodeAll(try VideoReader(path: path, options: .init(threads: 2)))
        #expect(one == two)
    }

    @Test func rewindStartsAgainAtFrameOne() throws {
        let reader = try VideoReader(path: try MediaFiles.vp9())
        _ = try reader.frame(at: 30)
        try reader.rewind()
        #expect(reader.position == 0)
        #expect(MediaFiles.number(in: try #require(try reader.nextFrame())) == 1)
    }
}

/// A tiny seeded generator for shuffles (tests must not depend on the system's randomness).
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
