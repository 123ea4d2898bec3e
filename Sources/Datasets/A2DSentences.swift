// A2D Sentences (Gavrilyuk et al., CVPR 2018): sentences about actors in A2D videos.
// Follows CMPC_video/build_A2D_batches.py of the original, without its preprocessing step.
//
// Layout (files are looked up at <root>/<name>, then <root>/text_annotations/<name>):
//   Release/videoset.csv               no header; column 0 video id, last column 0 = train, 1 = test
//   a2d_annotation.txt                 header "video_id,instance_id,query", then one row per sentence
//   a2d_missed_videos.txt              videos without sentences (one id a line)
//   a2d_annotation_with_instances/<vid>/<%05d>.h5
//       instance  the A2D instance ids in this frame, N values
//       reMask    transposed masks: W×H for one instance, N×W×H for several (h5py shapes)
//       reBBox    boxes (not used here)
//   Release/clips320H/<vid>.mp4         annotation frame k = the k-th decoded frame (1-based)
//
// Samples: one per (sentence, annotated frame) whose mask is not empty, as the original. The
// original's mask rule: a frame with one instance gives that instance's mask whatever the
// sentence's instance id (`.original`); with several, the masks of every matching instance are
// merged (summed, then > 0); no match gives an empty mask, so no sample. `.strict` also requires
// the id to match in one-instance frames (as MTTR's reader does).
import Evaluation
import Foundation

/// The A2D Sentences reader.
public struct A2DSentences: ReferringDataset {
    /// How a sentence's instance id selects masks in a frame; see the notes at the top of the file.
    public enum InstanceMatching: Sendable {
        case original, strict
    }

    public let root: String
    public var matching: InstanceMatching
    public var splits: [String] { ["train", "test"] }

    public init(root: String, matching: InstanceMatching = .original) {
        self.root = root
        self.matching = matching
    }

    /// `<root>/<name>`, or `<root>/text_annotations/<name>` when only that exists.
    func locate(_ name: String) -> String {
        let direct = joinPath(root, name)
        let nested = joinPath(root, "text_annotations", name)
        if !FileManager.default.fileExists(atPath: direct), FileManager.default.fileExists(atPath: nested) { return nested }
        return direct
    }

    public var videosetPath: String { joinPath(root, "Release", "videoset.csv") }
    public var annotationPath: String { locate("a2d_annotation.txt") }
    public var missedVideosPath: String { locate("a2d_missed_videos.txt") }
    public var masksDirectory: String { locate("a2d_annotation_with_instances") }

    /// The clip of a video.
    public func clipPath(video: String) -> String { joinPath(root, "Release", "clips320H", "\(video).mp4") }

    /// The annotation file of a frame (1-based).
    public func maskPath(video: String, frame: Int) -> String {
        joinPath(masksDirectory, video, String(format: "%05d.h5", frame))
    }

    public func samples(split: String) throws -> [ReferringSample] {
        let scan = try self.scan(split: split, strict: false)
        scan.warn()
        return scan.samples
    }

    public func check(split: String, options: CheckOptions) throws -> CheckReport {
        var scan = try self.scan(split: split, strict: options.strict)
        // Samples of unreadable annotations are listed for evaluate (which logs them as failed), not counted here.
        let unreadable = Set(scan.unreadable.map(\.file))
        scan.samples.removeAll { unreadable.contains($0.maskPath) }
        // Whole-file row counts asserted by MTTR's reader (mttr2021/MTTR,
        // datasets/a2d_sentences/a2d_sentences_dataset.py): videoset.csv 3,782, a2d_annotation.txt 6,655.
        let source = "A2D Sentences release, as asserted by MTTR (a2d_sentences_dataset.py)"
        return try finishCheck(
            dataset: "a2d", split: split, scan: scan, unitName: "videos",
            official: [("videoset_rows", 3782, source), ("annotation_rows", 6655, source)], options: options)
    }

