// What `segment` writes, from a VideoSegmenter's results:
//   video   DIR/overlay.mp4 (source frames 1 … the last target; each sentence's mask blended in its own colour),
//           DIR/masks/<sentence>/<frame %05d>.png (0/255 at the source size),
//           DIR/masks.json (per sentence and frame, the mask as pycocotools' RLE)
//   image   DIR/mask.png (DIR/mask-<sentence>.png for several sentences), DIR/overlay.png, DIR/masks.json
// masks.json: {"source", "width", "height", "frame_rate" (null for an image), "crf", "sentences",
// "masks": [{"sentence", "text", "frame", "segmentation": {"size": [h, w], "counts"}}]}, sorted keys,
// entries by frame then sentence; written atomically at the end.

import Evaluation
import Foundation
import FileOutput
import Tensor
import Video

/// Runs a segmenter over a video or an image and writes the masks, the overlay and masks.json.
public final class SegmentationOutput {
    /// The output folder.
    public let folder: String
    /// The sentences' texts (masks.json), in the segmenter's order.
    public let sentences: [String]
    /// The segmenter that makes the masks (its `crf` is recorded in masks.json).
    public let segmenter: VideoSegmenter
    /// The masks written so far: (sentence index, frame, RLE).
    public private(set) var records: [(sentence: Int, frame: Int, rle: RLE)] = []

    /// Distinct overlay colours, one per sentence.
    public static let palette: [(UInt8, UInt8, UInt8)] = [
        (255, 48, 48), (48, 160, 255), (64, 220, 64), (255, 200, 0), (200, 64, 255), (0, 220, 200), (255, 120, 200),
    ]

    /// Writes into `folder` (created if needed); `sentences` are the texts of the segmenter's sentences.
    public init(folder: String, sentences: [String], segmenter: VideoSegmenter) throws {
        guard sentences.count == segmenter.sentences.count else {
            throw PipelineError("\(sentences.count) sentence texts for a segmenter of \(segmenter.sentences.count) sentences")
        }
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        self.folder = folder
        self.sentences = sentences
        self.segmenter = segmenter
    }

    /// Segments a still image: DIR/mask.png (mask-<i>.png), DIR/overlay.png, DIR/masks.json.
    public func segment(image: RGBImage, source: String) throws {
        let results = try segmenter.run(image: image)
        for r in results {
            let name = sentences.count == 1 ? "mask.png" : "mask-\(r.sentence).png"
            try ImageIO.writePNG(try pngMask(r.mask), to: "\(folder)/\(name)")
            records.append((r.sentence, 1, try r.mask.rle()))
        }
        try ImageIO.writePNG(try overlay(image, masks: results), to: "\(folder)/overlay.png")
        try writeJSON(source: source, width: image.width, height: image.height, frameRate: nil)
    }

    /// Segments `targets` of a video: DIR/overlay.mp4, DIR/masks/, DIR/masks.json. `frameDone` is called
    /// when every sentence's mask of a target is written; when `shouldStop` turns true the run ends
    /// after the current frame, with every file complete. Returns false when stopped.
    public func segment(video reader: VideoReader, targets: [Int], source: String,
                        frameDone: () -> Void = {}, shouldStop: () -> Bool = { false }) throws -> Bool {
        let writer = try VideoWriter(path: folder + "/overlay.mp4", matching: reader)
        // Frames wait here until every sentence's mask for them is known, then go to the overlay. Each mask is
        // blended in as it comes (sentences arrive in order), so a frame holds one image, not a mask per sentence.
        let targetSet = Set(targets)
        let last = targets.max() ?? 0
        var pending: [Int: (image: RGBImage, masks: Int)] = [:]
        var decoded = 0
        var written = 0
        var stopped = false
        func flush(upTo frame: Int) throws {
            while written < frame, let entry = pending[written + 1],
                  !targetSet.contains(written + 1) || entry.masks == sentences.count {
                try writer.append(entry.image)
                pending[written + 1] = nil
                written += 1
            }
        }
        do {
            try reader.rewind()
            try segmenter.run(frameCount: reader.info.frameCount, targets: targets, nextFrame: {
                if shouldStop() { throw Stop() }
                guard let image = try reader.nextFrame() else { return nil }
                decoded += 1
                if decoded <= last { pending[decoded] = (image, 0) }
                return image
            }, emit: { result in
                try writeMask(result)
                if let entry = pending[result.frame] {
                    pending[result.frame] = (try overlay(entry.image, masks: [result]), entry.masks + 1)
                }
                if result.sentence == sentences.count - 1 { frameDone() }
                try flush(upTo: result.frame)
                if shouldStop() { throw Stop() }
            })
        } catch is Stop {
            stopped = true
        }
        try flush(upTo: written + pending.count)
        try writer.finish()
        try writeJSON(source: source, width: reader.outputWidth, height: reader.outputHeight,
                      frameRate: reader.info.frameRate.value)
        return !stopped
    }

    private struct Stop: Error {}

    /// DIR/masks/<sentence>/<frame %05d>.png, and its RLE for masks.json.
    func writeMask(_ r: FrameMask) throws {
        let dir = "\(folder)/masks/\(r.sentence)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try ImageIO.writePNG(try pngMask(r.mask), to: dir + String(format: "/%05d.png", r.frame))
        records.append((r.sentence, r.frame, try r.mask.rle()))
    }

    /// The frame with each sentence's mask blended in its colour.
    public func overlay(_ image: RGBImage, masks: [FrameMask]) throws -> RGBImage {
        var out = image
        for m in masks.sorted(by: { $0.sentence < $1.sentence }) {
            let colour = Self.palette[m.sentence % Self.palette.count]
            out = try Overlay.blend(out, mask: try GrayImage(width: image.width, height: image.height, pixels: m.mask.pixels),
                                    colour: colour)
        }
        return out
    }

    private func pngMask(_ mask: PixelMask) throws -> GrayImage {
        try GrayImage(width: mask.width, height: mask.height, pixels: mask.pixels.map { $0 != 0 ? 255 : 0 })
    }

    /// DIR/masks.json: per sentence and frame, the mask as pycocotools' RLE.
    func writeJSON(source: String, width: Int, height: Int, frameRate: Double?) throws {
        typealias Entry = MasksFile.Entry
        let entries = records.sorted { ($0.frame, $0.sentence) < ($1.frame, $1.sentence) }
            .map { Entry(sentence: $0.sentence, text: sentences[$0.sentence], frame: $0.frame, segmentation: $0.rle) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(MasksFile(source: source, width: width, height: height, frame_rate: frameRate,
                                                crf: segmenter.crf, sentences: sentences, masks: entries))
        try AtomicFile.write(data, to: "\(folder)/masks.json")
    }
}

/// The layout of `masks.json`, as `segment` (and a server) writes it: per sentence and frame, the
/// mask as pycocotools' RLE at the source size.
public struct MasksFile: Codable, Sendable {
    /// One mask.
    public struct Entry: Codable, Sendable {
        /// Index into `sentences`.
        public let sentence: Int
        /// The sentence itself.
        public let text: String
        /// 1-based frame number (1 for a still image).
        public let frame: Int
        /// The mask (`pycocotools.mask.decode` reads it).
        public let segmentation: RLE
    }
    /// The input file.
    public let source: String
    public let width: Int
    public let height: Int
    /// Frames per second of a video; nil for a still image.
    public let frame_rate: Double?
    /// Whether DenseCRF refined the masks.
    public let crf: Bool
    public let sentences: [String]
    public let masks: [Entry]
}
