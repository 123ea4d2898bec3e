// The clip window: which frames the video network reads for a target frame. The one definition
// used by the network, `segment`, `evaluate` and the training sample reader.
//
// For target frame t of a video of N frames, the 16-frame window is t−8 … t+7 with every frame
// number clamped to [1, N] (the original's `frame_range`, build_A2D_batches.py); the network reads
// window positions 0, 4, 8, 12, 15, and t is sampled slot 2. The "single_frame" baseline reads the
// target in every slot. Frame numbers are 1-based (A2D's numbering).

/// The frames the video network reads around each target frame of one video, and a walk over the
/// whole video that decodes each frame once.
public struct ClipWindow: Sendable, Equatable {
    /// Frames in a window.
    public static let length = 16
    /// Positions in the window the network reads.
    public static let sampleOffsets = [0, 4, 8, 12, 15]
    /// The slot of the target frame among the sampled frames.
    public static let targetSlot = 2
    /// The number of sampled frames (slots).
    public static var slotCount: Int { sampleOffsets.count }

    /// For each slot, the slot whose frame it holds: itself, or the target slot in every slot for
    /// the single_frame baseline. A clip's 5 already-sampled frames are read through this map.
    public static func slotSources(singleFrame: Bool) -> [Int] {
        singleFrame ? Array(repeating: targetSlot, count: slotCount) : Array(0..<slotCount)
    }

    /// For each slot, the position in the 16-frame window it reads.
    public static func positions(singleFrame: Bool) -> [Int] {
        slotSources(singleFrame: singleFrame).map { sampleOffsets[$0] }
    }

    /// N, the number of frames of the video.
    public let frameCount: Int
    /// The single_frame baseline: every slot is the target frame.
    public let singleFrame: Bool

    /// The window of a video of `frameCount` frames (at least 1).
    public init(frameCount: Int, singleFrame: Bool = false) throws {
        guard frameCount > 0 else {
            throw VideoError(.noFrames, path: "ClipWindow", "a video of \(frameCount) frames has no windows")
        }
        self.frameCount = frameCount
        self.singleFrame = singleFrame
    }

    /// The 16 frame numbers t−8 … t+7, each clamped to 1…N.
    public func window(around target: Int) throws -> [Int] {
        try checkTarget(target)
        return (0..<Self.length).map { min(frameCount, max(1, target - 8 + $0)) }
    }

    /// The 5 frame numbers the network reads (window positions 0, 4, 8, 12, 15, or the target in
    /// every slot for single_frame); element `targetSlot` is `target`.
    public func sampledFrames(around target: Int) throws -> [Int] {
        try checkTarget(target)
        return Self.positions(singleFrame: singleFrame).map { min(frameCount, max(1, target - 8 + $0)) }
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
            throw VideoError(.frameOutOfRange, path: "ClipWindow", "target frame \(t) is outside 1…\(frameCount)")
        }
    }
}
