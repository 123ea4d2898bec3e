// `cmpc-video evaluate --dataset ytvos|mevis|refdavis`: J and F per referring expression over its whole video, as
// the DAVIS 2017 toolkit computes them. Every video goes once through Pipeline's VideoExpressionEvaluator (the
// whole-video segmenter; the video's frame features shared by its expressions).
//   --limit M  the first M videos of the split (or of the --shard block), all their expressions.
//   --vis DIR  pictures of the (expression, frame) pairs of lowest and highest IoU among those whose ground truth is
//              not empty (Pipeline's EvaluationPictures, as for A2D), kept as the videos go.
//   --out      a provenance record, then one JSON line per expression {"index", "video", "exp_id", "sentence", "J",
//              "F", "frames", "I", "U", "gt_area"}, appended and synced per video: a rerun resumes, --shard K/N
//              takes a block of videos, --merge joins the shards' logs.
//   summary    {"J", "F", "J&F", P@K, mAP, overall and mean IoU over the frames whose ground truth is not empty (as
//              A2D counts them), …} in <out>.summary.json, atomically at the end.
//   refdavis   also ReferFormer's protocol (Evaluation.RefDAVISProtocol): each video's first line carries
//              "referformer": per expression set its matched objects' J and F, and the summary's "referformer" holds
//              each set's J, F, J&F over all objects and their mean, the number ReferFormer and later papers report.
//   --save-masks DIR   the predicted masks as DIR/<video>/<exp_id>/<frame>.png (0/255, the frame's size, named after
//              the JPEG); --submission FILE.zip zips them as Annotations/<video>/<exp_id>/<frame>.png, as the
//              challenge servers take them (also for splits without ground truth, which are then only predicted).
import Checkpoint
import CommandLineSupport
import Datasets
import Evaluation
import FileOutput
import Foundation
import JSON
import Pipeline
import Video

extension Evaluate {
    /// Only predictions are asked for: a split without ground truth is then segmented, not refused.
    var predictionsOnly: Bool { submission != nil || saveMasks != nil }

    /// The options the per-sample evaluation has and the per-expression one does not (yet).
    var optionsWithoutExpressionSupport: [String] {
        [("--crf", crf),
         ("--cues", cues != nil), ("--images", images != nil)]
            .filter(\.1).map(\.0)
    }

    /// One video of an expression dataset, as the evaluation walks it.
    struct ExpressionVideo {
        var id: String
        var frames: [String]
        var framePaths: [String]
        var expressions: [(id: String, sentence: String)]
        /// The ground truth of expression e (index) in frame k (0-based); nil for a split without ground truth.
        var truth: ((Int, Int) throws -> PixelMask)?
        /// Ref-DAVIS17: frame k's annotation label map, for ReferFormer's protocol; nil otherwise.
        var labels: ((Int) throws -> LabelMap)? = nil
        /// Ref-DAVIS17: per expression set (RefDAVISProtocol.sets), its objects' expressions.
        var sets: [[Int]] = []
    }

    /// Why a split without ground truth can only be predicted, and how.
    func noGroundTruth(_ name: String, _ split: String, evaluable: String) -> EvaluateError {
        EvaluateError("\(name) \(split) has no ground truth (its masks are scored by the challenge server): evaluate "
                      + "--split \(evaluable), or give --submission FILE.zip (or --save-masks DIR) to write the predictions")
    }

    /// The videos of a Ref-YouTube-VOS (or converted Ref-DAVIS17) split, with their ground truth.
    func expressionVideos(_ dataset: RefYouTubeVOS, split: String) throws -> [ExpressionVideo] {
        let scored = dataset.hasGroundTruth(split: split)
        guard scored || predictionsOnly else {
            throw noGroundTruth(dataset.name, split, evaluable: dataset.annotatedSplits.joined(separator: " or "))
        }
        let protocolRun = scored && dataset.name == "refdavis"
        return try dataset.videos(split: split).map { video in
            ExpressionVideo(
                id: video.id, frames: video.frames,
                framePaths: video.frames.map { dataset.framePath(split: split, video: video.id, frame: $0) },
                expressions: video.expressions.map { ($0.id, $0.sentence) },
                truth: !scored ? nil : { e, k in
                    guard let object = video.expressions[e].objectID else {
                        throw EvaluateError("video \(video.id) expression \(video.expressions[e].id) has no obj_id")
                    }
                    return try RefYouTubeVOS.loadMask(path: dataset.annotationPath(split: split, video: video.id, frame: video.frames[k]),
                                                      objectID: object)
                },
                labels: !protocolRun ? nil : { k in
                    try RefYouTubeVOS.loadLabels(path: dataset.annotationPath(split: split, video: video.id, frame: video.frames[k]))
                },
                sets: !protocolRun ? [] : RefDAVISProtocol.sets.map {
                    RefDAVISProtocol.expressions(set: $0.index, count: video.expressions.count)
                })
        }
    }

