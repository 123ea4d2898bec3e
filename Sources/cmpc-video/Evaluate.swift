// `cmpc-video evaluate`: run the model over a dataset split, log one JSON line per sample, print the metrics table;
// `--merge` joins shard logs into one table. The log format and the combining rules are in
// Sources/Evaluation/EvaluationRecord.swift, sharding and resuming in EvaluationRunner.swift, the manual in
// docs/evaluation.md.
import ArgumentParser
import CommandLineSupport
import Datasets
import Evaluation
import FileOutput
import Foundation
import ImageModel
import JSON
import Pipeline
import Tensor
import Video
import VideoModel

struct Evaluate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Evaluate a checkpoint on a dataset split (precision@K, mAP, overall and mean IoU; J&F for video object segmentation).",
        discussion: """
            Appends one JSON line per sample to --out (default results.jsonl) and resumes from it when rerun; \
            prints the table and writes it to <out>.summary.json. --shard K/N (K = 0…N-1) evaluates the K-th of \
            N contiguous blocks of the split; `cmpc-video evaluate --merge results-*.jsonl [--out merged.jsonl]` \
            joins shard logs into one table (written to <out or first file>.summary.json). Ctrl-C stops after the \
            current sample. The log's first line records what produced it (the checkpoint's and the vocabulary's \
            SHA-256, the configuration, precision, threshold, --crf, --resize, dataset and split); a rerun that \
            differs is refused (--restart starts the log afresh). Exit status 3: the run finished but some samples \
            failed (logged with their error, counted under `errors`; rerun to retry them). ytvos, mevis and refdavis \
            are scored per expression over whole videos with J, F and J&F as the DAVIS 2017 toolkit computes them \
            (one line per expression, appended per video; resume, --shard and --merge as above); --save-masks and \
            --submission write the predicted masks. See docs/evaluation.md.
            """)

    @Option(help: "The dataset.")
    var dataset: DatasetKind?

    @Option(help: "The dataset folder (for the RefCOCO family: REFER's data folder).")
    var root: String?

    @Option(help: "The split to evaluate (a2d, jhmdb: test; unc: val, testA, testB; gref: val; referit: test; ytvos: train; mevis: valid_u, train; refdavis: valid, train).")
    var split: String?

    @OptionGroup var model: ModelOptions

    @Option(help: "RefCOCO family: folder of COCO_train2014_*.jpg (default: looked up under --root).")
    var images: String?

    @Flag(help: "Also refine every prediction with DenseCRF and report both tables.")
    var crf = false

    @Option(help: "Evaluate block K of N of the split, K = 0…N-1 (e.g. $SLURM_ARRAY_TASK_ID/$N).")
    var shard: String?

    @Option(help: "Evaluate at most M samples (of the shard); ytvos, mevis, refdavis: M videos.")
    var limit: Int?

    @Option(help: "The per-sample log (JSON lines); the summary goes to <out>.summary.json. With --merge: also write the merged log here.")
    var out: String?

    @Flag(help: "Join shard logs (the arguments) into one table instead of evaluating.")
    var merge = false

    @Argument(help: "With --merge: the shard logs.")
    var logs: [String] = []

    @Flag(help: "Stop at the first sample that fails (missing file, decoding error) instead of logging it.")
    var strict = false

    @Flag(help: "Empty --out and start afresh instead of resuming it (needed when the checkpoint, vocabulary or settings changed).")
    var restart = false

    @Flag(name: .customLong("iou-above"),
          help: "Count a hit at threshold K when IoU > K (MTTR, ReferFormer) instead of IoU ≥ K (CMPC).")
    var iouAbove = false

    @Flag(help: "No progress display.")
    var quiet = false

    @Option(help: ArgumentHelp("Write pictures of the worst and best samples (prediction, ground truth, agreement) and an index.html showing them, with each sentence and IoU, to this folder.", valueName: "dir"))
    var vis: String?

    @Option(help: ArgumentHelp("With --vis: pictures of the N samples of lowest IoU.", valueName: "n"))
    var worst: Int = 10

    @Option(help: ArgumentHelp("With --vis: pictures of the N samples of highest IoU.", valueName: "n"))
    var best: Int = 10

    @Option(help: "A cues.json of `cmpc-video synth` ({\"video,instance,sentence\": cue}): also print mean IoU per cue.")
    var cues: String?

    @Option(help: ArgumentHelp("ytvos, mevis, refdavis: also write each expression's predicted masks as <dir>/<video>/<exp_id>/<frame>.png (0/255, at the frame's size).", valueName: "dir"))
    var saveMasks: String?

    @Option(help: ArgumentHelp("ytvos, mevis, refdavis: also zip the predicted masks as Annotations/<video>/<exp_id>/<frame>.png, the challenge servers' layout (also for valid and test, which have no ground truth).", valueName: "file.zip"))
    var submission: String?

    func validate() throws {
        if merge {
            guard !logs.isEmpty else { throw ValidationError("--merge needs the log files to join") }
            let options: [(String, Bool)] = [
                ("--dataset", dataset != nil), ("--root", root != nil), ("--split", split != nil),
                ("--checkpoint", model.checkpoint != nil), ("--shard", shard != nil), ("--vocab", model.vocab != nil),
                ("--config", model.config != nil), ("--images", images != nil), ("--limit", limit != nil),
                ("--crf", crf), ("--strict", strict), ("--restart", restart), ("--vis", vis != nil),
                ("--save-masks", saveMasks != nil), ("--submission", submission != nil),
            ]
            let given = options.filter(\.1).map(\.0)
            guard given.isEmpty else { throw ValidationError("--merge reads logs only; drop \(given.joined(separator: ", "))") }
        } else {
            guard logs.isEmpty else { throw ValidationError("unexpected arguments \(logs); did you mean --merge?") }
            let missing = [("--dataset", dataset == nil), ("--root", root == nil), ("--split", split == nil)]
                .filter(\.1).map(\.0)
            guard missing.isEmpty else { throw ValidationError("missing \(missing.joined(separator: ", "))") }
            if let dataset, dataset.scoresExpressions, !optionsWithoutExpressionSupport.isEmpty {
                throw ValidationError("--dataset \(dataset.rawValue) (J&F per expression over whole videos) does not take "
                                      + optionsWithoutExpressionSupport.joined(separator: ", ") + " yet; drop them")
            }
            if saveMasks != nil, dataset?.scoresExpressions != true {
                throw ValidationError("--save-masks writes the masks of --dataset ytvos, mevis or refdavis; the other datasets have --vis")
            }
            if submission != nil, dataset?.scoresExpressions != true {
                throw ValidationError("--submission zips the masks of --dataset ytvos, mevis or refdavis")
            }
            if submission?.isEmpty == true { throw ValidationError("--submission is empty: give the .zip file to write") }
            if saveMasks?.isEmpty == true { throw ValidationError("--save-masks is empty: give the folder for the masks") }
            if let limit, limit < 0 { throw ValidationError("--limit must be at least 0") }
            guard worst >= 0, best >= 0 else { throw ValidationError("--worst and --best must be at least 0") }
            if vis?.isEmpty == true { throw ValidationError("--vis is empty: give the folder for the pictures") }
            if let shard {
                do { _ = try Shard(parsing: shard) } catch { throw ValidationError("\(error)") }   // a usage error: exit 64
            }
            if let cues, !FileManager.default.fileExists(atPath: cues) {
                throw ValidationError("--cues \(cues): no such file (it is DIR/cues.json of `cmpc-video synth`)")
            }
        }
    }

    func run() async throws {
        if merge { try runMerge() } else { try runEvaluation() }
    }

    func runEvaluation() throws {
        guard let dataset, let root, let split else { return }   // validate() checked them
        if dataset.scoresExpressions { return try runExpressionEvaluation(dataset: dataset, root: root, split: split) }
        let reader = try dataset.reader(root: root, images: images)
        let samples = try reader.samples(split: split)
        let selection = selectSamples(total: samples.count, shard: try shard.map(Shard.init(parsing:)), limit: limit)
        let items = selection.map { i in
            let sample = samples[i]
            return EvaluationItem(info: sampleInfo(sample, index: i), sample: sample) { try sample.loadMask() }
        }
        let loaded = try model.load()
        let predictor = ModelPredictor(model: loaded.model, vocabulary: loaded.vocabulary, crf: crf,
                                       resize: model.resize)

        let logURL = URL(fileURLWithPath: out ?? "results.jsonl")
        try createParentFolder(of: logURL)
        // Summaries and merged logs half-written by a killed run (ours only, of processes no longer running).
        for path in AtomicFile.removeStaleTemporaries(in: logURL.deletingLastPathComponent().path) {
            ProgressReporter.standardError("note: removed \(path), a temporary file left by an interrupted run\n")
        }
        var runner = EvaluationRunner(log: logURL)
        runner.strict = strict
        runner.crf = crf
        runner.strictThresholds = iouAbove
        runner.provenance = try provenance(loaded, predictor: predictor, dataset: dataset, split: split)
        runner.restart = restart
        if restart { try? FileManager.default.removeItem(at: summaryURL(forLog: logURL)) }
        runner.progress = RunProgressBar(style: .automatic(quiet: quiet))
        let stop = StopRequest.onSignals { number in
            ProgressReporter.standardError("\n\(number == SIGINT ? "Ctrl-C" : "SIGTERM"): stopping after the current "
                                           + "sample (again to quit at once)\n")
        }
        runner.shouldStop = { stop.isRequested }
        defer { stop.uninstall() }
        let quiet = self.quiet
        let note = { (text: String) in if !quiet { ProgressReporter.standardError(text + "\n") } }
        note("\(dataset.rawValue) \(split): \(samples.count) samples; evaluating \(selection.count)"
             + (shard.map { " (shard \($0), indices \(selection.lowerBound)..<\(selection.upperBound))" } ?? ""))

        runner.notes = note
        let outcome = try runner.run(items, predictor: predictor)
        if outcome.stopped { print("partial results (\(items.count - outcome.remaining) of \(items.count) samples done):") }
        print(outcome.report.table(), terminator: "")
        if outcome.stopped {
            print("stopped with \(outcome.remaining) of \(items.count) samples left: rerun the same command to resume")
            throw ExitCode(128 + (stop.signalNumber ?? SIGINT))
        }
        let summary = summaryURL(forLog: logURL)
        try outcome.report.write(to: summary)
        print("log \(logURL.path), summary \(summary.path)")
        if let cues { try printCueTable(log: logURL, cues: cues) }
        if let vis {
            let sources = Dictionary(items.map { ($0.info.id, $0.sample.source) }, uniquingKeysWith: { a, _ in a })
            let entries = EvaluationPictures.choose(try EvaluationLog(files: [logURL]).records, worst: worst, best: best)
            let summary = outcome.report.summary
            let checkpoint = (runner.provenance?["checkpoint"]?.string).map { ($0 as NSString).lastPathComponent } ?? "?"
            let title = "\(dataset.rawValue) \(split), \(checkpoint): overall IoU "
                + String(format: "%.2f, mean IoU %.2f (%d samples)", 100 * summary.overallIoU, 100 * summary.meanIoU,
                         summary.samples)
            let index = try EvaluationPictures(folder: vis, title: title).write(entries, sources: sources)
            print("pictures of \(entries.count) samples: \(index)")
        }
        if outcome.remaining > 0 {
            print("\(outcome.remaining) sample\(outcome.remaining == 1 ? "" : "s") failed: rerun the same command to retry")
            throw ExitCode(Self.samplesFailedStatus)   // the metrics leave them out: not a finished evaluation
        }
    }

    /// The exit status of a run that finished with failed samples (1 is any other error, 64 a usage error).
    static let samplesFailedStatus: Int32 = 3

    /// What produces this run's results (the log's first record): hashes of the checkpoint and the vocabulary, the
    /// configuration and the settings that change a prediction.
    func provenance(_ loaded: (model: CMPCModel, vocabulary: Vocabulary), predictor: ModelPredictor,
                    dataset: DatasetKind, split: String) throws -> Provenance {
        guard let checkpoint = model.checkpoint ?? DefaultModel.folder().map({ $0 + "/model.safetensors" }) else {
            throw EvaluateError("no checkpoint to record in the log's provenance")
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let config = try JSONValue.parse(try encoder.encode(loaded.model.config), file: "the model configuration")
        let words = Array((loaded.vocabulary.words.joined(separator: "\n") + "\n").utf8)
        return Provenance(checkpoint: checkpoint, checkpointSHA256: try ContentHash.sha256(files: checkpointFiles(checkpoint)),
                          config: config, vocabularySHA256: try ContentHash.sha256(words),
                          precision: loaded.model.precision.rawValue, threshold: Double(predictor.threshold), crf: crf,
                          resize: model.resize.rawValue, dataset: dataset.rawValue, split: split)
    }

    /// Makes the folders above --out's file.
    func createParentFolder(of url: URL) throws {
        let folder = url.deletingLastPathComponent().path
        do { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) } catch {
            throw EvaluateError("--out \(url.path): cannot create the folder \(folder): \(plainReason(error)); "
                                + "choose a writable place")
        }
    }

    /// Mean IoU and overall IoU of the logged samples grouped by the cue their sentence needs.
    func printCueTable(log: URL, cues path: String) throws {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw EvaluateError("cannot read --cues \(path): \(error.localizedDescription)")
        }
        guard let table = try? JSONSerialization.jsonObject(with: data) as? [String: String] else {
            throw EvaluateError("\(path) is not a JSON object of \"video,instance,sentence\": cue strings")
        }
        var groups: [String: (n: Int, iou: Double, i: Int, u: Int)] = [:]
        for (_, record) in try readLog(log).records {
            guard case let .evaluated(result, _) = record.outcome, let video = record.info.video ?? record.info.image,
                  let cue = table["\(video),\(record.info.instance),\(record.info.sentence)"] else { continue }
            var g = groups[cue] ?? (0, 0, 0, 0)
            g.n += 1
            g.iou += result.union > 0 ? Double(result.intersection) / Double(result.union) : 0
            g.i += result.intersection
            g.u += result.union
            groups[cue] = g
        }
        print("cue         samples  mean IoU  overall IoU")
        for (cue, g) in groups.sorted(by: { $0.key < $1.key }) {
            let name = cue.padding(toLength: max(11, cue.count), withPad: " ", startingAt: 0)
            print(name + String(format: " %7d  %8.2f  %11.2f", g.n, 100 * g.iou / Double(g.n),
                                g.u > 0 ? 100 * Double(g.i) / Double(g.u) : 0))
        }
    }

    func runMerge() throws {
        let urls = logs.map { URL(fileURLWithPath: $0) }
        if Self.isExpressionLog(urls[0]) { return try runExpressionMerge(urls) }
        let log = try EvaluationLog(files: urls)
        for warning in log.warnings { ProgressReporter.standardError("note: \(warning)\n") }
        let report = log.report(strictThresholds: iouAbove)
        print(report.table(), terminator: "")
        var target = urls[0]
        if let out {
            target = URL(fileURLWithPath: out)
            try createParentFolder(of: target)
            try log.write(to: target)
        }
        let summary = summaryURL(forLog: target)
        try report.write(to: summary)
        print("\(log.count) samples from \(urls.count) logs; summary \(summary.path)"
              + (out.map { ", merged log \($0)" } ?? ""))
    }
}

