// Training on a small synthetic set (made by the Datasets generator in a temporary folder): the
// loss falls, a resumed run continues exactly, a stop request writes a checkpoint, the data order
// is a seeded permutation per epoch.
import Checkpoint
import CommandLineSupport
import Datasets
import Evaluation
import Foundation
import ImageModel
import Pipeline
import Testing
import Tensor
@testable import Training
import Video
import VideoModel

/// A synthetic A2D-layout set (4 clips, 96×72, 24 frames) made once per process.
enum SyntheticSet {
    static let root: Result<String, Error> = Result {
        let dir = FileManager.default.temporaryDirectory
            .appendingPathComponent("cmpc-training-tests-\(ProcessInfo.processInfo.processIdentifier)").path
        var config = SyntheticConfig()
        config.videos = 4
        config.width = 96
        config.height = 72
        config.frames = 24
        config.seed = 5
        config.testFraction = 0.25
        _ = try SyntheticWriter(generator: try SynthGenerator(config: config), media: SyntheticVideoMedia()).write(to: dir)
        return dir
    }
}

/// A tiny video network that runs a step in a few milliseconds.
func tinyVideoConfig() -> ModelConfig {
    var c = ModelConfig()
    c.model = .video
    c.H = 32
    c.W = 32
    c.vEmbDim = 16
    c.rnnSize = 16
    c.mlpDim = 8
    c.numSteps = 12
    c.vocabSize = 40
    c.gloveDim = 8
    c.parseDim = 8
    c.widthDivisor = 16
    c.depth = [1, 1, 1, 1]
    return c
}

func makeLoader(root: String, config: ModelConfig, seed: UInt64, start: Int) throws -> PrefetchLoader {
    let vocabulary = try Vocabulary.load(URL(fileURLWithPath: root + "/vocabulary.txt"))
    let samples = try A2DSentences(root: root).samples(split: "train")
    let preparer = SamplePreparer(config: config, vocabulary: vocabulary)
    return try PrefetchLoader(order: SampleOrder(count: samples.count, seed: seed), start: start) { i in
        try preparer.prepare(samples[i])
    }
}

func makeTrainer(seed: UInt64 = 3, lr: Float = 0.002, steps: Int = 40) throws -> Trainer {
    var s = TrainingSettings()
    s.finetune = .all
    s.startLearningRate = lr
    s.decaySteps = steps
    s.seed = seed
    return try Trainer(model: try CMPCModel(config: tinyVideoConfig(), seed: seed), settings: s)
}

@Suite(.serialized) struct TrainingLoopTests {
    @Test func shortRunHalvesTheLoss() throws {
        let root = try SyntheticSet.root.get()
        let trainer = try makeTrainer(lr: 0.005, steps: 150)
        let loader = try makeLoader(root: root, config: trainer.model.config, seed: 3, start: 0)
        defer { loader.stop() }
        let run = try runTraining(trainer: trainer, loader: loader, totalSteps: 150, policy: nil, logEvery: 50)
        let first = run.losses.prefix(10).reduce(0, +) / 10
        let last = run.losses.suffix(10).reduce(0, +) / 10
        print("training: mean cls_loss steps 1-10 \(first), steps 141-150 \(last) (factor \(first / last))")
        #expect(run.losses.count == 150)
        #expect(last < first / 2, "the loss fell from \(first) to \(last) only")
    }

