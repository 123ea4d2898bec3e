// Training data: referring samples (A2D-format reader) → network inputs, in a seeded random order,
// prepared on a background thread into a bounded prefetch queue.
//
// Preparation follows CMPC_video/build_A2D_batches.py (the original's A2D path):
//   frame(s)  resize_and_pad to H×W (aspect kept, centred, zero padding), RGB → BGR, minus the Caffe mean;
//             the video network gets the 16-frame window t−8 … t+7 clamped to the clip (frame_range),
//             of which it uses frames 0, 4, 8, 12, 15: only those five are decoded and prepared
//   mask      resize_and_pad of the 0/1 mask the same way (skimage order 1), then > 0
//   sentence  the vocabulary's encoding, left-padded to num_steps
// There is no random resize, crop or flip in the original's A2D path; none is done here.
// Order: epoch e visits the samples in a permutation drawn from SplitMix64(seed, e); the position in
// that stream (samples consumed) is all the loader's state, so a resumed run continues exactly.

import Datasets
import Evaluation
import Foundation
import ImageModel
import Tensor
import Video
import VideoModel

/// Turns a referring sample into a training sample for one network configuration.
public struct SamplePreparer: Sendable {
    public let config: ModelConfig
    public let vocabulary: Vocabulary

    public init(config: ModelConfig, vocabulary: Vocabulary) {
        self.config = config
        self.vocabulary = vocabulary
    }

    /// Reads the frame(s) and the mask and preprocesses them; errors name the file.
    public func prepare(_ sample: ReferringSample) throws -> TrainingSample {
        let (H, W) = (config.H, config.W)
        let words = try vocabulary.encode(sample.sentence, steps: config.numSteps).ids
        // The video network reads the 5 frames of the clip window (ClipWindow: the target alone for
        // the single_frame baseline); each distinct frame is decoded and prepared once, and the input
        // is [5,H,W,3]. The image network reads the frame itself, [H,W,3].
        let clip = config.model == .video
        let indices: [Int]
        let read: (Int) throws -> RGBImage
        switch sample.source {
        case let .video(path, frame, _):
            let reader = try VideoReader(path: path)
            indices = clip ? try config.clipWindow(frameCount: reader.info.frameCount).sampledFrames(around: frame) : [frame]
            read = { try reader.frame(at: $0) }
        case let .frames(directory, frame, count):
            indices = clip ? try config.clipWindow(frameCount: count).sampledFrames(around: frame) : [frame]
            read = { try ImageIO.read(path: SampleSource.framePath(directory: directory, frame: $0)) }
        case let .image(path):
            indices = [1]
            read = { _ in try ImageIO.read(path: path) }
        }
        var prepared: [Int: (rgb: RGBImage, tensor: Tensor)] = [:]
        for f in indices where prepared[f] == nil {
            let rgb = try read(f)
            prepared[f] = (rgb, try Preprocess.prepare(rgb: rgb.pixels, width: rgb.width, height: rgb.height, H: H, W: W).tensor)
        }
        let targetFrame = indices.count == 1 ? indices[0] : indices[ClipWindow.targetSlot]
        guard let centre = prepared[targetFrame]?.rgb else {
            throw TrainingError("\(sample.source.path): no frames decoded")
        }
        let mask = try sample.loadMask(frameWidth: centre.width, frameHeight: centre.height)
        let tensors = indices.compactMap { prepared[$0]?.tensor }
        let input = tensors.count == 1 ? tensors[0] : try stack(tensors, axis: 0)
        let target = SamplePreparer.padMask(mask, H: H, W: W)
        return TrainingSample(input: input, words: words, target: target)
    }

