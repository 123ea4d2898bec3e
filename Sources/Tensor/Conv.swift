// Convolution: TensorFlow 1.x `conv2d` on NHWC images with HWIO filters, by GEMM.
//
// Legend: N images, H×W input, Ho×Wo output, Cin/Cout channels, kh×kw kernel,
// M = N·Ho·Wo output pixels, K = kh·kw·Cin.
//
// Forward: a 1×1 stride-1 convolution is GEMM [M, Cin]·[Cin, Cout] on the input as it lies
// (OpenBLAS threads for large filters, one GEMM per core and 256 rows for small ones). Every other convolution (k×k, atrous, strided 1×1 = subsampling) runs per
// core: each core takes half the output pixels and does im2col, a single-threaded GEMM and the
// epilogue on sub-tiles of a few hundred rows; the HWIO filter already is the [K, Cout] matrix.
// Backward per core as well: each core accumulates dW += colsᵀ·dY and col2im(dY·Wᵀ) for its
// share into private buffers, added up at the end (1×1 stride 1: two multi-threaded GEMMs).
// The older tiled backward with multi-threaded GEMMs is kept as the reference path for tests.

import Foundation

/// Floats of im2col buffer per tile (8 MB): keeps the columns in the last-level cache.
let convTileBudget = 2 * 1024 * 1024

/// Rows per im2col tile for row length `k`.
func convTileRows(m: Int, k: Int, budget: Int) -> Int { max(1, min(m, budget / max(k, 1))) }

/// Geometry of a convolution, checked against the filter.
func convGeometry(op: String, x: [Int], filter: [Int], strides: (Int, Int), dilations: (Int, Int),
                  padding: Padding) throws -> (WindowGeometry, cout: Int) {
    guard filter.count == 4 else {
        throw TensorError.shapeMismatch(op: op, shapes: [filter], reason: "the filter must be [kh, kw, Cin, Cout]")
    }
    guard x.count == 4, x[3] == filter[2] else {
        throw TensorError.shapeMismatch(
            op: op, shapes: [x, filter], reason: "the input must be [N, H, W, Cin] with the filter's Cin")
    }
    let g = try WindowGeometry(op: op, input: x, window: (filter[0], filter[1]), strides: strides,
                               dilations: dilations, padding: padding)
    return (g, filter[3])
}

/// What the fused convolution applies to each output row after its GEMM:
/// y = relu?(y·scale + shift + residual), per output channel.
struct ConvEpilogue {
    var scale: [Float]?
    var shift: [Float]?
    var residual: [Float]?
    var relu: Bool

    var isIdentity: Bool { scale == nil && shift == nil && residual == nil && !relu }

    /// Applies the epilogue to rows `rows` of `out` ([M, Cout]), split across cores.
    func apply(_ out: UnsafeMutablePointer<Float>, rows: Range<Int>, cout: Int) {
        if isIdentity { return }
        let base = rows.lowerBound
        parallelFor(rows.count, grain: max(1, 16_384 / max(cout, 1))) { part in
            applyRows(out, rows: (base + part.lowerBound)..<(base + part.upperBound), cout: cout)
        }
    }

    /// `apply` on the calling thread only: one pass per row, y = y·scale + shift (+ residual), ReLU.
    func applyRows(_ out: UnsafeMutablePointer<Float>, rows: Range<Int>, cout: Int) {
        if isIdentity { return }
        let ones = [Float](repeating: 1, count: scale == nil ? cout : 0)
        let zeros = [Float](repeating: 0, count: shift == nil ? cout : 0)
        (scale ?? ones).withUnsafeBufferPointer { sc in
            (shift ?? zeros).withUnsafeBufferPointer { sh in
                (residual ?? []).withUnsafeBufferPointer { rs in
                    guard let s = sc.baseAddress, let t = sh.baseAddress else { return }
                    let r = residual == nil ? nil : rs.baseAddress
                    for m in rows {
                        let row = out + m * cout
                        switch (r, relu) {
                        case (let r?, true):
                            let rr = r + m * cout
                            for c in 0..<cout { row[c] = max(row[c] * s[c] + t[c] + rr[c], 0) }
                        case (let r?, false):
                            let rr = r + m * cout
                            for c in 0..<cout { row[c] = row[c] * s[c] + t[c] + rr[c] }
                        case (nil, true):
                            for c in 0..<cout { row[c] = max(row[c] * s[c] + t[c], 0) }
                        case (nil, false):
                            for c in 0..<cout { row[c] = row[c] * s[c] + t[c] }
                        }
                    }
                }
            }
        }
    }
}

