// bf16 inference through oneDNN: the precision setting, the CPU's bf16 support, bf16 activations,
// and convolutions prepared once (weights folded, converted to bf16 and reordered into the layout
// oneDNN's kernel wants) and then run as row blocks on the engine's workers.
//
// Threads: Debian's oneDNN uses OpenMP, but the engine never lets it start a team. Each block is a
// single-threaded oneDNN primitive over a contiguous slice of the NHWC buffers (Sources/CDNNL), the
// blocks are fixed by the shape (`PreparedConvolution.rowBlocks`), and `Engine.run` spreads them over
// the engine's workers. So OpenBLAS and oneDNN share one pool, never oversubscribe the cores, and a
// bf16 result does not depend on the worker count (each output is one block's, computed the same
// way whichever worker runs it).
//
// Numerics: a bf16 convolution reads bf16 activations and weights and accumulates in fp32 (oneDNN's
// brgconv); its output is rounded to bf16 (to nearest even) when the next layer is bf16 too, and
// kept fp32 when an fp32 op follows. fp32 → bf16 rounds to nearest even; bf16 → fp32 is exact.

import CDNNL
import Foundation
import Synchronization

/// The arithmetic of inference's convolutions and large products.
public enum Precision: String, Sendable, CaseIterable, Codable {
    /// IEEE single precision everywhere (TensorFlow parity, training).
    case fp32
    /// bfloat16 operands with fp32 accumulation on the CPU's matrix units (AVX512_BF16, AMX).
    case bf16
}

/// What oneDNN finds on this CPU.
public enum OneDNN {
    /// oneDNN's version, e.g. "2.6.3".
    public static let version: String = String(cString: cdnnl_version())

    /// The instruction set oneDNN dispatches to (e.g. "avx512_core_bf16", "avx512_core_amx"); honours
    /// oneDNN's `DNNL_MAX_CPU_ISA`.
    public static let isa: String = String(cString: cdnnl_isa_name(cdnnl_effective_isa()))

    /// Whether that instruction set has native bf16 arithmetic (AVX512_BF16, or AMX with the kernel's
    /// permission, which oneDNN requests).
    public static let hasNativeBF16: Bool = cdnnl_isa_has_native_bf16(cdnnl_effective_isa()) != 0

    /// The CPU's vendor string from /proc/cpuinfo ("AuthenticAMD", "GenuineIntel"), or "".
    public static let cpuVendor: String = {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("vendor_id") }),
              let value = line.split(separator: ":").last else { return "" }
        return value.trimmingCharacters(in: .whitespaces)
    }()

    /// Whether bf16 outruns fp32 here: AMX tiles, or AVX512_BF16 on AMD (Zen 4 and later), whose bf16
    /// dot products do twice the work of its fp32 FMAs. On Intel CPUs with AVX512_BF16 but no AMX (Cooper
    /// Lake, or a Sapphire/Emerald Rapids whose hypervisor hides AMX) VDPBF16PS has the fp32 FMAs' rate
    /// and oneDNN's bf16 kernels measure slower than OpenBLAS's sgemm (docs/precision.md).
    public static var bf16IsFaster: Bool {
        isa == "avx512_core_amx" || (hasNativeBF16 && cpuVendor == "AuthenticAMD")
    }

    /// The precision `--precision auto` picks: bf16 where it is faster (`bf16IsFaster`), else fp32.
    public static var automaticPrecision: Precision { bf16IsFaster ? .bf16 : .fp32 }

    /// Why `precision` cannot run here, or nil: bf16 needs native bf16 (oneDNN 2.6 would otherwise
    /// emulate it, slower than fp32, or fall back to its reference kernels).
    public static func unavailableReason(_ precision: Precision) -> String? {
        guard precision == .bf16, !hasNativeBF16 else { return nil }
        return "--precision bf16 needs a CPU with native bf16 (AVX512_BF16 or AMX-BF16); oneDNN \(version) "
            + "finds \(isa) here. Use --precision fp32 (or auto, which picks fp32 on this CPU)."
    }

    /// One line for logs: "bf16 (oneDNN 2.6.3, avx512_core_bf16)", "fp32 (OpenBLAS SkylakeX; k×k
    /// convolutions oneDNN 2.6.3)" (the latter part unless CMPC_VIDEO_FP32_CONV=openblas).
    public static func describe(_ precision: Precision) -> String {
        if precision == .bf16 { return "bf16 (oneDNN \(version), \(isa))" }
        let convolutions = Engine.fp32Convolution == .openblas ? "" : "; k×k convolutions oneDNN \(version)"
        return "fp32 (OpenBLAS \(BLAS.coreName)\(convolutions))"
    }
}

