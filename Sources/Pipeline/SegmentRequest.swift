// SegmentRequest: what `segment` and `serve` check and set up the same way before a run — the sentences (none
// empty; each encoded, all-unknown ones refused), the still-or-video decision by content, the frames to segment
// (start, end, every, an explicit list), the threshold and the segmenter built from them — so both go through
// one code path and give the same masks.json for the same input and options.
import Foundation
import ImageModel
import Video
import VideoModel

/// The checks and the setup one segmentation shares between `segment` and the server. Messages name the
/// option as the caller spells it: `optionPrefix` is "--" for the command line, "" for the server's form fields.
public struct SegmentRequest: Sendable {
    /// The sentences, in order.
    public var sentences: [String]
    /// First frame (1-based), last frame (inclusive), every N-th frame, an explicit comma-separated list.
    public var start: Int?
    public var end: Int?
    public var every: Int?
    public var frames: String?
    /// Foreground probability threshold in (0, 1).
    public var threshold: Float = 0.5
    /// Refine every mask with DenseCRF.
    public var crf = false
    /// How options are named in messages ("--" or "").
    public var optionPrefix = "--"

    /// A request for `sentences` with every other setting at its default.
    public init(sentences: [String]) { self.sentences = sentences }

    /// Why the settings cannot run (an empty sentence, a threshold outside (0, 1), every < 1), or nil.
    public func problem() -> String? {
        if sentences.isEmpty { return "give a sentence" }
        for s in sentences where Vocabulary.tokenize(s).isEmpty {
            return "the sentence \"\(s)\" is empty: give at least one word"
        }
        guard threshold > 0, threshold < 1 else { return "\(optionPrefix)threshold must be in (0, 1), got \(threshold)" }
        if let every, every < 1 { return "\(optionPrefix)every must be at least 1, got \(every)" }
        return nil
    }

    /// Each sentence's word ids. A sentence none of whose words the vocabulary knows is an error unless
    /// `allowUnknown` (the model would see only <unk>); `fix` says what to do then.
    public func encode(vocabulary: Vocabulary, steps: Int, allowUnknown: Bool, fix: String) throws -> [EncodedSentence] {
        try sentences.map { s in
            let e = try vocabulary.encode(s, steps: steps)
            if e.allWordsUnknown && !allowUnknown {
                let words = e.unknownWords.map { "\"\($0)\"" }.joined(separator: ", ")
                throw PipelineError("no word of \"\(s)\" is in the vocabulary \(vocabulary.source) (unknown: \(words)), so the "
                    + "model would see only <unk>: \(fix)")
            }
            return e
        }
    }

    /// The frames to segment of a video of `n` frames (1-based, increasing).
    public func selectFrames(frameCount n: Int, input: String) throws -> [Int] {
        let p = optionPrefix
        guard n > 0 else { throw PipelineError("\(input) has no frames") }
        let first = start ?? 1, last = end ?? n
        guard first >= 1, last <= n, first <= last else {
            throw PipelineError("\(p)start \(first) / \(p)end \(last) must satisfy 1 ≤ start ≤ end ≤ \(n) (the video's frames)")
        }
        var chosen: [Int]
        if let frames {
            chosen = try frames.split(separator: ",").map { part in
                guard let v = Int(part.trimmingCharacters(in: .whitespaces)), v >= 1, v <= n else {
                    throw PipelineError("\(p)frames: \"\(part)\" is not a frame number in 1…\(n)")
                }
                return v
            }
            chosen = chosen.filter { $0 >= first && $0 <= last }
        } else {
            chosen = Array(first...last)
        }
        if let every { chosen = chosen.filter { ($0 - first) % every == 0 } }
        guard !chosen.isEmpty else {
            throw PipelineError("no frame selected (check \(p)frames, \(p)every, \(p)start, \(p)end)")
        }
        return Array(Set(chosen)).sorted()
    }

    /// The overlay's range of source frames: start…end (the whole video by default).
    public func range(frameCount n: Int) -> ClosedRange<Int> { (start ?? 1)...(end ?? n) }

    /// Whether the file at `path` holds a still image, judged by its content (an mp4 named .png is a video).
    public static func isStillImage(path: String) -> Bool { ImageIO.stillFormat(path: path) != nil }

    /// A segmenter for the encoded sentences with this request's threshold and CRF setting.
    public func segmenter(model: CMPCModel, encoded: [EncodedSentence], resize: ResizeMode) throws -> VideoSegmenter {
        let segmenter = try VideoSegmenter(model: model, sentences: encoded.map(\.ids), resize: resize)
        segmenter.postprocess.logitThreshold = log(threshold / (1 - threshold))
        segmenter.crf = crf
        return segmenter
    }
}
