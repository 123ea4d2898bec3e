// `cmpc-video segment`: masks for the actor each sentence describes, in a video or a still image.
import ArgumentParser
import Checkpoint
import CommandLineSupport
import Evaluation
import Foundation
import ImageModel
import Tensor
import Video
import VideoModel

struct Segment: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Segment the actor a sentence describes in a video or an image.",
        discussion: """
            A video gives DIR/overlay.mp4 (each sentence's mask blended in its own colour), \
            DIR/masks/<sentence>/<frame>.png (0/255 at the source size) and DIR/masks.json (COCO RLE per sentence \
            and frame). An image gives DIR/mask.png (DIR/mask-<sentence>.png for several sentences), \
            DIR/overlay.png and DIR/masks.json. Either network reads either input: an image given to the video \
            network is its own 16-frame clip; a video given to the image network is segmented frame by frame.
            """)

    @Argument(help: "A video (anything FFmpeg reads, or a folder of numbered frames) or a still image.")
    var input: String

    @Argument(help: "The sentence that describes the actor.")
    var sentence: String?

    @Option(name: .customLong("text"), help: "Another sentence (repeatable); all share the video's features.")
    var texts: [String] = []

    @Option(name: .customLong("texts"), help: "A file with one sentence per line.")
    var textsFile: String?

    @OptionGroup var model: ModelOptions

    @Option(help: "Output folder.")
    var out: String = "cmpc-out"

    @Option(help: "Segment only these frames (1-based, comma-separated).")
    var frames: String?

    @Option(help: "Segment every N-th frame.")
    var every: Int?

    @Option(help: "First frame to segment (1-based).")
    var start: Int?

    @Option(help: "Last frame to segment (1-based, inclusive).")
    var end: Int?

    @Option(help: "Foreground probability threshold (default 0.5, i.e. logits ≥ 0 as the original).")
    var threshold: Float = 0.5

    @Flag(help: "Refine each mask with the fully connected CRF of the original's test script.")
    var crf = false

    @Flag(help: "No progress display.")
    var quiet = false

    func validate() throws {
        guard threshold > 0, threshold < 1 else { throw ValidationError("--threshold must be in (0, 1), got \(threshold)") }
        if let every, every < 1 { throw ValidationError("--every must be at least 1, got \(every)") }
    }

    func run() async throws {
        let sentences = try collectSentences()
        let loaded = try model.load()
        let encoded = try sentences.map { s -> [Int32] in
            let e = try loaded.vocabulary.encode(s, steps: loaded.model.config.numSteps)
            if !e.unknown.isEmpty {
                warn("unknown words in \"\(s)\": \(e.unknown.joined(separator: ", ")) (read as <unk>)")
            }
            if e.truncated {
                warn("\"\(s)\" has \(e.tokens.count) words; only the first \(loaded.model.config.numSteps) are used")
            }
            return e.ids
        }
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let segmenter = try VideoSegmenter(model: loaded.model, sentences: encoded)
        segmenter.logitThreshold = log(threshold / (1 - threshold))
        let output = try SegmentationOutput(folder: out, sentences: sentences, crf: crf, config: loaded.model.config)
        if try isStillImage(input) {
            let image = try ImageIO.read(path: input)
            var results: [FrameMask] = []
            try segmenter.run(frameCount: 1, targets: [1], nextFrame: { results.isEmpty ? image : nil },
                              emit: { results.append($0) })
            try output.writeImage(image, results: results.map { try output.refined($0) }, source: input)
            if !quiet { print("wrote \(out)/\(sentences.count == 1 ? "mask.png" : "mask-*.png"), overlay.png, masks.json") }
            return
        }
        let reader = try VideoReader(path: input)
        let n = reader.info.frameCount
        let targets = try selectFrames(frameCount: n)
        let writer = try VideoWriter(path: out + "/overlay.mp4", matching: reader)
        // Frames/s and ETA over the frames to segment (all sentences of a frame count as one).
        let progress = ProgressReporter(total: targets.count, style: .automatic(quiet: quiet, interval: 10),
                                        label: "segment")
        progress.unit = "frames"
        let stop = StopRequest.onSignals()
        defer { stop.uninstall() }
        // Frames wait here until every sentence's mask for them is known, then go to the overlay.
        let targetSet = Set(targets)
        var pending: [Int: (image: RGBImage, masks: [FrameMask])] = [:]
        var decoded = 0
        var written = 0
        var stopped = false
        func flush(upTo frame: Int) throws {
            while written < frame, let entry = pending[written + 1],
                  !targetSet.contains(written + 1) || entry.masks.count == sentences.count {
                try writer.append(try output.overlay(entry.image, masks: entry.masks))
                pending[written + 1] = nil
                written += 1
            }
        }
        do {
            try segmenter.run(frameCount: n, targets: targets, nextFrame: {
                if stop.isRequested { throw StopSegmenting() }
                guard let image = try reader.nextFrame() else { return nil }
                decoded += 1
                if decoded <= (targets.last ?? 0) { pending[decoded] = (image, []) }
                return image
            }, emit: { result in
                let refined = try output.refined(result)
                try output.writeMask(refined)
                pending[result.frame]?.masks.append(refined)
                if result.sentence == sentences.count - 1 { progress.advance() }
                try flush(upTo: result.frame)
                if stop.isRequested { throw StopSegmenting() }
            })
        } catch is StopSegmenting {
            stopped = true
        }
        try flush(upTo: written + pending.count)
        progress.finish()
        try writer.finish()
        try output.writeJSON(source: input, width: reader.outputWidth, height: reader.outputHeight,
                             frameRate: reader.info.frameRate.value)
        if stopped {
            warn("stopped: \(output.records.count / max(1, sentences.count)) frames written; every file is complete")
            throw ExitCode(130)
        }
        if !quiet { print("wrote \(out)/overlay.mp4, \(out)/masks/, \(out)/masks.json") }
    }

    struct StopSegmenting: Error {}

    func collectSentences() throws -> [String] {
        var all: [String] = []
        if let sentence { all.append(sentence) }
        all += texts
        if let textsFile {
            let text: String
            do { text = try String(contentsOfFile: textsFile, encoding: .utf8) } catch {
                throw UserError("cannot read --texts \(textsFile): \(error.localizedDescription)")
            }
            all += text.split(whereSeparator: \.isNewline).map(String.init)
                .filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
        }
        guard !all.isEmpty else { throw UserError("give a sentence: cmpc-video segment \(input) \"the man jumping\"") }
        for s in all where Vocabulary.tokenize(s).isEmpty {
            throw UserError("the sentence \"\(s)\" is empty: give at least one word")
        }
        return all
    }

    func selectFrames(frameCount n: Int) throws -> [Int] {
        guard n > 0 else { throw UserError("\(input) has no frames") }
        let first = start ?? 1, last = end ?? n
        guard first >= 1, last <= n, first <= last else {
            throw UserError("--start \(first) / --end \(last) must satisfy 1 ≤ start ≤ end ≤ \(n) (the video's frames)")
        }
        var chosen: [Int]
        if let frames {
            chosen = try frames.split(separator: ",").map { part in
                guard let v = Int(part.trimmingCharacters(in: .whitespaces)), v >= 1, v <= n else {
                    throw UserError("--frames: \"\(part)\" is not a frame number in 1…\(n)")
                }
                return v
            }
            chosen = chosen.filter { $0 >= first && $0 <= last }
        } else {
            chosen = Array(first...last)
        }
        if let every { chosen = chosen.filter { ($0 - first) % every == 0 } }
        guard !chosen.isEmpty else { throw UserError("no frame selected (check --frames, --every, --start, --end)") }
        return Array(Set(chosen)).sorted()
    }

    /// A still image: an image codec and a single frame.
    func isStillImage(_ path: String) throws -> Bool {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw UserError("\(path): no such file")
        }
        if isDir.boolValue { return false }
        let ext = (path as NSString).pathExtension.lowercased()
        return ["jpg", "jpeg", "png", "bmp", "tif", "tiff", "webp", "ppm", "pgm"].contains(ext)
    }
}

