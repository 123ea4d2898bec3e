import Foundation
import Testing
@testable import Tensor

/// A convolution case of the TensorFlow fixtures (Tools/reference/make_kernel_fixtures.py).
struct ConvCase: CustomTestStringConvertible, Sendable {
    let name: String
    let strides: (Int, Int)
    let dilations: (Int, Int)
    let padding: Padding
    var testDescription: String { name }
}

let convFixtureCases: [ConvCase] = [
    ConvCase(name: "conv_same_s1", strides: (1, 1), dilations: (1, 1), padding: .same),
    ConvCase(name: "conv_valid_s1", strides: (1, 1), dilations: (1, 1), padding: .valid),
    ConvCase(name: "conv_same_s2", strides: (2, 2), dilations: (1, 1), padding: .same),
    ConvCase(name: "conv_valid_s2", strides: (2, 2), dilations: (1, 1), padding: .valid),
    ConvCase(name: "conv_asym_k7s2", strides: (2, 2), dilations: (1, 1), padding: .same),
    ConvCase(name: "conv_same_d2", strides: (1, 1), dilations: (2, 2), padding: .same),
    ConvCase(name: "conv_valid_d2", strides: (1, 1), dilations: (2, 2), padding: .valid),
    ConvCase(name: "conv_1x1_s1", strides: (1, 1), dilations: (1, 1), padding: .same),
    ConvCase(name: "conv_1x1_s2", strides: (2, 2), dilations: (1, 1), padding: .same),
]

/// Direct-loop convolution in Double, the test's own reference for large tiled cases.
func naiveConv2d(_ x: Tensor, _ w: Tensor, strides: (Int, Int), dilations: (Int, Int), padding: Padding) throws -> Tensor {
    let g = try WindowGeometry(op: "naive", input: x.shape, window: (w.shape[0], w.shape[1]), strides: strides,
                               dilations: dilations, padding: padding)
    let cout = w.shape[3]
    var y = Tensor(shape: [g.n, g.ho, g.wo, cout])
    for n in 0..<g.n { for oy in 0..<g.ho { for ox in 0..<g.wo { for co in 0..<cout {
        var s = 0.0
        for ky in 0..<g.kh { for kx in 0..<g.kw {
            let iy = oy * g.strideY - g.padTop + ky * g.dilationY, ix = ox * g.strideX - g.padLeft + kx * g.dilationX
            guard iy >= 0, iy < g.h, ix >= 0, ix < g.w else { continue }
            for ci in 0..<g.c {
                s += Double(x.scalars[((n * g.h + iy) * g.w + ix) * g.c + ci])
                    * Double(w.scalars[((ky * g.kw + kx) * g.c + ci) * cout + co])
            }
        } }
        y.scalars[((n * g.ho + oy) * g.wo + ox) * cout + co] = Float(s)
    } } } }
    return y
}

@Suite struct ConvTests {
    @Test(arguments: convFixtureCases)
    func matchesTensorFlow(_ c: ConvCase) throws {
        let x = try NPYFixture.load("\(c.name)_x"), w = try NPYFixture.load("\(c.name)_w")
        let tx = x.trackingGradients(), tw = w.trackingGradients()
        let y = try conv2d(tx, tw, strides: c.strides, dilations: c.dilations, padding: c.padding)
        let dy = try NPYFixture.load("\(c.name)_dy")
        let grads = try Tape.gradients(of: y, wrt: [tx, tw], seed: dy)
        let dy0 = expectClose(y, try NPYFixture.load("\(c.name)_y"), "\(c.name) y")
        let dx0 = expectClose(grads[0], try NPYFixture.load("\(c.name)_dx"), "\(c.name) dx")
        let dw0 = expectClose(grads[1], try NPYFixture.load("\(c.name)_dw"), "\(c.name) dw")
        print("fixture \(c.name): max diff y \(dy0), dx \(dx0), dw \(dw0)")
    }

