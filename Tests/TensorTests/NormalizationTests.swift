import Testing
@testable import Tensor

@Suite struct NormalizationTests {
    @Test func l2NormalizeByHand() throws {
        let x = try Tensor(shape: [2, 2], scalars: [3, 4, 0, 0])
        #expect(try l2Normalize(x, axes: [1]).scalars == [0.6, 0.8, 0, 0])
        #expect(try l2Normalize(x, axes: nil).scalars == [0.6, 0.8, 0, 0])
        let tiny = try Tensor(shape: [2], scalars: [1e-7, 0])
        // Σx² = 1e-14 < ε: x / √ε.
        #expect(Swift.abs(try l2Normalize(tiny, axes: nil).scalars[0] - 0.1) < 1e-6)
    }

    @Test(arguments: [("l2norm_axis", [-1] as [Int]?), ("l2norm_axes", [0, 2]), ("l2norm_all", nil)])
    func l2NormalizeMatchesTensorFlow(tag: String, axes: [Int]?) throws {
        let x = try loadOpsFixture("\(tag)_x").trackingGradients()
        let y = try l2Normalize(x, axes: axes)
        let dx = try Tape.gradients(of: y, wrt: [x], seed: loadOpsFixture("\(tag)_dy"))[0]
        let dy = opsMaxDifference(y, try loadOpsFixture("\(tag)_y"))
        let dd = opsMaxDifference(dx, try loadOpsFixture("\(tag)_dx"))
        #expect(dy <= 1e-6, "\(tag) y max diff \(dy)")
        #expect(dd <= 1e-5, "\(tag) dx max diff \(dd)")
    }

    @Test func l2NormalizeGradients() throws {
        var rng = SplitMix64(seed: 61)
        let x = Tensor.uniform(shape: [2, 3, 4], using: &rng)
        for axes in [[-1], [0, 2], [1], nil] as [[Int]?] {
            try checkGradients("l2Normalize \(String(describing: axes))", inputs: [x], tolerance: 1e-3) {
                try l2Normalize($0[0], axes: axes)
            }
        }
    }

    @Test func layerNormByHand() throws {
        // One row [1, 2, 3, 4]: mean 2.5, biased variance 1.25.
        let x = try Tensor(shape: [1, 1, 2, 2], scalars: [1, 2, 3, 4])
        let gamma = try Tensor(shape: [2], scalars: [1, 2]), beta = try Tensor(shape: [2], scalars: [0, 10])
        let y = try layerNorm(x, gamma: gamma, beta: beta)
        let s = 1 / Float(1.25).squareRoot()
        let expected: [Float] = [-1.5 * s, 10 - 0.5 * s * 2, 0.5 * s, 10 + 1.5 * s * 2]
        for i in 0..<4 { #expect(Swift.abs(y.scalars[i] - expected[i]) < 1e-5) }
        #expect(throws: TensorError.self) { try layerNorm(x, gamma: Tensor(shape: [4]), beta: nil) }
        #expect(try layerNorm(x, gamma: nil, beta: nil, beginNormAxis: -1).scalars.map { $0.rounded() } == [-1, 1, -1, 1])
    }

    @Test(arguments: ["layernorm4d", "layernorm2d"])
    func layerNormMatchesTensorFlow(tag: String) throws {
        let x = try loadOpsFixture("\(tag)_x").trackingGradients()
        let gamma = try loadOpsFixture("\(tag)_gamma").trackingGradients()
        let beta = try loadOpsFixture("\(tag)_beta").trackingGradients()
        let y = try layerNorm(x, gamma: gamma, beta: beta)
        let g = try Tape.gradients(of: y, wrt: [x, gamma, beta], seed: loadOpsFixture("\(tag)_dy"))
        let diffs = [
            ("y", opsMaxDifference(y, try loadOpsFixture("\(tag)_y"))),
            ("dx", opsMaxDifference(g[0], try loadOpsFixture("\(tag)_dx"))),
            ("dgamma", opsMaxDifference(g[1], try loadOpsFixture("\(tag)_dgamma"))),
            ("dbeta", opsMaxDifference(g[2], try loadOpsFixture("\(tag)_dbeta"))),
        ]
        for (name, d) in diffs { #expect(d <= 1e-5, "\(tag) \(name) max diff \(d)") }
    }

    @Test func layerNormOnManyPositionsMatchesADoubleReference() throws {
        // 150 positions per row: several chunks and partial-sum flushes in the backward pass.
        var rng = SplitMix64(seed: 63)
        let (rows, n, c) = (2, 150, 3)
        let x = Tensor.uniform(shape: [rows, 1, n, c], lo: -2, hi: 3, using: &rng).trackingGradients()
        let gamma = Tensor.uniform(shape: [c], lo: 0.5, hi: 1.5, using: &rng).trackingGradients()
        let beta = Tensor.uniform(shape: [c], using: &rng).trackingGradients()
        let dy = Tensor.uniform(shape: [rows, 1, n, c], using: &rng)
        let y = try layerNorm(x, gamma: gamma, beta: beta)
        let g = try Tape.gradients(of: y, wrt: [x, gamma, beta], seed: dy)
        var dGamma = [Double](repeating: 0, count: c), dBeta = [Double](repeating: 0, count: c)
        for r in 0..<rows {
            let xs = (0..<(n * c)).map { Double(x.scalars[r * n * c + $0]) }
            let gs = (0..<(n * c)).map { Double(dy.scalars[r * n * c + $0]) }
            let m = xs.reduce(0, +) / Double(n * c)
            let v = xs.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(n * c)
            let rs = 1 / (v + 1e-12).squareRoot()
            let xhat = xs.map { ($0 - m) * rs }
            let d = (0..<(n * c)).map { gs[$0] * Double(gamma.scalars[$0 % c]) }
            let md = d.reduce(0, +) / Double(n * c)
            let mdx = zip(d, xhat).map { $0 * $1 }.reduce(0, +) / Double(n * c)
            for i in 0..<(n * c) {
                let yi = xhat[i] * Double(gamma.scalars[i % c]) + Double(beta.scalars[i % c])
                #expect(Swift.abs(Double(y.scalars[r * n * c + i]) - yi) < 1e-5)
                #expect(Swift.abs(Double(g[0].scalars[r * n * c + i]) - rs * (d[i] - md - xhat[i] * mdx)) < 1e-5)
                dGamma[i % c] += gs[i] * xhat[i]
                dBeta[i % c] += gs[i]
            }
        }
        for j in 0..<c {
            #expect(Swift.abs(Double(g[1].scalars[j]) - dGamma[j]) < 1e-4)
            #expect(Swift.abs(Double(g[2].scalars[j]) - dBeta[j]) < 1e-4)
        }
    }

    @Test func layerNormGradients() throws {
        var rng = SplitMix64(seed: 62)
        let x = Tensor.uniform(shape: [2, 1, 3, 4], using: &rng)
        let gamma = Tensor.uniform(shape: [4], lo: 0.5, hi: 1.5, using: &rng)
        let beta = Tensor.uniform(shape: [4], using: &rng)
        try checkGradients("layerNorm [B,1,N,C]", inputs: [x, gamma, beta], tolerance: 1e-3) {
            try layerNorm($0[0], gamma: $0[1], beta: $0[2])
        }
        try checkGradients("layerNorm axis 2, no params", inputs: [x], tolerance: 1e-3) {
            try layerNorm($0[0], gamma: nil, beta: nil, beginNormAxis: 2)
        }
    }
}
