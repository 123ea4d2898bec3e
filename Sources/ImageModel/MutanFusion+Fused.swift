// The fused inference form of MUTAN (MutanFusion.swift): everything after the input concatenation,
// five products into one buffer and then one pass per location. FusedKernelTests checks it bit for
// bit against the op-by-op heads training records.

import Tensor

/// Inference: the whole MUTAN fusion after its input concatenation,
/// l2normalize(tanh(Σₖ tanh(x·Wₖ + bₖ)·lₖ)) over the last axis, for K heads with weights Wₖ
/// ([1,1,Cin,C] or [Cin,C]), biases bₖ [C] and language factors lₖ (C values). The K products run as
/// one sgemm each into the columns of a [rows, K·C] buffer; then one pass per row does the rest
/// while the row is in cache (instead of 3K + 2 passes over [rows, C]). Each value takes the
/// operations of the op-by-op path in its order (the bias added to the product, heads summed from
/// the first, the row's squares summed left to right), so the result is the one the separate 1×1
/// convolutions (single-sgemm path), tanh, products, sums and l2Normalize give.
///
/// `products`, when given, holds x·[W₁ … W_K] already ([rows, K·C], e.g. from the bf16 convolution
/// with the heads' weights side by side), and the sgemms are skipped.
func mutanInference(_ x: Tensor, weights: [Tensor]?, biases: [Tensor], factors: [Tensor],
                    products given: Tensor? = nil, epsilon: Float = 1e-12) throws -> Tensor {
    let heads = biases.count
    let cin = x.shape.last ?? 0
    let c = biases.first?.count ?? 0
    guard heads > 0, factors.count == heads, cin > 0, c > 0, (weights == nil) == (given != nil),
          (weights ?? []).count == (weights == nil ? 0 : heads),
          (weights ?? []).allSatisfy({ $0.count == cin * c && $0.shape.last == c }),
          biases.allSatisfy({ $0.count == c }), factors.allSatisfy({ $0.count == c }) else {
        throw TensorError.shapeMismatch(op: "mutanInference", shapes: [x.shape] + (weights ?? []).map(\.shape),
                                        reason: "x [..,Cin], head weights [Cin,C] (or the products), a bias and a factor of C values per head")
    }
    let weights = weights ?? []
    if Tape.records([x] + weights + biases + factors) {
        throw TensorError.invalidArgument(op: "mutanInference", reason: "inference only: an input is tracked")
    }
    let rows = x.count / cin
    let shape = Array(x.shape.dropLast()) + [c]
    guard rows > 0 else { return Tensor(shape: shape) }
    let width = heads * c
    if let given, given.count != rows * width {
        throw TensorError.shapeMismatch(op: "mutanInference", shapes: [given.shape, [rows, width]],
                                        reason: "the products must be [rows, K·C]")
    }
    /// The per-location pass over the [rows, K·C] products.
    func combine(_ products: UnsafePointer<Float>) -> Tensor {
        withScalarPointers(biases + factors) { p in
            makeTensors(1, shape: shape) { o in
                let out = o[0]
                parallelFor(rows, grain: Swift.max(1, 8_192 / width)) { range in
                    for r in range {
                        let raw = products + r * width, row = out + r * c
                        for j in 0..<c { row[j] = fastTanh(raw[j] + p[0][j]) * p[heads][j] }
                        for k in 1..<heads {
                            let rk = raw + k * c, b = p[k], l = p[heads + k]
                            for j in 0..<c { row[j] = fastTanh(rk[j] + b[j]) * l[j] + row[j] }
                        }
                        for j in 0..<c { row[j] = fastTanh(row[j]) }
                        _ = l2NormalizeRow(row, into: row, count: c, epsilon: epsilon)
                    }
                }
            }[0]
        }
    }
    if let given { return given.scalars.withUnsafeBufferPointer { combine($0.baseAddress!) } }
    let products = UnsafeMutablePointer<Float>.allocate(capacity: rows * width)
    defer { products.deallocate() }
    var failure: Error?
    withScalarPointers([x] + weights) { p in
        do {
            for k in 0..<heads {
                try BLAS.sgemm(m: rows, n: c, k: cin, a: p[0], lda: cin, b: p[1 + k], ldb: c,
                               c: products + k * c, ldc: width)
            }
        } catch { failure = error }
    }
    if let failure { throw failure }
    return combine(products)
}