    /// The videos of a MeViS split, the ground truth of an expression the union of the objects it names.
    func expressionVideos(_ dataset: MeViS, split: String) throws -> [ExpressionVideo] {
        guard dataset.hasGroundTruth(split: split) else {
            guard predictionsOnly else { throw noGroundTruth("mevis", split, evaluable: "valid_u or train") }
            return try dataset.videos(split: split).map { video in
                ExpressionVideo(id: video.id, frames: video.frames,
                                framePaths: video.frames.map { dataset.framePath(split: split, video: video.id, frame: $0) },
                                expressions: video.expressions.map { ($0.id, $0.sentence) }, truth: nil)
            }
        }
        let videos = try dataset.videos(split: split)
        let masks = try dataset.masks(split: split)
        return videos.map { video in
            let paths = video.frames.map { dataset.framePath(split: split, video: video.id, frame: $0) }
            var size = masks.size(of: video.expressions.flatMap(\.annotationIDs))
            return ExpressionVideo(
                id: video.id, frames: video.frames, framePaths: paths,
                expressions: video.expressions.map { ($0.id, $0.sentence) },
                truth: { e, k in
                    if size == nil { let f = try ImageIO.read(path: paths[0]); size = (f.height, f.width) }
                    return try masks.union(video.expressions[e].annotationIDs, frame: k, height: size!.height, width: size!.width)
                })
        }
    }