/// OpenBLAS's thread count before any convolution changed it (restored after per-core work, so
/// two convolutions running at once cannot leave it at 1).
let blasDefaultThreads: Int = BLAS.threads

/// Callers inside `BLAS.singleThreaded` (guarded by `pinLock`).
nonisolated(unsafe) private var singleThreadPins = 0
private let pinLock = NSLock()

/// The thread count the per-core convolutions restore: 1 while some caller is inside
/// `BLAS.singleThreaded`, else the default.
var blasRestoreThreads: Int {
    pinLock.lock()
    defer { pinLock.unlock() }
    return singleThreadPins > 0 ? 1 : blasDefaultThreads
}

extension BLAS {
    /// True when OpenBLAS runs single-threaded and the convolutions leave it so: then several threads
    /// may each run a network at once (one per core) without sharing OpenBLAS's thread pool.
    public static var isSingleThreaded: Bool { threads == 1 && blasDefaultThreads == 1 }

    /// Runs `body` with OpenBLAS single-threaded throughout: the per-core convolutions inside it do
    /// not restore the default count when they end. Several threads may then each run a network at
    /// once; without this, one network's convolution restoring OpenBLAS's threads while another
    /// thread is inside a GEMM gives wrong products. Nested and concurrent calls are allowed.
    public static func singleThreaded<R>(_ body: () throws -> R) throws -> R {
        pinLock.lock()
        singleThreadPins += 1
        pinLock.unlock()
        try setThreads(1)
        defer {
            pinLock.lock()
            singleThreadPins -= 1
            let last = singleThreadPins == 0
            pinLock.unlock()
            if last { try? setThreads(blasDefaultThreads) }
        }
        return try body()
    }
}

/// Per-core forward: each core takes a contiguous share of the output pixels and runs im2col,
/// a single-threaded GEMM and the epilogue on sub-tiles of `subTile` rows that stay in its own
/// cache. No barrier between im2col and GEMM, no OpenBLAS thread hand-off: for conv1 (K = 147,
/// Cout = 64) this is about 1.5× the multi-threaded GEMM per tile. OpenBLAS runs single-threaded
/// meanwhile (a process-wide setting, restored after). Networks run at once on several threads must
/// be inside `BLAS.singleThreaded`, or one's restore lands in the middle of another's GEMM.
func convForwardPerCore(_ g: WindowGeometry, cout: Int, x: UnsafePointer<Float>, filter: UnsafePointer<Float>,
                        out: UnsafeMutablePointer<Float>, epilogue: ConvEpilogue, subTile: Int) throws {
    let k = g.k, m = g.m
    let direct = g.isPointwise && g.strideY == 1 && g.strideX == 1
    // Never let one sub-tile hold more than a core's share, or the other core idles.
    let subTile = max(1, min(subTile, m / engineThreads))
    let restore = blasRestoreThreads
    try BLAS.setThreads(1)
    defer { try? BLAS.setThreads(restore) }
    parallelFor(m, grain: subTile) { part in
        let cols = direct ? nil : UnsafeMutablePointer<Float>.allocate(capacity: subTile * k)
        defer { cols?.deallocate() }
        var m0 = part.lowerBound
        while m0 < part.upperBound {
            let rows = m0..<min(part.upperBound, m0 + subTile)
            let a: UnsafePointer<Float>
            if let cols {
                im2colRows(g, x: x, cols: cols, rows: rows)
                a = UnsafePointer(cols)
            } else {
                a = x + m0 * k
            }
            // OpenBLAS is loaded (setThreads succeeded), so sgemm cannot throw here.
            try? BLAS.sgemm(m: rows.count, n: cout, k: k, a: a, lda: k, b: filter, ldb: cout,
                            c: out + m0 * cout, ldc: cout)
            epilogue.applyRows(out, rows: rows, cout: cout)
            m0 = rows.upperBound
        }
    }
}

/// Whether OpenBLAS's kernels have the unpacked small-matrix GEMM (M·N·K ≤ 10⁶), as its
/// SkylakeX-family kernels do.
let blasHasSmallMatrixGEMM: Bool = ["skylakex", "cooperlake", "sapphirerapids"].contains(BLAS.coreName.lowercased())

