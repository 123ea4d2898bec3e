import Testing
@testable import Tensor

@Suite struct ReduceTests {
    let x = try! Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])

    @Test func sumsByHand() throws {
        #expect(try x.sum().scalars == [21])
        #expect(try x.sum().shape == [])
        #expect(try x.sum(axes: [0]).scalars == [5, 7, 9])
        #expect(try x.sum(axes: [-1]).scalars == [6, 15])
        #expect(try x.sum(axes: [1], keepDims: true).shape == [2, 1])
        #expect(try x.sum(axes: [0, 1], keepDims: true).shape == [1, 1])
        #expect(try x.mean(axes: [0]).scalars == [2.5, 3.5, 4.5])
        #expect(try x.mean().scalars == [3.5])
        #expect(try x.max(axes: [1]).scalars == [3, 6])
        #expect(try x.max(axes: [0], keepDims: true).scalars == [4, 5, 6])
        #expect(try x.sum(axes: []).scalars == x.scalars)
    }

    @Test func badAxesThrow() throws {
        #expect(throws: TensorError.self) { try x.sum(axes: [2]) }
        #expect(throws: TensorError.self) { try x.sum(axes: [0, -2]) }
        #expect(throws: TensorError.self) { try Tensor(shape: [0, 2]).max(axes: [0]) }
    }

    @Test func nonContiguousAxesMatchNaiveSums() throws {
        var rng = SplitMix64(seed: 31)
        let t = Tensor.uniform(shape: [3, 4, 5, 2], using: &rng)
        let s = try t.sum(axes: [0, 2])
        let m = try t.max(axes: [-1, 1], keepDims: true)
        #expect(s.shape == [4, 2])
        #expect(m.shape == [3, 1, 5, 1])
        for j in 0..<4 {
            for l in 0..<2 {
                var e: Float = 0
                for i in 0..<3 { for k in 0..<5 { e += t.scalars[((i * 4 + j) * 5 + k) * 2 + l] } }
                #expect(Swift.abs(s.scalars[j * 2 + l] - e) < 1e-5)
            }
        }
        for i in 0..<3 {
            for k in 0..<5 {
                var e = -Float.infinity
                for j in 0..<4 { for l in 0..<2 { e = Swift.max(e, t.scalars[((i * 4 + j) * 5 + k) * 2 + l]) } }
                #expect(m.scalars[i * 5 + k] == e)
            }
        }
    }

    @Test func largeSumsMatchDoubleAccumulation() throws {
        var rng = SplitMix64(seed: 32)
        let t = Tensor.uniform(shape: [3, 50_000], using: &rng)
        let u = try t.reshaped(to: [600, 250])
        let cases: [(Tensor, [Int], Int, Int, Int)] = [
            (t, [1], 3, 50_000, 1), (t, [0], 1, 3, 50_000), (t, [0, 1], 1, 150_000, 1), (u, [0], 1, 600, 250),
        ]
        for (t, axes, outer, r, inner) in cases {
            let s = try t.sum(axes: axes)
            for o in 0..<outer {
                for k in 0..<inner {
                    var e = 0.0
                    for j in 0..<r { e += Double(t.scalars[(o * r + j) * inner + k]) }
                    #expect(Swift.abs(Double(s.scalars[o * inner + k]) - e) < 1e-3 * Swift.max(1, Swift.abs(e) / 100))
                }
            }
        }
    }

    @Test func maxGradientGoesToTheFirstMaximum() throws {
        let t = try Tensor(shape: [2, 3], scalars: [5, 1, 5, 2, 7, 7]).trackingGradients()
        let g = try Tape.gradients(of: t.max(axes: [1]), wrt: [t])[0]
        #expect(g.scalars == [1, 0, 0, 0, 1, 0])
        let all = try Tape.gradients(of: t.max(), wrt: [t])[0]
        #expect(all.scalars == [0, 0, 0, 0, 1, 0])
    }

    @Test func gradients() throws {
        var rng = SplitMix64(seed: 33)
        let t = Tensor.uniform(shape: [2, 3, 4], using: &rng)
        for axes in [nil, [0], [1], [-1], [0, 2], [1, 2]] as [[Int]?] {
            for keep in [false, true] {
                try checkGradients("sum \(String(describing: axes)) keep \(keep)", inputs: [t], tolerance: 1e-3) {
                    try $0[0].sum(axes: axes, keepDims: keep)
                }
                try checkGradients("mean \(String(describing: axes)) keep \(keep)", inputs: [t], tolerance: 1e-3) {
                    try $0[0].mean(axes: axes, keepDims: keep)
                }
                // Distinct values spaced more than the finite-difference step apart.
                let distinct = try Tensor(shape: [2, 3, 4], scalars: (0..<24).map { Float(($0 * 7) % 24) * 0.1 })
                try checkGradients("max \(String(describing: axes)) keep \(keep)", inputs: [distinct], tolerance: 1e-3) {
                    try $0[0].max(axes: axes, keepDims: keep)
                }
            }
        }
    }
}
