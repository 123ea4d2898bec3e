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

    /// The engine's blocked GEMM against a Double product, for plans along rows and along columns,
    /// with each operand transposed or not, and with beta ≠ 0 on a C with wider rows (ldc > N).
    @Test(arguments: [(600, 200, 300), (200, 600, 300), (7, 5, 9)], [false, true])
    func blockedSgemmMatchesTheProduct(shape: (Int, Int, Int), transposed: Bool) throws {
        let (m, n, k) = shape
        var rng = SplitMix64(seed: 3)
        let a = Tensor.uniform(shape: [m * k], lo: -1, hi: 1, using: &rng).scalars
        let b = Tensor.uniform(shape: [k * n], lo: -1, hi: 1, using: &rng).scalars
        let ldc = n + 3
        let c0 = Tensor.uniform(shape: [m * ldc], lo: -1, hi: 1, using: &rng).scalars
        var c = c0
        let (lda, ldb) = transposed ? (m, k) : (k, n)
        try a.withUnsafeBufferPointer { pa in
            try b.withUnsafeBufferPointer { pb in
                try c.withUnsafeMutableBufferPointer { pc in
                    try Engine.withWorkers(2) {
                        try BLAS.sgemm(transA: transposed, transB: transposed, m: m, n: n, k: k, alpha: 0.5,
                                       a: pa.baseAddress!, lda: lda, b: pb.baseAddress!, ldb: ldb, beta: 2,
                                       c: pc.baseAddress!, ldc: ldc)
                    }
                }
            }
        }
        var worst = 0.0
        for i in 0..<m {
            for j in 0..<n {
                var s = 0.0
                for p in 0..<k {
                    let x = transposed ? a[p * m + i] : a[i * k + p]
                    let y = transposed ? b[j * k + p] : b[p * n + j]
                    s += Double(x) * Double(y)
                }
                worst = max(worst, abs(Double(c[i * ldc + j]) - (0.5 * s + 2 * Double(c0[i * ldc + j]))))
            }
            for j in n..<ldc { #expect(c[i * ldc + j] == c0[i * ldc + j], "the padding of row \(i) changed") }
        }
        #expect(worst < 1e-3, "largest difference \(worst)")
    }

    @Test func openBLASRunsOneThread() throws {
        try BLAS.load()
        #expect(BLAS.threads == 1)
        #expect(getenv("OPENBLAS_NUM_THREADS").map { String(cString: $0) } == "1")
        #expect(BLAS.coreTypeNote.contains("OPENBLAS_NUM_THREADS=1"))
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
        // malloc: the engine's settings, or the user's when they set any.
        let userMalloc = ["GLIBC_TUNABLES", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_"]
            .contains { (name: String) in getenv(name) != nil }
        #expect(Allocator.note.contains(userMalloc ? "the user's settings" : "chosen by the engine"))
    }
}
