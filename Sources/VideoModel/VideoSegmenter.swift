// VideoSegmenter: segment every frame (or a chosen subset) of a video for one or more sentences,
// computing each frame's backbone features — and its per-sentence multimodal features and
// temporal nodes — once, and reusing them in every window that samples that frame.
//
// Target frame t (1-based) has the window t−8 … t+7 clamped to [1, N]; the network samples its
// positions 0, 4, 8, 12, 15, i.e. frames t−8, t−4, t, t+4, t+7 (clamped). Targets are visited in
// increasing order; a frame's features are dropped once no remaining target samples it, so only
// the frames of live windows are held and memory does not grow with the video's length.

import ImageModel
import Tensor
import Video

/// The result for one (sentence, frame).
public struct FrameMask: Sendable {
    /// Index of the sentence in the segmenter's list.
    public var sentence: Int
    /// 1-based frame index.
    public var frame: Int
    /// Foreground 0/1 at the frame's size, row-major.
    public var mask: [UInt8]
    /// σ(logits) at the network input size H×W, and the padded RGB input (for DenseCRF).
    public var probabilities: [Float]
    public var networkRGB: [UInt8]
    public var geometry: PadGeometry
}

/// Frames a target's window samples (1-based, clamped to [1, N]).
public func sampledFrames(target t: Int, frameCount n: Int) -> [Int] {
    sampledFramePositions.map { min(max(t - 8 + $0, 1), n) }
}

public final class VideoSegmenter {
    public let model: CMPCModel
    public let sentences: [[Int32]]
    /// Logit threshold: a pixel is foreground when its logit ≥ threshold (0 as the original).
    public var logitThreshold: Float = 0

    /// Feature computations done so far (for the benchmark and tests): backbone passes and
    /// per-sentence frame passes.
    public private(set) var backbonePasses = 0
    public private(set) var frameSentencePasses = 0
    /// Most frames held at once.
    public private(set) var peakCachedFrames = 0

    public init(model: CMPCModel, sentences: [[Int32]]) throws {
        guard !sentences.isEmpty else {
            throw TensorError.invalidArgument(op: "VideoSegmenter", reason: "no sentence given")
        }
        self.model = model
        self.sentences = sentences
    }

    private struct CachedFrame {
        var prepared: PreparedImage
        var features: FrameFeatures? = nil              // video network, computed on first use
        var perSentence: [FrameSentenceFeatures] = []   // video network
    }

    /// Segments `targets` (1-based) of a video of `frameCount` frames. `frame(i)` is called once for
    /// every i from 1 to the last frame needed, in increasing order (a sequential decoder fits);
    /// frames no target needs are decoded and dropped. `emit` receives each result when ready.
    public func run(frameCount: Int, targets: [Int], frame: (Int) throws -> RGBImage,
                    emit: (FrameMask) throws -> Void) throws {
        guard frameCount > 0 else { throw TensorError.invalidArgument(op: "VideoSegmenter", reason: "the video has no frames") }
        let targets = Array(Set(targets)).sorted()
        if let bad = targets.first(where: { $0 < 1 || $0 > frameCount }) {
            throw TensorError.invalidArgument(op: "VideoSegmenter", reason: "frame \(bad) is outside 1…\(frameCount)")
        }
        let config = model.config
        let p = model.parameters
        let languages: [SentenceFeatures]
        if case let .video(net) = model.network {
            languages = try sentences.map { try net.sentence($0, p) }
        } else {
            languages = []
        }
        // The last target that needs each frame: its features are dropped after that target.
        var lastUse: [Int: Int] = [:]
        for t in targets {
            let needed: [Int]
            if case .video = model.network { needed = sampledFrames(target: t, frameCount: frameCount) } else { needed = [t] }
            for f in needed { lastUse[f] = t }
        }
        var cache: [Int: CachedFrame] = [:]
        var nextToRead = 1

        /// Decodes frames up to `f`, preparing those a target needs.
        func decode(through f: Int) throws {
            while nextToRead <= f {
                let i = nextToRead
                nextToRead += 1
                let rgb = try frame(i)
                guard lastUse[i] != nil else { continue }
                let prepared = try Preprocess.prepare(rgb: rgb.pixels, width: rgb.width, height: rgb.height,
                                                      H: config.H, W: config.W)
                cache[i] = CachedFrame(prepared: prepared)
                peakCachedFrames = max(peakCachedFrames, cache.count)
            }
        }

        /// Frame `f` with its video features computed (once).
        func load(_ f: Int) throws -> CachedFrame {
            try decode(through: f)
            guard var entry = cache[f] else {
                throw TensorError.invalidArgument(op: "VideoSegmenter", reason: "frame \(f) was dropped before its last use")
            }
            if case let .video(net) = model.network, entry.features == nil {
                let image = try entry.prepared.tensor.reshaped(to: [1, config.H, config.W, 3])
                let features = try net.frames(image, p)[0]
                backbonePasses += 1
                entry.features = features
                entry.perSentence = try languages.map { try net.frameSentence([features], $0, p)[0] }
                frameSentencePasses += languages.count
                cache[f] = entry
            }
            return entry
        }

        for t in targets {
            switch model.network {
            case let .video(net):
                let frames = sampledFrames(target: t, frameCount: frameCount)
                var entries: [Int: CachedFrame] = [:]
                for f in Set(frames).sorted() { entries[f] = try load(f) }
                let target = entries[t]!
                for (si, s) in languages.enumerated() {
                    let outputs = try net.window(sampled: frames.map { entries[$0]!.perSentence[si] },
                                                 target: target.features!, s, p)
                    try emit(result(outputs, sentence: si, frame: t, prepared: target.prepared))
                }
            case let .image(net):
                let entry = try load(t)
                let image = try entry.prepared.tensor.reshaped(to: [1, config.H, config.W, 3])
                let features = try net.backbone(image, p)
                backbonePasses += 1
                for (si, words) in sentences.enumerated() {
                    let outputs = try net.head(features: features, words: words, p)
                    try emit(result(outputs, sentence: si, frame: t, prepared: entry.prepared))
                }
            }
            for (f, last) in lastUse where last <= t { cache[f] = nil; lastUse[f] = nil }
        }
    }

    private func result(_ o: CMPCOutputs, sentence: Int, frame: Int, prepared: PreparedImage) throws -> FrameMask {
        let (H, W) = (model.config.H, model.config.W)
        let logits = o.up.scalars
        let binary = logits.map { $0 >= logitThreshold ? Float(1) : 0 }
        let g = prepared.geometry
        let mask = Preprocess.maskToFrame(binary, H: H, W: W, frameHeight: g.frameHeight, frameWidth: g.frameWidth)
        let probabilities = try o.sigm().scalars
        return FrameMask(sentence: sentence, frame: frame, mask: mask, probabilities: probabilities,
                         networkRGB: prepared.rgb, geometry: g)
    }
}
