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

    @Test func engineChoosesAFastCoreOrKeepsTheUsersChoice() throws {
        try BLAS.load()
        let note = BLAS.coreTypeNote
        #expect(note.contains("OPENBLAS_CORETYPE"))
        if BLAS.preferredCoreType() == "SkylakeX", note.contains("chosen by the engine") {
            #expect(BLAS.coreName.lowercased() == "skylakex")
        }
        #expect(BLAS.coreName.lowercased() != "prescott" || BLAS.preferredCoreType() == nil || note.contains("set by the user"))
    }
}
