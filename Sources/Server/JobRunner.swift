// JobRunner: runs one job on a worker thread through what `segment` runs — Pipeline's SegmentRequest,
// VideoSegmenter and SegmentationOutput — into `<job>/out/`, then packs the PNG masks into masks.zip. A
// failure of any kind becomes the job's error; cancellation stops it after the current frame.
import Checkpoint
import Foundation
import Pipeline
import Video

/// Runs jobs with the shared model.
final class JobRunner: @unchecked Sendable {
    let served: ServedModel
    let metrics: ServerMetrics

    init(served: ServedModel, metrics: ServerMetrics) {
        self.served = served
        self.metrics = metrics
    }

    /// The output folder of a job.
    static func outputFolder(_ job: Job) -> String { job.folder + "/out" }

    /// Segments the job's input: done, cancelled (stopped on request) or failed with a message.
    func run(_ job: Job) -> (status: JobStatus, error: String?) {
        let started = Date()
        defer { metrics.segmentSeconds.increment(by: Date().timeIntervalSince(started)) }
        let input = job.input
        let out = JobRunner.outputFolder(job)
        do {
            let segmenter = try input.request.segmenter(model: served.model, encoded: input.encoded, resize: served.resize)
            let output = try SegmentationOutput(folder: out, sentences: input.request.sentences, segmenter: segmenter)
            if input.isImage {
                let image = try ImageIO.read(path: input.path, upright: true)
                try output.segment(image: image, source: input.source)
                job.advance()
                metrics.frames.increment()
            } else {
                let reader = try VideoReader(path: input.path, options: .init(autorotate: true))
                let finished = try output.segment(
                    video: reader, targets: input.targets, range: input.request.range(frameCount: reader.info.frameCount),
                    overlayFrames: .holdMasks, source: input.source,
                    frameDone: { [metrics] in job.advance(); metrics.frames.increment() },
                    shouldStop: { job.cancelRequested })
                if !finished { return (.cancelled, nil) }
            }
            if job.cancelRequested { return (.cancelled, nil) }
            try JobRunner.zipMasks(out: out, image: input.isImage)
            return (.done, nil)
        } catch {
            if job.cancelRequested { return (.cancelled, nil) }
            return (.failed, "\(input.source) could not be segmented: \(Upload.describe(error, path: input.path, as: input.source)); "
                + "check that it is a video or an image FFmpeg reads")
        }
    }

    /// `<out>/masks.zip`: a video's masks/<sentence>/<frame>.png, an image's mask.png or mask-<i>.png.
    static func zipMasks(out: String, image: Bool) throws {
        let fm = FileManager.default
        var members: [(name: String, data: [UInt8])] = []
        if image {
            for name in try fm.contentsOfDirectory(atPath: out).sorted() where name.hasPrefix("mask") && name.hasSuffix(".png") {
                members.append((name, Array(try Data(contentsOf: URL(fileURLWithPath: out + "/" + name)))))
            }
        } else {
            let root = out + "/masks"
            let sentences = try fm.contentsOfDirectory(atPath: root).sorted { (Int($0) ?? 0, $0) < (Int($1) ?? 0, $1) }
            for s in sentences {
                for name in try fm.contentsOfDirectory(atPath: root + "/" + s).sorted() where name.hasSuffix(".png") {
                    members.append(("masks/\(s)/\(name)", Array(try Data(contentsOf: URL(fileURLWithPath: "\(root)/\(s)/\(name)")))))
                }
            }
        }
        try ZipArchive.write(members, to: URL(fileURLWithPath: out + "/masks.zip"))
    }
}
