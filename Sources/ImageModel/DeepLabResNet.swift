// DeepLabResNet: the Caffe-style dilated ResNet-101 backbone (output stride 8).
// Port of external/tensorflow-deeplab-resnet/deeplab_resnet/model.py as CMPC uses it.
//
// conv1 7×7/2 → bn_conv1 + ReLU → pool1 3×3/2 max → res2 (3 blocks) → res3 (4, first /2)
// → res4 (23, 3×3 atrous rate 2) → res5 (3, rate 4). Bottleneck: branch2a 1×1 → 2b 3×3 → 2c 1×1,
// batch norm after each (ReLU after 2a and 2b), projection branch1 on a stage's first block,
// add, ReLU. Batch norm is always the inference form with the moving statistics (ε 0.001).
// Outputs res3b3_relu [N,H/8,W/8,512], res4b22_relu [.., 1024], res5c_relu [.., 2048].

import Tensor

/// A convolution without bias followed by its batch norm (and optionally ReLU), as the Caffe
/// conversion names them: `<conv>/weights`, `<bn>/{beta,gamma,moving_mean,moving_variance}`.
public struct ConvBatchNorm: Sendable {
    public let conv: String
    public let bn: String
    public let kernel: Int
    public let inChannels: Int
    public let outChannels: Int
    public let stride: Int
    public let dilation: Int
    public let withReLU: Bool

    public var specs: [ParameterSpec] {
        [ParameterSpec(conv + "/weights", [kernel, kernel, inChannels, outChannels], .heNormal),
         ParameterSpec(bn + "/beta", [outChannels], .zeros),
         ParameterSpec(bn + "/gamma", [outChannels], .ones),
         ParameterSpec(bn + "/moving_mean", [outChannels], .zeros),
         ParameterSpec(bn + "/moving_variance", [outChannels], .ones)]
    }

    /// x [N,H,W,in] → [N,H',W',out]; `residual` is added before the ReLU (the block's add + relu).
    /// When nothing tracks gradients, batch norm is folded into a per-channel scale and shift that
    /// the convolution applies in its output pass, with the residual and ReLU (one pass, no
    /// intermediate tensors), and a convolution that runs through oneDNN in fp32 is prepared once
    /// (PreparedWeights.swift); otherwise the differentiable ops run one by one. Both give the same
    /// bits.
    public func callAsFunction(_ x: Tensor, _ p: Parameters, residual: Tensor? = nil, reluAfter: Bool? = nil) throws -> Tensor {
        let weights = try p(conv + "/weights")
        let mean = try p(bn + "/moving_mean"), variance = try p(bn + "/moving_variance")
        let beta = try p(bn + "/beta"), gamma = try p(bn + "/gamma")
        let applyReLU = reluAfter ?? withReLU
        if !Tape.records([x, weights, beta, gamma, residual]) {
            let folded = try foldBatchNorm(mean: mean, variance: variance, offset: beta, scale: gamma, epsilon: 0.001)
            // A shape that runs through oneDNN in fp32 (3×3, conv1): its weights are reordered once.
            if let prepared = try p.fp32Convolution(conv + "/weights", filter: weights, input: x.shape,
                                                    strides: (stride, stride), dilations: (dilation, dilation)) {
                return try conv2dFused(x, prepared, scale: folded.scale, shift: folded.shift, residual: residual,
                                       relu: applyReLU)
            }
            return try conv2dFused(x, weights, strides: (stride, stride), dilations: (dilation, dilation), padding: .same,
                                   scale: folded.scale, shift: folded.shift, residual: residual, relu: applyReLU)
        }
        let y = try conv2d(x, weights, strides: (stride, stride), dilations: (dilation, dilation), padding: .same)
        var z = try batchNormInference(y, mean: mean, variance: variance, offset: beta, scale: gamma, epsilon: 0.001)
        if let residual { z = try z + residual }
        return applyReLU ? try relu(z) : z
    }
}

/// One bottleneck residual block, e.g. res4b7.
public struct Bottleneck: Sendable {
    public let name: String          // "4b7"
    public let branch1: ConvBatchNorm?
    public let branch2a: ConvBatchNorm
    public let branch2b: ConvBatchNorm
    public let branch2c: ConvBatchNorm

