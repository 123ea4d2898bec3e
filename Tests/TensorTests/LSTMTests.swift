import Testing
@testable import Tensor

@Suite struct LSTMTests {
    @Test(arguments: [("lstm_step1", 1), ("lstm_steps3", 3)])
    func matchesTensorFlowBasicLSTMCell(tag: String, steps: Int) throws {
        let xs = try loadOpsFixture("lstm_xs").trackingGradients()      // [3, B, I]
        let h0 = try loadOpsFixture("lstm_h0").trackingGradients()
        let c0 = try loadOpsFixture("lstm_c0").trackingGradients()
        let kernel = try loadOpsFixture("lstm_kernel").trackingGradients()
        let bias = try loadOpsFixture("lstm_bias").trackingGradients()
        let (b, i) = (xs.shape[1], xs.shape[2])
        var (h, c) = (h0, c0)
        for t in 0..<steps {
            let x = try xs.slice(begin: [t, 0, 0], size: [1, b, i]).reshaped(to: [b, i])
            (h, c) = try lstmCell(x: x, h: h, c: c, kernel: kernel, bias: bias)
        }
        let loss = try (h * loadOpsFixture("lstm_dh")).sum() + (c * loadOpsFixture("lstm_dc")).sum()
        let g = try Tape.gradients(of: loss, wrt: [xs, h0, c0, kernel, bias])
        let diffs = [
            ("h", opsMaxDifference(h, try loadOpsFixture("\(tag)_h"))),
            ("c", opsMaxDifference(c, try loadOpsFixture("\(tag)_c"))),
            ("dxs", opsMaxDifference(g[0], try loadOpsFixture("\(tag)_dxs"))),
            ("dh0", opsMaxDifference(g[1], try loadOpsFixture("\(tag)_dh0"))),
            ("dc0", opsMaxDifference(g[2], try loadOpsFixture("\(tag)_dc0"))),
            ("dkernel", opsMaxDifference(g[3], try loadOpsFixture("\(tag)_dkernel"))),
            ("dbias", opsMaxDifference(g[4], try loadOpsFixture("\(tag)_dbias"))),
        ]
        for (name, d) in diffs { #expect(d <= 1e-5, "\(tag) \(name) max diff \(d)") }
    }

    @Test func gradientsForEveryInput() throws {
        var rng = SplitMix64(seed: 71)
        let x = Tensor.uniform(shape: [2, 3], using: &rng)
        let h = Tensor.uniform(shape: [2, 4], using: &rng)
        let c = Tensor.uniform(shape: [2, 4], using: &rng)
        let kernel = Tensor.uniform(shape: [7, 16], lo: -0.5, hi: 0.5, using: &rng)
        let bias = Tensor.uniform(shape: [16], lo: -0.5, hi: 0.5, using: &rng)
        try checkGradients("lstmCell h", inputs: [x, h, c, kernel, bias], tolerance: 1e-3) {
            try lstmCell(x: $0[0], h: $0[1], c: $0[2], kernel: $0[3], bias: $0[4]).h
        }
        try checkGradients("lstmCell c", inputs: [x, h, c, kernel, bias], tolerance: 1e-3) {
            try lstmCell(x: $0[0], h: $0[1], c: $0[2], kernel: $0[3], bias: $0[4], forgetBias: 0.5).c
        }
        try checkGradients("lstmCell two steps", inputs: [x, h, c, kernel, bias], tolerance: 1e-3) {
            let s1 = try lstmCell(x: $0[0], h: $0[1], c: $0[2], kernel: $0[3], bias: $0[4])
            let s2 = try lstmCell(x: $0[0] * 0.5, h: s1.h, c: s1.c, kernel: $0[3], bias: $0[4])
            return try concat([s2.h, s2.c], axis: 1)
        }
    }

    @Test func badShapesThrow() throws {
        let x = Tensor(shape: [2, 3]), h = Tensor(shape: [2, 4])
        #expect(throws: TensorError.self) {
            try lstmCell(x: x, h: h, c: h, kernel: Tensor(shape: [6, 16]), bias: Tensor(shape: [16]))
        }
        #expect(throws: TensorError.self) {
            try lstmCell(x: x, h: h, c: Tensor(shape: [1, 4]), kernel: Tensor(shape: [7, 16]), bias: Tensor(shape: [16]))
        }
    }
}
