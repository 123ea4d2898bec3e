// Small layers shared by the CMPC blocks. Port of CMPC_model.py: _conv, and the frequent
// "1×1 conv on a [B,1,1,C] vector" pattern.

import Tensor

/// The head's convolution `_conv(name, x, k, in, out)`: k×k 'SAME' convolution, stride 1, plus
/// bias; variables `<scope>/<name>/DW` [k,k,in,out] (Xavier) and `<scope>/<name>/biases` [out].
public struct HeadConv: Sendable {
    public let name: String
    public let kernel: Int
    public let inChannels: Int
    public let outChannels: Int

    public init(_ name: String, kernel: Int = 1, in inChannels: Int, out outChannels: Int, scope: String = "text_objseg") {
        self.name = scope.isEmpty ? name : scope + "/" + name
        self.kernel = kernel
        self.inChannels = inChannels
        self.outChannels = outChannels
    }

    public var weightName: String { name + "/DW" }
    public var biasName: String { name + "/biases" }

    public var specs: [ParameterSpec] {
        [ParameterSpec(weightName, [kernel, kernel, inChannels, outChannels], .xavier),
         ParameterSpec(biasName, [outChannels], .zeros)]
    }

    /// x [N,H,W,in] → [N,H,W,out], then max(·, 0) when `relu`. Without gradients the bias (and the
    /// ReLU) are applied in the convolution's output pass.
    public func callAsFunction(_ x: Tensor, _ p: Parameters, relu applyRelu: Bool = false) throws -> Tensor {
        try Profiler.section("HeadConv") {
            // bf16 first: a bf16-only model may have dropped the fp32 weights its prepared convolution replaced.
            if runsInBF16(input: x.shape, cout: outChannels, tracked: [x, p.values[weightName], p.values[biasName]]) {
                return try p.bf16Convolution(weightName, bias: biasName, input: x.shape, relu: applyRelu).float(x)
            }
            let w = try p(weightName), b = try p(biasName)
            if Tape.records([x, w, b]) {
                let y = try biasAdd(conv2d(x, w, padding: .same), b)
                return applyRelu ? try relu(y) : y
            }
            return try conv2dFused(x, w, padding: .same, shift: b, relu: applyRelu)
        }
    }
}

/// contrib.layers.layer_norm under a scope: `<scope>/beta`, `<scope>/gamma` of the last axis' size;
/// statistics over all non-batch axes, epsilon 1e-12.
public struct LayerNormLayer: Sendable {
    public let name: String
    public let channels: Int

    public init(_ name: String, channels: Int, scope: String = "text_objseg") {
        self.name = scope.isEmpty ? name : scope + "/" + name
        self.channels = channels
    }

    public var specs: [ParameterSpec] {
        [ParameterSpec(name + "/beta", [channels], .zeros), ParameterSpec(name + "/gamma", [channels], .ones)]
    }

    /// LN(x); with `residual`, residual + LN(x); with `relu`, then max(·, 0). Without gradients the
    /// add and the ReLU happen in the normalisation's output pass (same results).
    public func callAsFunction(_ x: Tensor, _ p: Parameters, residual: Tensor? = nil, relu applyRelu: Bool = false) throws -> Tensor {
        let gamma = try p(name + "/gamma"), beta = try p(name + "/beta")
        if !Tape.records([x, gamma, beta, residual]) {
            return try layerNormInference(x, gamma: gamma, beta: beta, beginNormAxis: 1, epsilon: 1e-12,
                                          residual: residual, relu: applyRelu)
        }
        var y = try layerNorm(x, gamma: gamma, beta: beta, beginNormAxis: 1, epsilon: 1e-12)
        if let residual { y = try residual + y }
        return applyRelu ? try relu(y) : y
    }
}

/// The 8-channel spatial grid of generate_spatial_batch: per location (xmin, ymin, xmax, ymax,
/// xctr, yctr, 1/W, 1/H) in [-1, 1] coordinates. Shape [1, H, W, 8].
public func spatialGrid(height: Int, width: Int) -> Tensor {
    Tensor(shape: [1, height, width, 8]) { buf in
        for h in 0..<height {
            for w in 0..<width {
                let xmin = Float(Double(w) / Double(width) * 2 - 1)
                let xmax = Float(Double(w + 1) / Double(width) * 2 - 1)
                let ymin = Float(Double(h) / Double(height) * 2 - 1)
                let ymax = Float(Double(h + 1) / Double(height) * 2 - 1)
                let o = (h * width + w) * 8
                buf[o] = xmin; buf[o + 1] = ymin; buf[o + 2] = xmax; buf[o + 3] = ymax
                buf[o + 4] = Float((Double(w) / Double(width) * 2 - 1 + Double(w + 1) / Double(width) * 2 - 1) / 2)
                buf[o + 5] = Float((Double(h) / Double(height) * 2 - 1 + Double(h + 1) / Double(height) * 2 - 1) / 2)
                buf[o + 6] = Float(1 / Double(width)); buf[o + 7] = Float(1 / Double(height))
            }
        }
    }
}
