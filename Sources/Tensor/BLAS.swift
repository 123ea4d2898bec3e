// BLAS: the only file that talks to OpenBLAS.
//
// Debian's OpenBLAS 0.3.21 does not recognise recent AVX-512 CPUs and falls back to its
// "Prescott" kernels (about 5× slower sgemm). OpenBLAS reads OPENBLAS_CORETYPE once, when the
// library initialises, so the engine does not link it: on first use it reads the CPU's features,
// sets OPENBLAS_CORETYPE (SkylakeX with AVX-512, Haswell with AVX2+FMA) unless the user already
// set it, and only then loads the library with dlopen. A value the user set is never changed.

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
    private typealias SgemmFn = @convention(c) (
        Int32, Int32, Int32, Int32, Int32, Int32, Float,
        UnsafePointer<Float>?, Int32, UnsafePointer<Float>?, Int32, Float,
        UnsafeMutablePointer<Float>?, Int32) -> Void
    private typealias CStringFn = @convention(c) () -> UnsafeMutablePointer<CChar>?
    private typealias SetThreadsFn = @convention(c) (Int32) -> Void
    private typealias GetThreadsFn = @convention(c) () -> Int32

    private struct Library: @unchecked Sendable {
        let sgemm: SgemmFn
        let corename: CStringFn?
        let config: CStringFn?
        let setThreads: SetThreadsFn?
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
        // OpenBLAS's idle threads spin (sched_yield) for 2^28 cycles after each GEMM by default, taking
        // a core from the elementwise loops that run between GEMMs; 2^4 lets them sleep at once
        // (the whole image network: 0.944–0.955 s against 1.00–1.10 s, `bench image-model`).
        if let user = getenv("OPENBLAS_THREAD_TIMEOUT") {
            note += "; OPENBLAS_THREAD_TIMEOUT=\(String(cString: user)) (set by the user)"
        } else {
            setenv("OPENBLAS_THREAD_TIMEOUT", "4", 0)
            note += "; OPENBLAS_THREAD_TIMEOUT=4 (idle threads sleep at once; chosen by the engine)"
        }
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
            return .success(Library(
                sgemm: unsafeBitCast(g, to: SgemmFn.self),
                corename: sym("openblas_get_corename", CStringFn.self),
                config: sym("openblas_get_config", CStringFn.self),
                setThreads: sym("openblas_set_num_threads", SetThreadsFn.self),
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

    /// OpenBLAS's thread count.
    public static var threads: Int {
        get { (try? library()).flatMap { $0.getThreads?() }.map(Int.init) ?? 1 }
    }

    /// Sets OpenBLAS's thread count.
    public static func setThreads(_ n: Int) throws {
        try library().setThreads?(Int32(n))
    }

    /// C = alpha · op(A) · op(B) + beta · C, row-major. op(A) is M×K, op(B) is K×N, C is M×N;
    /// lda/ldb/ldc are the row strides of A, B and C as stored.
    @inline(__always)
    public static func sgemm(
        transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
    ) throws {
        let lib = try library()
        guard m > 0, n > 0 else { return }
        if k == 0 {
            // C = beta·C; OpenBLAS handles this too but be explicit.
            for i in 0..<m { for j in 0..<n { c[i * ldc + j] = beta == 0 ? 0 : c[i * ldc + j] * beta } }
            return
        }
        flops.add(2 * m * n * k, ordering: .relaxed)
        lib.sgemm(101, transA ? 112 : 111, transB ? 112 : 111,
                  Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
}
