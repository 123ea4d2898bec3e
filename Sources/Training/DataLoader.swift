// Training data order: referring samples in a seeded random order, prepared (by Pipeline's
// SamplePreparer, the training sample reader) on a background thread into a bounded prefetch queue.
// Order: epoch e visits the samples in a permutation drawn from SplitMix64(seed, e); the position in
// that stream (samples consumed) is all the loader's state, so a resumed run continues exactly.

import Foundation
import Pipeline
import Tensor

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
