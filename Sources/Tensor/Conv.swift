// Convolution: TensorFlow 1.x `conv2d` on NHWC images with HWIO filters, by GEMM.
//
// Legend: N images, H×W input, Ho×Wo output, Cin/Cout channels, kh×kw kernel,
// M = N·Ho·Wo output pixels, K = kh·kw·Cin.
//
// Forward: a window larger than 1×1 runs through oneDNN where `Engine.fp32Convolution`'s rule says
// so (ConvOneDNN.swift), the same in `conv2d` and `conv2dFused`. Otherwise a 1×1 stride-1
// convolution is GEMM [M, Cin]·[Cin, Cout] on the input as it lies (the engine's blocked GEMM for
// large filters, tiles of 256 rows with one single-threaded GEMM each for small ones). Every other
// convolution (k×k, atrous, strided 1×1 = subsampling) runs per core: the output pixels are cut into
// tiles of a few hundred rows, and each tile's im2col, single-threaded GEMM and epilogue is one task
// for the engine's workers; the HWIO filter already is the [K, Cout] matrix. Backward per core as well: a fixed number of pixel shares each accumulate dW += colsᵀ·dY
// and col2im(dY·Wᵀ) into their own buffers, added in share order at the end (1×1 stride 1: two
// blocked GEMMs). Every tile and share boundary depends only on the shapes (Engine.swift), so the
// results do not depend on the worker count. The older tiled backward with blocked GEMMs is kept as
// the reference path for tests.

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

/// How the per-core kernels cut `m` output pixels: into `count` tiles of `size` rows (the last may
/// have fewer), at most `subTile` rows each, and an even count when there are at least 32 rows (the
/// workers share them evenly). Fixed by the shape alone, so the result does not depend on the
/// worker count.
func convTiles(m: Int, subTile: Int) -> (count: Int, size: Int) {
    guard m > 0 else { return (0, 0) }
    var count = (m + max(subTile, 1) - 1) / max(subTile, 1)
    if count % 2 == 1 && m >= 32 { count += 1 }
    let size = (m + count - 1) / count
    return ((m + size - 1) / size, size)
}

