// MutanFusion: multimodal features from visual, spatial and sentence features, 5 heads.
// Port of CMPC_model.py: mutan_head, mutan_fusion.
//
// head_k = tanh(conv([V; S])) ⊙ tanh(conv(L)); out = l2norm(tanh(Σ_k head_k)) over channels.
// V [F,H,W,C] visual (F frames; 1 for images), S [1,H,W,8] spatial grid, L [1,1,1,C] sentence.

import Tensor

public struct MutanFusion: Sendable {
    public let visual: [HeadConv]
    public let language: [HeadConv]

    public init(level: String, config: ModelConfig) {
        visual = (1...5).map { HeadConv("vis_trans_\(level)_head\($0)", in: config.vEmbDim + 8, out: config.vEmbDim) }
        language = (1...5).map { HeadConv("lang_trans_\(level)_head\($0)", in: config.rnnSize, out: config.vEmbDim) }
    }

    public var specs: [ParameterSpec] { zip(visual, language).flatMap { $0.specs + $1.specs } }

    /// visual [F,H,W,C], spatial [1,H,W,8], sentence [1,1,1,C] → [F,H,W,C].
    public func callAsFunction(visual v: Tensor, spatial: Tensor, sentence: Tensor, _ p: Parameters) throws -> Tensor {
        try Profiler.section("MutanFusion") {
            let frames = v.shape[0]
            let s = frames == 1 ? spatial : try spatial.tiled([frames, 1, 1, 1])
            let vs = try concat([v, s], axis: 3)                                           // [F,H,W,C+8]
            let factors = try language.map { try tanh($0(sentence, p)) }                    // [1,1,1,C] each
            let biases = try visual.map { try p($0.biasName) }
            let names = visual.map(\.weightName)
            if runsInBF16(input: vs.shape, cout: visual.count * (visual.first?.outChannels ?? 0),
                          tracked: [vs] + factors + biases + names.map { p.values[$0] }) {
                // bf16: the five heads' weights side by side, one convolution into [.., 5·C], then one
                // pass per location (the fp32 weights are not read: a bf16-only model may have dropped them).
                return try Profiler.section("HeadConv") {
                    let conv = try p.prepared.entry("mutan \(names[0]) \(Array(vs.shape.dropFirst()))", sources: names) {
                        try PreparedConvolution(input: vs.shape, filter: sideBySide(names.map { try p($0) }), bf16Output: false)
                    }
                    return try mutanInference(vs, weights: nil, biases: biases, factors: factors, products: conv.float(vs))
                }
            }
            let weights = try names.map { try p($0) }
            if !Tape.records([vs] + factors + weights + biases) {
                // Inference: the five products into one buffer, then one pass per location.
                return try Profiler.section("HeadConv") {
                    try mutanInference(vs, weights: weights, biases: biases, factors: factors)
                }
            }
            var sum: Tensor? = nil
            for (vk, l) in zip(visual, factors) {
                let head = try tanh(vk(vs, p)) * l                                          // [F,H,W,C]
                sum = try sum.map { try $0 + head } ?? head
            }
            return try l2Normalize(tanh(sum!), axes: [3])
        }
    }
}

/// 1×1 weights [1,1,Cin,C] (or [Cin,C]) of K heads as one [1,1,Cin,K·C] filter, head k in columns k·C…
func sideBySide(_ weights: [Tensor]) throws -> Tensor {
    let c = weights[0].shape.last ?? 0, cin = weights[0].count / max(c, 1), k = weights.count
    var out = [Float](repeating: 0, count: cin * k * c)
    for (h, w) in weights.enumerated() {
        for i in 0..<cin { for j in 0..<c { out[i * k * c + h * c + j] = w.scalars[i * c + j] } }
    }
    return try Tensor(shape: [1, 1, cin, k * c], scalars: out)
}
