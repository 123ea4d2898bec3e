// Engine: the one owner of the engine's threads.
//
// Every multi-core loop of the engine — elementwise maps, reductions, im2col, the per-core
// convolutions and every GEMM (BLAS.sgemm) — runs here, on `Engine.workers` Dispatch workers.
// OpenBLAS itself always runs one thread per call (BLAS.swift sets that once, at load): nothing
// in the process changes a thread count around a call.
//
// Deterministic by construction: work is cut into blocks whose boundaries depend only on the
// shapes (the count and the grain), never on the worker count or on other work in the process;
// each block is computed by one worker, which one does not matter, and partial results of a
// split reduction are combined in block order. So a result is bit-identical with 1, 2 or N
// workers, and whether or not another computation runs at the same time. The worker count
// only decides how fast.
//
// Nested parallelism: a block that itself calls `parallelFor` (a GEMM inside a per-core tile,
// a network run on each sample of a batch) runs that inner loop's blocks — the same blocks — on
// its own thread, so the inner loop gives what it gives anywhere else and never oversubscribes.
import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The engine's worker threads: how many there are, and the one place work is spread over them.
///
///     try Engine.configure(workers: 4)              // once, at start-up (`--threads 4`)
///     let y = try Engine.withWorkers(1) { try conv2d(x, w) }   // this computation on its own thread
public enum Engine {
    /// Most workers a process may ask for.
    public static let maxWorkers = 256

    /// Most blocks one `parallelFor` cuts its range into (a constant, so block boundaries depend on
    /// the count and the grain only).
    public static let maxBlocks = 64

    /// The worker count before `configure`: `CMPC_THREADS` when set to a count in 1…256 (a note on
    /// stderr otherwise), else the number of online cores.
    public static let environmentWorkers: Int = {
        #if os(Linux)
        let cores = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        #else
        let cores = max(1, Int(sysconf(_SC_NPROCESSORS_ONLN)))
        #endif
        guard let raw = getenv("CMPC_THREADS") else { return cores }
        let text = String(cString: raw)
        if let n = Int(text), (1...maxWorkers).contains(n) { return n }
        fputs("cmpc-video: CMPC_THREADS='\(text)' is not a worker count in 1…\(maxWorkers); using \(cores) (the online cores)\n", stderr)
        return cores
    }()

    /// The process's worker count; 0 until `configure` is called.
    private static let configured = Atomic<Int>(0)

    /// A worker count for the current computation only (`withWorkers`; 1 inside a worker's block).
    @TaskLocal static var scoped: Int?

    /// The precision of the current computation's inference convolutions and large products
    /// (`withPrecision`); fp32 unless a caller asks. Blocks of a parallel loop inherit it.
    @TaskLocal public static var precision: Precision = .fp32

    /// Runs `body` with `precision` for the inference convolutions and products inside it (on this
    /// thread; other computations keep theirs). Anything that records gradients stays fp32.
    ///
    ///     let y = try Engine.withPrecision(.bf16) { try network(image: x, words: w, p) }
    public static func withPrecision<R>(_ precision: Precision, _ body: () throws -> R) rethrows -> R {
        try $precision.withValue(precision, operation: body)
    }

    /// Workers the calling computation uses: its `withWorkers` scope, else the configured count, else
    /// `environmentWorkers`. Inside a block of a parallel loop this is 1.
    public static var workers: Int {
        if let s = scoped { return s }
        let c = configured.load(ordering: .relaxed)
        return c > 0 ? c : environmentWorkers
    }

    /// Sets the process's worker count (the command line's `--threads`). Results do not depend on it.
    public static func configure(workers n: Int) throws {
        guard (1...maxWorkers).contains(n) else {
            throw TensorError.invalidArgument(
                op: "Engine.configure", reason: "\(n) workers: the worker count must be in 1…\(maxWorkers)")
        }
        configured.store(n, ordering: .relaxed)
    }

    /// Runs `body` with at most `n` workers for the engine's loops inside it (on this thread; other
    /// computations keep theirs). `withWorkers(1)` runs everything on the calling thread.
    public static func withWorkers<R>(_ n: Int, _ body: () throws -> R) rethrows -> R {
        try $scoped.withValue(max(1, min(n, maxWorkers)), operation: body)
    }

    /// Calls `body(t)` once for every task t in 0..<tasks, spread over the workers (each worker takes
    /// the next task not yet taken); inline, in order, with one worker or one task. Tasks must be
    /// independent: which worker runs a task never changes what it computes.
    public static func run(_ tasks: Int, _ body: (Int) -> Void) {
        let w = min(workers, tasks)
        if w <= 1 {
            for t in 0..<tasks { body(t) }
            return
        }
        let next = Atomic<Int>(0)
        let inherited = precision, inheritedPath = fp32Convolution
        withoutActuallyEscaping(body) { body in
            DispatchQueue.concurrentPerform(iterations: w) { _ in
                $precision.withValue(inherited) { $fp32Convolution.withValue(inheritedPath) { $scoped.withValue(1) {
                    while true {
                        let t = next.wrappingAdd(1, ordering: .relaxed).oldValue
                        if t >= tasks { break }
                        body(t)
                    }
                } } }
            }
        }
    }

    /// The blocks `parallelFor(count, grain:)` cuts 0..<count into: as many as `count / grain` allows,
    /// at most `maxBlocks`, of equal size but the last.
    public static func blocks(_ count: Int, grain: Int) -> (count: Int, size: Int) {
        guard count > 0 else { return (0, 0) }
        let wanted = max(1, min(maxBlocks, count / max(grain, 1)))
        let size = (count + wanted - 1) / wanted
        return ((count + size - 1) / size, size)
    }
}

/// Calls `body` on the blocks of 0..<count (`Engine.blocks`: at least `grain` items each, their
/// boundaries fixed by `count` and `grain`), spread over the engine's workers; inline, in order,
/// when there is one block or one worker.
public func parallelFor(_ count: Int, grain: Int = 32_768, _ body: (Range<Int>) -> Void) {
    let (blocks, size) = Engine.blocks(count, grain: grain)
    if blocks <= 1 {
        if count > 0 { body(0..<count) }
        return
    }
    Engine.run(blocks) { b in body((b * size)..<min(count, (b + 1) * size)) }
}
