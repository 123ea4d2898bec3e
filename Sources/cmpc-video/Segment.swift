// `cmpc-video segment`: masks for the actor each sentence describes, in a video or a still image.
// The arguments and messages; the segmenter and the files it writes are Pipeline's (VideoSegmenter,
// SegmentationOutput).
import ArgumentParser
import Checkpoint
import CommandLineSupport
import Evaluation
import Foundation
import ImageModel
import Pipeline
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

    @Option(help: "Output folder. A previous output there is replaced as a whole when the run completes.")
    var out: String = "cmpc-out"

    @Flag(help: "Replace --out even when it is a non-empty folder that is no previous segment output.")
    var overwrite = false

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
        let segmenter = try VideoSegmenter(model: loaded.model, sentences: encoded, resize: model.resize)
        segmenter.postprocess.logitThreshold = log(threshold / (1 - threshold))
        segmenter.crf = crf
        // Written beside --out, then swapped in whole; --out is locked meanwhile.
        let folder = try OutputFolder.segmentation(out, overwrite: overwrite)
        defer { folder.finish() }
        let output = try SegmentationOutput(folder: folder.temporary, sentences: sentences, segmenter: segmenter)
        if try isStillImage(input) {
            try output.segment(image: try ImageIO.read(path: input), source: input)
            try folder.commit()
            if !quiet { print("wrote \(out)/\(sentences.count == 1 ? "mask.png" : "mask-*.png"), overlay.png, masks.json") }
            return
        }
        let reader = try VideoReader(path: input)
        let targets = try selectFrames(frameCount: reader.info.frameCount)
        // Frames/s and ETA over the frames to segment (all sentences of a frame count as one).
        let progress = ProgressReporter(total: targets.count, style: .automatic(quiet: quiet, interval: 10),
                                        label: "segment")
        progress.unit = "frames"
        let stop = StopRequest.onSignals()
        defer { stop.uninstall() }
        let finished = try output.segment(video: reader, targets: targets, source: input,
                                          frameDone: { progress.advance() }, shouldStop: { stop.isRequested })
        try folder.commit()
        progress.finish()
        if !finished {
            warn("stopped: \(output.records.count / max(1, sentences.count)) frames written; every file is complete")
            throw ExitCode(130)
        }
        if !quiet { print("wrote \(out)/overlay.mp4, \(out)/masks/, \(out)/masks.json") }
    }

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

    /// A still image, judged by the file's content (an mp4 named .png is a video); a name that disagrees
    /// with the content gets a warning.
    func isStillImage(_ path: String) throws -> Bool {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw UserError("\(path): no such file")
        }
        if isDir.boolValue { return false }
        let ext = (path as NSString).pathExtension.lowercased()
        let named = ["jpg", "jpeg", "png", "bmp", "tif", "tiff", "webp", "ppm", "pgm"].contains(ext)
        let still = ImageIO.stillFormat(path: path) != nil
        if named && !still { warn("\(path) is named .\(ext) but holds no still image; reading it as a video") }
        return still
    }
}

func warn(_ message: String) {
    FileHandle.standardError.write(Data("cmpc-video: warning: \(message)\n".utf8))
}
