// `segment` on everyday footage made by FFmpeg in the test: a clip with a rotation tag, a JPEG with an EXIF
// orientation, an odd-sized clip with a sound track, a folder of frames numbered with gaps; and the frame
// selection (--every, --start/--end, --overlay-computed-only) as the overlay shows it.
import Foundation
import Testing

@Suite struct FootageTests {
    /// Runs ffmpeg or ffprobe and returns its standard output; throws with its standard error on failure.
    @discardableResult
    func media(_ tool: String, _ arguments: [String], in folder: TemporaryFolder) throws -> String {
        let out = folder.path("\(tool)-\(UUID().uuidString).out"), err = out + ".err"
        for path in [out, err] { _ = FileManager.default.createFile(atPath: path, contents: nil) }
        defer { unlink(out); unlink(err) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [tool, "-v", "error"] + (tool == "ffmpeg" ? ["-nostdin", "-y"] : []) + arguments
        process.standardOutput = FileHandle(forWritingAtPath: out)
        process.standardError = FileHandle(forWritingAtPath: err)
        process.standardInput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw ToolError("\(tool) \(arguments.joined(separator: " ")) failed: "
                            + ((try? String(contentsOfFile: err, encoding: .utf8)) ?? ""))
        }
        return (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
    }

    /// "width,height,pix_fmt,codec" of the video stream and the codecs of the audio streams.
    func probe(_ path: String, in folder: TemporaryFolder) throws -> (video: String, audio: [String], frames: Int) {
        let video = try media("ffprobe", ["-select_streams", "v:0", "-count_frames", "-show_entries",
                                          "stream=width,height,pix_fmt,codec_name,nb_read_frames", "-of", "csv=p=0",
                                          path], in: folder)
            .trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ",").map(String.init)
        let audio = try media("ffprobe", ["-select_streams", "a", "-show_entries", "stream=codec_name", "-of", "csv=p=0",
                                          path], in: folder).split(whereSeparator: \.isNewline).map(String.init)
        // csv order follows ffprobe's field order: codec_name, width, height, pix_fmt, nb_read_frames.
        return ("\(video[1]),\(video[2]),\(video[3]),\(video[0])", audio, Int(video.last ?? "") ?? -1)
    }

    @Test func aRotatedClipGivesUprightMasksAndAnUntaggedOverlay() throws {
        let folder = try TemporaryFolder()
        let root = try makeSyntheticSet(in: folder)
        let turned = folder.path("turned.mp4")
        try media("ffmpeg", ["-i", root + "/Release/clips320H/syn00000.mp4", "-c", "copy", "-metadata:s:v", "rotate=90",
                             turned], in: folder)
        #expect(try media("ffprobe", ["-show_streams", turned], in: folder).contains("rotation=90"))
        let out = folder.path("out")
        try runToolSucceeding(["segment", turned, "the red square", "--frames", "1,5", "--out", out, "--quiet"],
                              in: folder)
        let json = try readJSONObject(out + "/masks.json")
        #expect(json["width"] as? Int == 48 && json["height"] as? Int == 64, "\(json)")
        #expect(try pngSize(out + "/masks/0/00005.png") == [48, 64])
        let overlay = out + "/overlay.mp4"
        #expect(try probe(overlay, in: folder).video == "48,64,yuv420p,h264")
        let streams = try media("ffprobe", ["-show_streams", overlay], in: folder)
        #expect(!streams.contains("rotation") && !streams.contains("displaymatrix"), "the overlay is tagged: \(streams)")
    }

    @Test func anEXIFRotatedJPEGGivesAnUprightMask() throws {
        let folder = try TemporaryFolder()
        let root = try makeSyntheticSet(in: folder)
        let jpeg = [UInt8](try Data(contentsOf: URL(fileURLWithPath: root + "/referit/images/1.jpg")))
        // APP1: "Exif\0\0", a big-endian TIFF header, IFD0 with one entry: Orientation (0x0112) SHORT 1 = 6.
        let tiff: [UInt8] = [0x4D, 0x4D, 0, 0x2A, 0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0, 0, 0, 0, 0]
        let body = Array("Exif\0\0".utf8) + tiff
        let app1: [UInt8] = [0xFF, 0xE1, 0, UInt8(body.count + 2)] + body
        let turned = folder.path("turned.jpg")
        try Data(Array(jpeg[0..<2]) + app1 + Array(jpeg[2...])).write(to: URL(fileURLWithPath: turned))
        #expect(try media("ffprobe", ["-show_frames", turned], in: folder).contains("Orientation"))
        let out = folder.path("out")
        try runToolSucceeding(["segment", turned, "the small green star", "--out", out, "--quiet"], in: folder)
        #expect(try pngSize(out + "/mask.png") == [48, 64])
        #expect(try pngSize(out + "/overlay.png") == [48, 64])
        let json = try readJSONObject(out + "/masks.json")
        #expect(json["width"] as? Int == 48 && json["height"] as? Int == 64, "\(json)")
    }

