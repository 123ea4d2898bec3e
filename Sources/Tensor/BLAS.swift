// BLAS: the only file that talks to OpenBLAS.
//
// Debian's OpenBLAS 0.3.21 does not recognise recent AVX-512 CPUs and falls back to its
// "Prescott" kernels (about 5× slower sgemm). OpenBLAS reads OPENBLAS_CORETYPE once, when the
// library initialises, so the engine does not link it: on first use it reads the CPU's features,
// sets OPENBLAS_CORETYPE (SkylakeX with AVX-512, Haswell with AVX2+FMA) unless the user already
// set it, and only then loads the library with dlopen. A value the user set is never changed.
//
// Threads: OpenBLAS runs one thread per call, set once before it loads (OPENBLAS_NUM_THREADS=1,
// so it starts no thread pool) and never changed. `sgemm` is the engine's multi-core GEMM: it
// cuts C into blocks fixed by M, N and K alone (`GEMMPlan`) and runs one single-threaded OpenBLAS
// call per block on the engine's workers (Engine.swift), so a product is bit-identical for any
// worker count and whatever else runs in the process.

import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why OpenBLAS could not be used.
public struct BLASError: Error, CustomStringConvertible {
    public let description: String
}

/// Single-precision GEMM and OpenBLAS facts, loaded on first use.
public enum BLAS {
    fileprivate typealias SgemmFn = @convention(c) (
        Int32, Int32, Int32, Int32, Int32, Int32, Float,
        UnsafePointer<Float>?, Int32, UnsafePointer<Float>?, Int32, Float,
        UnsafeMutablePointer<Float>?, Int32) -> Void
    fileprivate typealias CStringFn = @convention(c) () -> UnsafeMutablePointer<CChar>?
    fileprivate typealias SetThreadsFn = @convention(c) (Int32) -> Void
    fileprivate typealias GetThreadsFn = @convention(c) () -> Int32

    fileprivate struct Library: @unchecked Sendable {
        let sgemm: SgemmFn
        let corename: CStringFn?
        let config: CStringFn?
        let getThreads: GetThreadsFn?
        let path: String
        let coreTypeNote: String
    }

    /// The core type the engine would choose for this CPU, from its feature flags.
    public static func preferredCoreType() -> String? {
        let flags = cpuFlags()
        if flags.contains("avx512f") && flags.contains("avx512bw") && flags.contains("avx512vl")
            && flags.contains("avx512dq") {
            return "SkylakeX"
        }
        if flags.contains("avx2") && flags.contains("fma") { return "Haswell" }
        return nil
    }

