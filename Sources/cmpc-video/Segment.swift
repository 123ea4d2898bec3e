// `cmpc-video segment`: masks for the actor each sentence describes, in a video or a still image.
// The arguments and messages; the segmenter and the files it writes are Pipeline's (VideoSegmenter,
// SegmentationOutput).
import ArgumentParser
import Checkpoint
import CommandLineSupport
import Evaluation
import FileOutput
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
            A video gives DIR/overlay.mp4 (each sentence's mask blended in its own colour, with a legend), \
            DIR/masks/<sentence>/<frame>.png (0/255 at the source size) and DIR/masks.json (COCO RLE per sentence \
            and frame). An image gives DIR/mask.png (DIR/mask-<sentence>.png for several sentences), \
            DIR/overlay.png and DIR/masks.json. Either network reads either input: an image given to the video \
            network is its own 16-frame clip; a video given to the image network is segmented frame by frame.
            """)

    @Argument(help: "A video (anything FFmpeg reads, or a folder of numbered frames) or a still image.")
    var input: String

    @Argument(help: ArgumentHelp("The sentence that describes the actor.",
                                 discussion: "One that starts with \"-\" goes after --, or in --text."))
    var sentence: String?

    @Option(name: .customLong("text"), parsing: .unconditionalSingleValue,
            help: "Another sentence (repeatable); all share the video's features. It may start with \"-\".")
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

    @Flag(help: "With --every or --frames, the overlay shows only the computed frames (each until the next) instead of every frame with the last computed masks.")
    var overlayComputedOnly = false

    @Option(help: "Foreground probability threshold (default 0.5, i.e. logits ≥ 0 as the original).")
    var threshold: Float = 0.5

    @Flag(help: "Refine each mask with the fully connected CRF of the original's test script.")
    var crf = false

    @Flag(help: "No progress display.")
    var quiet = false

    @Flag(help: "Segment a sentence even when none of its words is in the vocabulary (they are read as <unk>).")
    var allowUnknown = false

    @Flag(help: "Print a JSON summary on stdout: input, sentences and their unknown words, frames, outputs, precision, timings.")
    var json = false

    func validate() throws {
        guard threshold > 0, threshold < 1 else { throw ValidationError("--threshold must be in (0, 1), got \(threshold)") }
        if let every, every < 1 { throw ValidationError("--every must be at least 1, got \(every)") }
        if out.isEmpty { throw ValidationError("--out is empty: give an output folder, e.g. --out cmpc-out") }
    }

    func run() async throws {
        let clock = SegmentClock()
        let sentences = try collectSentences()
        try Segment.checkOutputFolder(out)
        // The input is opened and checked before the model loads: a wrong path is reported at once.
        let media = try openInput()
        clock.lap("open_input")
        let loaded = try model.load(defaultPrecision: .auto)
        clock.lap("load_model")
        let encoded = try encode(sentences, vocabulary: loaded.vocabulary, steps: loaded.model.config.numSteps)
        let segmenter = try request(sentences).segmenter(model: loaded.model, encoded: encoded, resize: model.resize)
        // Written beside --out, then swapped in whole; --out is locked meanwhile.
        let folder = try OutputFolder.segmentation(out, overwrite: overwrite)
        defer { folder.finish() }
        let output: SegmentationOutput
        do {
            output = try SegmentationOutput(folder: folder.temporary, sentences: sentences, segmenter: segmenter)
        } catch {
            throw UserError("cannot write beside --out \(out): \(plainReason(error)); choose a folder you can write to")
        }
        var summary = SegmentSummary(input: input, out: out, sentences: sentences, encoded: encoded,
                                     precision: loaded.model.precision.rawValue)
        switch media {
        case .image(let image):
            do {
                try output.segment(image: image, source: input)
                try folder.commit()
            } catch { throw folder.explain(error) }
            if let problem = output.legendProblem { warn(problem) }
            clock.lap("segment")
            summary.image(image, written: output)
            if json { print(summary.json(timings: clock.laps)) }
            else if !quiet { print("wrote \(out)/\(sentences.count == 1 ? "mask.png" : "mask-*.png"), overlay.png, masks.json") }
        case .video(let reader, let targets):
            // Frames/s and ETA over the frames to segment (all sentences of a frame count as one).
            let progress = ProgressReporter(total: targets.count, style: .automatic(quiet: quiet, interval: 10),
                                            label: "segment")
            progress.unit = "frames"
            let stop = StopRequest.onSignals()
            defer { stop.uninstall() }
            let range = request(sentences).range(frameCount: reader.info.frameCount)
            let finished: Bool
            do {
                finished = try output.segment(video: reader, targets: targets, range: range,
                                              overlayFrames: overlayComputedOnly ? .computedOnly : .holdMasks, source: input,
                                              frameDone: { progress.advance() }, shouldStop: { stop.isRequested })
                try folder.commit()
            } catch { throw folder.explain(error) }
            if let problem = output.legendProblem { warn(problem) }
            if let problem = output.audioProblem { warn("overlay.mp4 has no sound: \(problem)") }
            progress.finish()
            clock.lap("segment")
            summary.video(reader, written: output, stopped: !finished)
            if json { print(summary.json(timings: clock.laps)) }
            if !finished {
                warn("stopped: \(output.records.count / max(1, sentences.count)) frames written; every file is complete")
                throw ExitCode(130)
            }
            if !json && !quiet { print("wrote \(out)/overlay.mp4, \(out)/masks/, \(out)/masks.json") }
        }
    }

    /// The settings `segment` shares with the server (Pipeline.SegmentRequest: one code path for both).
    func request(_ sentences: [String]) -> SegmentRequest {
        var r = SegmentRequest(sentences: sentences)
        r.start = start
        r.end = end
        r.every = every
        r.frames = frames
        r.threshold = threshold
        r.crf = crf
        return r
    }

    /// What `--out` will be made from: a still image, or a video with the frames to segment.
    enum Media {
        case image(RGBImage)
        case video(VideoReader, targets: [Int])
    }

    /// Opens and checks the input (path, kind, frames to segment): cheap next to loading the model.
    func openInput() throws -> Media {
        if let problem = pathProblem(input) { throw UserError("\(input): \(problem); give a video, a folder of frames or an image") }
        // Upright: a clip's display matrix and a still's EXIF orientation are applied, as players show them.
        if try isStillImage(input) { return .image(try ImageIO.read(path: input, upright: true)) }
        let reader = try VideoReader(path: input, options: .init(autorotate: true))
        return .video(reader, targets: try selectFrames(frameCount: reader.info.frameCount))
    }

    /// Each sentence's word ids. A sentence none of whose words the vocabulary knows is an error unless
    /// --allow-unknown (the model would see only <unk>); some unknown words are a warning with their share.
    func encode(_ sentences: [String], vocabulary: Vocabulary, steps: Int) throws -> [EncodedSentence] {
        let all: [EncodedSentence]
        do {
            all = try request(sentences).encode(vocabulary: vocabulary, steps: steps, allowUnknown: allowUnknown, fix: """
                use words of that vocabulary, give the vocabulary the checkpoint was trained with (--vocab FILE), \
                or pass --allow-unknown to segment anyway
                """)
        } catch let error as PipelineError { throw UserError(error.description) }
        return zip(sentences, all).map { s, e in
            let words = e.unknownWords.map { "\"\($0)\"" }.joined(separator: ", ")
            if !e.unknownWords.isEmpty {
                let share = Int((e.unknownShare * 100).rounded())
                warn("\(share)% of the words of \"\(s)\" are not in the vocabulary \(vocabulary.source): \(words) (read as <unk>)")
            }
            if e.truncated {
                warn("\"\(s)\" has \(e.tokens.count) words; only the first \(steps) are used")
            }
            return e
        }
    }

    func collectSentences() throws -> [String] {
        var all: [String] = []
        if let sentence { all.append(sentence) }
        all += texts
        if let textsFile {
            all += try Segment.readSentences(textsFile)
        }
        guard !all.isEmpty else { throw UserError("give a sentence: cmpc-video segment \(input) \"the man jumping\"") }
        if let problem = SegmentRequest(sentences: all).problem() { throw UserError(problem) }
        return all
    }

    /// Largest --texts file read (a sentence a line: 16 MiB is far more than any run needs).
    static let maxTextsBytes = 16 << 20

    /// The non-blank lines of the --texts file; clear errors for a folder, a device, a huge or a non-UTF-8 file.
    static func readSentences(_ path: String) throws -> [String] {
        let fix = "give a text file with one sentence per line"
        if let problem = pathProblem(path) { throw UserError("--texts \(path): \(problem); \(fix)") }
        switch pathKind(path) {
        case .directory: throw UserError("--texts \(path) is a folder: \(fix)")
        case .other:
            throw UserError("--texts \(path) is not a regular file (a device, pipe or socket): \(fix)")
        default: break
        }
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw UserError("--texts \(path): cannot open it (\(pathProblem(path) ?? "permission denied")); \(fix)")
        }
        defer { try? handle.close() }
        let data: Data
        do { data = try handle.read(upToCount: maxTextsBytes + 1) ?? Data() } catch {
            throw UserError("--texts \(path): cannot read it (\(plainReason(error))); \(fix)")
        }
        guard data.count <= maxTextsBytes else {
            throw UserError("--texts \(path) is larger than \(maxTextsBytes >> 20) MiB: split it into several runs")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw UserError("--texts \(path) is not UTF-8 text: \(fix)")
        }
        return text.split(whereSeparator: \.isNewline).map(String.init)
            .filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
    }

    /// Checks --out before the model loads: not empty, not a file, inside a folder that exists.
    static func checkOutputFolder(_ out: String) throws {
        guard !out.isEmpty else { throw ValidationError("--out is empty: give an output folder, e.g. --out cmpc-out") }
        switch pathKind(out) {
        case .regular?, .other?: throw UserError("--out \(out) is a file, not a folder: give a folder (it is created if missing)")
        case .directory?: return
        case nil:
            if let problem = pathProblem(out), problem != "no such file" {
                throw UserError("--out \(out): \(problem); choose a folder you can write to")
            }
        }
    }

    func selectFrames(frameCount n: Int) throws -> [Int] {
        do { return try request([]).selectFrames(frameCount: n, input: input) } catch let error as PipelineError {
            throw UserError(error.description)
        }
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
        let still = SegmentRequest.isStillImage(path: path)
        if named && !still { warn("\(path) is named .\(ext) but holds no still image; reading it as a video") }
        return still
    }
}

extension Segment {
    /// A usage error for an argument that would be read as a cluster of short options though it is a
    /// sentence ("-the red square" reads as -t -h -e, i.e. help, exit 0): nil when there is none.
    /// Arguments after "--" and the value of --text are sentences as given.
    static func misreadSentence(in arguments: [String]) -> ValidationError? {
        var previous = ""
        for argument in arguments {
            if argument == "--" { return nil }
            defer { previous = argument }
            guard previous != "--text", argument.hasPrefix("-"), !argument.hasPrefix("--"),
                  argument.count > 2 || argument.contains(where: \.isWhitespace), Double(argument) == nil else { continue }
            let flags = argument.dropFirst().filter { !$0.isWhitespace }.prefix(4).map { "-\($0)" }.joined(separator: " ")
            return ValidationError("""
                "\(argument)" starts with "-" and would be read as the options \(flags)…; no option is written \
                that way. A sentence that starts with "-" goes after "--" \
                (cmpc-video segment CLIP -- "\(argument)") or in --text "\(argument)".
                """)
        }
        return nil
    }
}

func warn(_ message: String) {
    FileHandle.standardError.write(Data("cmpc-video: warning: \(message)\n".utf8))
}