    func runExpressionEvaluation(dataset kind: DatasetKind, root: String, split: String) throws {
        let videos = kind == .mevis ? try expressionVideos(MeViS(root: root), split: split)
            : try expressionVideos(kind == .refdavis ? RefYouTubeVOS.refDAVIS(root: root) : RefYouTubeVOS(root: root), split: split)
        let loaded = try model.load()
        let steps = loaded.model.config.numSteps
        let logURL = URL(fileURLWithPath: out ?? "results.jsonl")
        try createParentFolder(of: logURL)
        let quiet = self.quiet
        let note = { (text: String) in if !quiet { ProgressReporter.standardError(text + "\n") } }
        note("\(kind.rawValue) \(split): \(videos.count) videos, \(videos.reduce(0) { $0 + $1.expressions.count }) expressions")

        // Masks go to --save-masks, or for --submission alone to a temporary folder removed at the end.
        var temporaryMasks: String?
        if saveMasks == nil, let submission {
            let folder = (submission as NSString).deletingLastPathComponent
            temporaryMasks = (folder.isEmpty ? "." : folder) + "/.\((submission as NSString).lastPathComponent).masks-\(getpid())"
        }
        defer { if let temporaryMasks { try? FileManager.default.removeItem(atPath: temporaryMasks) } }
        let maskFolder = saveMasks ?? temporaryMasks
        var members: [(name: String, path: String)] = []

        // The log: a provenance record, then each finished video's lines, appended and synced as it finishes; a
        // rerun keeps the videos already logged (a killed run resumes), a log of another run is refused.
        for video in videos where video.expressions.isEmpty || video.frames.isEmpty {
            ProgressReporter.standardError("note: video \(video.id) has \(video.expressions.count) expressions and "
                                           + "\(video.frames.count) frames listed; it is left out\n")
        }
        // --limit M: the first M videos of the shard (all their expressions, so a video's frames are still shared and
        // Ref-DAVIS17's protocol sees whole videos).
        let selection = selectSamples(total: videos.count, shard: try shard.map(Shard.init(parsing:)), limit: limit)
        if shard != nil || limit != nil {
            note("videos \(selection.lowerBound)..<\(selection.upperBound) of \(videos.count)"
                 + (shard.map { " (shard \($0))" } ?? "") + (limit.map { " (--limit \($0) videos)" } ?? ""))
        }
        let scored = videos.contains { $0.truth != nil }
        guard videos.contains(where: { !$0.expressions.isEmpty && !$0.frames.isEmpty }) else {
            throw EvaluateError("\(kind.rawValue) \(split): no expression with frames to evaluate (see `cmpc-video datasets "
                                + "check --dataset \(kind.rawValue) --root \(root) --split \(split)`)")
        }
        var logged: [String: [String]] = [:]   // video → its complete lines, from an earlier run
        var log: FileHandle?
        var provenanceCheckpoint = "?"
        if vis != nil && !scored {
            throw EvaluateError("--vis pictures predictions beside the ground truth, and \(kind.rawValue) \(split) has none; "
                                + "drop --vis, or evaluate a split with annotations")
        }
        var pictures = PictureCandidates(worst: worst, best: best)
        if scored {
            let provenance = try self.provenance(
                loaded, predictor: ModelPredictor(model: loaded.model, vocabulary: loaded.vocabulary, crf: false, resize: model.resize),
                dataset: kind, split: split)
            provenanceCheckpoint = (provenance["checkpoint"]?.string).map { ($0 as NSString).lastPathComponent } ?? "?"
            if restart { try? FileManager.default.removeItem(at: logURL) }
            logged = try readExpressionLog(logURL, provenance: provenance)
            // A video logged only in part (a run killed between its lines) is evaluated again: its lines go.
            let complete = Dictionary(uniqueKeysWithValues: videos[selection].map { ($0.id, $0.expressions.count) })
            let partial = logged.filter { complete[$0.key] != $0.value.count }
            if !partial.isEmpty {
                logged = logged.filter { complete[$0.key] == $0.value.count }
                let kept = videos[selection].compactMap { logged[$0.id] }.joined().map { $0 + "\n" }.joined()
                try AtomicFile.write(Data((provenance.jsonLine() + kept).utf8), to: logURL.path)
                note("note: evaluating again \(partial.keys.sorted().joined(separator: ", ")), logged in part")
            }
            if !FileManager.default.fileExists(atPath: logURL.path) {
                guard FileManager.default.createFile(atPath: logURL.path, contents: Data(provenance.jsonLine().utf8)) else {
                    throw EvaluateError("--out \(logURL.path): cannot create the log; choose a writable place")
                }
            }
            log = try FileHandle(forWritingTo: logURL)
            try log?.seekToEnd()
        }
        defer { try? log?.close() }

        var tally = ExpressionTally(file: logURL.path)
        var predicted = 0
        func account(_ line: String) throws { try tally.account(line) }
        // Each expression's position in the split (merged shards sort by it).
        var firstIndex: [String: Int] = [:]
        var running = 0
        for video in videos { firstIndex[video.id] = running; running += video.expressions.count }
        for (index, video) in videos.enumerated() where selection.contains(index) && !video.expressions.isEmpty && !video.frames.isEmpty {
            let done = logged[video.id]
            if let done, maskFolder == nil && vis == nil {
                for line in done { try account(line) }
                note("video \(index + 1)/\(videos.count) \(video.id): in the log already")
                continue
            }
            let sentences = try video.expressions.map { e -> [Int32] in
                do { return try loaded.vocabulary.encode(e.sentence, steps: steps).ids } catch {
                    throw EvaluateError("video \(video.id) expression \(e.id): \(error)")
                }
            }
            let evaluator = VideoExpressionEvaluator(model: loaded.model, sentences: sentences, resize: model.resize)
            evaluator.keepMasks = maskFolder != nil || vis != nil
            evaluator.expressionSets = video.sets
            var results: [ExpressionScores] = []
            let masks: [[PixelMask]]
            if let truth = video.truth {
                results = try evaluator.evaluate(framePaths: video.framePaths, groundTruth: truth, labels: video.labels)
                masks = results.map(\.masks)
                if vis != nil {
                    try pictures.add(results, of: video, firstIndex: firstIndex[video.id, default: 0], truth: truth)
                }
                if let saveMasks {
                    // ReferFormer's output: one label map per frame and expression set (object k is label k + 1).
                    for (s, maps) in evaluator.setLabelMaps.enumerated() {
                        for (k, map) in maps.enumerated() {
                            let path = "\(saveMasks)/referformer/anno_\(s)/\(video.id)/\(video.frames[k]).png"
                            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                                                    withIntermediateDirectories: true)
                            try ImageIO.writePNG(try GrayImage(width: map.width, height: map.height, pixels: map.labels), to: path)
                        }
                    }
                }
            } else {
                masks = try evaluator.segment(framePaths: video.framePaths)
            }
            predicted += masks.count
            if let maskFolder {
                for (e, expressionMasks) in masks.enumerated() {
                    for (k, mask) in expressionMasks.enumerated() {
                        let name = "\(video.id)/\(video.expressions[e].id)/\(video.frames[k]).png"
                        let path = "\(maskFolder)/\(name)"
                        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                                                withIntermediateDirectories: true)
                        try ImageIO.writePNG(try GrayImage(width: mask.width, height: mask.height,
                                                           pixels: mask.pixels.map { $0 != 0 ? 255 : 0 }), to: path)
                        members.append(("Annotations/" + name, path))
                    }
                }
            }
            if let done {   // logged already; run again only for its masks
                for line in done { try account(line) }
                results = []
            }
            var videoLines = ""
            for r in results {
                let e = video.expressions[r.expression]
                var members: [(String, JSONValue)] = [
                    ("index", .int(firstIndex[video.id, default: 0] + r.expression)), ("video", .string(video.id)), ("exp_id", .string(e.id)), ("sentence", .string(e.sentence)),
                    ("J", .double(r.scores.jMean)), ("F", .double(r.scores.fMean)), ("frames", .int(r.scores.j.count)),
                    ("I", .array(r.counts.map { .int($0.intersection) })), ("U", .array(r.counts.map { .int($0.union) })),
                    ("gt_area", .array(r.counts.map { .int($0.groundTruthArea) })),
                ]
                if r.expression == 0 && !video.sets.isEmpty {
                    // ReferFormer's protocol, once per video: per expression set, the matched objects' J and F.
                    members.append(("referformer", .array(evaluator.setObjects.map { objects in
                        .object([("J", .array(objects.map { .double($0.j) })), ("F", .array(objects.map { .double($0.f) }))])
                    })))
                }
                let line: JSONValue = .object(members)
                let text = line.text(.compact)
                try account(text)
                videoLines += text + "\n"
            }
            if let log, !videoLines.isEmpty {
                try log.write(contentsOf: Data(videoLines.utf8))
                try log.synchronize()
            }
            note("video \(index + 1)/\(videos.count) \(video.id): \(masks.count) expressions, \(video.frames.count) frames")
        }
        if let submission {
            let data = try members.map { m in (name: m.name, data: [UInt8](try Data(contentsOf: URL(fileURLWithPath: m.path)))) }
            try ZipArchive.write(data, to: URL(fileURLWithPath: submission))
            print("submission \(submission): \(members.count) masks of \(predicted) expressions under Annotations/")
        }
        if let saveMasks { print("masks \(saveMasks)/<video>/<exp_id>/<frame>.png") }
        guard videos.contains(where: { $0.truth != nil }) else { return }   // predictions only: no scores

        let summaryURL = summaryURL(forLog: logURL)
        try tally.finish(dataset: kind.rawValue, split: split, strict: iouAbove, summary: summaryURL)
        print("log \(logURL.path), summary \(summaryURL.path)")
        if let vis {
            let entries = EvaluationPictures.choose(pictures.records, worst: worst, best: best)
            let (j, f) = (DAVISMetrics.mean(tally.jMeans), DAVISMetrics.mean(tally.fMeans))
            let title = "\(kind.rawValue) \(split), \(provenanceCheckpoint): "
                + String(format: "J %.2f, F %.2f, J&F %.2f (%d expressions); ", 100 * j, 100 * f, 50 * (j + f), tally.jMeans.count)
                + "frames of an expression by IoU"
            let index = try EvaluationPictures(folder: vis, title: title).write(entries, sources: pictures.sources)
            print("pictures of \(entries.count) (expression, frame) pairs: \(index)")
        }
    }
}

