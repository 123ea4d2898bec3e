// The original training objective and one step's gradients.
// Port of train_op() in CMPC_model.py / CMPC_video_mm_tgraph_allvec.py and util/loss.py
// (weighed_logistic_loss with both multipliers 1, l2_regularization_loss).
//
//     cls_loss_L   = Σ_pixels sigmoid_cross_entropy(up_L, target)          L = final, c3, c4, c5 (H×W logits)
//     cls_loss_all = 0.7·cls_loss + 0.1·(cls_loss_c5 + cls_loss_c4 + cls_loss_c3)
//     reg_loss     = weight_decay · Σ ½‖v‖² over trained v named …DW… or …/weights
//     cost         = cls_loss_all + reg_loss
// A batch of B samples averages the per-sample terms (reduce_mean over the batch); the network runs
// one sample at a time, so gradients are averaged over the samples' tapes.

import ImageModel
import Pipeline
import Tensor
import VideoModel

/// Which variables a training run updates (the original: text_objseg only, or + res3-5 with conv5).
public enum Finetune: String, CaseIterable, Sendable, Codable {
    /// text_objseg/* only (the original's default).
    case none
    /// text_objseg/* + res3*, res4*, res5* convolution weights (the original's conv5 / finetune flag;
    /// the batch-norm variables bn3*… do not start with "res" and stay fixed, as in the original).
    case res345 = "res3-5"
    /// Every variable except the batch-norm moving statistics (training from scratch).
    case all

    /// Whether a parameter is trained under this setting.
    public func trains(_ name: String) -> Bool {
        if name.hasPrefix("text_objseg/") { return true }
        switch self {
        case .none: return false
        case .res345: return name.hasPrefix("res3") || name.hasPrefix("res4") || name.hasPrefix("res5")
        case .all: return !(name.hasSuffix("/moving_mean") || name.hasSuffix("/moving_variance"))
        }
    }
}

/// The loss weights and regulariser of the original.
public struct TrainingObjective: Sendable, Codable, Equatable {
    /// Weight of the final head's loss (0.7).
    public var finalWeight: Float = 0.7
    /// Weight of each level head's loss (0.1).
    public var levelWeight: Float = 0.1
    /// Factor of ½Σw² (0.0005).
    public var weightDecay: Float = 0.0005

    public init(weightDecay: Float = 0.0005) { self.weightDecay = weightDecay }

    /// Whether a trained variable is in the original's regularisation list (…DW… or …/weights).
    public static func isRegularized(_ name: String) -> Bool {
        if let r = name.range(of: "DW"), r.lowerBound > name.startIndex { return true }
        return name.hasSuffix("/weights")
    }

    /// Whether the original doubles this variable's gradient (…biases…).
    public static func hasDoubledGradient(_ name: String) -> Bool {
        if let r = name.range(of: "biases"), r.lowerBound > name.startIndex { return true }
        return false
    }
}

/// The scalar terms of the objective, named as the original's tensors.
public struct LossTerms: Sendable, Equatable, Codable {
    public var cost: Float = 0
    public var clsLossAll: Float = 0
    public var clsLoss: Float = 0
    public var clsLossC3: Float = 0
    public var clsLossC4: Float = 0
    public var clsLossC5: Float = 0
    public var regLoss: Float = 0

    public init() {}

    /// (original name, value) pairs.
    public var named: [(String, Float)] {
        [("cost", cost), ("cls_loss_all", clsLossAll), ("cls_loss", clsLoss), ("cls_loss_c3", clsLossC3),
         ("cls_loss_c4", clsLossC4), ("cls_loss_c5", clsLossC5), ("reg_loss", regLoss)]
    }
}

/// Pixel accuracy as the original's compute_accuracy: logits `pred` [vf_h,vf_w] against the target
/// bilinearly resized to vf_h×vf_w (positive where it is not 0); positive accuracy divides by count+1.
public struct PixelAccuracy: Sendable, Equatable, Codable {
    public var all: Double = 0
    public var positive: Double = 0
    public var negative: Double = 0

    public init() {}

    public init(all: Double, positive: Double, negative: Double) {
        self.all = all
        self.positive = positive
        self.negative = negative
    }

    /// pred [1,h,w,1] logits, target [1,H,W,1].
    public init(pred: Tensor, target: Tensor) throws {
        let h = pred.shape[1], w = pred.shape[2]
        let small = try resizeBilinear(target, height: h, width: w)
        var pos = 0, neg = 0, okPos = 0, okNeg = 0
        for (s, l) in zip(pred.scalars, small.scalars) {
            if l != 0 {
                pos += 1
                if s >= 0 { okPos += 1 }
            } else {
                neg += 1
                if s < 0 { okNeg += 1 }
            }
        }
        all = Double(okPos + okNeg) / Double(max(1, pos + neg))
        positive = Double(okPos) / Double(pos + 1)
        negative = neg > 0 ? Double(okNeg) / Double(neg) : 0
    }
}

/// The objective's value and gradients for one batch.
public struct StepGradients: Sendable {
    /// The terms, averaged over the batch.
    public var terms: LossTerms
    /// d cost / d v for every trained variable (before any multiplier).
    public var gradients: [String: Tensor]
    /// Pixel accuracy of the final head, averaged over the batch.
    public var accuracy: PixelAccuracy
}