    /// The split of every video in videoset.csv (0 train, 1 test).
    func readVideoset(_ scan: inout Scan) throws -> [String: Int] {
        var result: [String: Int] = [:]
        let rows = try CSV.read(videosetPath)
        for row in rows {
            guard row.fields.count >= 2, !row.fields[0].isEmpty,
                  let code = Int(row.fields[row.fields.count - 1].trimmingCharacters(in: .whitespaces)) else {
                scan.skippedRows.append("\(videosetPath):\(row.line): expected 'video id,…,0|1', got \(row.fields)")
                continue
            }
            result[row.fields[0]] = code
        }
        scan.counts["videoset_rows"] = rows.count
        return result
    }

    struct Sentence {
        var video: String
        var instance: Int
        var text: String
        var row: Int
    }

    func scan(split: String, strict: Bool) throws -> Scan {
        guard let code = ["train": 0, "test": 1][split] else { throw DatasetError.unknownSplit(split, known: splits) }
        var scan = Scan()
        scan.strict = strict
        let videoset = try readVideoset(&scan)
        var missed = Set<String>()
        if FileManager.default.fileExists(atPath: missedVideosPath) {
            let text = String(decoding: try readFile(missedVideosPath), as: UTF8.self)
            missed = Set(text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
                .filter { !$0.isEmpty })
        } else {
            try scan.missingFile(missedVideosPath)
        }

        var sentences: [Sentence] = []
        let rows = try CSV.read(annotationPath)
        scan.counts["annotation_rows"] = max(0, rows.count - 1)
        for (index, row) in rows.enumerated() {
            if index == 0 { continue }   // header: video_id,instance_id,query
            let place = "\(annotationPath):\(row.line)"
            guard row.fields.count >= 3 else {
                scan.skippedRows.append("\(place): expected video_id,instance_id,query, got \(row.fields.count) fields")
                continue
            }
            let video = row.fields[0]
            guard let instance = Int(row.fields[1].trimmingCharacters(in: .whitespaces)) else {
                scan.skippedRows.append("\(place): instance id '\(row.fields[1])' is not an integer")
                continue
            }
            guard let videoSplit = videoset[video] else {
                scan.skippedRows.append("\(place): video '\(video)' is not in videoset.csv")
                continue
            }
            guard videoSplit == code else { continue }
            if missed.contains(video) {
                scan.notes.append("\(place): video '\(video)' is listed in a2d_missed_videos.txt; row skipped")
                continue
            }
            sentences.append(Sentence(video: video, instance: instance, text: row.fields[2], row: row.line))
        }

        var frameCache: [String: [A2DFrame]] = [:]
        var emptyMasks = 0
        for s in sentences {
            let frames: [A2DFrame]
            if let cached = frameCache[s.video] {
                frames = cached
            } else {
                frames = try readFrames(video: s.video, &scan)
                frameCache[s.video] = frames
            }
            for f in frames {
                guard f.hasMask(for: s.instance, matching: matching) else {
                    emptyMasks += 1
                    continue
                }
                let path = f.path
                let instance = s.instance
                let matching = self.matching
                scan.samples.append(ReferringSample(
                    id: "a2d/\(s.video)/\(f.frame)/\(s.instance)/\(s.row)",
                    source: .video(path: clipPath(video: s.video), frame: f.frame, frameCount: nil),
                    sentence: s.text, instance: String(s.instance), maskPath: path,
                    maskLoader: { try A2DSentences.loadMask(path: path, instance: instance, matching: matching) }))
            }
        }
        if emptyMasks > 0 {
            scan.notes.append("\(emptyMasks) (sentence, frame) pairs skipped: the instance's mask is empty or absent")
        }
        return scan
    }

