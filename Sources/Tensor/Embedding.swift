// Embedding lookup: rows of a [V, D] table picked by word ids.

/// Rows of `table` [V, D] for `ids` → [ids.count, D]; the gradient scatter-adds into a dense [V, D].
/// An id outside 0..<V throws, naming it.
public func embeddingLookup(_ table: Tensor, ids: [Int32]) throws -> Tensor {
    guard table.rank == 2 else {
        throw TensorError.shapeMismatch(op: "embeddingLookup", shapes: [table.shape], reason: "the table must be [vocabulary, dimension]")
    }
    let (v, d) = (table.shape[0], table.shape[1])
    for (pos, id) in ids.enumerated() where id < 0 || Int(id) >= v {
        throw TensorError.invalidArgument(
            op: "embeddingLookup", reason: "id \(id) at position \(pos) is outside the vocabulary 0..<\(v)")
    }
    let y = table.scalars.withUnsafeBufferPointer { p in
        Tensor(shape: [ids.count, d]) { o in
            guard o.count > 0 else { return }
            for (row, id) in ids.enumerated() {
                (o.baseAddress! + row * d).update(from: p.baseAddress! + Int(id) * d, count: d)
            }
        }
    }
    return Tensor.recorded(y, op: "embeddingLookup", inputs: [table]) { g in
        var gt = Tensor(shape: [v, d])
        gt.scalars.withUnsafeMutableBufferPointer { q in
            g.scalars.withUnsafeBufferPointer { pg in
                for (row, id) in ids.enumerated() {
                    for j in 0..<d { q[Int(id) * d + j] += pg[row * d + j] }
                }
            }
        }
        return [gt]
    }
}