extension TrainingObjective {
    /// The loss terms of one sample's outputs (tensors on the tape): returns (cost, terms).
    public func terms(outputs: CMPCOutputs, target: Tensor, regularized: [Tensor]) throws -> (Tensor, [Tensor]) {
        func cls(_ logits: Tensor) throws -> Tensor {
            try sigmoidCrossEntropy(logits: logits, labels: target).sum()
        }
        let final = try cls(outputs.up), c3 = try cls(outputs.upC3), c4 = try cls(outputs.upC4), c5 = try cls(outputs.upC5)
        let all = try finalWeight * final + levelWeight * c5 + levelWeight * c4 + levelWeight * c3
        var reg = Tensor(0)
        for v in regularized { reg = try reg + l2Loss(v) }
        reg = try weightDecay * reg
        let cost = try all + reg
        return (cost, [cost, all, final, c3, c4, c5, reg])
    }

    /// Runs the model on each sample with the trained variables on the tape and back-propagates.
    /// `trained` names must be declared by the model. The tracked variables live in a copy of the
    /// parameters that only this call sees: the model (and anyone else reading it) is untouched.
    /// `concurrent`: run the samples side by side, one per engine worker (default: when there is more
    /// than one worker); the gradients are the same bit for bit either way.
    public func gradients(model: CMPCModel, trained: [String], batch: [TrainingSample],
                          concurrent: Bool? = nil) throws -> StepGradients {
        guard !batch.isEmpty else {
            throw TensorError.invalidArgument(op: "TrainingObjective.gradients", reason: "empty batch")
        }
        let (H, W) = (model.config.H, model.config.W)
        let saved = try trained.map { try model.parameters($0) }
        var leaves: [Tensor] = []
        var trackedCopy = model.parameters
        for (n, v) in zip(trained, saved) {
            let leaf = v.detached.trackingGradients(label: n)
            trackedCopy.values[n] = leaf
            leaves.append(leaf)
        }
        let tracked = trackedCopy
        let regularized = zip(trained, leaves).filter { TrainingObjective.isRegularized($0.0) }.map(\.1)
        for sample in batch where sample.target.count != H * W {
            throw TensorError.shapeMismatch(op: "TrainingObjective.gradients", shapes: [sample.target.shape, [H, W]],
                                            reason: "the target must be [H, W] as configured")
        }
        // One sample: its loss terms, its gradients and its pixel accuracy.
        func one(_ sample: TrainingSample) throws -> (values: [Float], grads: [Tensor], accuracy: PixelAccuracy) {
            let target = try sample.target.detached.reshaped(to: [1, H, W, 1])
            let outputs = try Profiler.section("forward") { try model.network.forward(input: sample.input, words: sample.words, tracked) }
            let (cost, values) = try Profiler.section("loss") { try terms(outputs: outputs, target: target, regularized: regularized) }
            let g = try Profiler.section("backward") { try Tape.gradients(of: cost, wrt: leaves) }
            return (values.map(\.scalar), g, try PixelAccuracy(pred: outputs.pred.detached, target: target))
        }
        // The samples of a batch run side by side, one per engine worker (each sample's own loops
        // then run on its worker's thread); or one after another, each on all the workers. The
        // engine's results do not depend on that (Engine.swift) and the sums are taken in sample
        // order, so the gradients are the same bit for bit either way.
        var results = [Result<(values: [Float], grads: [Tensor], accuracy: PixelAccuracy), Error>?](repeating: nil, count: batch.count)
        if concurrent ?? (Engine.workers > 1) {
            results.withUnsafeMutableBufferPointer { out in
                parallelFor(batch.count, grain: 1) { samples in
                    for i in samples { out[i] = Result { try one(batch[i]) } }
                }
            }
        } else {
            for i in batch.indices { results[i] = Result { try one(batch[i]) } }
        }
        var sums = [Double](repeating: 0, count: 7)
        var grads: [Tensor] = saved.map { Tensor(shape: $0.shape) }
        var accuracy = PixelAccuracy()
        for r in results {
            let (values, g, acc) = try r!.get()
            for (i, v) in values.enumerated() { sums[i] += Double(v) }
            for i in grads.indices { grads[i] = try grads[i] + g[i] }
            accuracy.all += acc.all
            accuracy.positive += acc.positive
            accuracy.negative += acc.negative
        }
        let b = Double(batch.count)
        var t = LossTerms()
        (t.cost, t.clsLossAll, t.clsLoss, t.clsLossC3, t.clsLossC4, t.clsLossC5, t.regLoss) =
            (Float(sums[0] / b), Float(sums[1] / b), Float(sums[2] / b), Float(sums[3] / b),
             Float(sums[4] / b), Float(sums[5] / b), Float(sums[6] / b))
        if batch.count > 1 {
            let k = 1 / Float(batch.count)
            grads = try grads.map { try $0 * k }
        }
        var byName: [String: Tensor] = [:]
        for (n, g) in zip(trained, grads) { byName[n] = g.detached }
        accuracy.all /= b
        accuracy.positive /= b
        accuracy.negative /= b
        return StepGradients(terms: t, gradients: byName, accuracy: accuracy)
    }
}
