// `cmpc-video bench conv`: the convolutions of the network at their real sizes (batch 1),
// as GFLOP/s and as a ratio of the sgemm peak measured in the same run. Each row says which library
// the engine's fp32 forward takes for the shape (`path`, CMPC_VIDEO_FP32_CONV's rule); a shape that
// takes oneDNN also gets an `-openblas` row and the speedup over it.
//
// Besides wall time, each row gives `cpu_ratio`: GFLOP per CPU-second of this process against
// the same figure for the sgemm peak. On a machine shared with other jobs the wall-clock ratio
// swings with their load; the CPU-time ratio does not (it does not see idle cores, though).
import ArgumentParser
import Foundation
import Tensor

struct BenchConv: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "conv", abstract: "Convolution forward/backward rate at the network's sizes, vs the sgemm peak.")
    @OptionGroup var options: BenchOptions
    @Option(name: .customLong("case"), help: "Only the cases whose name contains this text (repeatable; default: all).")
    var only: [String] = []

    /// One convolution shape: input [1, size, size, cin], filter [k, k, cin, cout].
    struct Case {
        var name: String
        var size: Int, k: Int, cin: Int, cout: Int, stride: Int, rate: Int
        var backward = false
        var fused = false
    }

    static let cases: [Case] = [
        Case(name: "conv-1x1-2048to1000-40x40", size: 40, k: 1, cin: 2048, cout: 1000, stride: 1, rate: 1),
        Case(name: "conv-3x3-256-rate2-40x40", size: 40, k: 3, cin: 256, cout: 256, stride: 1, rate: 2),
        Case(name: "conv1-7x7s2-3to64-320", size: 320, k: 7, cin: 3, cout: 64, stride: 2, rate: 1),
        Case(name: "conv-3x3-512-rate4-40x40", size: 40, k: 3, cin: 512, cout: 512, stride: 1, rate: 4),
        Case(name: "conv-3x3-64-80x80", size: 80, k: 3, cin: 64, cout: 64, stride: 1, rate: 1),
        Case(name: "conv-3x3-128-40x40", size: 40, k: 3, cin: 128, cout: 128, stride: 1, rate: 1),
        Case(name: "conv1-7x7s2-3to64-320-fused-bn-relu", size: 320, k: 7, cin: 3, cout: 64, stride: 2, rate: 1,
             fused: true),
        Case(name: "conv-3x3-256-rate2-40x40-backward", size: 40, k: 3, cin: 256, cout: 256, stride: 1, rate: 2,
             backward: true),
    ]

    /// CPU seconds used by this process so far (all threads).
    static func processCPUTime() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }

    /// Best wall-clock and best CPU time of `repeats` runs of `body` (after one warm-up).
    static func bestTimes(repeats: Int, _ body: () throws -> Void) rethrows -> (wall: Double, cpu: Double) {
        try body()
        var wall = Double.infinity, cpu = Double.infinity
        for _ in 0..<max(1, repeats) {
            let c0 = processCPUTime(), t0 = DispatchTime.now().uptimeNanoseconds
            try body()
            let t1 = DispatchTime.now().uptimeNanoseconds, c1 = processCPUTime()
            wall = min(wall, Double(t1 - t0) / 1e9)
            cpu = min(cpu, c1 - c0)
        }
        return (wall, cpu)
    }

    func run() async throws {
        try options.start()
        let peak = try sgemmPeak(repeats: options.repeats)
        let n = 2048
        let a = [Float](repeating: 0.5, count: n * n), b = [Float](repeating: 0.25, count: n * n)
        var c = [Float](repeating: 0, count: n * n)
        let peakCPU = try Self.bestTimes(repeats: options.repeats) {
            try a.withUnsafeBufferPointer { pa in
                try b.withUnsafeBufferPointer { pb in
                    try c.withUnsafeMutableBufferPointer { pc in
                        try BLAS.sgemm(m: n, n: n, k: n, a: pa.baseAddress!, lda: n, b: pb.baseAddress!, ldb: n,
                                       c: pc.baseAddress!, ldc: n)
                    }
                }
            }
        }.cpu
        let peakPerCPU = 2 * Double(n * n * n) / peakCPU / 1e9
        emit([("case", "sgemm-peak"), ("gflops", peak), ("gflops_per_cpu_second", peakPerCPU), ("core", BLAS.coreName),
              ("threads", Engine.workers)], json: options.json)
        if !options.json { print("# \(BLAS.coreTypeNote); \(Allocator.note); library \(BLAS.libraryPath); \(Engine.workers) engine threads") }
        var rng = SplitMix64(seed: 1)
        for c in Self.cases where only.isEmpty || only.contains(where: { c.name.contains($0) }) {
            let x = Tensor.uniform(shape: [1, c.size, c.size, c.cin], using: &rng)
            let w = Tensor.uniform(shape: [c.k, c.k, c.cin, c.cout], lo: -0.1, hi: 0.1, using: &rng)
            let s = (c.stride, c.stride), d = (c.rate, c.rate)
            let out = (c.size + c.stride - 1) / c.stride
            // Multiply-adds over all taps, padding included (the usual convention).
            var flops = 2 * Double(out * out) * Double(c.k * c.k * c.cin) * Double(c.cout)
            // The library the engine's fp32 forward takes for this shape (CMPC_VIDEO_FP32_CONV's rule).
            let onednn = fp32ConvolutionUsesOneDNN(input: x.shape, filter: w.shape, strides: s, dilations: d)
            let t: (wall: Double, cpu: Double)
            var openblas: (wall: Double, cpu: Double) = (0, 0)
            if c.backward {
                let tx = x.trackingGradients(), tw = w.trackingGradients()
                let y = try conv2d(tx, tw, strides: s, dilations: d)
                let dy = Tensor.uniform(shape: y.shape, using: &rng)
                flops *= 2   // dX and dW each cost one forward
                t = try Self.bestTimes(repeats: options.repeats) {
                    _ = try Tape.gradients(of: y, wrt: [tx, tw], seed: dy)
                }
            } else {
                let scale = Tensor(shape: [c.cout], repeating: 0.9), shift = Tensor(shape: [c.cout], repeating: 0.1)
                let forward = {
                    if c.fused {
                        _ = try conv2dFused(x, w, strides: s, dilations: d, scale: scale, shift: shift, relu: true)
                    } else {
                        _ = try conv2d(x, w, strides: s, dilations: d)
                    }
                }
                t = try Self.bestTimes(repeats: options.repeats, forward)
                // The engine's forward on OpenBLAS, for the speedup of the oneDNN path it takes instead.
                openblas = onednn ? try Engine.withFP32Convolution(.openblas) {
                    try Self.bestTimes(repeats: options.repeats, forward)
                } : t
            }
            let gf = flops / t.wall / 1e9
            var fields: [(String, Any)] = [("case", c.name), ("seconds", t.wall), ("gflops", gf), ("ratio", gf / peak),
                                           ("cpu_ratio", flops / t.cpu / 1e9 / peakPerCPU),
                                           ("path", c.backward ? "openblas" : onednn ? "onednn" : "openblas")]
            // oneDNN prepared per call (weights reordered each time), over OpenBLAS.
            if onednn && !c.backward { fields.append(("speedup", openblas.wall / t.wall)) }
            emit(fields, json: options.json)
            guard !c.backward else { continue }
            if onednn {
                let o = flops / openblas.wall / 1e9
                emit([("case", c.name + "-openblas"), ("seconds", openblas.wall), ("gflops", o), ("ratio", o / peak),
                      ("cpu_ratio", flops / openblas.cpu / 1e9 / peakPerCPU), ("path", "openblas")], json: options.json)
            }
            // The same forward through a oneDNN convolution prepared once (fp32, and bf16 on a CPU with
            // native bf16), in the same row blocks on the same workers: speedup = im2col + OpenBLAS's
            // seconds over these (docs/precision.md).
            var kinds: [Precision] = [.fp32]
            if try options.includesBF16() { kinds.append(.bf16) }
            for kind in kinds {
                let t0 = DispatchTime.now().uptimeNanoseconds
                let conv = try PreparedConvolution(input: x.shape, filter: w, strides: s, dilations: d,
                                                   scale: c.fused ? [Float](repeating: 0.9, count: c.cout) : nil,
                                                   bias: c.fused ? [Float](repeating: 0.1, count: c.cout) : nil,
                                                   relu: c.fused, bf16Output: false, operands: kind)
                let prepare = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9   // weights reordered, kernels made
                let u = try Self.bestTimes(repeats: options.repeats) { _ = try conv.float(x) }
                let rate = flops / u.wall / 1e9
                emit([("case", c.name + "-onednn-" + kind.rawValue), ("seconds", u.wall), ("gflops", rate),
                      ("ratio", rate / peak), ("speedup", openblas.wall / u.wall), ("prepare_seconds", prepare),
                      ("implementation", conv.implementation)],
                     json: options.json)
            }
        }
        // The machine is shared: a second peak shows how much the reference moved during the run.
        let after = try sgemmPeak(repeats: options.repeats)
        emit([("case", "sgemm-peak-after"), ("gflops", after), ("ratio", after / peak)], json: options.json)
    }
}