    /// 159×119 (yuv420p MPEG-4, 20 frames at 10/s, with an AAC tone), --every 4 --start 3 --end 14: masks of frames
    /// 3, 7, 11 at 159×119; the overlay is frames 3…14 as H.264 yuv420p 160×120 with the sound, index first.
    @Test func anOddSizedClipWithSoundAndAFrameRange() throws {
        let folder = try TemporaryFolder()
        let clip = folder.path("odd.mp4")
        try media("ffmpeg", ["-f", "lavfi", "-i", "testsrc=size=159x119:rate=10", "-f", "lavfi",
                             "-i", "sine=frequency=440:sample_rate=44100", "-t", "2", "-c:v", "mpeg4", "-q:v", "3",
                             "-pix_fmt", "yuv420p", "-c:a", "aac", clip], in: folder)
        #expect(try probe(clip, in: folder).video == "159,119,yuv420p,mpeg4")
        let out = folder.path("out")
        try runToolSucceeding(["segment", clip, "the red square", "--every", "4", "--start", "3", "--end", "14",
                               "--out", out, "--quiet"], in: folder)
        #expect(listing(out + "/masks/0") == ["00003.png", "00007.png", "00011.png"])
        #expect(try pngSize(out + "/masks/0/00007.png") == [159, 119])
        let json = try readJSONObject(out + "/masks.json")
        #expect(json["width"] as? Int == 159 && json["height"] as? Int == 119, "\(json)")
        #expect((json["masks"] as? [[String: Any]])?.map { $0["frame"] as? Int } == [3, 7, 11])
        let overlay = try probe(out + "/overlay.mp4", in: folder)
        #expect(overlay.video == "160,120,yuv420p,h264" && overlay.frames == 12 && overlay.audio == ["aac"], "\(overlay)")
        let audio = Double(try media("ffprobe", ["-select_streams", "a:0", "-show_entries", "stream=duration", "-of",
                                                 "csv=p=0", out + "/overlay.mp4"], in: folder)
            .trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        #expect(abs(audio - 1.2) < 0.06, "the overlay's sound lasts \(audio) s, its frames 1.2 s")
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: out + "/overlay.mp4")))
        let moov = find("moov", in: bytes), mdat = find("mdat", in: bytes)
        #expect(moov != nil && mdat != nil && moov! < mdat!, "moov at \(moov ?? -1), mdat at \(mdat ?? -1)")

        // Only the computed frames.
        let only = folder.path("only")
        try runToolSucceeding(["segment", clip, "the red square", "--every", "4", "--start", "3", "--end", "14",
                               "--overlay-computed-only", "--out", only, "--quiet"], in: folder)
        #expect(try probe(only + "/overlay.mp4", in: folder).frames == 3)
    }

    /// Frames 00000.jpg, 00005.jpg, …, 00025.jpg: the masks keep those names.
    @Test func aFrameFolderWithGapsKeepsItsNames() throws {
        let folder = try TemporaryFolder()
        let frames = folder.path("frames")
        try FileManager.default.createDirectory(atPath: frames, withIntermediateDirectories: true)
        try media("ffmpeg", ["-f", "lavfi", "-i", "testsrc=size=64x48:rate=10", "-frames:v", "6",
                             frames + "/made-%d.jpg"], in: folder)
        for k in 1...6 {
            try FileManager.default.moveItem(atPath: frames + "/made-\(k).jpg",
                                             toPath: frames + String(format: "/%05d.jpg", 5 * (k - 1)))
        }
        let out = folder.path("out")
        try runToolSucceeding(["segment", frames, "the red square", "--every", "2", "--out", out, "--quiet"], in: folder)
        #expect(listing(out + "/masks/0") == ["00000.png", "00010.png", "00020.png"])
        let masks = try #require(try readJSONObject(out + "/masks.json")["masks"] as? [[String: Any]])
        #expect(masks.map { $0["name"] as? String } == ["00000", "00010", "00020"])
        #expect(masks.map { $0["frame"] as? Int } == [1, 3, 5])
    }

    /// The offset of the first top-level mp4 box named `type` (walking box sizes from the start).
    func find(_ type: String, in bytes: [UInt8]) -> Int? {
        var at = 0
        while at + 8 <= bytes.count {
            var size = bytes[at..<(at + 4)].reduce(0) { $0 << 8 | Int($1) }
            if String(decoding: bytes[(at + 4)..<(at + 8)], as: UTF8.self) == type { return at }
            if size == 1, at + 16 <= bytes.count { size = bytes[(at + 8)..<(at + 16)].reduce(0) { $0 << 8 | Int($1) } }
            guard size >= 8 else { return nil }
            at += size
        }
        return nil
    }
}
