// What `segment` writes: the source frames of the range (the whole clip by default) in overlay.mp4, one PNG per (sentence, target frame),
// masks.json whose RLE masks are the PNGs; a stop request leaves complete files of the frames done.
import Evaluation
import Foundation
import Testing
import ImageModel
@testable import Pipeline
import Tensor
import Video
import VideoModel

@Suite struct SegmentationOutputTests {

    /// A clip of `syntheticFrame`s, 64×48 (VideoReader's RGB conversion overruns its buffer on widths that are
    /// not a multiple of 16: reported, not this suite's subject).
    func writeVideo(_ path: String, frames n: Int) throws {
        let writer = try VideoWriter(path: path, width: 64, height: 48, frameRate: FrameRate(10))
        for i in 1...n { try writer.append(syntheticFrame(i, width: 64, height: 48)) }
        try writer.finish()
    }

    func readMasks(_ folder: String) throws -> MasksFile {
        try JSONDecoder().decode(MasksFile.self, from: Data(contentsOf: URL(fileURLWithPath: folder + "/masks.json")))
    }

    @Test func aVideoGivesTheOverlayOnePNGPerMaskAndTheirRLE() throws {
        let dir = try temporaryFolder("segment")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try writeVideo(dir + "/clip.mp4", frames: 10)
        let model = try CMPCModel(config: tinyVideoConfig(), seed: 31)
        let segmenter = try VideoSegmenter(model: model, sentences: [[0, 0, 2, 3, 4, 5], [0, 0, 0, 2, 6, 7]])
        let output = try SegmentationOutput(folder: dir + "/out", sentences: ["the red square jumping", "the blue circle"],
                                            segmenter: segmenter)
        var done = 0
        let finished = try output.segment(video: try VideoReader(path: dir + "/clip.mp4"), targets: [2, 5, 9],
                                          source: "clip.mp4", frameDone: { done += 1 })
        #expect(finished)
        #expect(done == 3)
        // The overlay covers the whole clip (the range by default).
        #expect(try VideoReader(path: dir + "/out/overlay.mp4").info.frameCount == 10)
        let file = try readMasks(dir + "/out")
        #expect((file.source, file.width, file.height, file.frame_rate, file.crf) == ("clip.mp4", 64, 48, 10, false))
        #expect(file.sentences == ["the red square jumping", "the blue circle"])
        #expect(file.masks.map { "\($0.frame)/\($0.sentence)" } == ["2/0", "2/1", "5/0", "5/1", "9/0", "9/1"])
        for entry in file.masks {
            #expect(entry.text == file.sentences[entry.sentence])
            let png = try ImageIO.readGray(path: dir + "/out/masks/\(entry.sentence)/" + String(format: "%05d.png", entry.frame))
            #expect((png.width, png.height) == (64, 48))
            #expect(png.pixels.map { $0 != 0 ? 1 : 0 } == entry.segmentation.decode().map { $0 != 0 ? 1 : 0 } as [UInt8],
                    "frame \(entry.frame) sentence \(entry.sentence)")
        }
        let written = try FileManager.default.contentsOfDirectory(atPath: dir + "/out/masks/0").sorted()
        #expect(written == ["00002.png", "00005.png", "00009.png"])
    }

    @Test func aStopRequestLeavesCompleteFilesOfTheFramesDone() throws {
        let dir = try temporaryFolder("segment-stop")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try writeVideo(dir + "/clip.mp4", frames: 12)
        let model = try CMPCModel(config: tinyVideoConfig(), seed: 32)
        let segmenter = try VideoSegmenter(model: model, sentences: [[0, 0, 2, 3, 4, 5]])
        let output = try SegmentationOutput(folder: dir + "/out", sentences: ["the red square jumping"], segmenter: segmenter)
        var done = 0
        let finished = try output.segment(video: try VideoReader(path: dir + "/clip.mp4"), targets: Array(1...12),
                                          source: "clip.mp4", frameDone: { done += 1 }, shouldStop: { done >= 3 })
        #expect(!finished)
        #expect(done == 3)
        #expect(try readMasks(dir + "/out").masks.map(\.frame) == [1, 2, 3])
        // The overlay holds the frames up to the last one segmented, and decodes to its end.
        let overlay = try VideoReader(path: dir + "/out/overlay.mp4")
        #expect(overlay.info.frameCount >= 3)
        var frames = 0
        while try overlay.nextFrame() != nil { frames += 1 }
        #expect(frames == overlay.info.frameCount)
    }

    @Test func aStillImageGivesOneMaskPerSentenceAndTheOverlay() throws {
        let dir = try temporaryFolder("segment-still")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var config = tinyVideoConfig()
        config.model = .image
        let model = try CMPCModel(config: config, seed: 33)
        let segmenter = try VideoSegmenter(model: model, sentences: [[0, 0, 2, 3, 4, 5], [0, 0, 0, 2, 6, 7]])
        let output = try SegmentationOutput(folder: dir, sentences: ["the red square jumping", "the blue circle"],
                                            segmenter: segmenter)
        try output.segment(image: syntheticFrame(4), source: "still.png")
        let file = try readMasks(dir)
        #expect(file.frame_rate == nil)
        #expect(file.masks.map(\.sentence) == [0, 1])
        for entry in file.masks {
            let png = try ImageIO.readGray(path: dir + "/mask-\(entry.sentence).png")
            #expect(png.pixels.map { $0 != 0 ? 1 : 0 } == entry.segmentation.decode().map { $0 != 0 ? 1 : 0 } as [UInt8])
        }
        #expect(try ImageIO.read(path: dir + "/overlay.png").width == 40)
    }

    @Test func theSentenceTextsMustMatchTheSegmenter() throws {
        let segmenter = try VideoSegmenter(model: try CMPCModel(config: tinyVideoConfig(), seed: 34), sentences: [[0, 0, 2, 3, 4, 5]])
        #expect(throws: PipelineError.self) {
            try SegmentationOutput(folder: FileManager.default.temporaryDirectory.path, sentences: ["a", "b"], segmenter: segmenter)
        }
    }
}
