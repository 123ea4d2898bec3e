// Parameters: the network's learnable tensors, keyed by the original TensorFlow variable names
// (`text_objseg/c5_lateral/DW`, `res4b22_branch2b/weights`, …), so loading the original checkpoint
// is a lookup by name with a shape check and our safetensors files use the same names.
//
// Parameters are a value: a forward pass reads the copy it was given, which nobody else can change
// while it runs. Training puts its tracked tensors into a copy of its own (TrainingObjective), and
// the optimizer updates the trainer's copy, so a model another thread evaluates never sees either.

import Tensor

/// How a parameter is initialised when a network is created from scratch.
public enum Initializer: Sendable, Equatable {
    case zeros, ones
    /// Glorot/Xavier uniform over fan-in + fan-out (tf.contrib.layers.xavier_initializer_conv2d).
    case xavier
    /// He normal (std √(2/fan-in)), for the backbone's convolutions.
    case heNormal
    /// Uniform in [lo, hi).
    case uniform(Float, Float)
    /// Normal with the given standard deviation.
    case normal(Float)
}

/// One parameter a network declares: its original name, shape and initialiser.
public struct ParameterSpec: Sendable, Equatable {
    public var name: String
    public var shape: [Int]
    public var initializer: Initializer
    /// True for head weights named DW (the ones the original's L2 regulariser covers).
    public var isRegularized: Bool { name.hasSuffix("/DW") }
    /// True for backbone variables (frozen unless fine-tuned).
    public var isBackbone: Bool { !name.hasPrefix("text_objseg/") }

    public init(_ name: String, _ shape: [Int], _ initializer: Initializer) {
        self.name = name
        self.shape = shape
        self.initializer = initializer
    }
}

/// Why a set of tensors does not fit a network.
public struct ParameterError: Error, CustomStringConvertible {
    public let description: String
}

/// The values of a network's parameters, by name (a value type: copies are independent).
public struct Parameters: Sendable {
    /// What the network declares, in declaration order.
    public let specs: [ParameterSpec]
    /// Current values; every declared name is present. Changing them changes only this copy (and
    /// gives it an empty `prepared` cache, so prepared weights always match the values).
    public var values: [String: Tensor] { didSet { if !keepingPrepared { prepared = PreparedWeights(); released = [] } } }
    /// Names whose fp32 values `releaseFP32` dropped (their prepared bf16 forms remain).
    public private(set) var released: Set<String> = []
    private var keepingPrepared = false
    /// Weights converted for bf16 inference, made on first use and shared by the copies of these
    /// values (PreparedWeights.swift).
    public private(set) var prepared = PreparedWeights()
    private let index: [String: Int]

    /// Parameters with values drawn from their initialisers (seeded).
    public init(specs: [ParameterSpec], seed: UInt64) {
        self.specs = specs
        var rng = SplitMix64(seed: seed)
        var values: [String: Tensor] = [:]
        var index: [String: Int] = [:]
        for (i, s) in specs.enumerated() {
            values[s.name] = Parameters.initialValue(s, using: &rng)
            index[s.name] = i
        }
        self.values = values
        self.index = index
    }

    /// Parameters from named tensors (a checkpoint): every declared name must be present with its
    /// shape. Names that are optimizer slots or step counters are skipped and counted; any other
    /// unexpected name is an error (unless `allowUnexpected`).
    public init(specs: [ParameterSpec], tensors: [(name: String, value: Tensor)], source: String,
                allowUnexpected: Bool = false) throws {
        self.specs = specs
        var index: [String: Int] = [:]
        for (i, s) in specs.enumerated() { index[s.name] = i }
        self.index = index
        var values: [String: Tensor] = [:]
        var wrongShape: [String] = []
        var nonFinite: [String] = []
        var unexpected: [String] = []
        var skipped = 0
        for (name, value) in tensors {
            if let i = index[name] {
                if value.shape == specs[i].shape {
                    values[name] = value
                    if let bad = Parameters.nonFiniteSummary(value.scalars) { nonFinite.append("\(name): \(bad)") }
                } else {
                    wrongShape.append("\(name): checkpoint \(value.shape), network \(specs[i].shape)")
                }
            } else if Parameters.isOptimizerState(name) {
                skipped += 1
            } else {
                unexpected.append(name)
            }
        }
        let wrongNames = Set(wrongShape.map { String($0.prefix(while: { $0 != ":" })) })
        let missing = specs.filter { values[$0.name] == nil && !wrongNames.contains($0.name) }
            .map { "\($0.name) \($0.shape)" }
        var problems: [String] = []
        if !wrongShape.isEmpty { problems.append("\(wrongShape.count) with the wrong shape:\n  " + wrongShape.prefix(20).joined(separator: "\n  ")) }
        if !missing.isEmpty { problems.append("\(missing.count) missing:\n  " + missing.prefix(20).joined(separator: "\n  ")) }
        if !unexpected.isEmpty && !allowUnexpected {
            problems.append("\(unexpected.count) unexpected:\n  " + unexpected.prefix(20).joined(separator: "\n  "))
        }
        if !nonFinite.isEmpty {
            problems.append("\(nonFinite.count) with NaN or infinite values (a diverged or damaged checkpoint; "
                + "use an earlier checkpoint of the run or retrain):\n  " + nonFinite.prefix(20).joined(separator: "\n  "))
        }
        if !problems.isEmpty {
            throw ParameterError(description:
                "\(source) does not fit the network (\(specs.count) parameters declared): " + problems.joined(separator: "\n")
                + "\nCheck that the configuration (--config) matches the checkpoint.")
        }
        self.values = values
        self.skippedOptimizerState = skipped
        self.unexpectedNames = unexpected
    }