/// The log fields of a dataset sample: video id (clip name or frame folder) and 1-based frame, or image file name.
func sampleInfo(_ sample: ReferringSample, index: Int) -> SampleInfo {
    var info = SampleInfo(index: index, id: sample.id, instance: sample.instance, sentence: sample.sentence)
    switch sample.source {
    case .video(let path, let frame, _):
        info.video = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
        info.frame = frame
    case .frames(let directory, let frame, _):
        info.video = (directory as NSString).lastPathComponent
        info.frame = frame
    case .image(let path):
        info.image = (path as NSString).lastPathComponent
    }
    return info
}

/// The files whose bytes make up a checkpoint: a TensorFlow bundle's PREFIX.index then its data shards in name
/// order, else the file itself.
func checkpointFiles(_ path: String) -> [String] {
    guard pathKind(path + ".index") == .regular else { return [path] }
    let folder = (path as NSString).deletingLastPathComponent
    let prefix = (path as NSString).lastPathComponent + ".data-"
    let shards = ((try? FileManager.default.contentsOfDirectory(atPath: folder.isEmpty ? "." : folder)) ?? [])
        .filter { $0.hasPrefix(prefix) }.sorted()
    return [path + ".index"] + shards.map { (folder as NSString).appendingPathComponent($0) }
}

/// A message for the user, printed without a stack trace.
struct EvaluateError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