    /// CPU feature flags of the first processor in /proc/cpuinfo (empty elsewhere).
    static func cpuFlags() -> Set<String> {
        guard let f = fopen("/proc/cpuinfo", "r") else { return [] }
        defer { fclose(f) }
        var line: UnsafeMutablePointer<CChar>? = nil
        var cap = 0
        defer { free(line) }
        while getline(&line, &cap, f) > 0 {
            let s = String(cString: line!)
            if s.hasPrefix("flags") {
                guard let colon = s.firstIndex(of: ":") else { return [] }
                return Set(s[s.index(after: colon)...].split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init))
            }
        }
        return []
    }

    private static let loaded: Result<Library, BLASError> = {
        Allocator.configure()
        var note: String
        if let user = getenv("OPENBLAS_CORETYPE") {
            note = "OPENBLAS_CORETYPE=\(String(cString: user)) (set by the user)"
        } else if let core = preferredCoreType() {
            setenv("OPENBLAS_CORETYPE", core, 0)
            note = "OPENBLAS_CORETYPE=\(core) (chosen by the engine from the CPU's features)"
        } else {
            note = "OPENBLAS_CORETYPE unset (OpenBLAS detects the CPU itself)"
        }
        // The engine owns the threads: OpenBLAS starts none of its own (one thread per call, set
        // before it loads and never changed); a user's OPENBLAS_NUM_THREADS is overridden.
        if let user = getenv("OPENBLAS_NUM_THREADS"), String(cString: user) != "1" {
            note += "; OPENBLAS_NUM_THREADS=1 (the user's \(String(cString: user)) overridden: the engine's workers run the GEMMs, see --threads)"
        } else {
            note += "; OPENBLAS_NUM_THREADS=1 (the engine's workers run the GEMMs)"
        }
        setenv("OPENBLAS_NUM_THREADS", "1", 1)
        #if os(macOS)
        let candidates = ["libopenblas.dylib", "/opt/homebrew/opt/openblas/lib/libopenblas.dylib",
                          "/usr/local/opt/openblas/lib/libopenblas.dylib"]
        #else
        let candidates = ["libopenblas.so.0", "libopenblas.so",
                          "/usr/lib/x86_64-linux-gnu/libopenblas.so.0", "/usr/lib/aarch64-linux-gnu/libopenblas.so.0"]
        #endif
        var errors: [String] = []
        for path in candidates {
            guard let h = dlopen(path, RTLD_NOW | RTLD_GLOBAL) else {
                if let e = dlerror() { errors.append(String(cString: e)) }
                continue
            }
            guard let g = dlsym(h, "cblas_sgemm") else {
                errors.append("\(path): no cblas_sgemm")
                continue
            }
            func sym<T>(_ name: String, _: T.Type) -> T? {
                dlsym(h, name).map { unsafeBitCast($0, to: T.self) }
            }
            // In case the library was already loaded (linked by another module): one thread, once.
            sym("openblas_set_num_threads", SetThreadsFn.self)?(1)
            return .success(Library(
                sgemm: unsafeBitCast(g, to: SgemmFn.self),
                corename: sym("openblas_get_corename", CStringFn.self),
                config: sym("openblas_get_config", CStringFn.self),
                getThreads: sym("openblas_get_num_threads", GetThreadsFn.self),
                path: path, coreTypeNote: note))
        }
        return .failure(BLASError(description:
            "cannot load OpenBLAS (\(errors.joined(separator: "; "))); install it with `apt-get install libopenblas0` (Debian) or `libopenblas-dev`"))
    }()

    private static func library() throws -> Library { try loaded.get() }

    private static let flops = Atomic<Int>(0)

    /// Floating-point operations (2·m·n·k per product) of every sgemm since the process started;
    /// benchmarks read the difference around a run.
    public static var flopCount: Int { flops.load(ordering: .relaxed) }

    /// Adds the products another library ran (oneDNN's fp32 convolutions) to `flopCount`, so a
    /// benchmark counts the same work whichever library does it.
    static func countFlops(_ count: Int) { flops.add(count, ordering: .relaxed) }

    /// Loads OpenBLAS now (it is otherwise loaded on first use); throws when it is missing.
    public static func load() throws { _ = try library() }

    /// The kernel core OpenBLAS reports, e.g. "SkylakeX" or "Prescott".
    public static var coreName: String {
        guard let lib = try? library(), let f = lib.corename, let s = f() else { return "unknown" }
        return String(cString: s)
    }

    /// OpenBLAS's build configuration string.
    public static var config: String {
        guard let lib = try? library(), let f = lib.config, let s = f() else { return "unknown" }
        return String(cString: s)
    }

    /// How OPENBLAS_CORETYPE was decided (user value, engine choice, or unset).
    public static var coreTypeNote: String { (try? library().coreTypeNote) ?? "OpenBLAS not loaded" }

    /// Path OpenBLAS was loaded from.
    public static var libraryPath: String { (try? library().path) ?? "not loaded" }

    /// OpenBLAS's own thread count: 1, set once at load (the engine's workers run the GEMMs).
    public static var threads: Int {
        (try? library()).flatMap { $0.getThreads?() }.map(Int.init) ?? 1
    }

    /// C = alpha · op(A) · op(B) + beta · C, row-major, on the engine's workers. op(A) is M×K, op(B)
    /// is K×N, C is M×N; lda/ldb/ldc are the row strides of A, B and C as stored. C is cut into the
    /// blocks of `GEMMPlan(m:n:k:)` — fixed by M, N and K alone — each one single-threaded OpenBLAS
    /// call, so the result does not depend on the worker count. Inside a block of a parallel loop
    /// the blocks run in order on the calling thread.
    public static func sgemm(
        transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
    ) throws {
        guard let lib = try begin(m: m, n: n, k: k, beta: beta, c: c, ldc: ldc) else { return }
        let plan = GEMMPlan(m: m, n: n, k: k)
        Engine.run(plan.blocks) { block in
            let r = plan.range(block)
            switch plan.split {
            case .rows:
                lib.call(transA: transA, transB: transB, m: r.count, n: n, k: k, alpha: alpha,
                         a: transA ? a + r.lowerBound : a + r.lowerBound * lda, lda: lda, b: b, ldb: ldb,
                         beta: beta, c: c + r.lowerBound * ldc, ldc: ldc)
            case .columns:
                lib.call(transA: transA, transB: transB, m: m, n: r.count, k: k, alpha: alpha, a: a, lda: lda,
                         b: transB ? b + r.lowerBound * ldb : b + r.lowerBound, ldb: ldb,
                         beta: beta, c: c + r.lowerBound, ldc: ldc)
            }
        }
    }

    /// `sgemm` as one single-threaded OpenBLAS call on the calling thread, for kernels that already
    /// run on the engine's workers (the per-core convolutions' tiles). Its result can differ in the
    /// last bit from `sgemm`'s for the same product (the blocks differ).
    public static func serialSgemm(
        transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
    ) throws {
        guard let lib = try begin(m: m, n: n, k: k, beta: beta, c: c, ldc: ldc) else { return }
        lib.call(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
                 beta: beta, c: c, ldc: ldc)
    }

    /// The library for a product, counting its flops; nil when there is nothing to multiply (an empty
    /// C, or K = 0, where C is scaled by beta here).
    private static func begin(m: Int, n: Int, k: Int, beta: Float, c: UnsafeMutablePointer<Float>,
                              ldc: Int) throws -> Library? {
        let lib = try library()
        guard m > 0, n > 0 else { return nil }
        if k == 0 {
            scale(c, m: m, n: n, ldc: ldc, beta: beta)
            return nil
        }
        flops.add(2 * m * n * k, ordering: .relaxed)
        return lib
    }

    /// C = beta·C (a product with K = 0; OpenBLAS handles this too but be explicit).
    private static func scale(_ c: UnsafeMutablePointer<Float>, m: Int, n: Int, ldc: Int, beta: Float) {
        for i in 0..<m { for j in 0..<n { c[i * ldc + j] = beta == 0 ? 0 : c[i * ldc + j] * beta } }
    }
}