/// Writes masks, overlays and the RLE JSON of a segment run.
final class SegmentationOutput {
    let folder: String
    let sentences: [String]
    let crf: Bool
    let config: ModelConfig
    private(set) var records: [(sentence: Int, frame: Int, rle: RLE)] = []

    /// Distinct overlay colours, one per sentence.
    static let palette: [(UInt8, UInt8, UInt8)] = [
        (255, 48, 48), (48, 160, 255), (64, 220, 64), (255, 200, 0), (200, 64, 255), (0, 220, 200), (255, 120, 200),
    ]

    init(folder: String, sentences: [String], crf: Bool, config: ModelConfig) throws {
        self.config = config
        self.folder = folder
        self.sentences = sentences
        self.crf = crf
    }

    /// The mask after the CRF when asked for.
    func refined(_ r: FrameMask) throws -> FrameMask {
        guard crf else { return r }
        var out = r
        out.mask = try MaskPostprocess(config: config)
            .crfMask(probabilities: r.probabilities, networkRGB: r.networkRGB, geometry: r.geometry)
        return out
    }

    func writeMask(_ r: FrameMask) throws {
        let dir = "\(folder)/masks/\(r.sentence)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let g = r.geometry
        try ImageIO.writePNG(try GrayImage(width: g.frameWidth, height: g.frameHeight, pixels: r.mask.map { $0 != 0 ? 255 : 0 }),
                             to: dir + String(format: "/%05d.png", r.frame))
        records.append((r.sentence, r.frame, try RLE(mask: r.mask, height: g.frameHeight, width: g.frameWidth)))
    }

