// Trainer: one model, the original's Adam + polynomial decay, and checkpoints that resume exactly.
//
// A checkpoint is one safetensors file written atomically:
//   every network parameter under its original name (float32),
//   `<name>/Adam`, `<name>/Adam_1` (first and second moments) for every trained variable,
//   `beta1_power`, `beta2_power` (float32 []), `global_step` (int64 []),
//   and metadata "cmpc_training": a JSON TrainingState (settings, step, data position, seed, averages).
// The optimizer names are the ones TensorFlow gives its slots, and Parameters skips them on
// loading, so a training checkpoint is also a model checkpoint for segment/evaluate.

import Checkpoint
import Foundation
import ImageModel
import Pipeline
import Tensor
import VideoModel

/// Hyper-parameters of a run (the original's defaults).
public struct TrainingSettings: Sendable, Codable, Equatable {
    public var finetune: Finetune = .none
    /// Learning rate at step 0 (the original's -lr, 0.00025).
    public var startLearningRate: Float = 0.00025
    /// Steps of the polynomial decay (the original's -lrd, 800000).
    public var decaySteps: Int = 800_000
    /// Learning rate at the end of the decay (1e-5).
    public var endLearningRate: Float = 1e-5
    /// Exponent of the decay (0.9).
    public var power: Float = 0.9
    /// Factor of the L2 penalty (0.0005).
    public var weightDecay: Float = 0.0005
    /// Samples per step (1 as the original).
    public var batchSize: Int = 1
    /// Seed of the data order.
    public var seed: UInt64 = 1

    public init() {}

    enum CodingKeys: String, CodingKey {
        case finetune, startLearningRate = "start_lr", decaySteps = "decay_steps", endLearningRate = "end_lr"
        case power, weightDecay = "weight_decay", batchSize = "batch", seed
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        var d = TrainingSettings()
        d.finetune = try c.decodeIfPresent(Finetune.self, forKey: .finetune) ?? d.finetune
        d.startLearningRate = try c.decodeIfPresent(Float.self, forKey: .startLearningRate) ?? d.startLearningRate
        d.decaySteps = try c.decodeIfPresent(Int.self, forKey: .decaySteps) ?? d.decaySteps
        d.endLearningRate = try c.decodeIfPresent(Float.self, forKey: .endLearningRate) ?? d.endLearningRate
        d.power = try c.decodeIfPresent(Float.self, forKey: .power) ?? d.power
        d.weightDecay = try c.decodeIfPresent(Float.self, forKey: .weightDecay) ?? d.weightDecay
        d.batchSize = try c.decodeIfPresent(Int.self, forKey: .batchSize) ?? d.batchSize
        d.seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? d.seed
        self = d
    }
}

/// What a checkpoint records besides tensors.
public struct TrainingState: Sendable, Codable, Equatable {
    public var settings: TrainingSettings
    /// The model configuration (so a resumed run builds the same network).
    public var config: ModelConfig
    /// Steps applied.
    public var step: Int
    /// Samples taken from the data order so far (the loader resumes from here).
    public var samplesConsumed: Int
    /// Running averages for the progress line (decay 0.99 as the original).
    public var averages: RunningAverages
}

/// The original's exponential moving averages (decay 0.99) of the loss and the accuracies.
public struct RunningAverages: Sendable, Codable, Equatable {
    public var loss: Double = 0
    public var accuracy = PixelAccuracy()
    public static let decay = 0.99

    public init() {}

    public mutating func add(loss l: Double, accuracy a: PixelAccuracy) {
        let d = RunningAverages.decay
        loss = d * loss + (1 - d) * l
        accuracy.all = d * accuracy.all + (1 - d) * a.all
        accuracy.positive = d * accuracy.positive + (1 - d) * a.positive
        accuracy.negative = d * accuracy.negative + (1 - d) * a.negative
    }
}

/// What one step reports.
public struct StepReport: Sendable {
    /// The step just applied (1-based count).
    public var step: Int
    public var terms: LossTerms
    public var accuracy: PixelAccuracy
    /// Learning rate used for this step.
    public var learningRate: Float
}

/// Why training cannot start or resume.
public struct TrainingError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A model being trained.
public final class Trainer {
    /// The trainer's own copy of the model, which its optimizer steps update.
    public private(set) var model: CMPCModel
    public let settings: TrainingSettings
    public let objective: TrainingObjective
    public let schedule: PolynomialDecay
    /// Names of the trained variables, in declaration order.
    public let trained: [String]
    public let adam: Adam
    /// Samples consumed from the data order.
    public var samplesConsumed = 0
    public var averages = RunningAverages()

    /// Steps applied so far.
    public var step: Int { adam.stepCount }