/// `--vis` for expression datasets: the (expression, frame) pairs that may still be among the `worst` lowest or
/// `best` highest IoU, with their masks, pruned after every video so memory stays bounded. Pairs whose ground truth
/// is empty are left out (as P@K leaves them out). Each becomes a LogRecord, so EvaluationPictures chooses and
/// draws them as it does A2D's samples: its index is expression index × 10⁶ + frame, which orders ties as the split.
struct PictureCandidates {
    let worst: Int, best: Int
    var records: [LogRecord] = []
    /// The frame file of each kept pair, by id.
    var sources: [String: SampleSource] = [:]

    init(worst: Int, best: Int) {
        self.worst = max(0, worst)
        self.best = max(0, best)
    }

    static func iou(_ r: LogRecord) -> Double {
        guard case .evaluated(let s, _) = r.outcome else { return 1 }
        return s.union > 0 ? Double(s.intersection) / Double(s.union) : 1
    }

    /// Adds one video's pairs (their masks in `results`, kept by the evaluator); `truth(e, k)` rereads a ground truth.
    mutating func add(_ results: [ExpressionScores], of video: Evaluate.ExpressionVideo, firstIndex: Int,
                      truth: (Int, Int) throws -> PixelMask) throws {
        var pairs: [(iou: Double, index: Int, e: Int, k: Int)] = []
        for r in results {
            for (k, c) in r.counts.enumerated() where c.groundTruthArea > 0 && c.union > 0 {
                pairs.append((Double(c.intersection) / Double(c.union), (firstIndex + r.expression) * 1_000_000 + k, r.expression, k))
            }
        }
        pairs.sort { ($0.iou, $0.index) < ($1.iou, $1.index) }
        let kept = extremes(pairs.count).map { pairs[$0] }
        for p in kept {
            let r = results[p.e], c = r.counts[p.k]
            let id = "\(video.id)/\(video.expressions[p.e].id)/\(video.frames[p.k])"
            let result = SampleResult(id: id, intersection: c.intersection, union: c.union, groundTruthArea: c.groundTruthArea,
                                      prediction: try r.masks[p.k].rle(), groundTruth: try truth(p.e, p.k).rle())
            records.append(LogRecord(info: SampleInfo(index: p.index, id: id, video: video.id, frame: p.k + 1,
                                                      instance: video.expressions[p.e].id, sentence: video.expressions[p.e].sentence),
                                     outcome: .evaluated(result, crf: nil)))
            sources[id] = .image(path: video.framePaths[p.k])
        }
        records.sort { (Self.iou($0), $0.info.index) < (Self.iou($1), $1.info.index) }
        records = extremes(records.count).map { records[$0] }
        let ids = Set(records.map(\.info.id))
        sources = sources.filter { ids.contains($0.key) }
    }

