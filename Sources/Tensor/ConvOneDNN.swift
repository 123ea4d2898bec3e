// fp32 forward convolutions through oneDNN, where they beat im2col + OpenBLAS.
//
// Legend: N images, H×W input, Ho×Wo output, Cin/Cout channels, kh×kw kernel.
//
// Which library runs an fp32 forward convolution is decided by its shape alone
// (`fp32ConvolutionUsesOneDNN`), the same way in `conv2d` and in `conv2dFused`, so the fused
// inference path and the op-by-op path training records stay bit-identical: oneDNN computes the raw
// convolution only (no batch norm folded into the weights, no post-ops), and the engine's own
// epilogue (scale, shift, residual, ReLU: ConvEpilogue) runs on each row block right after oneDNN
// wrote it, in the same task, as it runs on OpenBLAS's tiles. The backward pass stays im2col + OpenBLAS
// (Conv.swift).
//
// Rule (`CMPC_VIDEO_FP32_CONV=auto`, the default; measured with `bench conv`, docs/precision.md): a
// window larger than 1×1 (3×3 of any rate, conv1's 7×7/2) runs in oneDNN when oneDNN has a direct JIT
// kernel for it (brgconv, jit; not its own im2col + GEMM); 1×1 convolutions (plain or strided) stay
// on OpenBLAS, which ties there and which MUTAN's fused products call directly. `onednn` sends every
// window larger than 1×1 that oneDNN has any non-reference kernel for, `openblas` none. `Engine.withFP32Convolution` overrides it for one computation
// (`bench image-model`'s `backbone-fp32-openblas` row).
//
// Threads and determinism are the bf16 path's (OneDNN.swift): row blocks fixed by the shape, each a
// single-threaded oneDNN primitive run by one of the engine's workers. Weights are reordered into
// oneDNN's layout when a `PreparedConvolution` is made: once per parameter and image size in the
// networks (ImageModel's PreparedWeights), per call for `conv2d(x, w)` on plain tensors.

import CDNNL
import Foundation
import Synchronization

/// Which library runs the fp32 forward convolutions (`CMPC_VIDEO_FP32_CONV`).
public enum FP32ConvolutionPath: String, Sendable, CaseIterable {
    /// im2col + OpenBLAS everywhere.
    case openblas
    /// oneDNN for every window larger than 1×1 that oneDNN has a kernel for (its reference kernel aside).
    case onednn
    /// The measured rule: oneDNN where it wins on this machine (windows larger than 1×1), else OpenBLAS.
    case auto

    /// `CMPC_VIDEO_FP32_CONV` when set to one of the cases (a note on stderr otherwise), else `auto`;
    /// read once.
    public static let environment: FP32ConvolutionPath = {
        guard let raw = getenv("CMPC_VIDEO_FP32_CONV") else { return .auto }
        let text = String(cString: raw)
        if let path = parse(text) { return path }
        fputs("cmpc-video: CMPC_VIDEO_FP32_CONV='\(text)' is not one of openblas, onednn, auto; using auto\n", stderr)
        return .auto
    }()

    /// The path named `text` (case-insensitive, surrounding spaces ignored), or nil.
    public static func parse(_ text: String) -> FP32ConvolutionPath? {
        FP32ConvolutionPath(rawValue: text.trimmingCharacters(in: .whitespaces).lowercased())
    }
}

extension Engine {
    /// The library of the current computation's fp32 forward convolutions (`withFP32Convolution`);
    /// `FP32ConvolutionPath.environment` unless a caller asks. Blocks of a parallel loop inherit it.
    @TaskLocal public static var fp32Convolution: FP32ConvolutionPath = FP32ConvolutionPath.environment

    /// Runs `body` with `path` for the fp32 forward convolutions inside it (on this thread; other
    /// computations keep theirs).
    ///
    ///     let y = try Engine.withFP32Convolution(.openblas) { try conv2d(x, w) }
    public static func withFP32Convolution<R>(_ path: FP32ConvolutionPath, _ body: () throws -> R) rethrows -> R {
        try $fp32Convolution.withValue(path, operation: body)
    }
}