    @Test func resumedRunContinuesExactly() throws {
        let root = try SyntheticSet.root.get()
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("cmpc-resume-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }

        let straight = try makeTrainer()
        let l1 = try makeLoader(root: root, config: straight.model.config, seed: 3, start: 0)
        let all = try runTraining(trainer: straight, loader: l1, totalSteps: 8, policy: nil, log: { _ in })
        l1.stop()

        let first = try makeTrainer()
        let l2 = try makeLoader(root: root, config: first.model.config, seed: 3, start: 0)
        let policy = CheckpointPolicy(folder: folder, every: 0)
        _ = try runTraining(trainer: first, loader: l2, totalSteps: 5, policy: policy, log: { _ in })
        l2.stop()
        #expect(FileManager.default.fileExists(atPath: policy.numbered(5).path))

        let resumed = try Trainer.resume(from: policy.latest)
        #expect(resumed.step == 5)
        #expect(resumed.samplesConsumed == 5)
        #expect(resumed.adam.beta1Power == first.adam.beta1Power)
        let l3 = try makeLoader(root: root, config: resumed.model.config, seed: 3, start: resumed.samplesConsumed)
        let rest = try runTraining(trainer: resumed, loader: l3, totalSteps: 8, policy: nil, log: { _ in })
        l3.stop()
        #expect(rest.losses == Array(all.losses.suffix(3)), "resumed \(rest.losses) vs straight \(all.losses.suffix(3))")
        for name in straight.trained {
            #expect(try resumed.model.parameters(name).scalars == straight.model.parameters(name).scalars, "\(name)")
        }
        #expect(resumed.averages == straight.averages)
    }

    @Test func stopRequestWritesACheckpoint() throws {
        let root = try SyntheticSet.root.get()
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("cmpc-stop-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let trainer = try makeTrainer()
        let loader = try makeLoader(root: root, config: trainer.model.config, seed: 3, start: 0)
        defer { loader.stop() }
        let stop = StopRequest()
        var steps = 0
        let policy = CheckpointPolicy(folder: folder, every: 100)
        let run = try runTraining(trainer: trainer, loader: loader, totalSteps: 50, policy: policy, shouldStop: { stop.isRequested }, logEvery: 1) { _ in
            steps += 1
            if steps == 3 { stop.request() }
        }
        #expect(run.stopped)
        #expect(run.finalStep == 3)
        let saved = try Trainer.resume(from: policy.latest)
        #expect(saved.step == 3)
        // The checkpoint is also a model checkpoint: optimizer names are skipped when loading.
        let tensors = try CheckpointFile.readAll(policy.latest.path).filter { $0.array.dtype == .float32 }
            .map { ($0.name, try $0.array.tensor()) }
        let model = try CMPCModel(tensors: tensors, base: tinyVideoConfig(), source: policy.latest.path)
        #expect(model.parameters.skippedOptimizerState > 0)
    }

    @Test func corruptCheckpointIsAnError() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("cmpc-bad-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try Data([1, 2, 3]).write(to: url)
        #expect(throws: (any Error).self) { try Trainer.resume(from: url) }
        // A model-only safetensors file has no training state.
        try Safetensors.write([("a", TypedArray(float32: [1], scalars: [1]))], metadata: [:], to: url)
        #expect(throws: TrainingError.self) { try Trainer.resume(from: url) }
    }

    @Test func orderIsASeededPermutationPerEpoch() {
        let order = SampleOrder(count: 17, seed: 9)
        let e0 = order.permutation(epoch: 0), e1 = order.permutation(epoch: 1)
        #expect(e0.sorted() == Array(0..<17))
        #expect(e1.sorted() == Array(0..<17))
        #expect(e0 != e1)
        #expect(e0 != SampleOrder(count: 17, seed: 10).permutation(epoch: 0))
        #expect(order.index(at: 17 + 4) == e1[4])
    }

    @Test func objectiveRulesFollowTheOriginal() {
        #expect(TrainingObjective.isRegularized("text_objseg/c5_lateral/DW"))
        #expect(TrainingObjective.isRegularized("res4a_branch2b/weights"))
        #expect(!TrainingObjective.isRegularized("text_objseg/c5_lateral/biases"))
        #expect(TrainingObjective.hasDoubledGradient("text_objseg/score/biases"))
        #expect(!TrainingObjective.hasDoubledGradient("text_objseg/RNN/multi_rnn_cell/cell_0/basic_lstm_cell/bias"))
        #expect(Finetune.none.trains("text_objseg/Variable"))
        #expect(!Finetune.none.trains("res5a_branch2a/weights"))
        #expect(Finetune.res345.trains("res5a_branch2a/weights"))
        #expect(!Finetune.res345.trains("bn5a_branch2a/gamma"))
        #expect(!Finetune.res345.trains("res2a_branch2a/weights"))
        #expect(Finetune.all.trains("bn5a_branch2a/gamma"))
        #expect(!Finetune.all.trains("bn5a_branch2a/moving_mean"))
    }
}

@Suite(.serialized) struct BatchTests {
    @Test func concurrentSamplesGiveTheSequentialGradients() throws {
        let root = try SyntheticSet.root.get()
        let trainer = try makeTrainer(seed: 4)
        let loader = try makeLoader(root: root, config: trainer.model.config, seed: 4, start: 0)
        defer { loader.stop() }
        let batch = try loader.next(batch: 3)
        let objective = trainer.objective
        // One after another, each sample on two workers; side by side, each on one; and on one
        // worker in all: the engine's results do not depend on the workers, so the gradients agree bit for bit.
        let seq = try Engine.withWorkers(2) {
            try objective.gradients(model: trainer.model, trained: trainer.trained, batch: batch, concurrent: false)
        }
        let par = try Engine.withWorkers(2) {
            try objective.gradients(model: trainer.model, trained: trainer.trained, batch: batch, concurrent: true)
        }
        let single = try Engine.withWorkers(1) {
            try objective.gradients(model: trainer.model, trained: trainer.trained, batch: batch)
        }
        for (name, other) in [("side by side", par), ("on one worker", single)] {
            #expect(other.terms == seq.terms, "loss terms \(name)")
            #expect(other.accuracy == seq.accuracy, "accuracy \(name)")
            #expect(Set(other.gradients.keys) == Set(seq.gradients.keys))
            for (variable, g) in seq.gradients {
                let o = other.gradients[variable]?.scalars ?? []
                let differing = zip(g.scalars, o).filter { $0.bitPattern != $1.bitPattern }.count
                #expect(o.count == g.count && differing == 0,
                        "gradient of \(variable) \(name): \(differing) of \(g.count) values differ")
            }
        }
        #expect(seq.gradients.values.contains { g in g.scalars.contains { $0 != 0 } })
    }

    @Test func videoSamplesHoldTheFiveSampledFrames() throws {
        let root = try SyntheticSet.root.get()
        let vocabulary = try Vocabulary.load(URL(fileURLWithPath: root + "/vocabulary.txt"))
        let sample = try #require(try A2DSentences(root: root).samples(split: "train").first)
        let config = tinyVideoConfig()
        let prepared = try SamplePreparer(config: config, vocabulary: vocabulary).prepare(sample)
        #expect(prepared.input.shape == [5, 32, 32, 3])
        // The same as the 16-frame window the original builds.
        guard case let .video(path, frame, _) = sample.source else { Issue.record("not a video sample"); return }
        let reader = try VideoReader(path: path)
        let window = try ClipWindow(frameCount: reader.info.frameCount).window(around: frame)
        let clip = try stack(window.map { f -> Tensor in
            let image = try reader.frame(at: f)
            return try Preprocess.prepare(rgb: image.pixels, width: image.width, height: image.height, H: 32, W: 32).tensor
        }, axis: 0)
        let model = try CMPCModel(config: config, seed: 2)
        #expect(try model.forward(input: prepared.input, words: prepared.words).up.scalars
                == model.forward(input: clip, words: prepared.words).up.scalars)
        var single = config
        single.ablation = .singleFrame
        // single_frame: the clip window puts the target frame in every slot, and the network gives
        // what it gives on the 16-frame clip.
        let singleInput = try SamplePreparer(config: single, vocabulary: vocabulary).prepare(sample).input
        #expect(singleInput.shape == [5, 32, 32, 3])
        let targetFrame = try singleInput.slice(begin: [ClipWindow.targetSlot, 0, 0, 0], size: [1, 32, 32, 3])
        for k in 0..<ClipWindow.slotCount {
            #expect(try singleInput.slice(begin: [k, 0, 0, 0], size: [1, 32, 32, 3]).scalars == targetFrame.scalars)
        }
        let singleModel = try CMPCModel(config: single, seed: 2)
        #expect(try singleModel.forward(input: singleInput, words: prepared.words).up.scalars
                == singleModel.forward(input: clip, words: prepared.words).up.scalars)
    }
}