    public init(model: CMPCModel, settings: TrainingSettings) throws {
        guard settings.batchSize >= 1, settings.batchSize <= 1024 else {
            throw TrainingError("batch size \(settings.batchSize) must be in 1…1024")
        }
        guard settings.startLearningRate.isFinite, settings.startLearningRate > 0 else {
            throw TrainingError("learning rate \(settings.startLearningRate) must be positive")
        }
        self.model = model
        self.settings = settings
        objective = TrainingObjective(weightDecay: settings.weightDecay)
        schedule = try PolynomialDecay(initial: settings.startLearningRate, decaySteps: settings.decaySteps,
                                       end: settings.endLearningRate, power: settings.power)
        trained = model.parameters.specs.map(\.name).filter { settings.finetune.trains($0) }
        adam = Adam(gradientMultiplier: { TrainingObjective.hasDoubledGradient($0) ? 2 : 1 })
    }

    /// Gradients and loss of a batch at the current values (nothing changes).
    public func gradients(_ batch: [TrainingSample]) throws -> StepGradients {
        try objective.gradients(model: model, trained: trained, batch: batch)
    }

    /// One optimizer step on a batch.
    @discardableResult
    public func step(_ batch: [TrainingSample]) throws -> StepReport {
        let g = try gradients(batch)
        guard g.terms.cost.isFinite else {
            throw TrainingError("the loss is not finite at step \(step + 1) (cost \(g.terms.cost)); lower the learning rate")
        }
        let lr = schedule(step: step)
        try Profiler.section("adam") {
            try adam.step(parameters: &model.parameters.values, gradients: g.gradients, learningRate: lr)
        }
        samplesConsumed += batch.count
        averages.add(loss: Double(g.terms.clsLoss), accuracy: g.accuracy)
        return StepReport(step: step, terms: g.terms, accuracy: g.accuracy, learningRate: lr)
    }

    /// The learning rate of the next step.
    public var learningRate: Float { schedule(step: step) }

    // MARK: checkpoints

    public var state: TrainingState {
        TrainingState(settings: settings, config: model.config, step: step, samplesConsumed: samplesConsumed,
                      averages: averages)
    }

    /// Writes the checkpoint (atomically).
    public func save(to url: URL) throws {
        var tensors: [(String, TypedArray)] = []
        for spec in model.parameters.specs {
            tensors.append((spec.name, TypedArray(try model.parameters(spec.name).detached)))
        }
        for name in trained {
            if let m = adam.m[name], let v = adam.v[name] {
                tensors.append((name + "/Adam", TypedArray(m)))
                tensors.append((name + "/Adam_1", TypedArray(v)))
            }
        }
        tensors.append(("beta1_power", TypedArray(float32: [], scalars: [adam.beta1Power])))
        tensors.append(("beta2_power", TypedArray(float32: [], scalars: [adam.beta2Power])))
        tensors.append(("global_step", TypedArray(int64: [], scalars: [Int64(step)])))
        // Sorted keys: the same state gives the same bytes in every process.
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = try encoder.encode(state)
        let meta = ["cmpc_training": String(decoding: json, as: UTF8.self), "format": "pt"]
        try Safetensors.write(tensors, metadata: meta, to: url)
    }

    /// A trainer restored from a checkpoint written by `save` (same settings, optimizer state and position).
    public static func resume(from url: URL) throws -> Trainer {
        let (arrays, metadata) = try Safetensors.read(url)
        guard let json = metadata["cmpc_training"] else {
            throw TrainingError("\(url.path) has no training state (metadata cmpc_training): not a checkpoint of `cmpc-video train`")
        }
        let state: TrainingState
        do {
            state = try JSONDecoder().decode(TrainingState.self, from: Data(json.utf8))
        } catch {
            throw TrainingError("\(url.path): the training state cannot be read: \(error)")
        }
        var byName: [String: TypedArray] = [:]
        var params: [(name: String, value: Tensor)] = []
        for (n, a) in arrays {
            byName[n] = a
            if !Parameters.isOptimizerState(n), a.dtype == .float32 { params.append((n, try a.tensor())) }
        }
        let model = try CMPCModel(tensors: params, base: state.config, source: url.path)
        let parameters = model.parameters
        let trainer = try Trainer(model: model, settings: state.settings)
        for name in trainer.trained {
            guard let m = byName[name + "/Adam"], let v = byName[name + "/Adam_1"] else {
                if state.step == 0 { continue }
                throw TrainingError("\(url.path): optimizer slots of \(name) are missing")
            }
            let shape = try parameters(name).shape
            guard m.shape == shape, v.shape == shape else {
                throw TrainingError("\(url.path): optimizer slots of \(name) have shapes \(m.shape), \(v.shape); the variable is \(shape)")
            }
            trainer.adam.m[name] = try m.tensor()
            trainer.adam.v[name] = try v.tensor()
        }
        func scalar(_ n: String) throws -> Float {
            guard let a = byName[n], a.shape == [], a.dtype == .float32 else {
                throw TrainingError("\(url.path): \(n) (float32 scalar) is missing")
            }
            return try a.tensor().scalar
        }
        trainer.adam.beta1Power = try scalar("beta1_power")
        trainer.adam.beta2Power = try scalar("beta2_power")
        trainer.adam.stepCount = state.step
        trainer.samplesConsumed = state.samplesConsumed
        trainer.averages = state.averages
        return trainer
    }
}