/// One convolution shape as oneDNN sees it (N left out: a prepared convolution runs any N).
private struct OneDNNShapeKey: Hashable {
    var h, w, cin, cout, kh, kw, sy, sx, dy, dx, padTop, padLeft: Int
    init(_ g: WindowGeometry, cout: Int) {
        (h, w, cin, self.cout, kh, kw) = (g.h, g.w, g.c, cout, g.kh, g.kw)
        (sy, sx, dy, dx, padTop, padLeft) = (g.strideY, g.strideX, g.dilationY, g.dilationX, g.padTop, g.padLeft)
    }
}

/// The fp32 kernel oneDNN picks for a shape ("brgconv:avx512_core", "gemm:jit"; "" when it offers
/// only its reference kernel or nothing), learnt once per shape by preparing it with zero weights. A
/// fact about this CPU and library, the same for every computation.
private let oneDNNFP32Kernels = Mutex<[OneDNNShapeKey: String]>([:])

/// oneDNN's fp32 kernel for this shape, or "" (see `oneDNNFP32Kernels`).
private func oneDNNFP32Kernel(_ g: WindowGeometry, cout: Int, padding: Padding) -> String {
    let key = OneDNNShapeKey(g, cout: cout)
    if let known = oneDNNFP32Kernels.withLock({ $0[key] }) { return known }
    let probe = Tensor(shape: [g.kh, g.kw, g.c, cout])
    let kernel = (try? PreparedConvolution(input: [1, g.h, g.w, g.c], filter: probe,
                                           strides: (g.strideY, g.strideX), dilations: (g.dilationY, g.dilationX),
                                           padding: padding, bf16Output: false, operands: .fp32))?.implementation ?? ""
    oneDNNFP32Kernels.withLock { $0[key] = kernel }
    return kernel
}

/// Whether the fp32 forward convolution of geometry `g` runs through oneDNN under the current
/// `Engine.fp32Convolution` (see the file's comment): a window larger than 1×1, something to compute,
/// and a oneDNN kernel other than its reference one — for `auto`, one of its direct JIT kernels
/// (brgconv, jit), not its own im2col + GEMM ("gemm:…"), which has nothing over the engine's.
func fp32ConvolutionUsesOneDNN(_ g: WindowGeometry, cout: Int, padding: Padding) -> Bool {
    guard g.m > 0, g.k > 0, cout > 0, g.kh * g.kw > 1 else { return false }
    switch Engine.fp32Convolution {
    case .openblas: return false
    case .onednn: return !oneDNNFP32Kernel(g, cout: cout, padding: padding).isEmpty
    case .auto:
        let kernel = oneDNNFP32Kernel(g, cout: cout, padding: padding)
        return kernel.hasPrefix("brgconv") || kernel.hasPrefix("jit")
    }
}

/// Whether an fp32 forward convolution of `input` [N, H, W, Cin] with a `filter` [kh, kw, Cin, Cout]
/// runs through oneDNN (`Engine.fp32Convolution`'s rule); false for shapes that do not fit, which
/// the convolution itself reports. A network that says yes prepares the convolution once per
/// parameter (`PreparedConvolution(…, operands: .fp32)` without scale, bias or post-ops) and runs it
/// with `conv2dFused(_:_:scale:shift:residual:relu:)`.
public func fp32ConvolutionUsesOneDNN(input: [Int], filter: [Int], strides: (Int, Int) = (1, 1),
                                      dilations: (Int, Int) = (1, 1), padding: Padding = .same) -> Bool {
    guard let (g, cout) = try? convGeometry(op: "conv2d", x: input, filter: filter, strides: strides,
                                            dilations: dilations, padding: padding) else { return false }
    return fp32ConvolutionUsesOneDNN(g, cout: cout, padding: padding)
}

extension PreparedConvolution {
    /// Whether this is a raw fp32 convolution (fp32 operands, no scale, bias, residual or ReLU), which
    /// `conv2dFused(_:_:…)` and `conv2d` may run.
    public var isRawFP32: Bool { operands == .fp32 && isRaw }