/// Per-core forward: the output pixels are cut into tiles (`convTiles`), and each tile — im2col, a
/// single-threaded GEMM and the epilogue, in the worker's own cache — is one task for the engine's
/// workers. No barrier between im2col and GEMM, no hand-off between GEMM threads: for conv1 (K = 147,
/// Cout = 64) this is about 1.5× a multi-threaded GEMM per tile.
func convForwardPerCore(_ g: WindowGeometry, cout: Int, x: UnsafePointer<Float>, filter: UnsafePointer<Float>,
                        out: UnsafeMutablePointer<Float>, epilogue: ConvEpilogue, subTile: Int) throws {
    try BLAS.load()
    let k = g.k, m = g.m
    let direct = g.isPointwise && g.strideY == 1 && g.strideX == 1
    let tiles = convTiles(m: m, subTile: subTile)
    Engine.run(tiles.count) { t in
        let rows = (t * tiles.size)..<min(m, (t + 1) * tiles.size)
        let a: UnsafePointer<Float>
        var cols: UnsafeMutablePointer<Float>? = nil
        defer { cols?.deallocate() }
        if direct {
            a = x + rows.lowerBound * k
        } else {
            let c = UnsafeMutablePointer<Float>.allocate(capacity: rows.count * k)
            cols = c
            im2colRows(g, x: x, cols: c, rows: rows)
            a = UnsafePointer(c)
        }
        // OpenBLAS is loaded (above), so sgemm cannot throw here.
        try? BLAS.serialSgemm(m: rows.count, n: cout, k: k, a: a, lda: k, b: filter, ldb: cout,
                              c: out + rows.lowerBound * cout, ldc: cout)
        epilogue.applyRows(out, rows: rows, cout: cout)
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
/// A 1×1 stride-1 convolution with a large filter (≥ 1 MB) or few pixels is one blocked GEMM
/// (`BLAS.sgemm`) on the input as it lies; with a small filter it is per-core GEMMs of 256 rows on
/// the input as it lies, each with its epilogue while in cache. Everything else runs per core
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
/// two blocked GEMMs; the rest runs per core (`convBackwardPerCore`) unless `perCore` is false
/// (tiles of `tileBudget` floats with blocked GEMMs, kept as the reference path).
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

/// Most shares of the per-core backward (each has its own dX and dW accumulators).
let convBackwardShares = 4

/// Per-core backward: the output pixels are cut into up to `convBackwardShares` shares (an even
/// number, fixed by the shape), each one task for the engine's workers that runs, per sub-tile of
/// `subTile` rows, im2col + dW += colsᵀ·dY and dcols = dY·Wᵀ + col2im with single-threaded GEMMs into
/// the share's own dX/dW accumulators (the first share's are the results). The shares are then
/// added in share order, so the sums do not depend on the worker count.
func convBackwardPerCore(_ g: WindowGeometry, cout: Int, x: UnsafePointer<Float>, filter: UnsafePointer<Float>,
                         dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>?,
                         dw: UnsafeMutablePointer<Float>?, subTile: Int) throws {
    try BLAS.load()
    let k = g.k, m = g.m
    let dxCount = g.n * g.h * g.w * g.c, dwCount = k * cout
    var shares = max(1, min(convBackwardShares, (m + subTile - 1) / subTile))
    if shares % 2 == 1 && shares > 1 { shares -= 1 }
    let share = (m + shares - 1) / shares
    // Private accumulators of shares 1…; share 0 writes the results directly.
    let extraDX = dx == nil ? nil : UnsafeMutablePointer<Float>.allocate(capacity: (shares - 1) * dxCount)
    let extraDW = dw == nil ? nil : UnsafeMutablePointer<Float>.allocate(capacity: (shares - 1) * dwCount)
    extraDX?.initialize(repeating: 0, count: (shares - 1) * dxCount)
    extraDW?.initialize(repeating: 0, count: (shares - 1) * dwCount)
    defer { extraDX?.deallocate(); extraDW?.deallocate() }
    Engine.run(shares) { s in
        let lo = s * share, hi = min(m, lo + share)
        if lo >= hi { return }
        let myDX = s == 0 ? dx : extraDX.map { $0 + (s - 1) * dxCount }
        let myDW = s == 0 ? dw : extraDW.map { $0 + (s - 1) * dwCount }
        let cols = UnsafeMutablePointer<Float>.allocate(capacity: min(subTile, hi - lo) * k)
        defer { cols.deallocate() }
        var m0 = lo
        while m0 < hi {
            let rows = m0..<min(hi, m0 + subTile)
            let gTile = dy + m0 * cout
            // OpenBLAS is loaded (above), so sgemm cannot throw here.
            if let myDW {
                im2colRows(g, x: x, cols: cols, rows: rows)
                try? BLAS.serialSgemm(transA: true, m: k, n: cout, k: rows.count, a: cols, lda: k, b: gTile,
                                      ldb: cout, beta: m0 == lo ? 0 : 1, c: myDW, ldc: cout)
            }
            if let myDX {
                try? BLAS.serialSgemm(transB: true, m: rows.count, n: k, k: cout, a: gTile, lda: cout, b: filter,
                                      ldb: cout, c: cols, ldc: k)
                col2imRows(g, dcols: cols, dx: myDX, rows: rows, channels: 0..<g.c)
            }
            m0 = rows.upperBound
        }
    }
    // Add the other shares to the results, in share order, split across cores.
    guard shares > 1 else { return }
    for (result, extra, count) in [(dx, extraDX, dxCount), (dw, extraDW, dwCount)] {
        guard let result, let extra else { continue }
        parallelFor(count, grain: 65_536) { r in
            for i in r {
                var v = result[i]
                for s in 1..<shares { v += extra[(s - 1) * count + i] }
                result[i] = v
            }
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
    let bare = ConvEpilogue(relu: false)
    let y = try Tensor(shape: [g.n, g.ho, g.wo, cout],
                       scalars: oneDNNForward(g, cout: cout, x: x, filter: filter, strides: strides, dilations: dilations,
                                              padding: padding, epilogue: bare)
                           ?? convForward(g, cout: cout, x: x.scalars, filter: filter.scalars, epilogue: bare))
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
                      scalars: oneDNNForward(g, cout: cout, x: x, filter: filter, strides: strides, dilations: dilations,
                                             padding: padding, epilogue: epilogue)
                          ?? convForward(g, cout: cout, x: x.scalars, filter: filter.scalars, epilogue: epilogue))
}
