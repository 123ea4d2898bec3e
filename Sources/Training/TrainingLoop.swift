// The training loop: steps from a loader, a progress line, periodic checkpoints, stop on request.
//
// Checkpoints go to OUT/model-<step>.safetensors every `checkpointEvery` steps and at the end (or
// on a stop request); OUT/model.safetensors is always the latest one (what --resume reads). Each step appends a line
// to OUT/train.jsonl, and each checkpoint redraws OUT/curves.svg (TrainingLog.swift, TrainingCurves.swift).

import Evaluation
import Dispatch
import Foundation
import ImageModel
import Pipeline
import Tensor
import VideoModel

/// Where and how often a run writes checkpoints.
public struct CheckpointPolicy: Sendable {
    public var folder: URL
    /// Steps between checkpoints (0: only at the end).
    public var every: Int

    public init(folder: URL, every: Int) {
        self.folder = folder
        self.every = every
    }

    public var latest: URL { folder.appendingPathComponent("model.safetensors") }

    public func numbered(_ step: Int) -> URL { folder.appendingPathComponent("model-\(step).safetensors") }

    /// Writes the numbered checkpoint and the latest one (both atomically).
    public func save(_ trainer: Trainer) throws {
        try trainer.save(to: numbered(trainer.step))
        try trainer.save(to: latest)
    }
}

/// The progress line: step, loss (current, running average), pixel accuracy (all / positive /
/// negative, current and average) as the original printed them, learning rate, s/step, ETA.
public func progressLine(_ r: StepReport, averages: RunningAverages, totalSteps: Int, secondsPerStep: Double) -> String {
    let eta = Double(max(0, totalSteps - r.step)) * secondsPerStep
    return String(format: "step %d/%d  loss %.4f (avg %.4f)  acc %.3f/%.3f/%.3f (avg %.3f/%.3f/%.3f)  lr %.3g  %.2f s/step  ETA %@",
                  r.step, totalSteps, r.terms.clsLoss, averages.loss,
                  r.accuracy.all, r.accuracy.positive, r.accuracy.negative,
                  averages.accuracy.all, averages.accuracy.positive, averages.accuracy.negative,
                  r.learningRate, secondsPerStep, clockTime(eta))
}

/// h:mm:ss (or m:ss) of a duration in seconds; "-" when unknown.
func clockTime(_ seconds: Double) -> String {
    guard seconds.isFinite, seconds >= 0 else { return "-" }
    let s = Int(seconds.rounded())
    let (h, m, sec) = (s / 3600, s / 60 % 60, s % 60)
    return h > 0 ? String(format: "%d:%02d:%02d", h, m, sec) : String(format: "%d:%02d", m, sec)
}

/// Seconds on a monotonic clock.
func monotonicSeconds() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

/// How a run ended.
public struct RunSummary: Sendable {
    public var stepsRun: Int
    public var finalStep: Int
    public var stopped: Bool
    /// cls_loss (final head) of every step run, in order.
    public var losses: [Float]
    public var seconds: Double
}

/// Runs steps until `totalSteps` (global) or until `shouldStop` says so before a step (Ctrl-C in the
/// tool); writes checkpoints by `policy`, and always one when stopped early. `log` gets the progress
/// line every `logEvery` steps (and on the last). `trainingLog` (OUT/train.jsonl) gets a line per step and is synced,
/// with curves.svg redrawn, at each checkpoint. `evaluate` runs after every `evaluateEvery`-th step but the last
/// (the caller evaluates the end), before that step's checkpoint.
public func runTraining(trainer: Trainer, loader: PrefetchLoader, totalSteps: Int, policy: CheckpointPolicy?,
                        shouldStop: () -> Bool = { false }, logEvery: Int = 10, trainingLog: TrainingLog? = nil,
                        evaluateEvery: Int = 0, evaluate: ((Trainer) throws -> Void)? = nil,
                        log: (String) -> Void = { print($0) }) throws -> RunSummary {
    let start = monotonicSeconds()
    var losses: [Float] = []
    var lastSaved = trainer.step
    var stopped = false
    var timeAverage = 0.0
    while trainer.step < totalSteps {
        if shouldStop() { stopped = true; break }
        let t0 = monotonicSeconds()
        let batch = try Profiler.section("waiting for data") { try loader.next(batch: trainer.settings.batchSize) }
        let r = try Profiler.section("step") { try trainer.step(batch) }
        let dt = monotonicSeconds() - t0
        timeAverage = losses.isEmpty ? dt : 0.9 * timeAverage + 0.1 * dt
        losses.append(r.terms.clsLoss)
        try trainingLog?.append(TrainingLogLine(r, seconds: dt))
        if r.step % max(1, logEvery) == 0 || r.step == totalSteps || losses.count == 1 {
            log(progressLine(r, averages: trainer.averages, totalSteps: totalSteps, secondsPerStep: timeAverage))
        }
        if let evaluate, evaluateEvery > 0, trainer.step % evaluateEvery == 0, trainer.step < totalSteps {
            try evaluate(trainer)
        }
        if let policy, policy.every > 0, trainer.step % policy.every == 0 {
            try policy.save(trainer)
            try trainingLog?.checkpointed()
            lastSaved = trainer.step
        }
    }
    if let policy, lastSaved != trainer.step || stopped || !FileManager.default.fileExists(atPath: policy.latest.path) {
        try policy.save(trainer)
        try trainingLog?.checkpointed()
        log("checkpoint \(policy.numbered(trainer.step).path) (step \(trainer.step))")
    }
    return RunSummary(stepsRun: losses.count, finalStep: trainer.step, stopped: stopped, losses: losses,
                      seconds: monotonicSeconds() - start)
}

/// Overall and mean IoU of the final head at the network's H×W (prediction logit ≥ 0 vs the
/// resized-and-padded target), a quick check during development; `cmpc-video evaluate` measures at
/// the frame's resolution as the original.
public func quickEvaluate(model: CMPCModel, samples: [TrainingSample]) throws -> (overallIoU: Double, meanIoU: Double) {
    try quickEvaluate(model: model, count: samples.count) { samples[$0] }
}

/// `quickEvaluate` over `count` samples made one at a time by `sample` (only one is held at once).
public func quickEvaluate(model: CMPCModel, count: Int,
                          sample: (Int) throws -> TrainingSample) throws -> (overallIoU: Double, meanIoU: Double) {
    var inter = 0.0, union = 0.0, sumIoU = 0.0
    for k in 0..<count {
        let s = try sample(k)
        let out = try Tape.withoutRecording { try model.forward(input: s.input, words: s.words) }
        var i = 0.0, u = 0.0
        for (logit, t) in zip(out.up.scalars, s.target.scalars) {
            let p = logit >= 0, g = t != 0
            if p && g { i += 1 }
            if p || g { u += 1 }
        }
        inter += i
        union += u
        sumIoU += u > 0 ? i / u : 1
    }
    return (union > 0 ? inter / union : 0, count == 0 ? 0 : sumIoU / Double(count))
}
