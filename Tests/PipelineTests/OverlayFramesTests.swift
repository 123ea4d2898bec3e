// Which frames `segment`'s overlay shows and what its masks are named: with a sparse selection each computed
// mask is held until the next computed frame (or only the computed frames are shown); a range limits the overlay
// to its frames, from time 0; a folder of frames 00000, 00005, … gives masks named after its files.
//
// The clips are grey, frame k at level 10 + 15k (mod 240), and the threshold is set so every mask covers the whole frame;
// each overlay frame is matched to the nearest of the source frames drawn plain and with a full mask (by
// SegmentationOutput.overlay and withLegend themselves, so the test does not depend on the overlay's colours or
// legend).
import Evaluation
import Foundation
import Testing
@testable import Pipeline
import Video
import VideoModel

@Suite struct OverlayFramesTests {
    static func level(_ k: Int) -> UInt8 { UInt8(10 + 15 * k % 240) }

    func writeGreyClip(_ path: String, frames n: Int) throws {
        let writer = try VideoWriter(path: path, width: 64, height: 48, frameRate: FrameRate(10))
        for k in 1...n {
            let v = Self.level(k)
            try writer.append(RGBImage(width: 64, height: 48, fill: (v, v, v)))
        }
        try writer.finish()
    }

    /// For each overlay frame of `path`: (the source frame it shows, whether a mask is drawn on it).
    func shown(_ path: String, by output: SegmentationOutput, frames n: Int) throws -> [(frame: Int, masked: Bool)] {
        let full = FrameMask(sentence: 0, frame: 1, mask: try PixelMask(width: 64, height: 48,
                                                                         pixels: [UInt8](repeating: 1, count: 64 * 48)),
                             probabilities: [])
        var candidates: [(frame: Int, masked: Bool, image: RGBImage)] = []
        for k in 1...n {
            let v = Self.level(k)
            let plain = RGBImage(width: 64, height: 48, fill: (v, v, v))
            candidates += [(k, false, try output.withLegend(plain)),
                           (k, true, try output.withLegend(try output.overlay(plain, masks: [full])))]
        }
        func distance(_ a: RGBImage, _ b: RGBImage) -> Int {
            var d = 0
            for y in 12..<36 { for x in 16..<48 { let (p, q) = (a[x, y], b[x, y])
                d += abs(Int(p.0) - Int(q.0)) + abs(Int(p.1) - Int(q.1)) + abs(Int(p.2) - Int(q.2)) } }
            return d
        }
        return try decodeFrames(path).map { image in
            let best = candidates.min { distance($0.image, image) < distance($1.image, image) }!
            return (best.frame, best.masked)
        }
    }

    func decodeFrames(_ path: String) throws -> [RGBImage] {
        let reader = try VideoReader(path: path)
        var frames: [RGBImage] = []
        while let f = try reader.nextFrame() { frames.append(f) }
        return frames
    }

    func output(_ dir: String) throws -> SegmentationOutput {
        let model = try CMPCModel(config: tinyVideoConfig(), seed: 41)
        let segmenter = try VideoSegmenter(model: model, sentences: [[0, 0, 2, 3, 4, 5]])
        segmenter.postprocess.logitThreshold = -1e30
        return try SegmentationOutput(folder: dir + "/out", sentences: ["the red square jumping"], segmenter: segmenter)
    }

    @Test func everyFrameOfTheRangeHoldsTheLastComputedMasks() throws {
        let dir = try temporaryFolder("overlay-hold")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try writeGreyClip(dir + "/clip.mp4", frames: 12)
        // --every 3 --start 2 --end 10: targets 2, 5, 8; frames 2…10 in the overlay.
        let output = try output(dir)
        _ = try output.segment(video: try VideoReader(path: dir + "/clip.mp4"), targets: [2, 5, 8], range: 2...10,
                               source: "clip.mp4")
        let got = try shown(dir + "/out/overlay.mp4", by: output, frames: 12)
        #expect(got.map(\.frame) == Array(2...10))
        #expect(got.allSatisfy { $0.masked }, "\(got)")
        let names = try FileManager.default.contentsOfDirectory(atPath: dir + "/out/masks/0").sorted()
        #expect(names == ["00002.png", "00005.png", "00008.png"])
    }

