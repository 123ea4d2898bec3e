// The bf16 inference form of DeepLabResNet (DeepLabResNet.swift): every convolution is a prepared
// oneDNN convolution with its batch norm folded into the weights and bias, the block's residual add
// and ReLU as post-ops, and the activations stay bf16 from the stem to the three outputs, which are
// widened to fp32 (exactly) for the head. An identity shortcut is accumulated into in place, so a
// stage's blocks reuse one buffer.

import Tensor

extension ConvBatchNorm {
    /// This unit as a bf16 convolution of `input`-shaped tensors, prepared once.
    func prepared(_ p: Parameters, input: [Int], residual: Bool, relu: Bool) throws -> PreparedConvolution {
        try p.prepared.entry("bn-conv \(conv) \(Array(input.dropFirst())) residual:\(residual) relu:\(relu)",
                             sources: specs.map(\.name)) {
            let folded = try foldBatchNorm(mean: p(bn + "/moving_mean"), variance: p(bn + "/moving_variance"),
                                           offset: p(bn + "/beta"), scale: p(bn + "/gamma"), epsilon: 0.001)
            return try PreparedConvolution(input: input, filter: p(conv + "/weights"), strides: (stride, stride),
                                           dilations: (dilation, dilation), padding: .same, scale: folded.scale.scalars,
                                           bias: folded.shift.scalars, residual: residual, relu: relu)
        }
    }

    /// x → relu?(bn(conv(x))) in bf16.
    func bf16(_ x: BF16Tensor, _ p: Parameters) throws -> BF16Tensor {
        try prepared(p, input: x.shape, residual: false, relu: withReLU)(x)
    }
}

extension Bottleneck {
    /// The block in bf16. The identity shortcut `x` receives the output in place.
    func bf16(_ x: BF16Tensor, _ p: Parameters) throws -> BF16Tensor {
        let shortcut = try branch1.map { try $0.bf16(x, p) } ?? x
        let a = try branch2a.bf16(x, p)
        let b = try branch2b.bf16(a, p)
        return try branch2c.prepared(p, input: b.shape, residual: true, relu: true)(b, addingInto: shortcut)
    }
}

extension DeepLabResNet {
    /// Whether a forward of `image` runs in bf16: inference at `Engine.precision == .bf16`, no
    /// backbone weight or the image tracked, and at least 16 channels after the stem (oneDNN has no
    /// fast bf16 kernel for the narrow test networks; they stay fp32).
    public func runsInBF16(_ image: Tensor, _ p: Parameters) -> Bool {
        guard Engine.precision == .bf16, stem.outChannels >= 16 else { return false }
        return !Tape.records([image] + specs.compactMap { p.values[$0.name] })
    }

    /// The bf16 forward: image [N,H,W,3] (fp32) → the res3, res4, res5 outputs (fp32, exact widening).
    func bf16Features(_ image: Tensor, _ p: Parameters) throws -> BackboneFeatures {
        var x = try stem.bf16(BF16Tensor(image), p)                                      // [N,H/2,W/2,64]
        x = try maxPool2d(x, window: (3, 3), strides: (2, 2), padding: .same)           // pool1
        var outputs: [BF16Tensor] = []
        for stage in stages {
            for block in stage { x = try block.bf16(x, p) }
            outputs.append(x)
        }
        return BackboneFeatures(c3: outputs[1].float(), c4: outputs[2].float(), c5: outputs[3].float())
    }
}
