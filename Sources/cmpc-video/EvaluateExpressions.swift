// `cmpc-video evaluate --dataset ytvos --split train`: J and F per referring expression over its whole video, as
// the DAVIS 2017 toolkit computes them. Every video goes once through Pipeline's VideoExpressionEvaluator (the
// whole-video segmenter; the video's frame features shared by its expressions). Writes one JSON line per
// expression {"video", "exp_id", "sentence", "J", "F", "frames"} to --out, and {"J", "F", "J&F", …} to
// <out>.summary.json, both atomically once the run is complete; --save-masks DIR writes the predicted masks as
// DIR/<video>/<exp_id>/<frame>.png (0/255, the frame's size, named after the JPEG: the challenge's layout).
import CommandLineSupport
import Datasets
import Evaluation
import FileOutput
import Foundation
import JSON
import Pipeline
import Video

extension Evaluate {
    /// The options the per-sample evaluation has and the per-expression one does not (yet).
    var optionsWithoutExpressionSupport: [String] {
        [("--shard", shard != nil), ("--limit", limit != nil), ("--crf", crf), ("--vis", vis != nil),
         ("--cues", cues != nil), ("--iou-above", iouAbove), ("--restart", restart), ("--images", images != nil)]
            .filter(\.1).map(\.0)
    }

    func runExpressionEvaluation(dataset: RefYouTubeVOS, split: String) throws {
        guard split == "train" else {
            throw EvaluateError("ytvos \(split) has no ground truth (its masks are scored by the challenge server); "
                                + "evaluate --split train")
        }
        let videos = try dataset.videos(split: split)
        let loaded = try model.load()
        let steps = loaded.model.config.numSteps
        let logURL = URL(fileURLWithPath: out ?? "results.jsonl")
        try createParentFolder(of: logURL)
        let quiet = self.quiet
        let note = { (text: String) in if !quiet { ProgressReporter.standardError(text + "\n") } }
        note("ytvos \(split): \(videos.count) videos, \(videos.reduce(0) { $0 + $1.expressions.count }) expressions")

        var lines: [String] = []
        var jMeans: [Double] = [], fMeans: [Double] = []
        var frames = 0
        for (index, video) in videos.enumerated() where !video.expressions.isEmpty && !video.frames.isEmpty {
            let sentences = try video.expressions.map { e -> [Int32] in
                do { return try loaded.vocabulary.encode(e.sentence, steps: steps).ids } catch {
                    throw EvaluateError("\(dataset.metaPath(split: split)): video \(video.id) expression \(e.id): \(error)")
                }
            }
            let evaluator = VideoExpressionEvaluator(model: loaded.model, sentences: sentences, resize: model.resize)
            evaluator.keepMasks = saveMasks != nil
            let paths = video.frames.map { dataset.framePath(split: split, video: video.id, frame: $0) }
            let results = try evaluator.evaluate(framePaths: paths) { e, k in
                guard let object = video.expressions[e].objectID else {
                    throw EvaluateError("video \(video.id) expression \(video.expressions[e].id) has no obj_id")
                }
                return try RefYouTubeVOS.loadMask(path: dataset.annotationPath(video: video.id, frame: video.frames[k]),
                                                  objectID: object)
            }
            for r in results {
                let e = video.expressions[r.expression]
                if let saveMasks {
                    for (k, mask) in r.masks.enumerated() {
                        let path = "\(saveMasks)/\(video.id)/\(e.id)/\(video.frames[k]).png"
                        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                                                withIntermediateDirectories: true)
                        try ImageIO.writePNG(try GrayImage(width: mask.width, height: mask.height,
                                                           pixels: mask.pixels.map { $0 != 0 ? 255 : 0 }), to: path)
                    }
                }
                let (j, f) = (r.scores.jMean, r.scores.fMean)
                jMeans.append(j)
                fMeans.append(f)
                frames += r.scores.j.count
                let line: JSONValue = .object([("video", .string(video.id)), ("exp_id", .string(e.id)),
                                               ("sentence", .string(e.sentence)), ("J", .double(j)), ("F", .double(f)),
                                               ("frames", .int(r.scores.j.count))])
                lines.append(line.text(.compact))
            }
            note("video \(index + 1)/\(videos.count) \(video.id): \(results.count) expressions, \(video.frames.count) frames")
        }
        let (j, f) = (DAVISMetrics.mean(jMeans), DAVISMetrics.mean(fMeans))
        try AtomicFile.write(Data((lines.map { $0 + "\n" }.joined()).utf8), to: logURL.path)
        let summary: JSONValue = .object([("J", .double(j)), ("F", .double(f)), ("J&F", .double((j + f) / 2)),
                                          ("expressions", .int(jMeans.count)), ("frames", .int(frames)),
                                          ("dataset", .string("ytvos")), ("split", .string(split))])
        let summaryURL = summaryURL(forLog: logURL)
        try AtomicFile.write(Data((summary.text(.spaced) + "\n").utf8), to: summaryURL.path)
        print("expressions \(jMeans.count), frames \(frames)")
        print("J      F      J&F")
        print(String(format: "%.2f  %.2f  %.2f", 100 * j, 100 * f, 100 * (j + f) / 2))
        print("log \(logURL.path), summary \(summaryURL.path)")
    }
}