    /// resize_and_pad of a 0/1 mask to H×W, then > 0: [H,W] of 0/1.
    public static func padMask(_ mask: PixelMask, H: Int, W: Int) -> Tensor {
        let (height, width) = (mask.height, mask.width)
        let scale = min(Double(H) / Double(height), Double(W) / Double(width))
        let rh = max(1, Int((Double(height) * scale).rounded(.toNearestOrEven)))
        let rw = max(1, Int((Double(width) * scale).rounded(.toNearestOrEven)))
        let padTop = (H - rh) / 2, padLeft = (W - rw) / 2
        let plane = Preprocess.resize(plane: mask.pixels.map { $0 != 0 ? 1 : 0 }, width: width, height: height,
                                      toWidth: rw, toHeight: rh)
        var out = Tensor(shape: [H, W])
        for y in 0..<rh {
            for x in 0..<rw where plane[y * rw + x] > 0 {
                out.scalars[(y + padTop) * W + x + padLeft] = 1
            }
        }
        return out
    }
}


/// The seeded visiting order: epoch e is a permutation of 0..<count drawn from SplitMix64(seed ⊕ e).
public struct SampleOrder: Sendable, Equatable {
    public let count: Int
    public let seed: UInt64

    public init(count: Int, seed: UInt64) {
        self.count = count
        self.seed = seed
    }

    /// The permutation of epoch `epoch` (Fisher–Yates).
    public func permutation(epoch: Int) -> [Int] {
        var rng = SplitMix64(seed: seed &+ 0x9E37_79B9_7F4A_7C15 &* UInt64(epoch + 1))
        var p = Array(0..<count)
        if count < 2 { return p }
        for i in stride(from: count - 1, to: 0, by: -1) {
            let j = Int(rng.next() % UInt64(i + 1))
            p.swapAt(i, j)
        }
        return p
    }

    /// The sample index at stream position `position` (epoch = position / count).
    public func index(at position: Int) -> Int {
        permutation(epoch: position / count)[position % count]
    }
}

/// A background thread preparing samples in order into a bounded queue.
///
///     let loader = try PrefetchLoader(count: samples.count, order: order, start: trainer.samplesConsumed) { i in
///         try preparer.prepare(samples[i]) }
///     let batch = try loader.next(batch: 1)
public final class PrefetchLoader: @unchecked Sendable {
    private let lock = NSCondition()
    private var queue: [(position: Int, result: Result<TrainingSample, Error>)] = []
    private var stopped = false
    private let capacity: Int
    private var thread: Thread?
    /// The next stream position `next` hands out.
    public private(set) var position: Int

    /// Starts preparing from stream position `start`; `prepare(i)` makes sample i (called on the thread).
    public init(order: SampleOrder, start: Int, capacity: Int = 8, prepare: @escaping @Sendable (Int) throws -> TrainingSample) throws {
        guard order.count > 0 else { throw TrainingError("the training split has no samples") }
        self.capacity = max(1, capacity)
        position = start
        let t = Thread { [unowned self] in self.run(order: order, start: start, prepare: prepare) }
        t.name = "cmpc-video prefetch"
        thread = t
        t.start()
    }

    private func run(order: SampleOrder, start: Int, prepare: @Sendable (Int) throws -> TrainingSample) {
        var pos = start
        var epochPermutation: (epoch: Int, p: [Int]) = (-1, [])
        while true {
            lock.lock()
            while queue.count >= capacity && !stopped { lock.wait() }
            if stopped { lock.unlock(); return }
            lock.unlock()
            let epoch = pos / order.count
            if epochPermutation.epoch != epoch { epochPermutation = (epoch, order.permutation(epoch: epoch)) }
            let i = epochPermutation.p[pos % order.count]
            let r = Result { try prepare(i) }
            lock.lock()
            queue.append((pos, r))
            lock.broadcast()
            lock.unlock()
            pos += 1
        }
    }

    /// The next `batch` samples (blocks until prepared); a sample that failed to load throws.
    public func next(batch: Int) throws -> [TrainingSample] {
        var out: [TrainingSample] = []
        for _ in 0..<batch {
            lock.lock()
            while queue.isEmpty { lock.wait() }
            let item = queue.removeFirst()
            lock.broadcast()
            lock.unlock()
            position = item.position + 1
            out.append(try item.result.get())
        }
        return out
    }

    /// Stops the thread (after the sample it is preparing).
    public func stop() {
        lock.lock()
        stopped = true
        lock.broadcast()
        lock.unlock()
    }

    deinit { stop() }
}