extension BLAS.Library {
    /// One row-major cblas_sgemm call.
    @inline(__always)
    func call(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float, a: UnsafePointer<Float>, lda: Int,
              b: UnsafePointer<Float>, ldb: Int, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        sgemm(101, transA ? 112 : 111, transB ? 112 : 111, Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda),
              b, Int32(ldb), beta, c, Int32(ldc))
    }
}

/// How `BLAS.sgemm` cuts an M×N×K product into blocks, from M, N and K alone: along the rows of C
/// when M ≥ N (each block then packs all of B, the smaller operand), else along its columns (each
/// packs all of A). Re-packing the other operand costs about 1/(2·extent) of a block's work, so the
/// blocks are few and large: at most `maxExtent` rows (or columns), an even number of them when they
/// can have `minExtent` each (the workers share them evenly), at most `maxBlocks`, and each of at
/// least `minWork` multiply-adds. On 2 cores, 1600×1000×2048 (the 2048→1000 1×1 convolution at 40²)
/// runs at 304 GFLOP/s in 2 blocks of 800 rows, 282–299 in 4 of 400 and 282–286 in 8 of 200.
public struct GEMMPlan: Equatable, Sendable {
    /// The axis of C the blocks cut.
    public enum Split: Sendable { case rows, columns }

    /// Most rows (or columns) in a block, unless that would make more than `maxBlocks`.
    public static let maxExtent = 1024
    /// Fewest rows (or columns) in a block of a product cut in two or more.
    public static let minExtent = 256
    /// Fewest multiply-adds M·N·K in a block (as OpenBLAS's own threshold for threads, 2¹⁸, times 4:
    /// the LSTM's [1, 1300]·[1300, 4000] product, memory-bound, runs in 4 blocks).
    public static let minWork = 1 << 20
    /// Most blocks in one product.
    public static let maxBlocks = 8

    public let split: Split
    /// Number of blocks.
    public let blocks: Int
    /// Rows (or columns) of every block but the last, which may have fewer.
    public let size: Int
    /// Rows (or columns) of C along the split axis.
    public let extent: Int

    public init(m: Int, n: Int, k: Int) {
        split = m >= n ? .rows : .columns
        extent = split == .rows ? m : n
        var count = min(Self.maxBlocks, (extent + Self.maxExtent - 1) / Self.maxExtent)
        if count % 2 == 1 && extent >= (count + 1) * Self.minExtent && count < Self.maxBlocks { count += 1 }
        count = max(1, min(count, m * n * k / Self.minWork))
        if count % 2 == 1 && count > 1 { count -= 1 }
        size = (extent + count - 1) / count
        blocks = (extent + size - 1) / size
    }

    /// Rows (or columns) of block `i`.
    public func range(_ i: Int) -> Range<Int> { (i * size)..<min(extent, (i + 1) * size) }
}
