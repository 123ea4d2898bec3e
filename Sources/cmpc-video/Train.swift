// `cmpc-video train`: train a CMPC network with the original objective (docs/training.md).
import ArgumentParser
import Checkpoint
import CommandLineSupport
import Datasets
import Evaluation
import FileOutput
import Foundation
import ImageModel
import Pipeline
import Tensor
import Training
import VideoModel

struct Train: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a CMPC network (the original's loss, Adam with polynomial decay, bias gradients ×2).",
        discussion: """
            Reads the A2D Sentences layout under --root (e.g. made by `cmpc-video synth`), writes \
            OUT/model-<step>.safetensors every --checkpoint-every steps and at the end, OUT/model.safetensors \
            (the latest), OUT/config.json and OUT/vocabulary.txt, OUT/train.jsonl (a JSON line per step: step, \
            losses, lr, accuracy, seconds; and the --eval-split IoU) and OUT/curves.svg (loss, accuracy and eval IoU \
            against step, redrawn at each checkpoint). --resume continues from OUT/model.safetensors exactly. Ctrl-C (SIGINT) or SIGTERM writes a checkpoint and exits. See docs/training.md.
            """)

    @Option(help: "The dataset's layout.")
    var dataset: TrainingDataset = .a2d

    @Option(help: "The dataset folder.")
    var root: String

    @Option(help: "Model configuration JSON (ignored with --resume: the checkpoint has it).")
    var config: String?

    @Option(help: "Output folder for checkpoints.")
    var out: String

    @Option(help: "Initial weights: the DeepLab init checkpoint (TF V1), or a CMPC checkpoint (TF V2, .safetensors, .npz).")
    var `init`: String?

    @Option(help: "GloVe embedding matrix (.npy, [vocab_size, glove_dim], e.g. the original's Gref_emb.npy) for text_objseg/Variable.")
    var glove: String?

    @Option(help: "Train a baseline variant; kept in OUT/config.json, so evaluate and segment run the same variant.")
    var ablation: ModelAblation?

    @Flag(help: "Video network: add the motion features (not in the original) — each level's fusion also reads the differences between the other sampled frames' multimodal features and the target frame's; kept in OUT/config.json as \"motion\": true.")
    var motion = false

    @Option(help: "Trained variables.")
    var finetune: Finetune = .none

    @Option(help: "How frames and masks are resized into the network input.")
    var resize: ResizeMode = .original

    @Option(help: "Total steps.")
    var steps: Int = 1000

    @Option(help: "Samples per step.")
    var batch: Int = 1

    @Option(help: "Seed of the initial weights and of the data order.")
    var seed: UInt64 = 1

    @Flag(help: "Continue from OUT/model.safetensors.")
    var resume = false

    @Option(name: .customLong("lr"), help: "Start learning rate (the original: 0.00025).")
    var learningRate: Float = 0.00025

    @Option(help: "Polynomial decay steps (default: --steps).")
    var decaySteps: Int?

    @Option(help: "L2 factor of the head's weights.")
    var weightDecay: Float = 0.0005

    @Option(help: "Steps between checkpoints (0: only at the end).")
    var checkpointEvery: Int = 500

    @Option(help: "Steps between progress lines.")
    var logEvery: Int = 10

    @Option(help: "Vocabulary (default: ROOT/vocabulary.txt).")
    var vocab: String?

    @Option(help: "The split to train on.")
    var split: String = "train"

    @Option(help: "After training, report overall/mean IoU at the network's resolution on this split (e.g. test).")
    var evalSplit: String?

    @Option(help: ArgumentHelp("With --eval-split: also evaluate every N steps (0: only at the end); each result goes to OUT/train.jsonl and OUT/curves.svg.", valueName: "n"))
    var evalEvery: Int = 0

    @Option(help: "Stop after this many steps of this run (the schedule still uses --steps).")
    var stopAfter: Int?

    @Flag(help: "Time the parts of each step (data, forward by paper block, loss, backward, Adam) and print the table at the end.")
    var profile = false

    @Option(help: "The engine's worker threads (default: CMPC_THREADS, else one per online core). With more than one, the samples of a batch (--batch > 1) run side by side, one per worker; the gradients do not depend on this.")
    var threads: Int?

    @Option(help: .hidden)
    var blasThreads: Int?

    func validate() throws {
        guard steps >= 1, steps <= 100_000_000 else { throw ValidationError("--steps must be positive") }
        guard batch >= 1, batch <= 1024 else { throw ValidationError("--batch must be in 1…1024") }
        guard checkpointEvery >= 0 else { throw ValidationError("--checkpoint-every must be ≥ 0") }
        guard evalEvery >= 0 else { throw ValidationError("--eval-every must be ≥ 0") }
        if evalEvery > 0, evalSplit == nil { throw ValidationError("--eval-every needs --eval-split (the split to evaluate)") }
        if let threads, !(1...Engine.maxWorkers).contains(threads) {
            throw ValidationError("--threads must be in 1…\(Engine.maxWorkers)")
        }
    }

    func run() async throws {
        setvbuf(stdout, nil, _IOLBF, 0)   // progress lines reach a log file as they are printed
        if blasThreads != nil {
            fputs("note: --blas-threads is deprecated and ignored: OpenBLAS runs one thread per call on the engine's "
                  + "workers, and the samples of a batch run side by side; --threads N sets the workers\n", stderr)
        }
        if let threads { try Engine.configure(workers: threads) }
        let outURL = URL(fileURLWithPath: out)
        try FileManager.default.createDirectory(at: outURL, withIntermediateDirectories: true)
        // Checkpoints half-written by a killed run into this folder (ours only, of processes no longer running).
        for path in AtomicFile.removeStaleTemporaries(in: outURL.path) {
            fputs("note: removed \(path), a temporary file left by an interrupted run\n", stderr)
        }
        let policy = CheckpointPolicy(folder: outURL, every: checkpointEvery)
        let vocabPath = vocab ?? (root as NSString).appendingPathComponent("vocabulary.txt")
        let vocabulary = try Vocabulary.load(URL(fileURLWithPath: vocabPath))

        let trainer: Trainer
        if resume {
            guard FileManager.default.fileExists(atPath: policy.latest.path) else {
                throw UserError("--resume: \(policy.latest.path) does not exist")
            }
            trainer = try Trainer.resume(from: policy.latest)
            print("resumed \(policy.latest.path) at step \(trainer.step)")
        } else {
            var cfg = ModelConfig()
            if let config { cfg = try ModelConfig.load(URL(fileURLWithPath: config)) }
            if let ablation {
                cfg.ablation = ablation
                try cfg.validate()
            }
            if motion {
                cfg.motion = true
                do { try cfg.validate() } catch { throw ValidationError("--motion: \(error)") }
            }
            var model = try CMPCModel(config: cfg, seed: seed)
            if let initPath = `init` {
                let (loaded, kept) = try loadInitialWeights(initPath, into: &model)
                print("initialised \(loaded) variables from \(initPath)\(kept > 0 ? " (\(kept) names not in the network skipped)" : "")")
            }
            if let glove {
                // The original initialises the embedding with GloVe vectors (its -emb option).
                let table = try NumPy.readNPY(URL(fileURLWithPath: glove)).tensor()
                let name = "text_objseg/Variable"
                guard table.shape == model.parameters.values[name]?.shape else {
                    throw UserError("\(glove) holds a \(table.shape) matrix; the model's embedding is "
                        + "\(model.parameters.values[name]?.shape ?? []) ([vocab_size, glove_dim] of the configuration)")
                }
                model.parameters.values[name] = table
                print("embedding initialised from \(glove)")
            }
            var settings = TrainingSettings()
            settings.finetune = finetune
            settings.startLearningRate = learningRate
            settings.decaySteps = decaySteps ?? steps
            settings.weightDecay = weightDecay
            settings.batchSize = batch
            settings.seed = seed
            trainer = try Trainer(model: model, settings: settings)
        }
        let cfg = trainer.model.config
        guard vocabulary.count <= cfg.vocabSize else {
            throw UserError("\(vocabPath) has \(vocabulary.count) words but the model's vocab_size is \(cfg.vocabSize)")
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        try AtomicFile.write(try encoder.encode(cfg), to: outURL.appendingPathComponent("config.json").path)
        try AtomicFile.write(Array((vocabulary.words.joined(separator: "\n") + "\n").utf8),
                             to: outURL.appendingPathComponent("vocabulary.txt").path)

        let data = A2DSentences(root: root)
        let samples = try data.samples(split: split)
        let preparer = SamplePreparer(config: cfg, vocabulary: vocabulary, resize: resize)
        let order = SampleOrder(count: samples.count, seed: trainer.settings.seed)
        let loader = try PrefetchLoader(order: order, start: trainer.samplesConsumed) { i in
            try preparer.prepare(samples[i])
        }
        defer { loader.stop() }
        print("training \(cfg.model.rawValue) network: \(trainer.trained.count) of \(trainer.model.parameters.specs.count) variables "
              + "(finetune \(trainer.settings.finetune.rawValue)), \(samples.count) samples, batch \(trainer.settings.batchSize), "
              + "steps \(trainer.step + 1)…\(steps)")
        let stop = StopRequest.onSignals { n in
            ProgressReporter.standardError("\nsignal \(n): writing a checkpoint after this step (again to quit now)\n")
        }
        defer { stop.uninstall() }
        let trainingLog = try TrainingLog(folder: outURL, resumingAt: resume ? trainer.step : nil)
        defer { try? trainingLog.close() }
        let target = min(steps, stopAfter.map { trainer.step + $0 } ?? steps)
        Profiler.enabled = profile
        // --eval-split: overall and mean IoU at the network's resolution, one sample prepared at a time; printed and
        // logged to train.jsonl (curves.svg shows it from the next checkpoint on).
        let evalSamples = try evalSplit.map { try data.samples(split: $0) } ?? []
        let evaluate = { (trainer: Trainer) throws in
            guard let evalSplit else { return }
            let (overall, mean) = try quickEvaluate(model: trainer.model, count: evalSamples.count) {
                try preparer.prepare(evalSamples[$0])
            }
            print(String(format: "%@ (%d samples, at %dx%d) at step %d: overall IoU %.4f, mean IoU %.4f",
                         evalSplit, evalSamples.count, cfg.W, cfg.H, trainer.step, overall, mean))
            try trainingLog.append(TrainingLogLine(step: trainer.step, eval: .init(
                split: evalSplit, samples: evalSamples.count, overallIoU: overall, meanIoU: mean)))
        }
        let summary = try runTraining(trainer: trainer, loader: loader, totalSteps: target, policy: policy,
                                      shouldStop: { stop.isRequested },
                                      logEvery: logEvery, trainingLog: trainingLog,
                                      evaluateEvery: evalEvery, evaluate: evaluate)
        Profiler.enabled = false
        print(String(format: "%d steps in %.1f s (%.2f s/step)%@", summary.stepsRun, summary.seconds,
                     summary.seconds / Double(max(1, summary.stepsRun)), summary.stopped ? ", stopped on request" : ""))
        if profile {
            // Inclusive times: a block's time is also in "forward", "forward" in "step"; with samples
            // running side by side (batch > 1, more than one worker) the sections of both count.
            print("section                   calls   seconds  ms/call  share of the run")
            for (name, e) in Profiler.entries {
                print(name.padding(toLength: 24, withPad: " ", startingAt: 0)
                      + String(format: " %6d %9.2f %8.3f  %5.1f %%", e.calls, e.seconds,
                               1000 * e.seconds / Double(max(1, e.calls)), 100 * e.seconds / max(summary.seconds, 1e-9)))
            }
        }
        if evalSplit != nil, !summary.stopped {
            try evaluate(trainer)
            try trainingLog.checkpointed()
        }
        if summary.stopped, let n = stop.signalNumber { throw ExitCode(128 + n) }
    }
}

/// Copies the tensors of a checkpoint whose names the network declares (shapes must match) into the
/// model. Returns (copied, skipped names).
func loadInitialWeights(_ path: String, into model: inout CMPCModel) throws -> (Int, Int) {
    let tensors: [(name: String, value: Tensor)]
    if TFCheckpointV1.isV1(path) {
        tensors = try TFCheckpointV1(path: path).readAll().filter { $0.array.dtype == .float32 }
            .map { ($0.name, try $0.array.tensor()) }
    } else {
        tensors = try readCheckpointTensors(path)
    }
    var copied = 0, skipped = 0
    var wrong: [String] = []
    for (name, value) in tensors {
        guard model.parameters.contains(name) else { skipped += 1; continue }
        let want = try model.parameters(name).shape
        guard want == value.shape else { wrong.append("\(name): file \(value.shape), network \(want)"); continue }
        model.parameters.values[name] = value
        copied += 1
    }
    guard wrong.isEmpty else {
        throw UserError("\(path) does not fit the network (check --config): " + wrong.prefix(10).joined(separator: "; "))
    }
    guard copied > 0 else { throw UserError("\(path) holds no variable of the network") }
    return (copied, skipped)
}
