// What `segment` writes, from a VideoSegmenter's results:
//   video   DIR/overlay.mp4 (the source frames of the chosen range, each sentence's mask blended in its own
//           colour, chosen at its first mask away from the hues under it, and a legend of the sentences in their
//           colours: a frame between two computed ones shows the last computed masks, or, with
//           `.computedOnly`, only the computed frames are shown, each until the next; the source's
//           audio over the range is copied in),
//           DIR/masks/<sentence>/<frame>.png (0/255 at the source size; <frame> is %05d of the frame number,
//           or the source file's name for a folder of frames: 00005.jpg gives 00005.png),
//           DIR/masks.json (per sentence and frame, the mask as pycocotools' RLE)
//   image   DIR/mask.png (DIR/mask-<sentence>.png for several sentences), DIR/overlay.png, DIR/masks.json
// masks.json: {"source", "width", "height", "frame_rate" (null for an image), "crf", "sentences",
// "masks": [{"sentence", "text", "frame", "name" (folders of frames only), "segmentation": {"size": [h, w],
// "counts"}}]}, sorted keys, entries by frame then sentence; written atomically at the end.

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
    /// The masks written so far: (sentence index, frame, RLE, the source frame's file name for a folder of frames).
    public private(set) var records: [(sentence: Int, frame: Int, rle: RLE, name: String?)] = []
    /// The most decoded frames waiting at once for the overlay during the last video (for tests: it stays near the
    /// clip window's reach, however far apart the computed frames are).
    public private(set) var peakHeldFrames = 0
    /// Why the overlay has no sound though the source has some (its codec cannot go into mp4), else nil.
    public private(set) var audioProblem: String?

    /// Which frames of the range the overlay shows when not every frame is computed (--every, --frames).
    public enum OverlayFrames: Sendable {
        /// Every frame of the range, each with the masks of the last computed frame at or before it.
        case holdMasks
        /// Only the computed frames, each shown at its own time until the next one.
        case computedOnly
    }

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
            records.append((r.sentence, 1, try r.mask.rle(), nil))
        }
        try ImageIO.writePNG(try withLegend(try overlay(image, masks: results)), to: "\(folder)/overlay.png")
        try writeJSON(source: source, width: image.width, height: image.height, frameRate: nil)
    }

    /// Segments `targets` of a video: DIR/overlay.mp4, DIR/masks/, DIR/masks.json. The overlay covers `range`
    /// (source frame numbers; the whole video by default), starting at time 0 with its first frame. `frameDone` is
    /// called when every sentence's mask of a target is written; when `shouldStop` turns true the run ends after
    /// the current frame, with every file complete. Returns false when stopped.
    public func segment(video reader: VideoReader, targets: [Int], range: ClosedRange<Int>? = nil,
                        overlayFrames: OverlayFrames = .holdMasks, source: String,
                        frameDone: () -> Void = {}, shouldStop: () -> Bool = { false }) throws -> Bool {
        let order = Array(Set(targets)).sorted(), targetSet = Set(targets)
        var span = range ?? 1...reader.info.frameCount
        if overlayFrames == .computedOnly, let first = order.first(where: { span.contains($0) }) {
            span = first...span.upperBound
        }
        let writer = try VideoWriter(path: folder + "/overlay.mp4", matching: reader, frames: span)
        audioProblem = writer.audioProblem
        let names = reader.frameNames
        // Decoded frames of the range wait in `pending` until the masks they show are known; a target's masks wait
        // in `completed` while a frame still to be written shows them.
        var pending: [Int: RGBImage] = [:]
        var partial: [FrameMask] = []
        var completed: [Int: [FrameMask]] = [:]
        var written = span.lowerBound - 1
        var decoded = 0
        peakHeldFrames = 0
        var stopped = false
        /// The last target at or before frame `f`.
        func governing(_ f: Int) -> Int? {
            var lo = 0, hi = order.count
            while lo < hi { let mid = (lo + hi) / 2; if order[mid] <= f { lo = mid + 1 } else { hi = mid } }
            return lo > 0 ? order[lo - 1] : nil
        }
        // Frames are written once every sentence's colour is chosen (at the first computed frame), so the legend
        // is the same on all.
        func flush(final: Bool = false) throws {
            while written < span.upperBound, final || !colours.contains(where: { $0 == nil }),
                  let image = pending[written + 1] {
                let f = written + 1
                let shown = overlayFrames == .computedOnly ? (targetSet.contains(f) ? f : nil) : governing(f)
                if let shown {
                    guard let masks = completed[shown] else { return }
                    try writer.append(try withLegend(try overlay(image, masks: masks)), sourceFrame: f)
                    for t in completed.keys where t < shown { completed[t] = nil }
                } else if overlayFrames == .holdMasks {
                    try writer.append(try withLegend(image), sourceFrame: f)
                }
                pending[f] = nil
                written = f
            }
        }
        func decode() throws -> RGBImage? {
            guard let image = try reader.nextFrame() else { return nil }
            decoded += 1
            if span.contains(decoded) {
                pending[decoded] = image
                peakHeldFrames = max(peakHeldFrames, pending.count)
                try flush()
            }
            return image
        }
        do {
            try reader.rewind()
            try segmenter.run(frameCount: reader.info.frameCount, targets: targets, nextFrame: {
                if shouldStop() { throw Stop() }
                return try decode()
            }, emit: { result in
                try writeMask(result, name: names.map { $0[result.frame - 1] })
                partial.append(result)
                if result.sentence == sentences.count - 1 {
                    // The first computed frame chooses the colours (away from the hues under its masks).
                    if colours.contains(where: { $0 == nil }), let image = pending[result.frame] {
                        _ = try overlay(image, masks: partial)
                    }
                    completed[result.frame] = partial
                    partial = []
                    frameDone()
                }
                try flush()
                if shouldStop() { throw Stop() }
            })
            // The rest of the range after the last target: its frames show the last masks.
            while written < span.upperBound, decoded < span.upperBound {
                if shouldStop() { throw Stop() }
                guard try decode() != nil else { break }
                try flush()
            }
        } catch is Stop {
            stopped = true
        }
        try flush(final: true)
        try writer.finish()
        try writeJSON(source: source, width: reader.outputWidth, height: reader.outputHeight,
                      frameRate: reader.info.frameRate.value)
        return !stopped
    }

    private struct Stop: Error {}

    /// DIR/masks/<sentence>/<name or frame %05d>.png, and its RLE for masks.json.
    func writeMask(_ r: FrameMask, name: String? = nil) throws {
        let dir = "\(folder)/masks/\(r.sentence)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try ImageIO.writePNG(try pngMask(r.mask), to: dir + "/" + (name ?? String(format: "%05d", r.frame)) + ".png")
        records.append((r.sentence, r.frame, try r.mask.rle(), name))
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
            .map { Entry(sentence: $0.sentence, text: sentences[$0.sentence], frame: $0.frame, name: $0.name,
                         segmentation: $0.rle) }
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
        /// The source frame's file name without its extension, for a folder of frames ("00005"); absent otherwise.
        public let name: String?
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