    @Test func framesBeforeTheFirstComputedOneHaveNoMask() throws {
        let dir = try temporaryFolder("overlay-before")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try writeGreyClip(dir + "/clip.mp4", frames: 8)
        let output = try output(dir)
        _ = try output.segment(video: try VideoReader(path: dir + "/clip.mp4"), targets: [4, 6], source: "clip.mp4")
        let got = try shown(dir + "/out/overlay.mp4", by: output, frames: 8)
        #expect(got.map(\.frame) == Array(1...8))
        #expect(got.map(\.masked) == [false, false, false, true, true, true, true, true], "\(got)")
    }

    @Test func computedOnlyShowsTheComputedFramesAtTheirTimes() throws {
        let dir = try temporaryFolder("overlay-computed")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try writeGreyClip(dir + "/clip.mp4", frames: 12)
        let output = try output(dir)
        _ = try output.segment(video: try VideoReader(path: dir + "/clip.mp4"), targets: [3, 7, 11], range: 1...12,
                               overlayFrames: .computedOnly, source: "clip.mp4")
        let got = try shown(dir + "/out/overlay.mp4", by: output, frames: 12)
        #expect(got.map(\.frame) == [3, 7, 11] && got.allSatisfy { $0.masked }, "\(got)")
        let times = try Process.output("ffprobe", ["-v", "error", "-select_streams", "v:0", "-show_entries",
                                                   "frame=pts_time", "-of", "default=nw=1:nk=1",
                                                   dir + "/out/overlay.mp4"])
            .split(whereSeparator: \.isNewline).compactMap { Double($0.trimmingCharacters(in: .whitespaces)) }
        #expect(times.count == 3 && zip(times, [0, 0.4, 0.8]).allSatisfy { abs($0 - $1) < 0.001 }, "\(times)")
    }

    /// Frames 00000, 00005, …, 00025: masks and masks.json keep those names.
    @Test func aFrameFolderGivesMasksNamedAfterItsFiles() throws {
        let dir = try temporaryFolder("overlay-names")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/frames", withIntermediateDirectories: true)
        for k in 0..<6 { try ImageIO.writePNG(syntheticFrame(k + 1, width: 64, height: 48),
                                              to: dir + String(format: "/frames/%05d.png", 5 * k)) }
        let output = try output(dir)
        _ = try output.segment(video: try VideoReader(path: dir + "/frames"), targets: [1, 3, 6], source: "frames")
        let names = try FileManager.default.contentsOfDirectory(atPath: dir + "/out/masks/0").sorted()
        #expect(names == ["00000.png", "00010.png", "00025.png"])
        let file = try JSONDecoder().decode(MasksFile.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/out/masks.json")))
        #expect(file.masks.map(\.frame) == [1, 3, 6])
        #expect(file.masks.map(\.name) == ["00000", "00010", "00025"])
        #expect(try decodeFrames(dir + "/out/overlay.mp4").count == 6)
    }
}

extension Process {
    /// Runs `tool` (found on PATH) and returns its standard output; throws with its standard error on failure.
    static func output(_ tool: String, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [tool] + arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        let problem = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw PipelineError("\(tool) failed: \(String(decoding: problem, as: UTF8.self))")
        }
        return String(decoding: data, as: UTF8.self)
    }
}

extension OverlayFramesTests {
    /// Frames far from any window go to the overlay as soon as the masks they show are known, not at the next target.
    @Test func framesBetweenDistantTargetsAreNotHeld() throws {
        let dir = try temporaryFolder("overlay-held")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try writeGreyClip(dir + "/clip.mp4", frames: 40)
        let output = try output(dir)
        _ = try output.segment(video: try VideoReader(path: dir + "/clip.mp4"), targets: [1, 40], source: "clip.mp4")
        #expect(output.peakHeldFrames <= 10, "\(output.peakHeldFrames) frames held at once")
        #expect(try decodeFrames(dir + "/out/overlay.mp4").count == 40)
    }
}