    @Test func tensorFlowSamePaddingGeometry() throws {
        // conv1 7×7 stride 2 at 320: 160 out, 2 top/left, 3 bottom/right; pool1 3×3 stride 2 at 160: 0/1.
        #expect(try windowAxis(op: "t", input: 320, window: 7, stride: 2, dilation: 1, padding: .same) == (160, 2))
        #expect(try windowAxis(op: "t", input: 160, window: 3, stride: 2, dilation: 1, padding: .same) == (80, 0))
        #expect(try windowAxis(op: "t", input: 40, window: 3, stride: 1, dilation: 4, padding: .same) == (40, 4))
        #expect(try windowAxis(op: "t", input: 9, window: 3, stride: 2, dilation: 1, padding: .valid) == (4, 0))
        #expect(try windowAxis(op: "t", input: 10, window: 3, stride: 1, dilation: 2, padding: .valid) == (6, 0))
    }

    struct GradCase: CustomTestStringConvertible, Sendable {
        let x: [Int], w: [Int]
        let strides: (Int, Int), dilations: (Int, Int), padding: Padding
        var testDescription: String { "x\(x) w\(w) s\(strides) d\(dilations) \(padding)" }
    }

    static let gradCases: [GradCase] = [
        GradCase(x: [1, 5, 6, 2], w: [3, 3, 2, 3], strides: (1, 1), dilations: (1, 1), padding: .same),
        GradCase(x: [2, 6, 5, 2], w: [3, 3, 2, 2], strides: (1, 1), dilations: (1, 1), padding: .valid),
        GradCase(x: [1, 8, 8, 2], w: [3, 3, 2, 2], strides: (2, 2), dilations: (1, 1), padding: .same),
        GradCase(x: [1, 7, 9, 2], w: [3, 3, 2, 2], strides: (2, 2), dilations: (1, 1), padding: .valid),
        GradCase(x: [1, 7, 7, 2], w: [3, 3, 2, 2], strides: (1, 1), dilations: (2, 2), padding: .same),
        GradCase(x: [1, 10, 10, 1], w: [7, 7, 1, 2], strides: (2, 2), dilations: (1, 1), padding: .same),
        GradCase(x: [2, 3, 4, 3], w: [1, 1, 3, 2], strides: (1, 1), dilations: (1, 1), padding: .same),
        GradCase(x: [1, 5, 6, 3], w: [1, 1, 3, 2], strides: (2, 2), dilations: (1, 1), padding: .same),
    ]

    @Test(arguments: gradCases)
    func gradientsMatchFiniteDifferences(_ c: GradCase) throws {
        var rng = SplitMix64(seed: 11)
        let x = Tensor.uniform(shape: c.x, using: &rng), w = Tensor.uniform(shape: c.w, using: &rng)
        try checkGradients("conv2d \(c.testDescription)", inputs: [x, w], tolerance: 1e-2) { xs in
            try conv2d(xs[0], xs[1], strides: c.strides, dilations: c.dilations, padding: c.padding)
        }
    }