    /// nil when every value is finite, else how many are NaN or infinite and where the first is.
    static func nonFiniteSummary(_ values: [Float]) -> String? {
        var count = 0
        var first = -1
        values.withUnsafeBufferPointer { p in
            for i in 0 ..< p.count where !p[i].isFinite {
                if first < 0 { first = i }
                count += 1
            }
        }
        guard count > 0 else { return nil }
        let kind = values[first].isNaN ? "NaN" : "\(values[first])"
        return "\(count) of \(values.count) values are NaN or infinite (the first, \(kind), at flat index \(first))"
    }

    /// Optimizer slots and step counters skipped while loading.
    public private(set) var skippedOptimizerState = 0
    /// Names present in the source but not declared (only when loaded with `allowUnexpected`).
    public private(set) var unexpectedNames: [String] = []

    /// Whether a checkpoint name is optimizer state rather than a network parameter.
    public static func isOptimizerState(_ name: String) -> Bool {
        name.hasSuffix("/Adam") || name.hasSuffix("/Adam_1") || name == "beta1_power" || name == "beta2_power"
            || name.hasSuffix("global_step") || name == "text_objseg/Variable_1" || name.hasPrefix("optimizer/")
            || name.hasPrefix("training/")
    }

    /// The value of a declared parameter.
    @inline(__always)
    public func callAsFunction(_ name: String) throws -> Tensor {
        guard let v = values[name] else {
            throw ParameterError(description: "parameter \(name) is not declared by this network")
        }
        if prepared.recordingReads { prepared.noteRead(name) }
        if !released.isEmpty, released.contains(name) {
            throw ParameterError(description: "parameter \(name) was dropped after its bf16 preparation "
                + "(the model was made for bf16 inference only): load the model again to run it in fp32 or train it")
        }
        return v
    }

    /// Drops the fp32 values of `names`, keeping the weights already prepared from them: a model that
    /// runs only in bf16 need not hold both. Reading a dropped value afterwards is an error.
    public mutating func releaseFP32(_ names: [String]) {
        keepingPrepared = true
        defer { keepingPrepared = false }
        for name in names where values[name] != nil {
            values[name] = Tensor(shape: [0])
            released.insert(name)
        }
    }

    /// Whether the network declares `name`.
    public func contains(_ name: String) -> Bool { index[name] != nil }

    static func initialValue<G: RandomNumberGenerator>(_ s: ParameterSpec, using rng: inout G) -> Tensor {
        let fanIn = s.shape.count >= 2 ? s.shape.dropLast().reduce(1, *) : max(1, s.shape.first ?? 1)
        let fanOut = s.shape.count >= 2
            ? s.shape.dropLast(2).reduce(1, *) * s.shape.last! : max(1, s.shape.last ?? 1)
        switch s.initializer {
        case .zeros: return Tensor(shape: s.shape)
        case .ones: return Tensor(shape: s.shape, repeating: 1)
        case .xavier:
            let limit = (6.0 / Float(fanIn + fanOut)).squareRoot()
            return Tensor.uniform(shape: s.shape, lo: -limit, hi: limit, using: &rng)
        case .heNormal:
            return Tensor.normal(shape: s.shape, std: (2.0 / Float(fanIn)).squareRoot(), using: &rng)
        case let .uniform(lo, hi):
            return Tensor.uniform(shape: s.shape, lo: lo, hi: hi, using: &rng)
        case let .normal(std):
            return Tensor.normal(shape: s.shape, std: std, using: &rng)
        }
    }
}
