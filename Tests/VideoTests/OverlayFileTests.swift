// The overlay file as players meet it: the index before the media data (+faststart), the source's audio copied
// over the frames the overlay covers, and a span of source frames starting at time 0.
import Foundation
import Testing
@testable import Video

@Suite struct OverlayFileTests {
    /// Copies `frames` of `reader` (all by default) through a writer matching it.
    func copy(_ reader: VideoReader, to path: String, frames: ClosedRange<Int>? = nil, copyAudio: Bool = true) throws
        -> VideoWriter {
        let writer = try VideoWriter(path: path, matching: reader, frames: frames, copyAudio: copyAudio)
        try reader.rewind()
        var k = 0
        while let frame = try reader.nextFrame() {
            k += 1
            if frames?.contains(k) ?? true { try writer.append(frame) }
        }
        try writer.finish()
        return writer
    }

    @Test func theSourceAudioIsCopiedAndTheIndexComesFirst() throws {
        let source = try MediaFiles.oddWithAudio()
        #expect(try MediaFiles.streams(source) == ["mpeg4,video", "aac,audio"])
        let folder = try MediaFiles.scratchFolder("overlay-audio")
        let writer = try copy(try VideoReader(path: source), to: folder + "/overlay.mp4")
        #expect(writer.audioCodec == "aac" && writer.audioProblem == nil)
        let streams = try MediaFiles.streams(folder + "/overlay.mp4")
        #expect(streams.contains("aac,audio") && streams.contains("h264,video"), "\(streams)")
        let boxes = try MediaFiles.topLevelBoxes(folder + "/overlay.mp4")
        let moov = try #require(boxes.firstIndex(of: "moov")), mdat = try #require(boxes.firstIndex(of: "mdat"))
        #expect(moov < mdat, "\(boxes)")
        let audio = try #require(try MediaFiles.streamDuration(folder + "/overlay.mp4", "audio"))
        #expect(abs(audio - 2.4) < 0.05, "audio lasts \(audio) s")
        // Without copyAudio the overlay is silent.
        _ = try copy(try VideoReader(path: source), to: folder + "/silent.mp4", copyAudio: false)
        #expect(try MediaFiles.streams(folder + "/silent.mp4") == ["h264,video"])
    }

    /// Frames 11…30 of a 25/s clip: the video starts at 0 with frame 11, and the audio is the 0.4…1.2 s of the
    /// source (a 440 Hz tone, so only its length can be checked), not its first 0.8 s.
    @Test func aSpanOfFramesStartsAtZeroWithItsAudio() throws {
        let source = try MediaFiles.oddWithAudio()
        let folder = try MediaFiles.scratchFolder("overlay-span")
        let reader = try VideoReader(path: source)
        _ = try copy(reader, to: folder + "/overlay.mp4", frames: 11...30)
        let back = try VideoReader(path: folder + "/overlay.mp4")
        #expect(back.info.frameCount == 20)
        let first = try #require(try back.nextFrame())
        let inner = try RGBImage(width: 159, height: 119, pixels: (0..<119).flatMap { y in
            Array(first.pixels[(y * 160 * 3)..<(y * 160 * 3 + 159 * 3)]) })
        #expect(MediaFiles.number(in: inner) == 11)
        let audio = try #require(try MediaFiles.streamDuration(folder + "/overlay.mp4", "audio"))
        #expect(abs(audio - 0.8) < 0.05, "audio lasts \(audio) s")
        let times = try MediaFiles.run("ffprobe", ["-v", "error", "-select_streams", "a:0", "-show_entries",
                                                   "packet=pts_time", "-of", "default=nw=1:nk=1", folder + "/overlay.mp4"])
            .split(whereSeparator: \.isNewline).compactMap { Double($0.trimmingCharacters(in: .whitespaces)) }
        #expect((times.first ?? 1) < 0.03 && (times.first ?? -1) > -0.03, "first audio packet at \(times.first ?? .nan) s")
    }

    /// Frames appended by source number are shown at their source times: 1, 5, 9 at 0, 0.16, 0.32 s.
    @Test func framesAppendedBySourceNumberKeepTheirTimes() throws {
        let source = try MediaFiles.h264BFrames()
        let reader = try VideoReader(path: source)
        let folder = try MediaFiles.scratchFolder("overlay-sparse")
        let writer = try VideoWriter(path: folder + "/overlay.mp4", matching: reader, frames: 1...12)
        for k in [1, 5, 9] { try writer.append(try reader.frame(at: k), sourceFrame: k) }
        #expect(throws: VideoError.self) { try writer.append(try reader.frame(at: 2), sourceFrame: 2) }
        try writer.finish()
        let times = try MediaFiles.run("ffprobe", ["-v", "error", "-select_streams", "v:0", "-show_entries",
                                                   "frame=pts_time", "-of", "default=nw=1:nk=1", folder + "/overlay.mp4"])
            .split(whereSeparator: \.isNewline).compactMap { Double($0.trimmingCharacters(in: .whitespaces)) }
        #expect(times.count == 3 && zip(times, [0, 0.16, 0.32]).allSatisfy { abs($0 - $1) < 0.001 }, "\(times)")
    }
}

extension OverlayFileTests {
    /// PCM in AVI cannot go into mp4: the overlay is written without sound and says why.
    @Test func audioMP4CannotHoldIsLeftOutWithTheReason() throws {
        let source = try MediaFiles.patternVideo("pcm.avi", count: 20, ["-f", "lavfi", "-i",
                                                 "sine=frequency=440:sample_rate=8000:duration=0.8", "-c:v", "mpeg4",
                                                 "-c:a", "pcm_s16le", "-shortest"])
        #expect(try MediaFiles.streams(source) == ["mpeg4,video", "pcm_s16le,audio"])
        let folder = try MediaFiles.scratchFolder("overlay-pcm")
        let writer = try copy(try VideoReader(path: source), to: folder + "/overlay.mp4")
        #expect(writer.audioCodec == nil)
        #expect(writer.audioProblem?.contains("pcm_s16le") == true, "\(writer.audioProblem ?? "no problem")")
        #expect(try MediaFiles.streams(folder + "/overlay.mp4") == ["h264,video"])
    }
}

extension OverlayFileTests {
    /// FLAC passes the codec query but FFmpeg 5.1's mp4 muxer refuses it at the header ("experimental"): the overlay
    /// is still written, without sound, saying why.
    @Test func audioTheMuxerRefusesAtItsHeaderIsLeftOut() throws {
        let source = try MediaFiles.patternVideo("flac.mkv", count: 20, ["-f", "lavfi", "-i",
                                                 "sine=frequency=440:sample_rate=8000:duration=0.8", "-c:v", "mpeg4",
                                                 "-c:a", "flac", "-shortest"])
        #expect(try MediaFiles.streams(source) == ["mpeg4,video", "flac,audio"])
        let folder = try MediaFiles.scratchFolder("overlay-flac")
        let writer = try copy(try VideoReader(path: source), to: folder + "/overlay.mp4")
        #expect(writer.audioProblem?.contains("flac") == true, "\(writer.audioProblem ?? "no problem")")
        #expect(try MediaFiles.streams(folder + "/overlay.mp4") == ["h264,video"])
    }
}