    /// The raw fp32 convolution of `x` ([N, H, W, Cin] as prepared) into a new [N, Ho, Wo, Cout] buffer,
    /// `epilogue` applied to each row block in the task that computed it.
    func forwardFP32(_ x: [Float], shape: [Int], epilogue: ConvEpilogue) throws -> [Float] {
        guard isRawFP32 else {
            throw OneDNNError(description: "PreparedConvolution: the fp32 epilogue path needs a raw fp32 convolution "
                                + "(operands: .fp32, no scale, bias, residual or ReLU)")
        }
        let out = try outputShape(for: shape)
        let count = out.reduce(1, *), ho = out[1], wo = out[2], cout = out[3]
        var y = [Float](unsafeUninitializedCapacity: count) { _, n in n = count }
        let failed = Atomic<Int32>(0)
        let h = handle, blocks = Int(cdnnl_conv_blocks(handle))
        x.withUnsafeBufferPointer { xb in
            y.withUnsafeMutableBufferPointer { yb in
                guard let src = xb.baseAddress, let dst = yb.baseAddress else { return }
                Engine.run(shape[0] * blocks) { t in
                    let status = cdnnl_conv_run(h, Int32(t), src, dst)
                    if status != 0 {
                        failed.store(status, ordering: .relaxed)
                        return
                    }
                    var first: Int32 = 0, end: Int32 = 0
                    cdnnl_conv_block_rows(h, Int32(t % blocks), &first, &end)
                    let image = t / blocks
                    epilogue.applyRows(dst, rows: ((image * ho + Int(first)) * wo)..<((image * ho + Int(end)) * wo),
                                       cout: cout)
                }
            }
        }
        let status = failed.load(ordering: .relaxed)
        if status != 0 { throw OneDNNError(description: "PreparedConvolution: oneDNN failed with status \(status)") }
        BLAS.countFlops(2 * count * filterShape.dropLast().reduce(1, *))   // as im2col's GEMM counts them
        return y
    }
}

/// The forward of `conv2d`/`conv2dFused` on plain tensors through oneDNN, prepared for this call
/// (oneDNN's primitive cache keeps the kernel; the weights are reordered again), or nil when the
/// shape runs on OpenBLAS.
func oneDNNForward(_ g: WindowGeometry, cout: Int, x: Tensor, filter: Tensor, strides: (Int, Int),
                   dilations: (Int, Int), padding: Padding, epilogue: ConvEpilogue) throws -> [Float]? {
    guard fp32ConvolutionUsesOneDNN(g, cout: cout, padding: padding) else { return nil }
    let conv = try PreparedConvolution(input: x.shape, filter: filter, strides: strides, dilations: dilations,
                                       padding: padding, bf16Output: false, operands: .fp32)
    return try conv.forwardFP32(x.scalars, shape: x.shape, epilogue: epilogue)
}

/// Inference-only fused convolution with a prepared raw fp32 oneDNN convolution:
/// relu?(conv(x)·scale + shift + residual), exactly what `conv2dFused(x, filter, …)` gives with the
/// filter `conv` was prepared from (and so what `conv2d`, `batchNormInference`, the add and `relu`
/// give op by op). The weights were reordered once, when `conv` was made.
///
///     let conv = try PreparedConvolution(input: x.shape, filter: w, operands: .fp32, bf16Output: false)
///     let y = try conv2dFused(x, conv, scale: s, shift: t, relu: true)
public func conv2dFused(_ x: Tensor, _ conv: PreparedConvolution, scale: Tensor? = nil, shift: Tensor? = nil,
                        residual: Tensor? = nil, relu: Bool = false) throws -> Tensor {
    let op = "conv2dFused"
    if Tape.records([x, scale, shift, residual]) {
        throw TensorError.invalidArgument(
            op: op, reason: "inference only: an input tracks gradients (use conv2d and batchNormInference to train)")
    }
    let shape = try conv.outputShape(for: x.shape)
    let cout = shape[3]
    try scale?.expectVector(cout, op: op, name: "scale")
    try shift?.expectVector(cout, op: op, name: "shift")
    if let residual, residual.shape != shape {
        throw TensorError.shapeMismatch(op: op, shapes: [residual.shape, shape],
                                        reason: "the residual must have the output's shape")
    }
    let epilogue = ConvEpilogue(scale: scale?.scalars, shift: shift?.scalars, residual: residual?.scalars, relu: relu)
    return try Tensor(shape: shape, scalars: conv.forwardFP32(x.scalars, shape: x.shape, epilogue: epilogue))
}
