// The video model's view of a clip: for target frame t, the 16-frame window t−8 … t+7 clamped to
// [1, N] and its sampled frames 0, 4, 8, 12, 15 (frame t is sampled frame 2). Frame numbers are
// 1-based (A2D's numbering).

/// Windows and sampled frames around a target frame, and a walk over a whole video that decodes each frame once.
public struct ClipSampler: Sendable {
    /// Frames in a window.
    public static let windowLength = 16
    /// Positions in the window the model looks at.
    public static let sampleOffsets = [0, 4, 8, 12, 15]
    /// The slot of the target frame among the sampled frames.
    public static let targetSlot = 2

    /// N, the number of frames of the video.
    public let frameCount: Int

    /// A sampler for a video of `frameCount` frames (at least 1).
    public init(frameCount: Int) throws {
        guard frameCount > 0 else {
            throw VideoError(.noFrames, path: "ClipSampler", "a video of \(frameCount) frames has no windows")
        }
        self.frameCount = frameCount
    }

    /// The 16 frame numbers t−8 … t+7, each clamped to 1…N.
    public func window(around target: Int) throws -> [Int] {
        try checkTarget(target)
        return (0..<Self.windowLength).map { min(frameCount, max(1, target - 8 + $0)) }
    }

    /// The 5 sampled frame numbers (window positions 0, 4, 8, 12, 15); element 2 is `target`.
    public func sampledFrames(around target: Int) throws -> [Int] {
        try checkTarget(target)
        return Self.sampleOffsets.map { min(frameCount, max(1, target - 8 + $0)) }
    }

    /// What a walk did: frames decoded, and the most frames held at once.
    public struct WalkStatistics: Equatable, Sendable {
        public var framesDecoded: Int
        public var peakCached: Int
    }

    /// Visits the targets in increasing order with their 5 sampled frames, pulling frames 1, 2, … from
    /// `nextFrame` exactly once each; only frames a pending target still needs are kept.
    ///
    /// `Frame` may be a picture or anything computed from one (backbone features, say), so that work is done once
    /// per frame although windows overlap.
    @discardableResult
    public func walk<Frame>(targets: [Int]? = nil, source: String = "video",
                            nextFrame: () throws -> Frame?,
                            visit: (_ target: Int, _ sampled: [Frame]) throws -> Void) throws -> WalkStatistics {
        let order = Array(Set(targets ?? Array(1...frameCount))).sorted()
        for t in order { try checkTarget(t) }
        var need: [Int: Int] = [:]
        var samples: [Int: [Int]] = [:]
        for t in order {
            let s = try sampledFrames(around: t)
            samples[t] = s
            for f in s { need[f, default: 0] += 1 }
        }
        var cache: [Int: Frame] = [:]
        var stats = WalkStatistics(framesDecoded: 0, peakCached: 0)
        for t in order {
            let s = samples[t] ?? []
            let ready = s.max() ?? t
            while stats.framesDecoded < ready {
                guard let frame = try nextFrame() else {
                    throw VideoError(.damaged, path: source,
                                     "the video ended after frame \(stats.framesDecoded) of \(frameCount)")
                }
                stats.framesDecoded += 1
                if need[stats.framesDecoded, default: 0] > 0 {
                    cache[stats.framesDecoded] = frame
                    stats.peakCached = max(stats.peakCached, cache.count)
                }
            }
            var frames: [Frame] = []
            for f in s {
                guard let frame = cache[f] else {
                    throw VideoError(.damaged, path: source, "frame \(f) was not kept for target \(t)")
                }
                frames.append(frame)
            }
            try visit(t, frames)
            for f in s {
                let left = need[f, default: 1] - 1
                need[f] = left
                if left <= 0 { cache[f] = nil }
            }
        }
        return stats
    }

    /// Walks a reader from its first frame (rewinding it first).
    @discardableResult
    public func walk(_ reader: VideoReader, targets: [Int]? = nil,
                     visit: (_ target: Int, _ sampled: [RGBImage]) throws -> Void) throws -> WalkStatistics {
        try reader.rewind()
        return try walk(targets: targets, source: reader.path, nextFrame: { try reader.nextFrame() }, visit: visit)
    }

    private func checkTarget(_ t: Int) throws {
        guard t >= 1, t <= frameCount else {
            throw VideoError(.frameOutOfRange, path: "ClipSampler", "target frame \(t) is outside 1…\(frameCount)")
        }
    }
}