    func overlay(_ image: RGBImage, masks: [FrameMask]) throws -> RGBImage {
        var out = image
        for m in masks.sorted(by: { $0.sentence < $1.sentence }) {
            let colour = Self.palette[m.sentence % Self.palette.count]
            out = try Overlay.blend(out, mask: try GrayImage(width: image.width, height: image.height, pixels: m.mask),
                                    colour: colour)
        }
        return out
    }

    func writeImage(_ image: RGBImage, results: [FrameMask], source: String) throws {
        for r in results {
            let name = sentences.count == 1 ? "mask.png" : "mask-\(r.sentence).png"
            try ImageIO.writePNG(try GrayImage(width: image.width, height: image.height, pixels: r.mask.map { $0 != 0 ? 255 : 0 }),
                                 to: "\(folder)/\(name)")
            records.append((r.sentence, 1, try RLE(mask: r.mask, height: image.height, width: image.width)))
        }
        try ImageIO.writePNG(try overlay(image, masks: results), to: "\(folder)/overlay.png")
        try writeJSON(source: source, width: image.width, height: image.height, frameRate: nil)
    }

    /// DIR/masks.json: per sentence and frame, the mask as pycocotools' RLE.
    func writeJSON(source: String, width: Int, height: Int, frameRate: Double?) throws {
        struct Entry: Encodable {
            let sentence: Int
            let text: String
            let frame: Int
            let segmentation: RLE
        }
        struct File: Encodable {
            let source: String
            let width: Int
            let height: Int
            let frame_rate: Double?
            let crf: Bool
            let sentences: [String]
            let masks: [Entry]
        }
        let entries = records.sorted { ($0.frame, $0.sentence) < ($1.frame, $1.sentence) }
            .map { Entry(sentence: $0.sentence, text: sentences[$0.sentence], frame: $0.frame, segmentation: $0.rle) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(File(source: source, width: width, height: height, frame_rate: frameRate, crf: crf,
                                           sentences: sentences, masks: entries))
        try writeAtomically(Array(data), to: URL(fileURLWithPath: "\(folder)/masks.json"))
    }
}

func warn(_ message: String) {
    FileHandle.standardError.write(Data("cmpc-video: warning: \(message)\n".utf8))
}