    /// The annotated frames of a video with, per frame, which instances have a non-empty mask.
    func readFrames(video: String, _ scan: inout Scan) throws -> [A2DFrame] {
        let dir = joinPath(masksDirectory, video)
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else {
            try scan.missingFile(dir)
            return []
        }
        var frames: [A2DFrame] = []
        for name in names.sorted() {
            guard name.hasSuffix(".h5"), let frame = Int(name.dropLast(3)) else {
                scan.notes.append("\(joinPath(dir, name)): not a <frame>.h5 annotation; ignored")
                continue
            }
            let path = joinPath(dir, name)
            do {
                let (ids, masks) = try A2DSentences.readAnnotation(path: path)
                frames.append(A2DFrame(frame: frame, path: path, instances: ids, nonEmpty: masks.map { !$0.isEmpty }))
            } catch {
                // Kept as a frame whose every sentence is a sample: loading its mask fails again, so evaluate logs
                // each as failed (or stops with --strict) instead of dropping them from the metrics unseen.
                try scan.failed(path, error)
                frames.append(A2DFrame(frame: frame, path: path, instances: [], nonEmpty: [], unreadable: true))
            }
        }
        return frames
    }

    /// Reads one frame annotation: the instance ids and one H×W mask per instance.
    public static func readAnnotation(path: String) throws -> (instances: [Int], masks: [PixelMask]) {
        let inst = try HDF5File.read(path, dataset: "instance")
        let ids = try inst.values.map { v -> Int in
            guard v.rounded() == v, abs(v) < 1e9 else {
                throw DatasetError.invalidValue(file: path, what: "instance", reason: "id \(v) is not an integer")
            }
            return Int(v)
        }
        guard !ids.isEmpty else { throw DatasetError.malformed(file: path, reason: "'instance' is empty") }
        let re = try HDF5File.read(path, dataset: "reMask")
        // reMask is stored transposed: W×H (one instance) or N×W×H.
        let n = ids.count
        let w: Int, h: Int
        switch re.shape.count {
        case 2 where n == 1: (w, h) = (re.shape[0], re.shape[1])
        case 3 where re.shape[0] == n: (w, h) = (re.shape[1], re.shape[2])
        default:
            throw DatasetError.sizeMismatch(
                file: path, reason: "reMask shape \(re.shape) does not fit \(n) instance(s) (expected W×H or N×W×H)")
        }
        var masks: [PixelMask] = []
        for k in 0..<n {
            var m = PixelMask(width: w, height: h)
            let base = k * w * h
            for x in 0..<w {
                for y in 0..<h where re.values[base + x * h + y] != 0 {
                    m.pixels[y * w + x] = 1
                }
            }
            masks.append(m)
        }
        return (ids, masks)
    }

    /// The mask the original builds for `instance` in one frame annotation (H×W).
    public static func loadMask(path: String, instance: Int, matching: InstanceMatching = .original) throws -> PixelMask {
        let (ids, masks) = try readAnnotation(path: path)
        if ids.count == 1 {
            if matching == .strict, ids[0] != instance { return PixelMask(width: masks[0].width, height: masks[0].height) }
            return masks[0]
        }
        var merged = PixelMask(width: masks[0].width, height: masks[0].height)
        for (id, m) in zip(ids, masks) where id == instance {
            for i in 0..<m.pixels.count where m.pixels[i] != 0 { merged.pixels[i] = 1 }
        }
        return merged
    }
}

/// One annotated A2D frame: which instances it has and whether each mask is non-empty.
struct A2DFrame {
    var frame: Int
    var path: String
    var instances: [Int]
    var nonEmpty: [Bool]
    /// The annotation could not be read: every instance counts as present (its mask loader throws).
    var unreadable = false

    func hasMask(for instance: Int, matching: A2DSentences.InstanceMatching) -> Bool {
        if unreadable { return true }
        if instances.count == 1 {
            return nonEmpty[0] && (matching == .original || instances[0] == instance)
        }
        return zip(instances, nonEmpty).contains { $0 == instance && $1 }
    }
}