/// `--precision`: a precision, or `auto` (OneDNN.automaticPrecision).
public enum PrecisionChoice: String, Sendable, CaseIterable {
    case fp32, bf16, auto

    /// The precision to run, or an error saying why bf16 cannot run on this CPU.
    public func resolve() throws -> Precision {
        switch self {
        case .fp32: return .fp32
        case .auto: return OneDNN.automaticPrecision
        case .bf16:
            if let reason = OneDNN.unavailableReason(.bf16) { throw OneDNNError(description: reason) }
            return .bf16
        }
    }
}

/// A bf16 NHWC tensor for inference, owning its memory (a class: layers may write into it in place).
public final class BF16Tensor: @unchecked Sendable {
    /// The extent of each axis.
    public let shape: [Int]
    /// The elements, row-major, as bf16 bit patterns.
    public let storage: UnsafeMutablePointer<UInt16>
    /// Element count.
    public var count: Int { shape.reduce(1, *) }

    /// An uninitialised tensor.
    public init(shape: [Int]) {
        self.shape = shape
        storage = .allocate(capacity: max(1, shape.reduce(1, *)))
    }

    /// `x` rounded to bf16 (to nearest even), split across cores.
    public convenience init(_ x: Tensor) {
        self.init(shape: x.shape)
        let out = storage
        x.scalars.withUnsafeBufferPointer { src in
            guard let s = src.baseAddress else { return }
            parallelFor(src.count, grain: 65_536) { r in
                cdnnl_f32_to_bf16(s + r.lowerBound, out + r.lowerBound, r.count)
            }
        }
    }

    deinit { storage.deallocate() }

    /// The values as fp32 (exact).
    public func float() -> Tensor {
        let n = count, src = storage
        return Tensor(shape: shape) { buf in
            guard let o = buf.baseAddress else { return }
            parallelFor(n, grain: 65_536) { r in cdnnl_bf16_to_f32(src + r.lowerBound, o + r.lowerBound, r.count) }
        }
    }
}

/// Errors of the oneDNN path: what could not be made, and why.
public struct OneDNNError: Error, CustomStringConvertible {
    public let description: String
}

/// A convolution prepared for bf16 inference at one image size: relu?(conv(x, W·scale) + bias
/// (+ residual)), with TensorFlow's NHWC/HWIO conventions and 'SAME'/'VALID' padding. The weights are
/// converted and reordered once, here; a run takes any number of images of that size.
///
///     let conv = try PreparedConvolution(input: [1, 40, 40, 1024], filter: w, bias: b, relu: true)
///     let y = try conv(BF16Tensor(x))            // BF16Tensor [1, 40, 40, Cout]
public final class PreparedConvolution: @unchecked Sendable {
    /// Input [N, H, W, Cin] and output [N, Ho, Wo, Cout] as prepared (a run may have another N).
    public let inputShape: [Int], outputShape: [Int]
    /// The filter [kh, kw, Cin, Cout].
    public let filterShape: [Int]
    /// The oneDNN kernel, e.g. "brgconv:avx512_core_bf16".
    public let implementation: String
    /// Bytes of prepared weights.
    public let weightBytes: Int
    /// Whether the output is bf16 (else fp32), whether a residual is added, and ReLU.
    public let bf16Output: Bool, addsResidual: Bool
    /// The operands' type (bf16 but for `bench conv`'s fp32 comparison).
    public let operands: Precision
    /// Whether the convolution is the bare one: no scale, bias, residual or ReLU.
    public let isRaw: Bool
    let handle: OpaquePointer