    init(name: String, inChannels: Int, width: Int, stride: Int, dilation: Int, projection: Bool) {
        func unit(_ suffix: String, _ k: Int, _ cin: Int, _ cout: Int, _ s: Int, _ d: Int, _ relu: Bool) -> ConvBatchNorm {
            ConvBatchNorm(conv: "res\(name)_branch\(suffix)", bn: "bn\(name)_branch\(suffix)", kernel: k,
                          inChannels: cin, outChannels: cout, stride: s, dilation: d, withReLU: relu)
        }
        self.name = name
        branch1 = projection ? unit("1", 1, inChannels, 4 * width, stride, 1, false) : nil
        branch2a = unit("2a", 1, inChannels, width, stride, 1, true)
        branch2b = unit("2b", 3, width, width, 1, dilation, true)
        branch2c = unit("2c", 1, width, 4 * width, 1, 1, false)
    }

    public var specs: [ParameterSpec] {
        (branch1?.specs ?? []) + branch2a.specs + branch2b.specs + branch2c.specs
    }

    public func callAsFunction(_ x: Tensor, _ p: Parameters) throws -> Tensor {
        let shortcut = try branch1.map { try $0(x, p) } ?? x
        let a = try branch2a(x, p)
        let b = try branch2b(a, p)
        return try branch2c(b, p, residual: shortcut, reluAfter: true)   // res<B> add, res<B>_relu
    }
}

/// The backbone's three outputs used by CMPC.
public struct BackboneFeatures: Sendable {
    /// res3b3_relu [N, vf_h, vf_w, 512/d].
    public var c3: Tensor
    /// res4b22_relu [N, vf_h, vf_w, 1024/d].
    public var c4: Tensor
    /// res5c_relu [N, vf_h, vf_w, 2048/d].
    public var c5: Tensor
}

/// The DeepLab ResNet-101 (configurable depth and width for tests and small models).
public struct DeepLabResNet: Sendable {
    public let stem: ConvBatchNorm
    public let stages: [[Bottleneck]]   // res2, res3, res4, res5

    public init(config: ModelConfig) {
        stem = ConvBatchNorm(conv: "conv1", bn: "bn_conv1", kernel: 7, inChannels: 3,
                             outChannels: config.stemChannels, stride: 2, dilation: 1, withReLU: true)
        var stages: [[Bottleneck]] = []
        var cin = config.stemChannels
        for (si, stage) in (2...5).enumerated() {
            let width = config.bottleneckChannels(stage: stage)
            let stride = stage == 3 ? 2 : 1
            let dilation = stage == 4 ? 2 : (stage == 5 ? 4 : 1)
            var blocks: [Bottleneck] = []
            for b in 0..<config.depth[si] {
                let name = "\(stage)" + DeepLabResNet.blockSuffix(stage: stage, index: b)
                blocks.append(Bottleneck(name: name, inChannels: cin, width: width,
                                         stride: b == 0 ? stride : 1, dilation: dilation, projection: b == 0))
                cin = 4 * width
            }
            stages.append(blocks)
        }
        self.stages = stages
    }

    /// Block suffixes: a, b, c… in res2 and res5; a, b1, b2… in res3 and res4.
    public static func blockSuffix(stage: Int, index: Int) -> String {
        if index == 0 { return "a" }
        if stage == 3 || stage == 4 { return "b\(index)" }
        let letters = Array("abcdefghijklmnopqrstuvwxyz")
        return index < letters.count ? String(letters[index]) : "z\(index)"
    }

    public var specs: [ParameterSpec] { stem.specs + stages.flatMap { $0.flatMap(\.specs) } }

    /// image [N,H,W,3] (BGR minus the Caffe mean) → the res3, res4, res5 outputs.
    public func callAsFunction(_ image: Tensor, _ p: Parameters) throws -> BackboneFeatures {
        try Profiler.section("DeepLabResNet") {
            if runsInBF16(image, p) { return try bf16Features(image, p) }                  // DeepLabResNet+BF16.swift
            var x = try stem(image, p)                                                        // [N,H/2,W/2,64]
            x = try maxPool2d(x, window: (3, 3), strides: (2, 2), padding: .same)             // pool1 [N,H/4,W/4,64]
            var outputs: [Tensor] = []
            for stage in stages {
                for block in stage { x = try block(x, p) }
                outputs.append(x)
            }
            return BackboneFeatures(c3: outputs[1], c4: outputs[2], c5: outputs[3])
        }
    }
}
