// PreparedWeights: the cache of weights prepared for oneDNN — for bf16 inference (converted,
// reordered into oneDNN's layout, batch norm folded) and for the fp32 convolutions that run through
// oneDNN (reordered only; `fp32Convolution`) — made once per parameter and input shape on first use and
// shared by every copy of the same parameter values. Changing a Parameters value gives that copy an
// empty cache (Parameters.swift), so a prepared weight never outlives the values it was made from.
//
// `bf16Convolution` is the one rule for which convolutions run in bf16: inference (nothing records
// gradients), `Engine.precision == .bf16`, and a shape worth it (at least 256 output pixels and 16
// input and output channels; the language vectors and the one-channel score heads stay fp32).

import Synchronization
import Tensor

/// Prepared forms of a network's weights, by key (a reference type: the copies of one Parameters
/// value share it).
public final class PreparedWeights: @unchecked Sendable {
    private let entries = Mutex<[String: AnyObject]>([:])
    /// Parameters some entry was made from, and those read in fp32 while `recordingReads`.
    private let names = Mutex<(sources: Set<String>, read: Set<String>)>(([], []))
    private let recording = Atomic<Bool>(false)

    public init() {}

    /// The entry for `key`, made by `make` from the parameters `sources` the first time (concurrent
    /// first uses may both make it; one is kept, and both are equal).
    public func entry<T: AnyObject>(_ key: String, sources: [String], _ make: () throws -> T) rethrows -> T {
        if let found = entries.withLock({ $0[key] }) as? T { return found }
        // Reading the sources to make the entry is not an fp32 use of them.
        let wasRecording = recording.exchange(false, ordering: .relaxed)
        let made: T
        do {
            defer { if wasRecording { recording.store(true, ordering: .relaxed) } }
            made = try make()
        }
        names.withLock { $0.sources.formUnion(sources) }
        return entries.withLock { table in
            if let found = table[key] as? T { return found }
            table[key] = made
            return made
        }
    }

    /// Whether parameter reads are being noted (`Parameters.callAsFunction` asks, cheaply).
    var recordingReads: Bool { recording.load(ordering: .relaxed) }

    func noteRead(_ name: String) { names.withLock { _ = $0.read.insert(name) } }

    /// Runs `body` noting every parameter read in fp32; returns the parameters that prepared entries
    /// were made from and that nothing read in fp32 meanwhile.
    public func onlyPrepared(during body: () throws -> Void) rethrows -> Set<String> {
        names.withLock { $0.read = [] }
        recording.store(true, ordering: .relaxed)
        defer { recording.store(false, ordering: .relaxed) }
        try body()
        return names.withLock { $0.sources.subtracting($0.read) }
    }

    /// Bytes of prepared convolution weights held.
    public var weightBytes: Int {
        entries.withLock { $0.values.compactMap { ($0 as? PreparedConvolution)?.weightBytes }.reduce(0, +) }
    }

    /// Bytes of prepared convolution weights held for `operands` (bf16, or the fp32 convolutions that
    /// run through oneDNN).
    public func weightBytes(of operands: Precision) -> Int {
        entries.withLock { table in
            table.values.compactMap { $0 as? PreparedConvolution }.filter { $0.operands == operands }
                .map(\.weightBytes).reduce(0, +)
        }
    }
}

/// Whether a convolution from `input` [N,H,W,Cin] to `cout` channels runs in bf16 (see the file's comment).
func runsInBF16(input: [Int], cout: Int, tracked: [Tensor?]) -> Bool {
    guard Engine.precision == .bf16, input.count == 4, !Tape.records(tracked) else { return false }
    return input[0] * input[1] * input[2] >= 256 && input[3] >= 16 && cout >= 16
}

extension Parameters {
    /// The bf16 convolution of `input`-shaped fp32 tensors with the HWIO weights `weightName`
    /// (stride 1, 'SAME'), plus the bias `biasName` and ReLU, with an fp32 output; prepared once.
    func bf16Convolution(_ weightName: String, bias biasName: String?, input: [Int], relu: Bool) throws -> PreparedConvolution {
        try prepared.entry("conv \(weightName) \(Array(input.dropFirst())) relu:\(relu)",
                           sources: [weightName] + (biasName.map { [$0] } ?? [])) {
            let w = try self(weightName)
            let b = try biasName.map { try self($0).scalars }
            return try PreparedConvolution(input: input, filter: w, bias: b, relu: relu, bf16Output: false)
        }
    }
}

extension Parameters {
    /// The raw fp32 oneDNN convolution of `input`-shaped tensors with `filter`, the value of the weights
    /// `weightName` ('SAME' padding), prepared once; nil when this shape runs on OpenBLAS
    /// (`fp32ConvolutionUsesOneDNN`). Run it with `conv2dFused(_:_:scale:shift:residual:relu:)`: the
    /// same bits as `conv2d` and the op-by-op epilogue give. Its source is not noted (`onlyPrepared`):
    /// an fp32 run reads the fp32 weights anyway.
    func fp32Convolution(_ weightName: String, filter: Tensor, input: [Int], strides: (Int, Int),
                         dilations: (Int, Int)) throws -> PreparedConvolution? {
        guard fp32ConvolutionUsesOneDNN(input: input, filter: filter.shape, strides: strides, dilations: dilations,
                                        padding: .same) else { return nil }
        let key = "fp32-conv \(weightName) \(Array(input.dropFirst())) s\(strides.0),\(strides.1) d\(dilations.0),\(dilations.1)"
        return try prepared.entry(key, sources: []) {
            try PreparedConvolution(input: input, filter: filter, strides: strides, dilations: dilations, padding: .same,
                                    bf16Output: false, operands: .fp32)
        }
    }
}