/// Rows per per-core sub-tile. With small filters (K·Cout ≤ 62 500: conv1, the 64-channel 3×3s)
/// and the SkylakeX kernels, tiles of half the small-matrix limit (conv1: 53 rows) skip OpenBLAS's
/// packing: about 15 % faster for conv1 and 20 % for 3×3 64→64. Otherwise OpenBLAS re-packs the
/// whole filter on every call, so large filters (≥ 1 MB) get tiles of up to 8 MB of columns per
/// core (few calls) and small ones tiles of about 512 KB (cache-resident columns), never fewer
/// than 256 rows.
func convSubTileRows(k: Int, cout: Int) -> Int {
    let k = max(k, 1), cout = max(cout, 1)
    if blasHasSmallMatrixGEMM, k * cout <= 62_500 { return max(8, 500_000 / (k * cout)) }
    return k * cout >= 262_144 ? max(256, 2_097_152 / k) : max(256, min(2048, 131_072 / k))
}

/// Forward convolution into a new [N, Ho, Wo, Cout] buffer, epilogue applied per tile.
/// A 1×1 stride-1 convolution with a large filter (≥ 1 MB) or few pixels is one multi-threaded
/// GEMM on the input as it lies; with a small filter it is per-core GEMMs of 256 rows on the input
/// as it lies (OpenBLAS threads do poorly at K or N of 64–256). Everything else runs per core
/// (`convForwardPerCore`), `subTile` rows at a time (default `convSubTileRows`).
func convForward(_ g: WindowGeometry, cout: Int, x: [Float], filter: [Float], epilogue: ConvEpilogue,
                 subTile: Int? = nil) throws -> [Float] {
    let m = g.m, k = g.k
    if m == 0 || k == 0 || cout == 0 {
        // No input channels: the convolution is zero, then the epilogue.
        var zeros = [Float](repeating: 0, count: m * cout)
        zeros.withUnsafeMutableBufferPointer { zb in
            if let zp = zb.baseAddress { epilogue.apply(zp, rows: 0..<m, cout: cout) }
        }
        return zeros
    }
    var out = [Float](unsafeUninitializedCapacity: m * cout) { _, n in n = m * cout }
    try x.withUnsafeBufferPointer { xb in
        try filter.withUnsafeBufferPointer { wb in
            try out.withUnsafeMutableBufferPointer { ob in
                guard let xp = xb.baseAddress, let wp = wb.baseAddress, let op = ob.baseAddress else { return }
                if g.isPointwise && g.strideY == 1 && g.strideX == 1 && (k * cout >= 262_144 || m < 512) {
                    try BLAS.sgemm(m: m, n: cout, k: k, a: xp, lda: k, b: wp, ldb: cout, c: op, ldc: cout)
                    epilogue.apply(op, rows: 0..<m, cout: cout)
                } else if g.isPointwise && g.strideY == 1 && g.strideX == 1 {
                    try convForwardPerCore(g, cout: cout, x: xp, filter: wp, out: op, epilogue: epilogue,
                                           subTile: subTile ?? 256)
                } else {
                    try convForwardPerCore(g, cout: cout, x: xp, filter: wp, out: op, epilogue: epilogue,
                                           subTile: subTile ?? convSubTileRows(k: k, cout: cout))
                }
            }
        }
    }
    return out
}

