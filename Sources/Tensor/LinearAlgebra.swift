// Matrix products through BLAS.sgemm (the engine's blocked GEMM).
//
// Legend: M×K times K×N gives M×N; leading axes are batch axes. A rank-2 operand against a
// batched one is shared by every batch entry (its gradient sums over the batch).

/// Matrix product of the last two axes: [..., M, K] · [..., K, N] → [..., M, N] (after the optional
/// transposes of each operand's last two axes). Rank 2, or batched with equal batch axes, or one
/// operand of rank 2 shared across the other's batch.
public func matmul(_ a: Tensor, _ b: Tensor, transposeA: Bool = false, transposeB: Bool = false) throws -> Tensor {
    let y = try matmulRaw(a, b, transposeA: transposeA, transposeB: transposeB)
    let (da, db) = (a.detached, b.detached)
    let (ta, tb) = (a.isTracked, b.isTracked)
    return Tensor.recorded(y, op: "matmul", inputs: [a, b]) { g in
        // C = op(A)·op(B): dop(A) = G·op(B)ᵀ, dop(B) = op(A)ᵀ·G, then undo the transposes.
        var ga: Tensor? = nil, gb: Tensor? = nil
        if ta {
            ga = transposeA
                ? try matmulRaw(db, g, transposeA: transposeB, transposeB: true)
                : try matmulRaw(g, db, transposeA: false, transposeB: !transposeB)
            if ga!.rank > da.rank { ga = try ga!.sumReduced(toShape: da.shape) }
        }
        if tb {
            gb = transposeB
                ? try matmulRaw(g, da, transposeA: true, transposeB: transposeA)
                : try matmulRaw(da, g, transposeA: !transposeA, transposeB: false)
            if gb!.rank > db.rank { gb = try gb!.sumReduced(toShape: db.shape) }
        }
        return [ga, gb]
    }
}

/// The forward product without recording.
func matmulRaw(_ a: Tensor, _ b: Tensor, transposeA: Bool, transposeB: Bool) throws -> Tensor {
    guard a.rank >= 2, b.rank >= 2 else {
        throw TensorError.shapeMismatch(op: "matmul", shapes: [a.shape, b.shape], reason: "both operands need rank ≥ 2")
    }
    let (ra, rb) = (a.rank, b.rank)
    let m = transposeA ? a.shape[ra - 1] : a.shape[ra - 2]
    let k = transposeA ? a.shape[ra - 2] : a.shape[ra - 1]
    let kb = transposeB ? b.shape[rb - 1] : b.shape[rb - 2]
    let n = transposeB ? b.shape[rb - 2] : b.shape[rb - 1]
    guard k == kb else {
        throw TensorError.shapeMismatch(op: "matmul", shapes: [a.shape, b.shape],
                                        reason: "inner extents differ (\(k) vs \(kb)) with transposeA \(transposeA), transposeB \(transposeB)")
    }
    let batchA = Array(a.shape[..<(ra - 2)]), batchB = Array(b.shape[..<(rb - 2)])
    let batch: [Int]
    if ra == 2 { batch = batchB } else if rb == 2 { batch = batchA } else {
        guard batchA == batchB else {
            throw TensorError.shapeMismatch(op: "matmul", shapes: [a.shape, b.shape],
                                            reason: "batch axes differ (equal batch axes, or one operand of rank 2)")
        }
        batch = batchA
    }
    let count = batch.reduce(1, *)
    var y = Tensor(shape: batch + [m, n])
    guard y.count > 0 else { return y }
    let lda = transposeA ? m : k, ldb = transposeB ? k : n
    let strideA = ra == 2 ? 0 : m * k, strideB = rb == 2 ? 0 : k * n
    try a.scalars.withUnsafeBufferPointer { pa0 in
        try b.scalars.withUnsafeBufferPointer { pb0 in
            try y.scalars.withUnsafeMutableBufferPointer { pc0 in
                let pc = pc0.baseAddress!
                if k == 0 {
                    for i in 0..<pc0.count { pc[i] = 0 }
                    return
                }
                let pa = pa0.baseAddress!, pb = pb0.baseAddress!
                if rb == 2 && !transposeA {
                    // A's batch folds into M: one call.
                    try BLAS.sgemm(transA: false, transB: transposeB, m: count * m, n: n, k: k,
                                   a: pa, lda: lda, b: pb, ldb: ldb, c: pc, ldc: n)
                    return
                }
                func product(_ i: Int) throws {
                    try BLAS.sgemm(transA: transposeA, transB: transposeB, m: m, n: n, k: k,
                                   a: pa + i * strideA, lda: lda, b: pb + i * strideB, ldb: ldb,
                                   c: pc + i * m * n, ldc: n)
                }
                // Products large enough to be cut into blocks run one after another, each on all the
                // workers; smaller ones run side by side, as many per task as make GEMMPlan.minWork.
                // Each is BLAS.sgemm's product either way (its blocks run in order inside a task), so
                // the result is the same.
                if GEMMPlan(m: m, n: n, k: k).blocks > 1 {
                    for i in 0..<count { try product(i) }
                } else {
                    try BLAS.load()
                    // OpenBLAS is loaded, so sgemm cannot throw here.
                    parallelFor(count, grain: max(1, GEMMPlan.minWork / max(1, m * n * k))) { items in
                        for i in items { try? product(i) }
                    }
                }
            }
        }
    }
    return y
}
