// What `segment` writes, from a VideoSegmenter's results:
//   video   DIR/overlay.mp4 (source frames 1 … the last target; each sentence's mask blended in its own colour,
//           chosen at its first mask away from the hues under it; a legend of the sentences in their colours),
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

    /// Each sentence's overlay colour, chosen at its first mask to differ from the hues under it; nil until then.
    public private(set) var colours: [Overlay.Colour?]
    /// Why the overlay has no legend (no font could be loaded), for a warning; nil while it has one.
    public private(set) var legendProblem: String?
    private var legend: Legend?

    /// Writes into `folder` (created if needed); `sentences` are the texts of the segmenter's sentences.
    public init(folder: String, sentences: [String], segmenter: VideoSegmenter) throws {
        guard sentences.count == segmenter.sentences.count else {
            throw PipelineError("\(sentences.count) sentence texts for a segmenter of \(segmenter.sentences.count) sentences")
        }
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        self.folder = folder
        self.sentences = sentences
        self.segmenter = segmenter
        colours = Array(repeating: nil, count: sentences.count)
    }

    /// Segments a still image: DIR/mask.png (mask-<i>.png), DIR/overlay.png, DIR/masks.json.
    public func segment(image: RGBImage, source: String) throws {
        let results = try segmenter.run(image: image)
        for r in results {
            let name = sentences.count == 1 ? "mask.png" : "mask-\(r.sentence).png"
            try ImageIO.writePNG(try pngMask(r.mask), to: "\(folder)/\(name)")
            records.append((r.sentence, 1, try r.mask.rle()))
        }
        try ImageIO.writePNG(try withLegend(try overlay(image, masks: results)), to: "\(folder)/overlay.png")
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
        // Frames wait until every sentence's colour is chosen (at its first mask), so the legend is the same on all.
        func flush(upTo frame: Int, final: Bool = false) throws {
            while written < frame, final || !colours.contains(where: { $0 == nil }), let entry = pending[written + 1],
                  !targetSet.contains(written + 1) || entry.masks == sentences.count {
                try writer.append(try withLegend(entry.image))
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
        try flush(upTo: written + pending.count, final: true)
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

    /// The frame with each sentence's mask blended in its colour (a sentence's first mask chooses its colour).
    public func overlay(_ image: RGBImage, masks: [FrameMask]) throws -> RGBImage {
        var out = image
        for m in masks.sorted(by: { $0.sentence < $1.sentence }) {
            let mask = try GrayImage(width: image.width, height: image.height, pixels: m.mask.pixels)
            let colour = colours[m.sentence] ?? Overlay.colour(under: mask, in: out, avoiding: colours.compactMap { $0 })
            colours[m.sentence] = colour
            out = try Overlay.blend(out, mask: mask, colour: colour)
        }
        return out
    }

    /// The frame with the legend at its top left: each sentence's text in its colour (the palette's while its
    /// colour is not chosen yet). Without a usable font the frame is returned as it is and `legendProblem` says why.
    public func withLegend(_ image: RGBImage) throws -> RGBImage {
        if legendProblem == nil, legend?.width != image.width || legend?.height != image.height {
            do { legend = try Legend(texts: sentences, width: image.width, height: image.height) } catch {
                legendProblem = "the overlay has no legend: \(error)"
            }
        }
        guard let legend else { return image }
        let resolved = sentences.indices.map { colours[$0] ?? Overlay.palette[$0 % Overlay.palette.count] }
        return try legend.draw(on: image, colours: resolved)
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
