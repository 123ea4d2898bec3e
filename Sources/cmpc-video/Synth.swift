// `cmpc-video synth`: a synthetic dataset in the A2D Sentences layout (and ReferIt's for stills).
import ArgumentParser
import Datasets
import Foundation

struct Synth: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate a synthetic referring-segmentation dataset (A2D Sentences layout; ReferIt for stills).",
        discussion: """
            Each clip holds 2-4 actors (shapes with a colour and a size on a textured background) that move \
            left, right, up or down, jump, spin or stand still; each sentence singles out one actor by its \
            appearance, its relation to another actor, or its action. DIR/cues.json says which cue each \
            sentence needs. The same options give the same bytes. See docs/synthetic.md.
            """)

    @Option(name: .long, help: "Output folder (created; must be empty or absent).")
    var out: String

    @Option(name: .long, help: "Number of clips.")
    var videos: Int

    @Option(name: .long, help: "Number of still images (ReferIt layout under DIR/referit).")
    var images: Int = 0

    @Option(name: .long, help: "Random seed.")
    var seed: UInt64 = 0

    @Option(name: .long, help: "Frame size WxH (even sides, 48-1024).")
    var size: String = "160x120"

    @Option(name: .long, help: "Frames per clip.")
    var frames: Int = 32

    @Option(name: .long, help: "Annotate frames 1+k*N (k >= 1).")
    var annotateEvery: Int = 8

    @Option(name: .long, help: ArgumentHelp(
        "Annotate these frames instead: all, or a list such as 1,2,3,30-32.",
        discussion: "Frames near either end (whose 16-frame windows clamp) are annotated only this way.",
        valueName: "all|LIST"))
    var annotatedFrames: String?

    @Option(name: .long, help: "Share of clips and images in the test split (the last ones).")
    var testFraction: Double = 0.2

    @Option(name: .long, help: "Frames per second of the mp4 clips.")
    var frameRate: Int = 24

    @Option(name: .long, help: "Actor radii as a multiple of the defaults (7.5 % and 12.5 % of the shorter side), 0.5-2.5.")
    var actorScale: Double = 1

    @Flag(name: .long, help: "Also write every frame as Release/frames/<vid>/<%05d>.png.")
    var framePngs = false

    @Flag(name: .long, help: "Print nothing but the summary.")
    var quiet = false

    func run() async throws {
        SyntheticVideoMedia.makeHeapDeterministic()
        let parts = size.lowercased().split(separator: "x")
        guard parts.count == 2, let w = Int(parts[0]), let h = Int(parts[1]) else {
            throw ValidationError("--size must be WxH, e.g. 160x120 (got '\(size)')")
        }
        var config = SyntheticConfig()
        config.videos = videos
        config.images = images
        config.seed = seed
        config.width = w
        config.height = h
        config.frames = frames
        config.annotateEvery = annotateEvery
        if let annotatedFrames { config.annotatedFrameList = try Self.frameList(annotatedFrames, frames: frames) }
        config.testFraction = testFraction
        config.frameRate = frameRate
        config.actorScale = actorScale
        let generator: SynthGenerator
        do {
            generator = try SynthGenerator(config: config)
        } catch let e as SyntheticError {
            throw ValidationError(e.description)
        }
        if let existing = try? FileManager.default.contentsOfDirectory(atPath: out), !existing.isEmpty {
            throw ValidationError("--out \(out) is not empty (files of an older run would stay); remove it first")
        }
        var writer = SyntheticWriter(generator: generator, media: SyntheticVideoMedia())
        writer.writeFramePNGs = framePngs
        var done = 0
        let total = videos + images
        let s = try writer.write(to: out) { id in
            done += 1
            if !quiet, done % 25 == 0 || done == total {
                FileHandle.standardError.write(Data("synth: \(done)/\(total) (\(id))\n".utf8))
            }
        }
        func shares(_ d: [String: Int], _ n: Int) -> String {
            SynthCue.allCases.map { c in
                let k = d[c.rawValue] ?? 0
                return "\(c.rawValue) \(k) (\(n > 0 ? Int((100 * Double(k) / Double(n)).rounded()) : 0) %)"
            }.joined(separator: ", ")
        }
        print("wrote \(out): \(s.videos) clips (\(s.trainVideos) train, \(s.testVideos) test), \(w)x\(h), "
              + "\(frames) frames, annotated frames \(config.annotatedFrames)")
        print("  \(s.sentences) sentences, \(s.samples) samples (\(s.trainSamples) train, \(s.testSamples) test); "
              + shares(s.sentencesByCue, s.sentences))
        if s.images > 0 {
            print("  \(s.images) still images (\(SyntheticVideoMedia().stillExtension)), \(s.imageSentences) sentences; "
                  + shares(s.imageSentencesByCue, s.imageSentences))
        }
    }

    /// The frames of --annotated-frames: "all" (1…frames), or numbers and ranges A-B separated by commas, sorted,
    /// each once.
    static func frameList(_ text: String, frames: Int) throws -> [Int] {
        let spec = text.trimmingCharacters(in: .whitespaces).lowercased()
        if spec == "all" { return Array(1...max(1, frames)) }
        var chosen = Set<Int>()
        for part in spec.split(separator: ",", omittingEmptySubsequences: false) {
            let ends = part.split(separator: "-", omittingEmptySubsequences: false)
                .map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard (1...2).contains(ends.count), let first = ends[0], let last = ends[ends.count - 1], first <= last,
                  first >= 1, last <= frames else {
                throw ValidationError("--annotated-frames: \"\(part)\" is not a frame or a range A-B within "
                                      + "1…\(frames) (--frames); give all or a list such as 1,2,30-32")
            }
            chosen.formUnion(first...last)
        }
        return chosen.sorted()
    }
}