/// Gradients of a convolution: dX ([N, H, W, Cin]) when `wantInput`, dW ([kh, kw, Cin, Cout])
/// when `wantFilter`, from the output gradient dY ([M, Cout]). A 1×1 stride-1 convolution takes
/// two multi-threaded GEMMs; the rest runs per core (`convBackwardPerCore`) unless `perCore` is false
/// (tiles of `tileBudget` floats with multi-threaded GEMMs, kept as the reference path).
func convBackward(_ g: WindowGeometry, cout: Int, x: [Float], filter: [Float], dy: [Float],
                  wantInput: Bool, wantFilter: Bool, perCore: Bool = true, subTile: Int? = nil,
                  tileBudget: Int = convTileBudget) throws -> (dx: [Float]?, dw: [Float]?) {
    let m = g.m, k = g.k
    var dxBuf = wantInput ? [Float](repeating: 0, count: g.n * g.h * g.w * g.c) : []
    var dwBuf = wantFilter ? [Float](repeating: 0, count: k * cout) : []
    if m == 0 || k == 0 || cout == 0 { return (wantInput ? dxBuf : nil, wantFilter ? dwBuf : nil) }
    try x.withUnsafeBufferPointer { xb in
        try filter.withUnsafeBufferPointer { wb in
            try dy.withUnsafeBufferPointer { gb in
                try dxBuf.withUnsafeMutableBufferPointer { dxb in
                    try dwBuf.withUnsafeMutableBufferPointer { dwb in
                        guard let xp = xb.baseAddress, let wp = wb.baseAddress, let gp = gb.baseAddress else { return }
                        // (An empty array may still have a base address: go by what was asked.)
                        let dxp = wantInput ? dxb.baseAddress : nil, dwp = wantFilter ? dwb.baseAddress : nil
                        if g.isPointwise && g.strideY == 1 && g.strideX == 1 {
                            if let dwp {
                                try BLAS.sgemm(transA: true, m: k, n: cout, k: m, a: xp, lda: k, b: gp, ldb: cout,
                                               c: dwp, ldc: cout)
                            }
                            if let dxp {
                                try BLAS.sgemm(transB: true, m: m, n: k, k: cout, a: gp, lda: cout, b: wp, ldb: cout,
                                               c: dxp, ldc: k)
                            }
                            return
                        }
                        if perCore {
                            try convBackwardPerCore(g, cout: cout, x: xp, filter: wp, dy: gp, dx: dxp, dw: dwp,
                                                    subTile: subTile ?? convSubTileRows(k: k, cout: cout))
                            return
                        }
                        let tile = g.isPointwise ? m : convTileRows(m: m, k: k, budget: tileBudget)
                        let cols = UnsafeMutablePointer<Float>.allocate(capacity: tile * k)
                        defer { cols.deallocate() }
                        var m0 = 0
                        while m0 < m {
                            let rows = m0..<min(m, m0 + tile)
                            let gTile = gp + m0 * cout
                            if let dwp {
                                im2col(g, x: xp, cols: cols, rows: rows)
                                try BLAS.sgemm(transA: true, m: k, n: cout, k: rows.count, a: cols, lda: k,
                                               b: gTile, ldb: cout, beta: m0 == 0 ? 0 : 1, c: dwp, ldc: cout)
                            }
                            if let dxp {
                                try BLAS.sgemm(transB: true, m: rows.count, n: k, k: cout, a: gTile, lda: cout,
                                               b: wp, ldb: cout, c: cols, ldc: k)
                                col2im(g, dcols: cols, dx: dxp, rows: rows)
                            }
                            m0 = rows.upperBound
                        }
                    }
                }
            }
        }
    }
    return (wantInput ? dxBuf : nil, wantFilter ? dwBuf : nil)
}

/// Per-core backward: each core takes a contiguous share of the output pixels and, per sub-tile,
/// runs im2col + dW += colsᵀ·dY and dcols = dY·Wᵀ + col2im with single-threaded GEMMs into its own
/// dX/dW accumulators (the first core's are the results); the others are added at the end.
func convBackwardPerCore(_ g: WindowGeometry, cout: Int, x: UnsafePointer<Float>, filter: UnsafePointer<Float>,
                         dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>?,
                         dw: UnsafeMutablePointer<Float>?, subTile: Int) throws {
    let k = g.k, m = g.m
    let dxCount = g.n * g.h * g.w * g.c, dwCount = k * cout
    let workers = max(1, min(engineThreads, (m + subTile - 1) / subTile))
    let share = (m + workers - 1) / workers
    // Private accumulators of workers 1…; worker 0 writes the results directly.
    let extraDX = dx == nil ? nil : UnsafeMutablePointer<Float>.allocate(capacity: (workers - 1) * dxCount)
    let extraDW = dw == nil ? nil : UnsafeMutablePointer<Float>.allocate(capacity: (workers - 1) * dwCount)
    extraDX?.initialize(repeating: 0, count: (workers - 1) * dxCount)
    extraDW?.initialize(repeating: 0, count: (workers - 1) * dwCount)
    defer { extraDX?.deallocate(); extraDW?.deallocate() }
    let restore = blasRestoreThreads
    try BLAS.setThreads(1)
    defer { try? BLAS.setThreads(restore) }
    parallelFor(workers, grain: 1) { ws in
        for wkr in ws {
            let lo = wkr * share, hi = min(m, lo + share)
            if lo >= hi { continue }
            let myDX = wkr == 0 ? dx : extraDX.map { $0 + (wkr - 1) * dxCount }
            let myDW = wkr == 0 ? dw : extraDW.map { $0 + (wkr - 1) * dwCount }
            let cols = UnsafeMutablePointer<Float>.allocate(capacity: min(subTile, hi - lo) * k)
            defer { cols.deallocate() }
            var m0 = lo
            while m0 < hi {
                let rows = m0..<min(hi, m0 + subTile)
                let gTile = dy + m0 * cout
                // OpenBLAS is loaded (setThreads succeeded), so sgemm cannot throw here.
                if let myDW {
                    im2colRows(g, x: x, cols: cols, rows: rows)
                    try? BLAS.sgemm(transA: true, m: k, n: cout, k: rows.count, a: cols, lda: k, b: gTile, ldb: cout,
                                    beta: m0 == lo ? 0 : 1, c: myDW, ldc: cout)
                }
                if let myDX {
                    try? BLAS.sgemm(transB: true, m: rows.count, n: k, k: cout, a: gTile, lda: cout, b: filter,
                                    ldb: cout, c: cols, ldc: k)
                    col2imRows(g, dcols: cols, dx: myDX, rows: rows, channels: 0..<g.c)
                }
                m0 = rows.upperBound
            }
        }
    }
    // Sum the private accumulators into the results, split across cores.
    for wkr in 1..<workers {
        if let dx, let extraDX {
            let src = extraDX + (wkr - 1) * dxCount
            parallelFor(dxCount, grain: 65_536) { r in for i in r { dx[i] += src[i] } }
        }
        if let dw, let extraDW {
            let src = extraDW + (wkr - 1) * dwCount
            parallelFor(dwCount, grain: 65_536) { r in for i in r { dw[i] += src[i] } }
        }
    }
}

