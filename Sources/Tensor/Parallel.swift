// Splitting work across the cores: large elementwise, im2col and reduction loops call
// `parallelFor`, which runs contiguous chunks on Dispatch's worker threads.
import Dispatch

/// Number of worker chunks used by `parallelFor` (the number of online cores).
public let engineThreads: Int = {
    #if os(Linux)
    let n = Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
    #else
    let n = Int(sysconf(_SC_NPROCESSORS_ONLN))
    #endif
    return max(1, n)
}()

/// Calls `body` on disjoint subranges covering 0..<count, in parallel when `count` is at least
/// `grain` per worker; otherwise inline on the calling thread.
@inlinable
public func parallelFor(_ count: Int, grain: Int = 32_768, _ body: (Range<Int>) -> Void) {
    let workers = min(engineThreads, count / max(grain, 1))
    if workers <= 1 {
        if count > 0 { body(0..<count) }
        return
    }
    let chunk = (count + workers - 1) / workers
    withoutActuallyEscaping(body) { body in
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            let lo = w * chunk
            let hi = min(count, lo + chunk)
            if lo < hi { body(lo..<hi) }
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