    /// Positions to keep of n items sorted by (IoU, index): the first `worst`, and the last `best` + `worst` (the best are
    /// chosen among those not already worst, so up to `worst` of the last ones may be taken away from them).
    func extremes(_ n: Int) -> [Int] { Self.extremes(n, worst: worst, best: best) }

    static func extremes(_ n: Int, worst: Int, best: Int) -> [Int] {
        let low = 0..<min(n, worst), high = max(0, n - best - worst)..<n
        return Array(Set(low).union(high)).sorted()
    }
}

extension DatasetKind {
    /// Datasets scored by J&F per expression over whole videos rather than per sample.
    var scoresExpressions: Bool { self == .ytvos || self == .mevis || self == .refdavis }
}

extension Evaluate {
    /// The complete expression lines of an existing log, by video, after checking its provenance against this run's;
    /// an incomplete last line (a killed run) is cut away. An absent or empty log gives nothing.
    func readExpressionLog(_ url: URL, provenance: Provenance) throws -> [String: [String]] {
        guard let data = FileManager.default.contents(atPath: url.path), !data.isEmpty else {
            try? FileManager.default.removeItem(at: url)
            return [:]
        }
        var text = String(decoding: data, as: UTF8.self)
        if !text.hasSuffix("\n") {
            let keep = text.lastIndex(of: "\n").map { text.index(after: $0) } ?? text.startIndex
            text = String(text[..<keep])
            let handle = try FileHandle(forWritingTo: url)
            try handle.truncate(atOffset: UInt64(text.utf8.count))
            try handle.close()
            ProgressReporter.standardError("note: \(url.path): cut an incomplete last line (an interrupted run)\n")
            if text.isEmpty { try? FileManager.default.removeItem(at: url); return [:] }
        }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: true)
        guard let first = lines.first, let logged = try? Provenance(jsonLine: first, file: url.path, line: 1) else {
            throw EvaluateError("\(url.path) is not a log of this kind of run (no provenance record first); give another "
                                + "--out, or --restart to empty it")
        }
        let differences = logged.differences(from: provenance)
        guard differences.isEmpty else {
            throw EvaluateError("\(url.path) holds the results of another run: " + differences.joined(separator: "; ")
                                + ". Give another --out, or --restart to empty it")
        }
        var byVideo: [String: [String]] = [:]
        for line in lines.dropFirst() {
            let value = try JSONValue.parse(Data(line.utf8), file: url.path)
            guard let video = value["video"]?.string else {
                throw EvaluateError("\(url.path): a line without \"video\": \(line.prefix(120)); rerun with --restart")
            }
            byVideo[video, default: []].append(String(line))
        }
        return byVideo
    }
}

