// `segment --json`: the machine-readable summary printed on stdout when a run ends. One object, one line:
//   {"input": {"path", "kind": "video"|"image", "width", "height", "frame_count", "frame_rate"},
//    "sentences": [{"index", "text", "words", "unknown_words", "unknown_share", "truncated"}],
//    "frames": [segmented frame numbers, 1-based], "stopped": bool,
//    "outputs": {"folder", "overlay", "masks_json", "masks": [mask PNGs (image) | per-sentence folders (video)]},
//    "precision": "fp32", "timings": {"open_input", "load_model", "segment", "total"} (seconds)}
import Foundation
import ImageModel
import JSON
import Pipeline
import Video

/// Wall-clock laps of a segment run, for --json; measured from its creation.
final class SegmentClock {
        private let start = DispatchTime.now().uptimeNanoseconds
        private var last = DispatchTime.now().uptimeNanoseconds
    /// (name, seconds) in order.
    private var recorded: [(String, Double)] = []

    /// Ends the lap `name` now.
    func lap(_ name: String) {
        let now = DispatchTime.now().uptimeNanoseconds
        recorded.append((name, Double(now - last) / 1e9))
        last = now
    }

    /// The laps so far, then "total" since the clock started.
    var laps: [(String, Double)] {
        recorded + [("total", Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)]
    }
}

/// What `segment --json` prints.
struct SegmentSummary {
    let input: String
    let out: String
    let sentences: [String]
    let encoded: [EncodedSentence]
    let precision: String
    private var media: [(String, JSONValue)] = []
    private var frames: [Int] = []
    private var masks: [String] = []
    private var overlay = ""
    private var stopped = false
    private var colours: [String] = []

    init(input: String, out: String, sentences: [String], encoded: [EncodedSentence], precision: String) {
        self.input = input
        self.out = out
        self.sentences = sentences
        self.encoded = encoded
        self.precision = precision
    }

    /// Records a still image's run.
    mutating func image(_ image: RGBImage, written output: SegmentationOutput) {
        media = [("kind", "image"), ("width", .int(image.width)), ("height", .int(image.height)),
                 ("frame_count", 1), ("frame_rate", .null)]
        frames = [1]
        masks = sentences.count == 1 ? ["mask.png"] : sentences.indices.map { "mask-\($0).png" }
        overlay = "overlay.png"
        colours = Self.hex(output)
    }

    /// Records a video's run.
    mutating func video(_ reader: VideoReader, written output: SegmentationOutput, stopped: Bool) {
        media = [("kind", "video"), ("width", .int(reader.outputWidth)), ("height", .int(reader.outputHeight)),
                 ("frame_count", .int(reader.info.frameCount)),
                 ("frame_rate", reader.info.frameRate.value > 0 ? .double(reader.info.frameRate.value) : .null)]
        frames = Array(Set(output.records.map(\.frame))).sorted()
        masks = sentences.indices.map { "masks/\($0)" }
        overlay = "overlay.mp4"
        self.stopped = stopped
        colours = Self.hex(output)
    }

    /// Each sentence's overlay colour as #rrggbb ("" for one that got no mask).
    private static func hex(_ output: SegmentationOutput) -> [String] {
        output.colours.map { c in c.map { String(format: "#%02x%02x%02x", $0.0, $0.1, $0.2) } ?? "" }
    }

    /// The summary as one line of JSON; `timings` are (name, seconds).
    func json(timings: [(String, Double)]) -> String {
        func path(_ name: String) -> JSONValue { .string((out as NSString).appendingPathComponent(name)) }
        let sentenceValues: [JSONValue] = zip(sentences, encoded).enumerated().map { i, pair in
            let (text, e) = pair
            return .object([
                ("index", .int(i)), ("text", .string(text)), ("words", .array(e.words.map { .string($0) })),
                ("unknown_words", .array(e.unknownWords.map { .string($0) })),
                ("unknown_share", .double(e.unknownShare)), ("truncated", .bool(e.truncated)),
                ("colour", .string(i < colours.count ? colours[i] : "")),
            ])
        }
        let value: JSONValue = .object([
            ("input", .object([("path", .string(input))] + media)),
            ("sentences", .array(sentenceValues)),
            ("frames", .array(frames.map { .int($0) })),
            ("stopped", .bool(stopped)),
            ("outputs", .object([("folder", .string(out)), ("overlay", path(overlay)), ("masks_json", path("masks.json")),
                                 ("masks", .array(masks.map(path)))])),
            ("precision", .string(precision)),
            ("timings", .object(timings.map { ($0.0, .double(($0.1 * 1000).rounded() / 1000)) })),
        ])
        return value.text(.spaced)
    }
}