    /// Row blocks per image: about 256 output pixels each, at most 8, an even count when more than one
    /// (the shape alone decides; the worker count never does).
    public static func rowBlocks(height: Int, width: Int) -> Int {
        var blocks = max(1, min(8, height * width / 256, height))
        if blocks > 1 && blocks % 2 == 1 { blocks = min(blocks + 1, height) }
        return blocks
    }

    /// Prepares the convolution of `input`-shaped tensors with `filter` [kh, kw, Cin, Cout] (fp32),
    /// each output channel's weights multiplied by `scale` (a folded batch norm) and `bias` added.
    /// With `residual`, the destination's previous contents (the residual, in the output's type) are
    /// added before the ReLU.
    ///
    /// `operands: .fp32` makes an fp32 oneDNN convolution instead (fp32 in and out): raw (no scale,
    /// bias or post-ops) for the engine's fp32 convolutions (ConvOneDNN.swift), any for `bench conv`.
    public init(input: [Int], filter: Tensor, strides: (Int, Int) = (1, 1), dilations: (Int, Int) = (1, 1),
                padding: Padding = .same, scale: [Float]? = nil, bias: [Float]? = nil, residual: Bool = false,
                relu: Bool = false, bf16Output: Bool = true, operands: Precision = .bf16) throws {
        let op = "PreparedConvolution"
        let (g, cout) = try convGeometry(op: op, x: input, filter: filter.shape, strides: strides,
                                         dilations: dilations, padding: padding)
        if let scale, scale.count != cout { throw OneDNNError(description: "\(op): scale has \(scale.count) values, not \(cout)") }
        if let bias, bias.count != cout { throw OneDNNError(description: "\(op): bias has \(bias.count) values, not \(cout)") }
        inputShape = input
        outputShape = [g.n, g.ho, g.wo, cout]
        filterShape = filter.shape
        var d = cdnnl_conv_desc(
            n: Int32(g.n), h: Int32(g.h), w: Int32(g.w), cin: Int32(g.c), ho: Int32(g.ho), wo: Int32(g.wo),
            cout: Int32(cout), kh: Int32(g.kh), kw: Int32(g.kw), sy: Int32(g.strideY), sx: Int32(g.strideX),
            dy: Int32(g.dilationY), dx: Int32(g.dilationX), pad_t: Int32(g.padTop), pad_l: Int32(g.padLeft),
            src_bf16: operands == .bf16 ? 1 : 0, dst_bf16: operands == .bf16 && bf16Output ? 1 : 0, sum: residual ? 1 : 0, relu: relu ? 1 : 0,
            row_blocks: Int32(Self.rowBlocks(height: g.ho, width: g.wo)))
        var message = [CChar](repeating: 0, count: 256)
        let made: OpaquePointer? = filter.scalars.withUnsafeBufferPointer { w in
            (scale ?? []).withUnsafeBufferPointer { s in
                (bias ?? []).withUnsafeBufferPointer { b in
                    cdnnl_conv_create(&d, w.baseAddress, scale == nil ? nil : s.baseAddress,
                                      bias == nil ? nil : b.baseAddress, &message, message.count)
                }
            }
        }
        guard let made else {
            throw OneDNNError(description: "\(op) \(input) * \(filter.shape): " + String(cString: message))
        }
        handle = made
        implementation = String(cString: cdnnl_conv_impl(made))
        weightBytes = cdnnl_conv_weight_bytes(made)
        self.operands = operands
        self.bf16Output = operands == .bf16 && bf16Output
        addsResidual = residual
        isRaw = scale == nil && bias == nil && !residual && !relu
        if implementation.hasPrefix("ref") {
            cdnnl_conv_destroy(made)
            throw OneDNNError(description: "\(op) \(input) * \(filter.shape): oneDNN offers only its reference "
                                + "kernel here (\(implementation)), far slower than fp32; use --precision fp32")
        }
    }

