// The engine's thread model: block boundaries fixed by the shapes, nested loops on the worker's
// own thread, and results bit-identical for any worker count and with other work running in the
// process at the same time (Engine.swift).
import Dispatch
import Foundation
import Synchronization
import Testing
@testable import Tensor

/// A small network at real-ish sizes with every kind of parallel loop the engine has: a strided 7×7
/// convolution (per-core tiles), batch norm, max pooling, 1×1 convolutions with small and large
/// filters (per-core tiles; the blocked GEMM), an atrous 3×3 convolution, a fused convolution, layer
/// norm, an attention product, L2 normalisation, bilinear resizing, long and per-channel sums, and
/// the backward pass of all of it. Returns the loss, the output and every gradient, flattened.
func engineWorkload(seed: UInt64) throws -> [[Float]] {
    var rng = SplitMix64(seed: seed)
    func weight(_ shape: [Int], _ scale: Float) -> Tensor {
        Tensor.uniform(shape: shape, lo: -scale, hi: scale, using: &rng).trackingGradients()
    }
    let x = Tensor.uniform(shape: [1, 96, 96, 3], lo: -1, hi: 1, using: &rng).trackingGradients()
    let w1 = weight([7, 7, 3, 64], 0.2), w2 = weight([1, 1, 64, 256], 0.1)
    let w3 = weight([3, 3, 256, 256], 0.03), w4 = weight([1, 1, 256, 1024], 0.05)
    let w5 = weight([1, 1, 1024, 256], 0.03), wq = weight([256, 64], 0.1)
    let bias = weight([256], 0.1), gamma = weight([64], 1), beta = weight([64], 0.1)
    let bnMean = Tensor.uniform(shape: [64], lo: -0.1, hi: 0.1, using: &rng)
    let bnVar = Tensor.uniform(shape: [64], lo: 0.5, hi: 1.5, using: &rng)
    let bnOffset = weight([64], 0.1), bnScale = weight([64], 1)

    var h = try conv2d(x, w1, strides: (2, 2))                                        // [1,48,48,64]
    h = try relu(batchNormInference(h, mean: bnMean, variance: bnVar, offset: bnOffset, scale: bnScale))
    h = try maxPool2d(h, window: (3, 3), strides: (2, 2), padding: .same)             // [1,24,24,64]
    h = try relu(conv2d(h, w2))                                                        // [1,24,24,256]
    h = try relu(biasAdd(conv2d(h, w3, dilations: (2, 2)), bias))                      // atrous 3×3
    let wide = try relu(conv2d(h, w4))                                                 // 1×1, 256→1024
    h = try conv2d(wide, w5) + h                                                       // 1×1, 1024→256 (blocked GEMM)
    let rows = try h.reshaped(to: [576, 256])
    let q = try matmul(rows, wq)                                                       // [576, 64]
    let attention = try softmax(matmul(q, q, transposeB: true) * 0.125)                // [576, 576]
    var z = try matmul(attention, q)                                                   // [576, 64]
    z = try layerNorm(z.reshaped(to: [1, 24, 24, 64]), gamma: gamma, beta: beta)
    z = try l2Normalize(z, axes: [3])
    let up = try resizeBilinear(z, height: 48, width: 48)
    let loss = try up.sum() + (wide * wide).mean() + h.sum(axes: [0, 1, 2]).sum()
    let inference = try Tape.withoutRecording {
        try conv2dFused(x.detached, w1.detached, strides: (2, 2), scale: bnScale.detached, shift: bnOffset.detached,
                        relu: true)
    }
    let grads = try Tape.gradients(of: loss, wrt: [x, w1, w2, w3, w4, w5, wq, bias, gamma, beta, bnOffset, bnScale])
    return [loss.scalars, up.scalars, inference.scalars] + grads.map(\.scalars)
}

/// Where two runs' outputs first differ ("output 3 (of 12 345) at 17: 1.25 against 1.2500001"), or nil
/// when they are bit-identical.
func bitDifference(_ a: [[Float]], _ b: [[Float]]) -> String? {
    guard a.count == b.count else { return "\(a.count) outputs against \(b.count)" }
    for (i, (x, y)) in zip(a, b).enumerated() {
        guard x.count == y.count else { return "output \(i): \(x.count) values against \(y.count)" }
        if let j = x.indices.first(where: { x[$0].bitPattern != y[$0].bitPattern }) {
            let differing = x.indices.filter { x[$0].bitPattern != y[$0].bitPattern }.count
            return "output \(i) (of \(x.count) values, \(differing) differ) at \(j): \(x[j]) against \(y[j])"
        }
    }
    return nil
}

/// Runs `body` on a background thread over and over (each run on 2 workers) until the returned stop
/// function is called; stop waits for the thread to finish.
func runningAlongside(_ body: @escaping @Sendable () throws -> Void) -> () -> Void {
    let flag = StopFlag()
    let done = DispatchSemaphore(value: 0)
    Thread.detachNewThread {
        while !flag.isSet { _ = try? Engine.withWorkers(2) { try body() } }
        done.signal()
    }
    return { flag.set(); done.wait() }
}

/// A flag one thread sets and another polls.
final class StopFlag: Sendable {
    private let value = Atomic<Bool>(false)
    var isSet: Bool { value.load(ordering: .acquiring) }
    func set() { value.store(true, ordering: .releasing) }
}

