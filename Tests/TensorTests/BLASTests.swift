import Foundation
import Testing
@testable import Tensor

@Suite struct BLASTests {
    @Test func sgemmMatchesNaiveProduct() throws {
        var rng = SplitMix64(seed: 1)
        let (m, n, k) = (7, 5, 9)
        let a = Tensor.uniform(shape: [m, k], using: &rng)
        let b = Tensor.uniform(shape: [k, n], using: &rng)
        var c = [Float](repeating: 0, count: m * n)
        try a.scalars.withUnsafeBufferPointer { pa in
            try b.scalars.withUnsafeBufferPointer { pb in
                try c.withUnsafeMutableBufferPointer { pc in
                    try BLAS.sgemm(m: m, n: n, k: k, a: pa.baseAddress!, lda: k, b: pb.baseAddress!, ldb: n,
                                   c: pc.baseAddress!, ldc: n)
                }
            }
        }
        for i in 0..<m {
            for j in 0..<n {
                var s: Float = 0
                for p in 0..<k { s += a.scalars[i * k + p] * b.scalars[p * n + j] }
                #expect(abs(c[i * n + j] - s) < 1e-5)
            }
        }
    }

    @Test func singleThreadedHoldsOneThreadThroughPerCoreConvolutions() throws {
        try BLAS.load()
        let before = BLAS.threads
        #expect(before == blasDefaultThreads)
        var rng = SplitMix64(seed: 2)
        let x = Tensor.uniform(shape: [1, 12, 12, 8], lo: -1, hi: 1, using: &rng)
        let w = Tensor.uniform(shape: [3, 3, 8, 16], lo: -1, hi: 1, using: &rng)
        let inside = try BLAS.singleThreaded {
            let nested = try BLAS.singleThreaded { BLAS.threads }
            _ = try conv2dFused(x, w, padding: .same)           // a per-core convolution restores its count
            return (nested, BLAS.threads, blasRestoreThreads)
        }
        #expect(inside.0 == 1 && inside.1 == 1 && inside.2 == 1)
        #expect(BLAS.threads == before)
        #expect(blasRestoreThreads == blasDefaultThreads)
    }

    @Test func engineChoosesAFastCoreOrKeepsTheUsersChoice() throws {
        try BLAS.load()
        let parts = BLAS.coreTypeNote.components(separatedBy: "; ")
        let core = parts[0]
        #expect(core.contains("OPENBLAS_CORETYPE"))
        if BLAS.preferredCoreType() == "SkylakeX", core.contains("chosen by the engine") {
            #expect(BLAS.coreName.lowercased() == "skylakex")
        }
        #expect(BLAS.coreName.lowercased() != "prescott" || BLAS.preferredCoreType() == nil || core.contains("set by the user"))
        // The idle-thread timeout: the engine's 4 unless the user set one, and OpenBLAS read it.
        let timeout = try #require(parts.first { $0.hasPrefix("OPENBLAS_THREAD_TIMEOUT=") })
        #expect(timeout.contains("set by the user") || timeout.hasPrefix("OPENBLAS_THREAD_TIMEOUT=4 "))
        #expect(getenv("OPENBLAS_THREAD_TIMEOUT") != nil)
        // malloc: the engine's settings, or the user's when they set any.
        let userMalloc = ["GLIBC_TUNABLES", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_"]
            .contains { (name: String) in getenv(name) != nil }
        #expect(Allocator.note.contains(userMalloc ? "the user's settings" : "chosen by the engine"))
    }
}
