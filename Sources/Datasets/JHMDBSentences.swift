// J-HMDB Sentences (Gavrilyuk et al., CVPR 2018): one sentence per J-HMDB video, evaluation only.
//
// Layout:
//   jhmdb_annotation.txt                         header "video_id,query", one row per video (928)
//   Rename_Images/<action>/<vid>/%05d.png        frames, 1-based
//   puppet_mask/<action>/<vid>/puppet_mask.mat   `part_mask`, H×W×T (MATLAB v5), non-zero = actor
//
// Evaluated frames: the common protocol scores three frames per video. MTTR samples them at
// random (`random.sample`, unseeded), which cannot be reproduced; this reader takes three
// evenly spaced frames instead — the first, the middle (1 + ⌊(n−1)/2⌋) and the last of the n
// usable frames, where n = min(number of PNG frames, T) (frames past the last mask have no
// ground truth). `.all` lists every usable frame.
import Evaluation
import Foundation

/// The J-HMDB Sentences reader.
public struct JHMDBSentences: ReferringDataset {
    /// Which frames of each video become samples.
    public enum FrameSelection: Sendable {
        /// First, middle and last usable frame (see the notes at the top of the file).
        case firstMiddleLast
        /// Every usable frame.
        case all
    }

    public let root: String
    public var frames: FrameSelection
    /// J-HMDB Sentences has no training split; every video is evaluated.
    public var splits: [String] { ["test"] }

    public init(root: String, frames: FrameSelection = .firstMiddleLast) {
        self.root = root
        self.frames = frames
    }

    public var annotationPath: String { joinPath(root, "jhmdb_annotation.txt") }

    /// The 1-based frames chosen among `n` usable frames.
    public static func chosenFrames(usable n: Int, selection: FrameSelection) -> [Int] {
        guard n > 0 else { return [] }
        switch selection {
        case .all: return Array(1...n)
        case .firstMiddleLast: return Array(Set([1, 1 + (n - 1) / 2, n])).sorted()   // fewer when n < 3
        }
    }

    public func samples(split: String) throws -> [ReferringSample] {
        let scan = try self.scan(split: split, strict: false)
        scan.warn()
        return scan.samples
    }

    public func check(split: String, options: CheckOptions) throws -> CheckReport {
        var scan = try self.scan(split: split, strict: options.strict)
        // Samples of unreadable mask files are listed for evaluate (which logs them as failed), not counted here.
        let unreadable = Set(scan.unreadable.map(\.file))
        scan.samples.removeAll { unreadable.contains($0.maskPath) }
        // 928 sentences (one per video): Gavrilyuk et al. 2018; asserted by MTTR's reader
        // (mttr2021/MTTR, datasets/jhmdb_sentences/jhmdb_sentences_dataset.py).
        let source = "J-HMDB Sentences release, as asserted by MTTR (jhmdb_sentences_dataset.py)"
        var official: [(name: String, value: Int, source: String)] = [("annotation_rows", 928, source), ("videos", 928, source)]
        if frames == .firstMiddleLast { official.append(("samples", 3 * 928, "928 videos × 3 evaluated frames")) }
        return try finishCheck(dataset: "jhmdb", split: split, scan: scan, unitName: "videos", official: official,
                               options: options)
    }

    func scan(split: String, strict: Bool) throws -> Scan {
        guard splits.contains(split) else { throw DatasetError.unknownSplit(split, known: splits) }
        var scan = Scan()
        scan.strict = strict
        let rows = try CSV.read(annotationPath)
        scan.counts["annotation_rows"] = max(0, rows.count - 1)
        let frameDirs = videoFolders(under: joinPath(root, "Rename_Images"))
        let maskDirs = videoFolders(under: joinPath(root, "puppet_mask"))
        for (index, row) in rows.enumerated() {
            if index == 0 { continue }   // header: video_id,query
            let place = "\(annotationPath):\(row.line)"
            guard row.fields.count >= 2, !row.fields[0].isEmpty else {
                scan.skippedRows.append("\(place): expected video_id,query, got \(row.fields.count) fields")
                continue
            }
            let video = row.fields[0]
            guard let frameDir = frameDirs[video] else {
                try scan.missingFile(joinPath(root, "Rename_Images", "*", video))
                continue
            }
            guard let maskDir = maskDirs[video] else {
                try scan.missingFile(joinPath(root, "puppet_mask", "*", video, "puppet_mask.mat"))
                continue
            }
            let maskPath = joinPath(maskDir, "puppet_mask.mat")
            let pngs = ((try? FileManager.default.contentsOfDirectory(atPath: frameDir)) ?? [])
                .filter { $0.hasSuffix(".png") }.count
            let maskFrames: Int
            do {
                let dims = try MATFile.dimensions(maskPath, variable: "part_mask")
                guard dims.count == 2 || dims.count == 3 else {
                    throw DatasetError.malformed(file: maskPath, reason: "part_mask has dimensions \(dims), expected H×W×T")
                }
                maskFrames = dims.count == 3 ? dims[2] : 1
            } catch {
                // Its frames stay samples (each mask load fails again): evaluate logs them as failed, or stops
                // with --strict, instead of leaving them out of the metrics unseen.
                try scan.failed(maskPath, error)
                maskFrames = pngs
            }
            let usable = min(pngs, maskFrames)
            if usable == 0 {
                scan.notes.append("\(video): no usable frames (\(pngs) PNG frames, \(maskFrames) masks)")
                continue
            }
            for frame in Self.chosenFrames(usable: usable, selection: frames) {
                scan.samples.append(ReferringSample(
                    id: "jhmdb/\(video)/\(frame)",
                    source: .frames(directory: frameDir, frame: frame, frameCount: usable),
                    sentence: row.fields[1], instance: video, maskPath: maskPath,
                    maskLoader: { try JHMDBSentences.loadMask(path: maskPath, frame: frame) }))
            }
        }
        return scan
    }

    /// `<vid> → <dir>/<action>/<vid>` for every video folder two levels under `dir`.
    func videoFolders(under dir: String) -> [String: String] {
        var result: [String: String] = [:]
        let fm = FileManager.default
        for action in ((try? fm.contentsOfDirectory(atPath: dir)) ?? []).sorted() {
            let actionDir = joinPath(dir, action)
            for video in ((try? fm.contentsOfDirectory(atPath: actionDir)) ?? []).sorted() {
                result[video] = joinPath(actionDir, video)
            }
        }
        return result
    }

    /// Frame `frame` (1-based) of `part_mask` as an H×W mask (non-zero = actor).
    public static func loadMask(path: String, frame: Int) throws -> PixelMask {
        let a = try MATFile.read(path, variable: "part_mask")
        guard a.dims.count == 2 || a.dims.count == 3 else {
            throw DatasetError.malformed(file: path, reason: "part_mask has dimensions \(a.dims), expected H×W×T")
        }
        let (h, w) = (a.dims[0], a.dims[1])
        let t = a.dims.count == 3 ? a.dims[2] : 1
        guard frame >= 1, frame <= t else {
            throw DatasetError.invalidValue(file: path, what: "frame", reason: "\(frame) is outside 1…\(t)")
        }
        var m = PixelMask(width: w, height: h)
        let base = (frame - 1) * h * w
        for x in 0..<w {
            for y in 0..<h where a.values[base + x * h + y] != 0 { m.pixels[y * w + x] = 1 }
        }
        return m
    }
}