@Suite struct EngineTests {
    @Test(arguments: [(0, 1), (1, 1), (100, 32_768), (100_000, 32_768), (1_000_000, 1_000), (257, 1), (64 * 64 + 3, 1)])
    func blocksDependOnlyOnCountAndGrain(count: Int, grain: Int) {
        func ranges(workers: Int) -> [Range<Int>] {
            let lock = NSLock()
            var seen: [Range<Int>] = []
            Engine.withWorkers(workers) {
                parallelFor(count, grain: grain) { r in lock.lock(); seen.append(r); lock.unlock() }
            }
            return seen.sorted { $0.lowerBound < $1.lowerBound }
        }
        let one = ranges(workers: 1)
        #expect(ranges(workers: 2) == one)
        #expect(ranges(workers: 5) == one)
        // Disjoint, in order, covering 0..<count, at most maxBlocks, each of at least `grain` unless alone.
        #expect(one.map(\.count).reduce(0, +) == count)
        #expect(zip(one, one.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound })
        #expect(one.count <= Engine.maxBlocks)
        #expect(one.count <= 1 || one.dropLast().allSatisfy { $0.count >= grain })
        #expect(one.count == Engine.blocks(count, grain: grain).count)
    }

    @Test func nestedLoopsRunOnTheWorkersOwnThread() {
        let inner = Mutex<[Int]>([])
        Engine.withWorkers(2) {
            #expect(Engine.workers == 2)
            parallelFor(8, grain: 1) { _ in
                let w = Engine.workers
                inner.withLock { $0.append(w) }
            }
        }
        #expect(inner.withLock { $0 } == [Int](repeating: 1, count: 8))
        #expect(Engine.withWorkers(0) { Engine.workers } == 1)
    }

    @Test func configureRejectsCountsOutOfRange() {
        #expect(throws: TensorError.self) { try Engine.configure(workers: 0) }
        #expect(throws: TensorError.self) { try Engine.configure(workers: Engine.maxWorkers + 1) }
        #expect(Engine.environmentWorkers >= 1)
    }

    @Test(arguments: [(1600, 1000, 2048), (1600, 256, 1024), (2048, 2048, 2048), (64, 64, 100_000), (100, 3000, 512),
                      (8000, 512, 2048), (7, 5, 9)])
    func gemmPlanCutsAnEvenNumberOfBlocksFromTheShape(m: Int, n: Int, k: Int) {
        let plan = GEMMPlan(m: m, n: n, k: k)
        #expect(plan == GEMMPlan(m: m, n: n, k: k))
        #expect(plan.split == (m >= n ? .rows : .columns))
        #expect(plan.blocks == 1 || plan.blocks % 2 == 0)
        #expect(plan.blocks <= GEMMPlan.maxBlocks)
        #expect(plan.blocks == 1 || plan.size >= GEMMPlan.minExtent)
        #expect((0..<plan.blocks).map { plan.range($0).count }.reduce(0, +) == plan.extent)
    }

    @Test func aNetworkGivesTheSameBitsOnOneTwoAndThreeWorkers() throws {
        let one = try Engine.withWorkers(1) { try engineWorkload(seed: 5) }
        let two = try Engine.withWorkers(2) { try engineWorkload(seed: 5) }
        let three = try Engine.withWorkers(3) { try engineWorkload(seed: 5) }
        #expect(one.count == 15)
        #expect(bitDifference(one, two) == nil, "1 against 2 workers")
        #expect(bitDifference(one, three) == nil, "1 against 3 workers")
        #expect(one[0].allSatisfy(\.isFinite) && one.allSatisfy { !$0.isEmpty })
    }

    @Test func aNetworkGivesTheSameBitsWhileOtherWorkRuns() throws {
        let alone = try Engine.withWorkers(2) { try engineWorkload(seed: 6) }
        // Other computations in the process at the same time: convolutions and products of other
        // shapes, and a second copy of the same network.
        let stopConvolutions = runningAlongside {
            var rng = SplitMix64(seed: 9)
            let x = Tensor.uniform(shape: [1, 40, 40, 512], using: &rng)
            let w = Tensor.uniform(shape: [3, 3, 512, 128], using: &rng)
            _ = try conv2d(x, w, dilations: (4, 4))
            _ = try matmul(x.reshaped(to: [1600, 512]), x.reshaped(to: [1600, 512]), transposeA: true)
        }
        let stopNetwork = runningAlongside { _ = try engineWorkload(seed: 7) }
        let busy = try Engine.withWorkers(2) { try engineWorkload(seed: 6) }
        let busyOne = try Engine.withWorkers(1) { try engineWorkload(seed: 6) }
        stopConvolutions()
        stopNetwork()
        #expect(bitDifference(alone, busy) == nil, "alone against with other work running")
        #expect(bitDifference(alone, busyOne) == nil, "alone against one worker with other work running")
    }

    @Test func concurrentCopiesOfAComputationAgree() throws {
        let reference = try engineWorkload(seed: 8)
        let results = Mutex<[[[Float]]?]>([nil, nil, nil])
        DispatchQueue.concurrentPerform(iterations: 3) { i in
            let r = try? Engine.withWorkers(i + 1) { try engineWorkload(seed: 8) }
            results.withLock { $0[i] = r }
        }
        for (i, r) in results.withLock({ $0 }).enumerated() {
            let r = try #require(r, "copy \(i) threw")
            #expect(bitDifference(reference, r) == nil, "copy \(i) (\(i + 1) workers) against the reference")
        }
    }
}
