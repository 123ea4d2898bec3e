import Testing
@testable import Tensor

@Suite struct LinearAlgebraTests {
    /// Σ_k A[i,k]·B[k,j] for row-major rank-2 arrays.
    func naive(_ a: [Float], _ b: [Float], m: Int, k: Int, n: Int) -> [Float] {
        var c = [Float](repeating: 0, count: m * n)
        for i in 0..<m { for j in 0..<n { for p in 0..<k { c[i * n + j] += a[i * k + p] * b[p * n + j] } } }
        return c
    }

    @Test func productsByHand() throws {
        let a = try Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
        let b = try Tensor(shape: [3, 2], scalars: [7, 8, 9, 10, 11, 12])
        #expect(try matmul(a, b).scalars == [58, 64, 139, 154])
        #expect(try matmul(a, a, transposeB: true).scalars == [14, 32, 32, 77])
        #expect(try matmul(a, a, transposeA: true).shape == [3, 3])
        #expect(try matmul(b, a, transposeA: true, transposeB: true).scalars == [58, 139, 64, 154])   // (a·b)ᵀ
        #expect(throws: TensorError.self) { try matmul(a, a) }
        #expect(throws: TensorError.self) { try matmul(Tensor(shape: [2, 2, 3]), Tensor(shape: [3, 3, 2])) }
        #expect(throws: TensorError.self) { try matmul(Tensor(shape: [3]), b) }
    }

    @Test func batchedAndSharedOperands() throws {
        var rng = SplitMix64(seed: 51)
        let a = Tensor.uniform(shape: [2, 3, 4, 5], using: &rng)
        let b = Tensor.uniform(shape: [2, 3, 5, 6], using: &rng)
        let w = Tensor.uniform(shape: [5, 6], using: &rng)
        let c = try matmul(a, b)
        let d = try matmul(a, w)
        #expect(c.shape == [2, 3, 4, 6])
        #expect(d.shape == [2, 3, 4, 6])
        for i in 0..<6 {
            let ai = Array(a.scalars[(i * 20)..<(i * 20 + 20)]), bi = Array(b.scalars[(i * 30)..<(i * 30 + 30)])
            let e = naive(ai, bi, m: 4, k: 5, n: 6), f = naive(ai, w.scalars, m: 4, k: 5, n: 6)
            for j in 0..<24 {
                #expect(Swift.abs(c.scalars[i * 24 + j] - e[j]) < 1e-5)
                #expect(Swift.abs(d.scalars[i * 24 + j] - f[j]) < 1e-5)
            }
        }
        let shared = try matmul(w, b, transposeA: true)    // [6,5]·[2,3,5,6]
        #expect(shared.shape == [2, 3, 6, 6])
    }

    @Test(arguments: [(false, false), (true, false), (false, true), (true, true)])
    func gradients(transposes: (Bool, Bool)) throws {
        let (ta, tb) = transposes
        var rng = SplitMix64(seed: 52)
        let a2 = Tensor.uniform(shape: ta ? [4, 3] : [3, 4], using: &rng)
        let b2 = Tensor.uniform(shape: tb ? [5, 4] : [4, 5], using: &rng)
        try checkGradients("matmul \(ta) \(tb)", inputs: [a2, b2], tolerance: 1e-3) {
            try matmul($0[0], $0[1], transposeA: ta, transposeB: tb)
        }
        let a3 = Tensor.uniform(shape: ta ? [2, 4, 3] : [2, 3, 4], using: &rng)
        let b3 = Tensor.uniform(shape: tb ? [2, 5, 4] : [2, 4, 5], using: &rng)
        try checkGradients("batched matmul \(ta) \(tb)", inputs: [a3, b3], tolerance: 1e-3) {
            try matmul($0[0], $0[1], transposeA: ta, transposeB: tb)
        }
        try checkGradients("matmul batched·shared \(ta) \(tb)", inputs: [a3, b2], tolerance: 1e-3) {
            try matmul($0[0], $0[1], transposeA: ta, transposeB: tb)
        }
        try checkGradients("matmul shared·batched \(ta) \(tb)", inputs: [a2, b3], tolerance: 1e-3) {
            try matmul($0[0], $0[1], transposeA: ta, transposeB: tb)
        }
    }
}