    deinit { cdnnl_conv_destroy(handle) }

    /// Runs the blocks on the engine's workers; `dst` receives the output (and holds the residual
    /// before, when the convolution adds one).
    private func run(_ x: BF16Tensor, _ dst: UnsafeMutableRawPointer) throws {
        precondition(operands == .bf16, "PreparedConvolution: fp32 operands take an fp32 tensor (float(_:))")
        try run(shape: x.shape, UnsafeRawPointer(x.storage), dst)
    }

    /// The output shape for an input of `shape` (any N; H, W and Cin as prepared).
    public func outputShape(for shape: [Int]) throws -> [Int] {
        guard shape.count == 4, shape.dropFirst() == inputShape.dropFirst() else {
            throw TensorError.shapeMismatch(op: "PreparedConvolution", shapes: [shape, inputShape],
                                            reason: "prepared for another image size or channel count")
        }
        return [shape[0]] + outputShape.dropFirst()
    }

    private func run(shape: [Int], _ src: UnsafeRawPointer, _ dst: UnsafeMutableRawPointer) throws {
        _ = try outputShape(for: shape)
        let failed = Atomic<Int32>(0)
        let h = handle
        Engine.run(shape[0] * Int(cdnnl_conv_blocks(h))) { t in
            let status = cdnnl_conv_run(h, Int32(t), src, dst)
            if status != 0 { failed.store(status, ordering: .relaxed) }
        }
        let status = failed.load(ordering: .relaxed)
        if status != 0 { throw OneDNNError(description: "PreparedConvolution: oneDNN failed with status \(status)") }
    }

    /// The convolution of `x` into a new bf16 tensor (`addsResidual` false, bf16 output).
    public func callAsFunction(_ x: BF16Tensor) throws -> BF16Tensor {
        precondition(bf16Output && !addsResidual, "PreparedConvolution: use run(_:addingInto:) or float(_:)")
        let y = BF16Tensor(shape: try outputShape(for: x.shape))
        try run(x, UnsafeMutableRawPointer(y.storage))
        return y
    }

    /// The convolution of `x` added to `residual` in place (its buffer becomes the output).
    public func callAsFunction(_ x: BF16Tensor, addingInto residual: BF16Tensor) throws -> BF16Tensor {
        precondition(bf16Output && addsResidual, "PreparedConvolution: prepared without a residual")
        let shape = try outputShape(for: x.shape)
        guard residual.shape == shape else {
            throw TensorError.shapeMismatch(op: "PreparedConvolution", shapes: [residual.shape, shape],
                                            reason: "the residual must have the output's shape")
        }
        try run(x, UnsafeMutableRawPointer(residual.storage))
        return residual
    }

    /// fp32 in, fp32 out (bf16 operands, fp32 accumulation and output): for a bf16 convolution between
    /// fp32 ops.
    public func float(_ x: Tensor) throws -> Tensor {
        precondition(!bf16Output && !addsResidual, "PreparedConvolution: prepared with a bf16 output")
        var failure: Error?
        let y: Tensor
        let outputShape = try outputShape(for: x.shape)
        if operands == .fp32 {
            y = x.scalars.withUnsafeBufferPointer { src in
                Tensor(shape: outputShape) { buf in
                    do { try run(shape: x.shape, UnsafeRawPointer(src.baseAddress!), UnsafeMutableRawPointer(buf.baseAddress!)) }
                    catch { failure = error }
                }
            }
        } else {
            let source = BF16Tensor(x)
            y = Tensor(shape: outputShape) { buf in
                do { try run(source, UnsafeMutableRawPointer(buf.baseAddress!)) } catch { failure = error }
            }
        }
        if let failure { throw failure }
        return y
    }
}