    @Test func tiledIm2colMatchesDirectLoops() throws {
        // Several small tiles, atrous, odd sizes: forward against direct loops, backward paths against one tile.
        var rng = SplitMix64(seed: 3)
        let x = Tensor.uniform(shape: [2, 13, 11, 5], using: &rng), w = Tensor.uniform(shape: [3, 3, 5, 4], using: &rng)
        let (g, cout) = try convGeometry(op: "t", x: x.shape, filter: w.shape, strides: (1, 1), dilations: (2, 2),
                                         padding: .same)
        let tiled = try convForward(g, cout: cout, x: x.scalars, filter: w.scalars, epilogue: ConvEpilogue(relu: false),
                                    subTile: 7)
        let reference = try naiveConv2d(x, w, strides: (1, 1), dilations: (2, 2), padding: .same)
        expectClose(try Tensor(shape: reference.shape, scalars: tiled), reference, "tiled forward", tolerance: 1e-5)
        let dy = Tensor.uniform(shape: reference.shape, using: &rng)
        let whole = try convBackward(g, cout: cout, x: x.scalars, filter: w.scalars, dy: dy.scalars,
                                     wantInput: true, wantFilter: true, perCore: false, tileBudget: g.m * g.k)
        let variants = [
            ("per-core sub-tiles of 7", try convBackward(g, cout: cout, x: x.scalars, filter: w.scalars, dy: dy.scalars,
                                                         wantInput: true, wantFilter: true, subTile: 7)),
            ("threaded tiles of 7", try convBackward(g, cout: cout, x: x.scalars, filter: w.scalars, dy: dy.scalars,
                                                     wantInput: true, wantFilter: true, perCore: false, tileBudget: 7 * g.k)),
        ]
        for (name, v) in variants {
            expectClose(try Tensor(shape: x.shape, scalars: #require(v.dx)),
                        try Tensor(shape: x.shape, scalars: #require(whole.dx)), "\(name) dx", tolerance: 1e-5)
            expectClose(try Tensor(shape: w.shape, scalars: #require(v.dw)),
                        try Tensor(shape: w.shape, scalars: #require(whole.dw)), "\(name) dw", tolerance: 1e-5)
        }
        // Only the filter gradient (the input is an image, say).
        let onlyW = try convBackward(g, cout: cout, x: x.scalars, filter: w.scalars, dy: dy.scalars,
                                     wantInput: false, wantFilter: true, subTile: 7)
        #expect(onlyW.dx == nil)
        expectClose(try Tensor(shape: w.shape, scalars: #require(onlyW.dw)),
                    try Tensor(shape: w.shape, scalars: #require(whole.dw)), "dw alone", tolerance: 1e-5)
    }

    @Test func pointwiseOnLargeMapsMatchesDirectLoops() throws {
        // Small 1×1 filters on maps of ≥ 512 pixels take the per-core GEMMs (tails of odd sizes included).
        var rng = SplitMix64(seed: 13)
        let x = Tensor.uniform(shape: [1, 27, 29, 8], using: &rng), w = Tensor.uniform(shape: [1, 1, 8, 5], using: &rng)
        let reference = try naiveConv2d(x, w, strides: (1, 1), dilations: (1, 1), padding: .same)
        expectClose(try conv2d(x, w), reference, "pointwise per core", tolerance: 1e-5)
        let shift = Tensor.uniform(shape: [5], using: &rng)
        let fused = try conv2dFused(x, w, shift: shift, relu: true)
        var expected = reference
        for i in 0..<expected.count { expected.scalars[i] = max(reference.scalars[i] + shift.scalars[i % 5], 0) }
        expectClose(fused, expected, "pointwise fused per core", tolerance: 1e-5)
    }

    @Test func fusedEpilogueMatchesUnfusedArithmetic() throws {
        var rng = SplitMix64(seed: 5)
        for (k, s, d) in [(1, 1, 1), (1, 2, 1), (3, 1, 2), (7, 2, 1)] {
            let x = Tensor.uniform(shape: [1, 9, 10, 3], using: &rng)
            let w = Tensor.uniform(shape: [k, k, 3, 6], using: &rng)
            let scale = Tensor.uniform(shape: [6], using: &rng), shift = Tensor.uniform(shape: [6], using: &rng)
            let plain = try conv2d(x, w, strides: (s, s), dilations: (d, d))
            let residual = Tensor.uniform(shape: plain.shape, using: &rng)
            let fused = try conv2dFused(x, w, strides: (s, s), dilations: (d, d), scale: scale, shift: shift,
                                        residual: residual, relu: true)
            var expected = plain
            for i in 0..<expected.count {
                let c = i % 6
                expected.scalars[i] = max(plain.scalars[i] * scale.scalars[c] + shift.scalars[c] + residual.scalars[i], 0)
            }
            expectClose(fused, expected, "fused k\(k) s\(s) d\(d)", tolerance: 1e-5)
            #expect(fused.scalars.contains(0) && fused.scalars.contains { $0 > 0 })
            let bare = try conv2dFused(x, w, strides: (s, s), dilations: (d, d))
            expectClose(bare, plain, "fused without epilogue", tolerance: 0)
        }
    }

    @Test func fusedRefusesTrackedInputs() throws {
        let x = Tensor(shape: [1, 4, 4, 2], repeating: 1).trackingGradients()
        let w = Tensor(shape: [3, 3, 2, 2], repeating: 1)
        #expect(throws: TensorError.self) { try conv2dFused(x, w) }
        let y = try Tape.withoutRecording { try conv2dFused(x, w, relu: true) }
        #expect(y.shape == [1, 4, 4, 2] && !y.isTracked)
    }

    @Test func badShapesThrow() throws {
        let x = Tensor(shape: [1, 5, 5, 3])
        #expect(throws: TensorError.self) { try conv2d(x, Tensor(shape: [3, 3, 4, 2])) }        // Cin mismatch
        #expect(throws: TensorError.self) { try conv2d(x, Tensor(shape: [3, 3, 3])) }           // filter rank
        #expect(throws: TensorError.self) { try conv2d(Tensor(shape: [5, 5, 3]), Tensor(shape: [3, 3, 3, 2])) }
        #expect(throws: TensorError.self) { try conv2d(x, Tensor(shape: [7, 7, 3, 2]), padding: .valid) }
        #expect(throws: TensorError.self) { try conv2d(x, Tensor(shape: [3, 3, 3, 2]), strides: (0, 1)) }
        #expect(throws: TensorError.self) {
            try conv2dFused(x, Tensor(shape: [3, 3, 3, 2]), scale: Tensor(shape: [3]))
        }
        #expect(throws: TensorError.self) {
            try conv2dFused(x, Tensor(shape: [3, 3, 3, 2]), residual: Tensor(shape: [1, 5, 5, 3]))
        }
    }
}

@Suite struct EmptyBatchTests {
    @Test func emptyBatchesGiveEmptyResultsAndZeroGradients() throws {
        let x = Tensor(shape: [0, 6, 6, 2]).trackingGradients(), w = Tensor(shape: [3, 3, 2, 4], repeating: 1).trackingGradients()
        let y = try conv2d(x, w)
        #expect(y.shape == [0, 6, 6, 4])
        let g = try Tape.gradients(of: y, wrt: [x, w])
        #expect(g[1].scalars.allSatisfy { $0 == 0 } && g[0].count == 0)
        #expect(try maxPool2d(x, window: (3, 3), strides: (2, 2), padding: .same).shape == [0, 3, 3, 2])
        #expect(try resizeBilinear(x, height: 3, width: 4).shape == [0, 3, 4, 2])
        let p = try Tape.gradients(of: maxPool2d(x, window: (2, 2), strides: (2, 2), padding: .valid), wrt: [x])
        #expect(p[0].count == 0)
    }
}

@Suite struct WindowGeometryTests {
    @Test func interiorOutputsKeepEveryTapInside() {
        for input in 1...12 { for window in 1...7 { for stride in 1...3 { for dilation in 1...2 { for pad in 0...3 {
            let r = interiorOutputs(input: input, window: window, stride: stride, dilation: dilation, padBefore: pad)
            for o in 0..<20 {
                let first = o * stride - pad, last = first + (window - 1) * dilation
                #expect(r.contains(o) == (first >= 0 && last < input), "in \(input) k \(window) s \(stride) d \(dilation) p \(pad) o \(o)")
            }
        } } } } }
    }
}

@Suite struct ZeroChannelTests {
    @Test func zeroInputChannelsGiveTheEpilogueOfZero() throws {
        let x = Tensor(shape: [1, 3, 3, 0]), w = Tensor(shape: [3, 3, 0, 2])
        #expect(try conv2d(x, w).scalars == [Float](repeating: 0, count: 18))
        let y = try conv2dFused(x, w, shift: Tensor(shape: [2], scalars: [1, -1]), relu: true)
        #expect(y.scalars == (0..<9).flatMap { _ in [Float(1), 0] })
    }
}

@Suite struct RecordingIsPerThreadTests {
    @Test func anotherThreadsWithoutRecordingDoesNotStopThisOne() throws {
        let inside = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0), done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            Tape.withoutRecording {
                inside.signal()
                release.wait()
            }
            done.signal()
        }
        inside.wait()
        let x = Tensor(shape: [1, 3, 3, 1], repeating: 1).trackingGradients()
        let y = try conv2d(x, Tensor(shape: [3, 3, 1, 1], repeating: 1))
        release.signal()
        done.wait()
        #expect(y.isTracked)
    }
}
