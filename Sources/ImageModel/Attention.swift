// The scaled dot-product attention every CMPC block writes the same way: each side through its own
// 1×1 convolution, flattened to [B, rows, C], scores a·bᵀ/√C, softmax over one axis. Port of the
// pattern shared by CMPC_model.py's build_spa_graph and global_vec and the video model's
// build_temp_graph and build_temp_ctx.
//
// B batch entries (frames), rows = every position of a side's map (H·W locations, T' words, F
// nodes, or 1 for a vector), C the convolutions' output channels.
//
//     SpatialGraph     a = conv(M) [1,HW,C], b = conv(words) [1,T',C]   (scores, masked, then two softmaxes)
//     TemporalGraph    a = conv(action) [1→F,1,C], b = conv(M_f) [F,HW,C], softmax over HW; q/k adjacency [1,F,F]
//     TemporalContext  a = conv(M) [1,HW,C], b = conv(nodes) [1,F,C], softmax over F
//     GatedExchange    a = conv(F) [1,HW,D], b = conv(sentence) [1,1,D], softmax over HW (axis 1)

import Tensor

/// Attention scores a·bᵀ/√C [B, rows_a, rows_b] of `a` [B,h,w,·] through `convA` and `b` through
/// `convB` (C = their output channels). A side with one batch entry is repeated over the other's B.
public func attentionScores(_ a: Tensor, _ convA: HeadConv, _ b: Tensor, _ convB: HeadConv,
                            _ p: Parameters) throws -> Tensor {
    let c = convA.outChannels
    guard convB.outChannels == c else {
        throw TensorError.shapeMismatch(op: "attention", shapes: [[convA.outChannels], [convB.outChannels]],
                                        reason: "\(convA.name) and \(convB.name) must project to the same width")
    }
    func flat(_ x: Tensor, _ conv: HeadConv) throws -> Tensor {
        try conv(x, p).reshaped(to: [x.shape[0], x.shape[1] * x.shape[2], c])            // [B,rows,C]
    }
    var qa = try flat(a, convA), kb = try flat(b, convB)
    if qa.shape[0] == 1, kb.shape[0] > 1 { qa = try qa.tiled([kb.shape[0], 1, 1]) }
    if kb.shape[0] == 1, qa.shape[0] > 1 { kb = try kb.tiled([qa.shape[0], 1, 1]) }
    return try matmul(qa, kb, transposeB: true) / Float(c).squareRoot()                 // [B,rows_a,rows_b]
}

/// softmax(attentionScores(a, b)) along `axis`: 2 normalises over b's rows, 1 over a's rows.
public func attention(_ a: Tensor, _ convA: HeadConv, _ b: Tensor, _ convB: HeadConv, over axis: Int,
                      _ p: Parameters) throws -> Tensor {
    try softmax(attentionScores(a, convA, b, convB, p), axis: axis)
}
