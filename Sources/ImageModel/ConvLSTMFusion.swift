// ConvLSTMFusion: a 1×1 convolutional LSTM with peepholes and layer norm that reads the three
// exchanged levels c3, c4, c5 in that order; its last output is the fused feature.
// Port of util/cell.py: ConvLSTMCell (normalize=True, peephole=True) as CMPC_model.py runs it.
//
// Per step: [j,i,f,o] = split(conv1×1([x; h]), 4); i += W_ci⊙c; f += W_cf⊙c;
// j, i, f = LN(j), LN_1(i), LN_2(f); f = σ(f + 1); c = c⊙f + σ(i)⊙tanh(j); o += W_co⊙c;
// o = LN_3(o); c = LN_4(c); h = σ(o)⊙tanh(c). State c (normalised) and h carried; no bias.
// x, h, c [1,H,W,D]; peepholes [H,W,D].

import Tensor

public struct ConvLSTMFusion: Sendable {
    public let scope = "text_objseg/rnn/conv_lstm_cell"
    public let height: Int
    public let width: Int
    public let channels: Int
    public let norms: [LayerNormLayer]   // LayerNorm (j), _1 (i), _2 (f), _3 (o), _4 (c)

    public init(config: ModelConfig) {
        height = config.featureHeight
        width = config.featureWidth
        channels = config.mlpDim
        norms = ["LayerNorm", "LayerNorm_1", "LayerNorm_2", "LayerNorm_3", "LayerNorm_4"].map {
            LayerNormLayer("text_objseg/rnn/conv_lstm_cell/" + $0, channels: config.mlpDim, scope: "")
        }
    }

    var kernelName: String { scope + "/kernel" }

    public var specs: [ParameterSpec] {
        let d = channels
        return [ParameterSpec(kernelName, [1, 1, 2 * d, 4 * d], .xavier),
                ParameterSpec(scope + "/W_ci", [height, width, d], .uniform(-0.05, 0.05)),
                ParameterSpec(scope + "/W_cf", [height, width, d], .uniform(-0.05, 0.05)),
                ParameterSpec(scope + "/W_co", [height, width, d], .uniform(-0.05, 0.05))]
            + norms.flatMap(\.specs)
    }

    /// The sequence of [1,H,W,D] inputs → the last output h [1,H,W,D].
    public func callAsFunction(_ sequence: [Tensor], _ p: Parameters) throws -> Tensor {
        try Profiler.section("ConvLSTMFusion") {
            let d = channels
            let shape = [1, height, width, d]
            var c = Tensor(shape: shape)
            var h = Tensor(shape: shape)
            let wci = try p(scope + "/W_ci"), wcf = try p(scope + "/W_cf"), wco = try p(scope + "/W_co")
            let normParameters = try norms.map { (gamma: try p($0.name + "/gamma"), beta: try p($0.name + "/beta")) }
            for x in sequence {
                let y = try Profiler.section("ConvLSTM conv") {                                 // [1,H,W,4D]
                    let xh = try concat([x, h], axis: 3)
                    if runsInBF16(input: xh.shape, cout: 4 * d, tracked: [xh, p.values[kernelName]]) {
                        return try p.bf16Convolution(kernelName, bias: nil, input: xh.shape, relu: false).float(xh)
                    }
                    return try conv2d(xh, try p(kernelName), padding: .same)
                }
                if !Tape.records([y, c, wci, wcf, wco] + normParameters.flatMap { [$0.gamma, $0.beta] }) {
                    // Inference: the same arithmetic in fewer passes (no gate copies or temporaries).
                    (c, h) = try convLSTMCellInference(gates: y, state: c, wci: wci, wcf: wcf, wco: wco, norms: normParameters)
                    continue
                }
                let gates = try split(y, count: 4, axis: 3)
                var (j, i, f, o) = (gates[0], gates[1], gates[2], gates[3])
                i = try i + wci * c
                f = try f + wcf * c
                j = try norms[0](j, p)
                i = try norms[1](i, p)
                f = try norms[2](f, p)
                f = try sigmoid(f + 1.0)
                c = try c * f + sigmoid(i) * tanh(j)
                o = try o + wco * c
                o = try norms[3](o, p)
                c = try norms[4](c, p)
                h = try sigmoid(o) * tanh(c)
            }
            return h
        }
    }
}
