// `cmpc-video bench …`: speed measured as ratios against a reference run in the same process.
import ArgumentParser
import Foundation
import JSON
import Tensor

/// Options every benchmark shares.
struct BenchOptions: ParsableArguments {
    @Flag(name: .long, help: "Print one JSON object per line instead of a table.")
    var json = false

    @Option(name: .long, help: "Repetitions per case (the best time is kept).")
    var repeats: Int = 5

    @Option(name: .long, help: "The engine's worker threads (default: CMPC_THREADS, else one per online core).")
    var threads: Int?

    @Option(name: .long, help: "fp32: only the fp32 rows of image-model and video-model; bf16 or auto (the default): the fp32 rows and, on a CPU with native bf16, the bf16 rows beside them.")
    var precision: PrecisionChoice?

    /// Whether the model benches add bf16 rows (an error for an explicit bf16 the CPU cannot run).
    func includesBF16() throws -> Bool {
        switch precision {
        case .fp32?: return false
        case .bf16?:
            if let reason = OneDNN.unavailableReason(.bf16) { throw UserError(reason) }
            return true
        case .auto?, nil: return OneDNN.hasNativeBF16
        }
    }

    func validate() throws {
        if let threads, !(1...Engine.maxWorkers).contains(threads) {
            throw ValidationError("--threads must be in 1…\(Engine.maxWorkers)")
        }
    }

    /// Sets the engine's workers (--threads) and loads OpenBLAS.
    func start() throws {
        if let threads { try Engine.configure(workers: threads) }
        try BLAS.load()
    }
}

/// One benchmark result row.
struct BenchRow {
    var fields: [(String, Any)]
}

/// Prints rows as a table or JSON lines (the `bench` convention: {"case", "seconds", "gflops", "ratio"}).
func emit(_ fields: [(String, Any)], json: Bool) {
    if json {
        print(JSONValue.object(fields.map { key, value -> (String, JSONValue) in
            switch value {
            case let s as String: (key, .string(s))
            // Six significant digits, as the rows printed before: a timing's noise is far above that.
            case let d as Double: (key, .double(Double(String(format: "%.6g", d)) ?? d))
            case let i as Int: (key, .int(i))
            default: (key, .string("\(value)"))
            }
        }).text())
    } else {
        let parts = fields.map { key, value -> String in
            switch value {
            case let d as Double: return "\(key) \(String(format: "%.4g", d))"
            default: return "\(key) \(value)"
            }
        }
        print(parts.joined(separator: "  "))
    }
}

/// Wall-clock seconds of the best of `repeats` runs of `body` (after one warm-up).
func bestTime(repeats: Int, _ body: () throws -> Void) rethrows -> Double {
    try body()
    var best = Double.infinity
    for _ in 0..<max(1, repeats) {
        let t0 = DispatchTime.now().uptimeNanoseconds
        try body()
        let t1 = DispatchTime.now().uptimeNanoseconds
        best = min(best, Double(t1 - t0) / 1e9)
    }
    return best
}

/// The sgemm rate on a large square product (the engine's blocked GEMM on all its workers), the
/// reference for every ratio.
func sgemmPeak(repeats: Int) throws -> Double {
    let n = 2048
    let a = [Float](repeating: 0.5, count: n * n)
    let b = [Float](repeating: 0.25, count: n * n)
    var c = [Float](repeating: 0, count: n * n)
    let t = try bestTime(repeats: repeats) {
        try a.withUnsafeBufferPointer { pa in
            try b.withUnsafeBufferPointer { pb in
                try c.withUnsafeMutableBufferPointer { pc in
                    try BLAS.sgemm(m: n, n: n, k: n, a: pa.baseAddress!, lda: n, b: pb.baseAddress!, ldb: n,
                                   c: pc.baseAddress!, ldc: n)
                }
            }
        }
    }
    return 2 * Double(n) * Double(n) * Double(n) / t / 1e9
}

/// The bf16 rate of a large matrix product through oneDNN (2048³, bf16 operands, fp32 output, row blocks
/// on the engine's workers like the convolutions): the reference for the bf16 rows' ratios.
func bf16Peak(repeats: Int) throws -> (gflops: Double, implementation: String) {
    let n = 2048
    let a = BF16Tensor(Tensor(shape: [n, n], repeating: 0.5)), b = BF16Tensor(Tensor(shape: [n, n], repeating: 0.25))
    var c = [Float](repeating: 0, count: n * n)
    let product = try PreparedBF16MatrixProduct(m: n, n: n, k: n)
    let t = try bestTime(repeats: repeats) {
        try c.withUnsafeMutableBufferPointer { try product.run(a: a.storage, b: b.storage, c: $0.baseAddress!) }
    }
    return (2 * Double(n) * Double(n) * Double(n) / t / 1e9, product.implementation)
}

struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure speed against a reference run in the same process.",
        subcommands: [
            BenchGemm.self,
            BenchDecode.self,
            BenchConv.self,
            BenchCRF.self,
            BenchPreprocess.self,
            BenchImageModel.self,
            BenchVideoModel.self,
        ])
}

struct BenchGemm: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gemm", abstract: "The engine's sgemm rate at the network's GEMM shapes.")
    @OptionGroup var options: BenchOptions

    func run() async throws {
        try options.start()
        let peak = try sgemmPeak(repeats: options.repeats)
        emit([("case", "sgemm-peak"), ("gflops", peak), ("core", BLAS.coreName), ("threads", Engine.workers)],
             json: options.json)
        if !options.json { print("# \(BLAS.coreTypeNote); \(Allocator.note); library \(BLAS.libraryPath)") }
        // M×K·K×N at the shapes the network's GEMMs take (40×40 maps, 1×1 and im2col'd 3×3 convs).
        let cases: [(String, Int, Int, Int)] = [
            ("gemm-1600x2048x1000", 1600, 1000, 2048),
            ("gemm-1600x2304x256", 1600, 256, 2304),
            ("gemm-25600x147x64", 25600, 64, 147),
        ]
        for (name, m, n, k) in cases {
            let a = [Float](repeating: 0.5, count: m * k)
            let b = [Float](repeating: 0.25, count: k * n)
            var c = [Float](repeating: 0, count: m * n)
            let t = try bestTime(repeats: options.repeats) {
                try a.withUnsafeBufferPointer { pa in
                    try b.withUnsafeBufferPointer { pb in
                        try c.withUnsafeMutableBufferPointer { pc in
                            try BLAS.sgemm(m: m, n: n, k: k, a: pa.baseAddress!, lda: k, b: pb.baseAddress!, ldb: n,
                                           c: pc.baseAddress!, ldc: n)
                        }
                    }
                }
            }
            let gf = 2 * Double(m) * Double(n) * Double(k) / t / 1e9
            let plan = GEMMPlan(m: m, n: n, k: k)
            emit([("case", name), ("seconds", t), ("gflops", gf), ("ratio", gf / peak),
                  ("blocks", "\(plan.blocks) × \(plan.size) \(plan.split)")], json: options.json)
        }
    }
}