/// 2-D convolution with TensorFlow semantics: x [N, H, W, Cin], filter [kh, kw, Cin, Cout] (HWIO)
/// → [N, Ho, Wo, Cout]; 'SAME' pads the extra row/column at the bottom/right.
///
///     let y = try conv2d(x, w, strides: (2, 2), padding: .same)   // [1,320,320,3] * [7,7,3,64] → [1,160,160,64]
public func conv2d(_ x: Tensor, _ filter: Tensor, strides: (Int, Int) = (1, 1), dilations: (Int, Int) = (1, 1),
                   padding: Padding = .same) throws -> Tensor {
    let (g, cout) = try convGeometry(op: "conv2d", x: x.shape, filter: filter.shape, strides: strides,
                                     dilations: dilations, padding: padding)
    let y = try Tensor(shape: [g.n, g.ho, g.wo, cout],
                       scalars: convForward(g, cout: cout, x: x.scalars, filter: filter.scalars,
                                            epilogue: ConvEpilogue(relu: false)))
    let wantInput = x.isTracked, wantFilter = filter.isTracked
    let xs = x.scalars, ws = filter.scalars, xShape = x.shape, wShape = filter.shape
    return Tensor.recorded(y, op: "conv2d", inputs: [x, filter]) { dy in
        let (dx, dw) = try convBackward(g, cout: cout, x: xs, filter: ws, dy: dy.scalars,
                                        wantInput: wantInput, wantFilter: wantFilter)
        return [try dx.map { try Tensor(shape: xShape, scalars: $0) },
                try dw.map { try Tensor(shape: wShape, scalars: $0) }]
    }
}

/// Inference-only fused convolution: relu?(conv2d(x, filter)·scale + shift + residual), the
/// per-channel scale/shift ([Cout]) being a folded batch norm and residual [N, Ho, Wo, Cout].
///
/// The epilogue runs on each GEMM tile while it is in cache. It records nothing on the tape, so it
/// throws when recording is on and any input tracks gradients: use `conv2d`, `batchNormInference`
/// and the elementwise ops for a differentiable path.
public func conv2dFused(_ x: Tensor, _ filter: Tensor, strides: (Int, Int) = (1, 1), dilations: (Int, Int) = (1, 1),
                        padding: Padding = .same, scale: Tensor? = nil, shift: Tensor? = nil,
                        residual: Tensor? = nil, relu: Bool = false) throws -> Tensor {
    let op = "conv2dFused"
    let (g, cout) = try convGeometry(op: op, x: x.shape, filter: filter.shape, strides: strides,
                                     dilations: dilations, padding: padding)
    if Tape.records([x, filter, scale, shift, residual]) {
        throw TensorError.invalidArgument(
            op: op, reason: "inference only: an input tracks gradients (use conv2d and batchNormInference to train)")
    }
    try scale?.expectVector(cout, op: op, name: "scale")
    try shift?.expectVector(cout, op: op, name: "shift")
    if let residual, residual.shape != [g.n, g.ho, g.wo, cout] {
        throw TensorError.shapeMismatch(op: op, shapes: [residual.shape, [g.n, g.ho, g.wo, cout]],
                                        reason: "the residual must have the output's shape")
    }
    let epilogue = ConvEpilogue(scale: scale?.scalars, shift: shift?.scalars, residual: residual?.scalars, relu: relu)
    return try Tensor(shape: [g.n, g.ho, g.wo, cout],
                      scalars: convForward(g, cout: cout, x: x.scalars, filter: filter.scalars, epilogue: epilogue))
}