/// Max pooling with TensorFlow's semantics on a bf16 NHWC tensor (padding never wins, as in
/// `maxPool2d`); exact, since the maximum of bf16 values is one of them.
public func maxPool2d(_ x: BF16Tensor, window: (Int, Int), strides: (Int, Int), padding: Padding) throws -> BF16Tensor {
    let g = try WindowGeometry(op: "maxPool2d", input: x.shape, window: window, strides: strides,
                               dilations: (1, 1), padding: padding)
    let y = BF16Tensor(shape: [g.n, g.ho, g.wo, g.c])
    let src = x.storage, dst = y.storage, c = g.c
    @inline(__always) func value(_ bits: UInt16) -> Float { Float(bitPattern: UInt32(bits) << 16) }
    parallelFor(g.n * g.ho, grain: max(1, 8_192 / max(1, g.wo * c))) { rows in
        var best = [Float](repeating: 0, count: c)
        for row in rows {
            let n = row / g.ho, oy = row % g.ho
            for ox in 0..<g.wo {
                var seen = false
                for ky in 0..<g.kh {
                    let iy = oy * g.strideY - g.padTop + ky
                    if iy < 0 || iy >= g.h { continue }
                    for kx in 0..<g.kw {
                        let ix = ox * g.strideX - g.padLeft + kx
                        if ix < 0 || ix >= g.w { continue }
                        let p = src + ((n * g.h + iy) * g.w + ix) * c
                        if !seen {
                            for ch in 0..<c { best[ch] = value(p[ch]) }
                            seen = true
                        } else {
                            for ch in 0..<c { best[ch] = Swift.max(best[ch], value(p[ch])) }
                        }
                    }
                }
                let o = dst + ((n * g.ho + oy) * g.wo + ox) * c
                for ch in 0..<c { o[ch] = UInt16(truncatingIfNeeded: best[ch].bitPattern >> 16) }
            }
        }
    }
    return y
}

/// A bf16 matrix product through oneDNN, C[m, n] (fp32) = A[m, k] · B[k, n]: the reference rate for
/// `bench` (`bf16-peak`), cut into row blocks like the convolutions.
public final class PreparedBF16MatrixProduct: @unchecked Sendable {
    public let m: Int, n: Int, k: Int
    /// The oneDNN kernel, e.g. "brg:avx512_core_bf16".
    public let implementation: String
    private let handle: OpaquePointer
    private let blocks: Int

    public init(m: Int, n: Int, k: Int) throws {
        var message = [CChar](repeating: 0, count: 256)
        blocks = Swift.max(1, Swift.min(8, m / 256))
        guard let h = cdnnl_matmul_create(Int32(m), Int32(n), Int32(k), Int32(blocks), &message, message.count) else {
            throw OneDNNError(description: "bf16 matrix product \(m)×\(n)×\(k): " + String(cString: message))
        }
        handle = h
        (self.m, self.n, self.k) = (m, n, k)
        implementation = String(cString: cdnnl_matmul_impl(h))
    }

    deinit { cdnnl_matmul_destroy(handle) }

    /// c = a · b (a [m, k], b [k, n] bf16; c [m, n] fp32).
    public func run(a: UnsafePointer<UInt16>, b: UnsafePointer<UInt16>, c: UnsafeMutablePointer<Float>) throws {
        let failed = Atomic<Int32>(0)
        let h = handle
        let size = (m + blocks - 1) / blocks, count = (m + size - 1) / size
        Engine.run(count) { t in
            let status = cdnnl_matmul_run(h, Int32(t), a, b, c)
            if status != 0 { failed.store(status, ordering: .relaxed) }
        }
        let status = failed.load(ordering: .relaxed)
        if status != 0 { throw OneDNNError(description: "bf16 matrix product: oneDNN failed with status \(status)") }
    }
}
