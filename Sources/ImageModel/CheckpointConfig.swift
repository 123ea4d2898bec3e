// Reading a network's sizes off a checkpoint's tensor shapes, so users never have to say which
// network they hold or how big it is. Only num_steps is not in the shapes (it defaults to 20).

/// Sizes determined by a checkpoint's names and shapes.
public enum CheckpointConfig {
    /// The configuration a set of (name, shape) pairs describes. `numSteps` is taken from `base`.
    public static func infer(shapes: [String: [Int]], base: ModelConfig = ModelConfig(), source: String) throws -> ModelConfig {
        func shape(_ name: String) throws -> [Int] {
            guard let s = shapes[name] else {
                throw ModelConfigError(description:
                    "\(source) has no tensor \(name): it is not a CMPC checkpoint (see `cmpc-video inspect \(source)`)")
            }
            return s
        }
        var c = base
        c.model = shapes.keys.contains { $0.hasPrefix("text_objseg/tg_vtrans_") } ? .video : .image
        let emb = try shape("text_objseg/Variable")
        guard emb.count == 2 else { throw ModelConfigError(description: "\(source): text_objseg/Variable has shape \(emb), expected [vocab, glove]") }
        c.vocabSize = emb[0]
        c.gloveDim = emb[1]
        let bias = try shape("text_objseg/RNN/multi_rnn_cell/cell_0/basic_lstm_cell/bias")
        c.rnnSize = (bias.first ?? 0) / 4
        c.vEmbDim = try shape("text_objseg/c5_lateral/DW").last ?? 0
        let fusion = try shape("text_objseg/fusion_c5/DW")
        c.mlpDim = fusion.last ?? 0
        // The optional fusion inputs (the video network's motion features, this port's addition) are
        // read off the fusion's input width, through the same list of inputs the network concatenates.
        let width = fusion.count == 4 ? fusion[2] : -1
        let variants = c.fusionVariants
        guard let fit = variants.first(where: { $0.fusionInputChannels == width }) else {
            throw ModelConfigError(description: "\(source): text_objseg/fusion_c5/DW has shape \(fusion), but a CMPC "
                + "\(c.model.rawValue) network of these sizes fuses " + variants.map(\.fusionInputsDescription).joined(separator: " or ")
                + " input channels")
        }
        c = fit
        c.parseDim = try shape("text_objseg/words_parse_1/DW").last ?? 0
        let peephole = try shape("text_objseg/rnn/conv_lstm_cell/W_ci")
        guard peephole.count == 3 else { throw ModelConfigError(description: "\(source): W_ci has shape \(peephole), expected [vf_h, vf_w, mlp_dim]") }
        c.vfH = nil
        c.vfW = nil
        // H and W: the configured ones when they give this feature size, else 8× the feature size.
        if ModelConfig.outputStride8(base.H) != peephole[0] { c.H = 8 * peephole[0] }
        if ModelConfig.outputStride8(base.W) != peephole[1] { c.W = 8 * peephole[1] }
        let stem = try shape("conv1/weights")
        guard stem.count == 4, stem[3] > 0, 64 % stem[3] == 0 else {
            throw ModelConfigError(description: "\(source): conv1/weights has shape \(stem); expected [7, 7, 3, 64/d]")
        }
        c.widthDivisor = 64 / stem[3]
        c.depth = (2...5).map { stage in
            var n = 0
            while shapes["res\(stage)\(DeepLabResNet.blockSuffix(stage: stage, index: n))_branch2a/weights"] != nil { n += 1 }
            return n
        }
        try c.validate()
        return c
    }
}