/// The numbers of an expression log's lines and the summary they make (J, F, J&F over expressions; P@K and IoU over
/// the (expression, frame) pairs with an object).
struct ExpressionTally {
    let file: String
    var lines: [String] = []
    var jMeans: [Double] = [], fMeans: [Double] = []
    var frames = 0
    var perFrame = MetricsAccumulator()
    /// Ref-DAVIS17: ReferFormer's protocol, from the lines that carry it (one a video).
    var referFormer = RefDAVISProtocol.Result()
    var videos = Set<String>(), protocolVideos = 0

    /// Adds one logged line.
    mutating func account(_ line: String) throws {
        let v = try JSONValue.parse(Data(line.utf8), file: file)
        guard let j = v["J"]?.double, let f = v["F"]?.double, let n = v["frames"]?.int,
              let i = v["I"]?.array?.compactMap(\.int), let u = v["U"]?.array?.compactMap(\.int),
              let g = v["gt_area"]?.array?.compactMap(\.int), i.count == n, u.count == n, g.count == n else {
            throw EvaluateError("\(file): a line lacks J, F, frames or the per-frame I, U, gt_area: \(line.prefix(120)); "
                                + "rerun with --restart")
        }
        jMeans.append(j)
        fMeans.append(f)
        frames += n
        let id = "\(v["video"]?.string ?? "?")/\(v["exp_id"]?.string ?? "?")"
        videos.insert(v["video"]?.string ?? "?")
        if let sets = v["referformer"]?.array {
            guard sets.count == RefDAVISProtocol.sets.count else {
                throw EvaluateError("\(file): \"referformer\" holds \(sets.count) expression sets, not \(RefDAVISProtocol.sets.count): "
                                    + "\(line.prefix(120)); rerun with --restart")
            }
            for (s, set) in sets.enumerated() {
                guard let js = set["J"]?.array?.compactMap(\.double), let fs = set["F"]?.array?.compactMap(\.double),
                      js.count == fs.count, js.count == set["J"]?.array?.count, fs.count == set["F"]?.array?.count else {
                    throw EvaluateError("\(file): \"referformer\" set \(s) lacks J and F lists of one length: \(line.prefix(120)); "
                                        + "rerun with --restart")
                }
                referFormer.objects[s] += zip(js, fs).map { DAVISUnsupervised.ObjectScores(j: $0, f: $1) }
            }
            protocolVideos += 1
        }
        for k in 0..<n { perFrame.add(SampleResult(id: "\(id)/\(k)", intersection: i[k], union: u[k], groundTruthArea: g[k])) }
        lines.append(line)
    }

    /// Writes `summary` (atomically) and prints the table.
    func finish(dataset: String, split: String, strict: Bool, summary url: URL) throws {
        let (j, f) = (DAVISMetrics.mean(jMeans), DAVISMetrics.mean(fMeans))
        let iou = perFrame.summary(strict: strict)
        let precision = zip(EvaluationSummary.precisionKeys, iou.precision).map { ($0, JSONValue.double($1)) }
        let summary: JSONValue = .object([("J", .double(j)), ("F", .double(f)), ("J&F", .double((j + f) / 2)),
                                          ("expressions", .int(jMeans.count)), ("frames", .int(frames))]
                                         + precision
                                         + [("mAP", .double(iou.mAP)), ("overall_iou", .double(iou.overallIoU)),
                                            ("mean_iou", .double(iou.meanIoU)), ("iou_frames", .int(iou.samples)),
                                            ("iou_frames_skipped", .int(iou.skipped)),
                                            ("dataset", .string(dataset)), ("split", .string(split))]
                                         + referFormerMembers())
        try AtomicFile.write(Data((summary.text(.spaced) + "\n").utf8), to: url.path)
        print("expressions \(jMeans.count), frames \(frames)")
        print("J      F      J&F")
        print(String(format: "%.2f  %.2f  %.2f", 100 * j, 100 * f, 100 * (j + f) / 2))
        print("over frames with an object: " + iou.table(), terminator: "")
        if protocolVideos > 0 && protocolVideos == videos.count {
            let r = referFormer.final
            print("ReferFormer's protocol (unsupervised J&F per expression set, mean of the four sets):")
            print(String(format: "J %.2f  F %.2f  J&F %.2f", 100 * r.j, 100 * r.f, 100 * r.jf))
        } else if protocolVideos > 0 {
            ProgressReporter.standardError("note: only \(protocolVideos) of \(videos.count) videos carry ReferFormer's protocol "
                                           + "(a log of an older run); rerun with --restart for it\n")
        }
    }

