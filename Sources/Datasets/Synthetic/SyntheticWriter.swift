// Writing a synthetic dataset to disk in the A2D Sentences layout (and, for still images, ReferIt's).
//
//   DIR/Release/videoset.csv                   no header: vid, label, start, end, H, W, frames,
//                                              annotated frames, split (0 train, 1 test)
//   DIR/Release/clips320H/<vid>.mp4            H.264 (through the media writer)
//   DIR/a2d_annotation.txt                     "video_id,instance_id,query", one row per sentence
//   DIR/a2d_missed_videos.txt                  empty (every clip has sentences)
//   DIR/a2d_annotation_with_instances/<vid>/<%05d>.h5   see SynthAnnotationFile.swift
//   DIR/vocabulary.txt                         <pad>, <go>, <eos>, <unk>, then the synthetic words
//   DIR/cues.json                              {"<vid>,<instance>,<query>": "appearance" | "relation" | "action"}
//   DIR/synth.json                             the settings and counts
// With still images (ReferIt layout, the image network's format):
//   DIR/referit/referit_query_{trainval,test}.json   {"<image id>_<n>": ["sentence"]}, n = instance + 1
//   DIR/referit/images/<image id>.<ext>        the media writer's still format
//   DIR/referit/mask/<image id>_<n>.mat        `segimg_t` uint8 H×W, 0 on the actor, 1 elsewhere
//                                              (MAT v5, zlib-compressed)
//   DIR/referit/cues.json                      {"<image id>_<n>,<query>": cue}
// Every file is a function of the settings alone: the same seed gives the same bytes (the mp4 and
// the still pictures as far as the media writer is deterministic).
import FileOutput
import Foundation
import JSON
import Tensor

/// Writes clips and still pictures; the Video module's encoders behind a small seam.
public protocol SyntheticMediaWriter {
    /// Encodes frames (all W×H RGB) as an mp4 file at `path`.
    func writeClip(_ frames: [SynthImage], frameRate: Int, to path: String) throws
    /// The file extension of still pictures ("jpg" or "png").
    var stillExtension: String { get }
    /// Writes a still picture at `path` (which ends in `stillExtension`).
    func writeStill(_ image: SynthImage, to path: String) throws
    /// Writes a frame as PNG (for the optional Release/frames/<vid>/<%05d>.png the original scripts read).
    func writePNG(_ image: SynthImage, to path: String) throws
}

/// What a run wrote.
public struct SyntheticSummary: Sendable, Equatable {
    public var videos = 0
    public var trainVideos = 0
    public var testVideos = 0
    public var sentences = 0
    /// (sentence, annotated frame) pairs: the samples the A2D reader yields.
    public var samples = 0
    public var trainSamples = 0
    public var testSamples = 0
    public var sentencesByCue: [String: Int] = [:]
    public var images = 0
    public var imageSentences = 0
    public var imageSentencesByCue: [String: Int] = [:]
}

/// Writes a whole synthetic dataset.
public struct SyntheticWriter {
    public let generator: SynthGenerator
    public let media: SyntheticMediaWriter
    /// Also write every frame as Release/frames/<vid>/<%05d>.png.
    public var writeFramePNGs = false

    public init(generator: SynthGenerator, media: SyntheticMediaWriter) {
        self.generator = generator
        self.media = media
    }

    /// The fixed word list of synthetic sentences, special tokens first.
    public static var vocabulary: [String] {
        var words = Set<String>(["the"])
        for s in SynthShape.allCases { words.insert(s.word) }
        for c in SynthColour.allCases { words.insert(c.word) }
        for z in SynthSize.allCases { words.insert(z.word) }
        for phrase in SynthAction.allCases.flatMap(\.phrases) + SynthRelation.allCases.flatMap(\.phrases) {
            for w in phrase.split(separator: " ") { words.insert(String(w)) }
        }
        return ["<pad>", "<go>", "<eos>", "<unk>"] + words.sorted()
    }