    /// The summary's "referformer" member when every video carries the protocol (Ref-DAVIS17), else nothing.
    func referFormerMembers() -> [(String, JSONValue)] {
        guard protocolVideos > 0 && protocolVideos == videos.count else { return [] }
        let r = referFormer.final
        let sets: [JSONValue] = RefDAVISProtocol.sets.map { set in
            let n = referFormer.set(set.index)
            return .object([("set", .string("anno_\(set.index)")), ("annotator", .int(set.annotator)),
                            ("expressions", .string(set.expressions)), ("J", .double(n.j)), ("F", .double(n.f)),
                            ("J&F", .double(n.jf)), ("objects", .int(referFormer.objects[set.index].count))])
        }
        return [("referformer", .object([("J", .double(r.j)), ("F", .double(r.f)), ("J&F", .double(r.jf)),
                                         ("videos", .int(protocolVideos)), ("annotators", .array(sets))]))]
    }
}

extension Evaluate {
    /// Whether a log holds expression lines (ytvos, mevis, refdavis) rather than samples.
    static func isExpressionLog(_ url: URL) -> Bool {
        guard let data = FileManager.default.contents(atPath: url.path) else { return false }
        let lines = String(decoding: data.prefix(1 << 20), as: UTF8.self).split(separator: "\n")
        return lines.count > 1 && lines[0].hasPrefix("{\"provenance\"") && lines[1].hasPrefix("{\"index\"")
            && lines[1].contains("\"exp_id\"")
    }

    /// `--merge` of expression logs (shards of one run): one line per expression (the same expression in two logs
    /// must have the same line), sorted by index, the summary as one unsharded run gives it.
    func runExpressionMerge(_ urls: [URL]) throws {
        var provenance: Provenance?
        var byIndex: [Int: (line: String, file: String)] = [:]
        for url in urls {
            let text = String(decoding: try Data(contentsOf: url), as: UTF8.self)
            var lines = text.split(separator: "\n", omittingEmptySubsequences: true)
            if !text.hasSuffix("\n"), !lines.isEmpty {
                lines.removeLast()
                ProgressReporter.standardError("note: \(url.path) ends mid-line (an unfinished shard): its last line is left out\n")
            }
            guard let first = lines.first, let p = try? Provenance(jsonLine: first, file: url.path, line: 1) else {
                throw EvaluateError("\(url.path) has no provenance record first: not a log of evaluate")
            }
            if let provenance, !provenance.differences(from: p).isEmpty {
                throw EvaluateError("\(url.path) comes from another run than \(urls[0].path): "
                                    + provenance.differences(from: p).joined(separator: "; "))
            }
            provenance = provenance ?? p
            for line in lines.dropFirst() {
                guard let index = try JSONValue.parse(Data(line.utf8), file: url.path)["index"]?.int else {
                    throw EvaluateError("\(url.path): a line without \"index\": \(line.prefix(120))")
                }
                if let seen = byIndex[index], seen.line != String(line) {
                    throw EvaluateError("expression \(index) differs between \(seen.file) and \(url.path)")
                }
                byIndex[index] = (String(line), url.path)
            }
        }
        var tally = ExpressionTally(file: urls[0].path)
        for index in byIndex.keys.sorted() { try tally.account(byIndex[index]!.line) }
        var target = urls[0]
        if let out {
            target = URL(fileURLWithPath: out)
            try createParentFolder(of: target)
            try AtomicFile.write(Data((provenance!.jsonLine() + tally.lines.map { $0 + "\n" }.joined()).utf8), to: target.path)
        }
        let summary = summaryURL(forLog: target)
        try tally.finish(dataset: provenance?["dataset"]?.string ?? "?", split: provenance?["split"]?.string ?? "?",
                         strict: iouAbove, summary: summary)
        print("\(tally.lines.count) expressions from \(urls.count) logs; summary \(summary.path)" + (out.map { ", merged log \($0)" } ?? ""))
    }
}