    /// Writes everything under `directory`; `progress` is called after each clip and image.
    @discardableResult
    public func write(to directory: String, progress: (String) -> Void = { _ in }) throws -> SyntheticSummary {
        let config = generator.config
        let root = URL(fileURLWithPath: directory)
        func path(_ parts: String...) -> String { parts.reduce(root) { $0.appendingPathComponent($1) }.path }
        try makeDirectory(path("Release", "clips320H"))
        try makeDirectory(path("a2d_annotation_with_instances"))
        var summary = SyntheticSummary()
        var videoset = ""
        var annotations = "video_id,instance_id,query\n"
        var cues: [(String, String)] = []
        for i in 0..<config.videos {
            let clip = try generator.clip(i)
            let frames = SynthRenderer.renderAll(clip)
            try media.writeClip(frames.map(\.image), frameRate: config.frameRate,
                                to: path("Release", "clips320H", clip.id + ".mp4"))
            if writeFramePNGs {
                try makeDirectory(path("Release", "frames", clip.id))
                for (k, f) in frames.enumerated() {
                    try media.writePNG(f.image, to: path("Release", "frames", clip.id, String(format: "%05d.png", k + 1)))
                }
            }
            try makeDirectory(path("a2d_annotation_with_instances", clip.id))
            for t in clip.annotatedFrames {
                let a = Self.annotation(clip, frame: frames[t - 1])
                try SynthAnnotationFile.write(a, to: path("a2d_annotation_with_instances", clip.id,
                                                         String(format: "%05d.h5", t)))
            }
            let seconds = (clip.frameCount + config.frameRate - 1) / config.frameRate
            let label = clip.actors[clip.expressions.first?.target ?? 0].label
            videoset += "\(clip.id),\(label),0:00:00,\(Self.clock(seconds)),\(clip.height),\(clip.width),"
                + "\(clip.frameCount),\(clip.annotatedFrames.count),\(clip.isTest ? 1 : 0)\n"
            for e in clip.expressions {
                annotations += "\(clip.id),\(e.target),\(e.text)\n"
                cues.append(("\(clip.id),\(e.target),\(e.text)", e.cue.rawValue))
                summary.sentencesByCue[e.cue.rawValue, default: 0] += 1
                let n = clip.annotatedFrames.count
                summary.samples += n
                if clip.isTest { summary.testSamples += n } else { summary.trainSamples += n }
            }
            summary.videos += 1
            if clip.isTest { summary.testVideos += 1 } else { summary.trainVideos += 1 }
            summary.sentences += clip.expressions.count
            progress(clip.id)
        }
        try writeText(videoset, to: path("Release", "videoset.csv"))
        try writeText(annotations, to: path("a2d_annotation.txt"))
        try writeText("", to: path("a2d_missed_videos.txt"))
        try writeText(Self.vocabulary.joined(separator: "\n") + "\n", to: path("vocabulary.txt"))
        try writeText(Self.jsonObject(cues.map { ($0.0, .string($0.1)) }), to: path("cues.json"))

        if config.images > 0 {
            try makeDirectory(path("referit", "images"))
            try makeDirectory(path("referit", "mask"))
            var queries: [Bool: [(String, JSONValue)]] = [false: [], true: []]
            var imageCues: [(String, String)] = []
            for i in 0..<config.images {
                let still = try generator.still(i)
                let frame = SynthRenderer.renderAll(still)[0]
                try media.writeStill(frame.image, to: path("referit", "images", still.id + "." + media.stillExtension))
                for e in still.expressions {
                    let key = "\(still.id)_\(e.target + 1)"
                    let segimg = frame.labels.map { $0 == Int16(e.target) ? UInt8(0) : UInt8(1) }
                    try MATWriter.write([MATMatrix(name: "segimg_t", rows: still.height, columns: still.width,
                                                   values: .uint8(segimg))],
                                        compressed: true, to: path("referit", "mask", key + ".mat"))
                    queries[still.isTest, default: []].append((key, [.string(e.text)]))
                    imageCues.append(("\(key),\(e.text)", e.cue.rawValue))
                    summary.imageSentencesByCue[e.cue.rawValue, default: 0] += 1
                    summary.imageSentences += 1
                }
                summary.images += 1
                progress(still.id)
            }
            try writeText(Self.jsonObject(queries[false] ?? []), to: path("referit", "referit_query_trainval.json"))
            try writeText(Self.jsonObject(queries[true] ?? []), to: path("referit", "referit_query_test.json"))
            try writeText(Self.jsonObject(imageCues.map { ($0.0, .string($0.1)) }),
                          to: path("referit", "cues.json"))
        }
        try writeText(Self.summaryJSON(config, summary, stillExtension: media.stillExtension), to: path("synth.json"))
        return summary
    }

    /// The annotation of one frame: every actor with visible pixels, by instance id.
    public static func annotation(_ clip: SynthClip, frame: SynthFrame) -> SynthFrameAnnotation {
        var instances: [Int] = [], masks: [[UInt8]] = [], labels: [Int] = []
        for a in clip.actors {
            let m = frame.mask(instance: a.instance)
            guard m.contains(1) else { continue }
            instances.append(a.instance)
            masks.append(m)
            labels.append(a.label)
        }
        return SynthFrameAnnotation(width: clip.width, height: clip.height, instances: instances, masks: masks,
                                    labels: labels)
    }

    static func clock(_ seconds: Int) -> String {
        String(format: "%d:%02d:%02d", seconds / 3600, seconds / 60 % 60, seconds % 60)
    }

    /// A JSON object with keys in the given order, one member a line, and a final newline.
    static func jsonObject(_ members: [(String, JSONValue)]) -> String {
        JSONValue.object(members).text(.linePerMember) + "\n"
    }

    static func summaryJSON(_ c: SyntheticConfig, _ s: SyntheticSummary, stillExtension: String) -> String {
        func cues(_ d: [String: Int]) -> JSONValue {
            .object(SynthCue.allCases.map { ($0.rawValue, .int(d[$0.rawValue] ?? 0)) })
        }
        let members: [(String, JSONValue)] = [
            // A seed beyond Int's range is written as its decimal string rather than rounded.
            ("seed", Int(exactly: c.seed).map { .int($0) } ?? .string(String(c.seed))),
            ("width", .int(c.width)), ("height", .int(c.height)),
            ("frames", .int(c.frames)), ("annotate_every", .int(c.annotateEvery)),
            ("annotated_frames", .array(c.annotatedFrames.map { .int($0) })),
            ("frame_rate", .int(c.frameRate)), ("test_fraction", .double(c.testFraction)),
            ("actor_scale", .double(c.actorScale)),
            ("videos", .int(s.videos)), ("train_videos", .int(s.trainVideos)), ("test_videos", .int(s.testVideos)),
            ("sentences", .int(s.sentences)), ("samples", .int(s.samples)),
            ("train_samples", .int(s.trainSamples)), ("test_samples", .int(s.testSamples)),
            ("sentences_by_cue", cues(s.sentencesByCue)),
            ("images", .int(s.images)), ("image_format", .string(stillExtension)),
            ("image_sentences", .int(s.imageSentences)), ("image_sentences_by_cue", cues(s.imageSentencesByCue)),
        ]
        return jsonObject(members)
    }

    func makeDirectory(_ path: String) throws {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw SyntheticError(what: path, reason: "cannot create the folder: \(plainReason(error)); check the path")
        }
    }

    func writeText(_ text: String, to path: String) throws {
        try writeAtomically(Data(text.utf8), to: path)
    }
}
