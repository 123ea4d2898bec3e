// Ref-YouTube-VOS (Seo et al., ECCV 2020) as it ships, and as MTTR and ReferFormer read it.
//
// Layout:
//   ROOT/{train,valid,test}/JPEGImages/<video>/<frame>.jpg
//   ROOT/train/Annotations/<video>/<frame>.png        palette PNGs: pixel value (palette index) = object id, 0 background
//   ROOT/meta_expressions/{train,valid,test}/meta_expressions.json
//     {"videos": {"<video>": {"expressions": {"<exp_id>": {"exp": "…", "obj_id": "1"}}, "frames": ["00000", "00005", …]}}}
//     valid and test have no obj_id (their masks are scored by the challenge server).
// A video's frames are the listed ones, in list order; an expression refers to one object in all of them, and its
// mask in a frame is `Annotations/<video>/<frame>.png == obj_id` (empty where the object is not visible).
// One sample per (expression, frame): id `ytvos/<video>/<exp_id>/<frame>`. Videos and expressions keep file order.
import Evaluation
import Foundation
import JSON
import Video

/// The Ref-YouTube-VOS reader.
///
/// ```swift
/// let ytvos = RefYouTubeVOS(root: "/data/ref-youtube-vos")
/// for video in try ytvos.videos(split: "train") { … video.expressions[0].sentence … }
/// ```
public struct RefYouTubeVOS: ReferringDataset {
    public let root: String
    /// "ytvos", or "refdavis" for Ref-DAVIS17 converted to this layout.
    public let name: String
    public let splits: [String]
    /// The splits that ship Annotations/ and obj_id (Ref-YouTube-VOS: train; converted Ref-DAVIS17: train, valid).
    public let annotatedSplits: [String]
    /// Ref-DAVIS17 as released rather than converted: DAVIS 2017 plus davis_text_annotations/ (see `refDAVIS`).
    public let davisRelease: Bool

    /// Ref-YouTube-VOS under `root`.
    public init(root: String) {
        self.init(root: root, name: "ytvos", splits: ["train", "valid", "test"], annotatedSplits: ["train"])
    }

    init(root: String, name: String, splits: [String], annotatedSplits: [String], davisRelease: Bool = false) {
        self.root = root
        self.name = name
        self.splits = splits
        self.annotatedSplits = annotatedSplits
        self.davisRelease = davisRelease
    }

    /// Ref-DAVIS17 in the Ref-YouTube-VOS layout that ReferFormer's tools/data/convert_davis_to_ytvos.py writes:
    /// `{train,valid}/JPEGImages`, `{train,valid}/Annotations` (DAVIS's Annotations_unsupervised, palette PNGs) and
    /// `meta_expressions/{train,valid}/meta_expressions.json`, four expressions per object (annotator 1 first frame,
    /// annotator 1 full video, annotator 2 first frame, annotator 2 full video).
    ///
    /// A root without meta_expressions/ but with davis_text_annotations/ is read as released instead, as that
    /// converter reads it: `DAVIS/ImageSets/2017/{train,val}.txt` (split valid = val.txt),
    /// `DAVIS/JPEGImages/480p/<video>/*.jpg` (frames: the folder's names, sorted),
    /// `DAVIS/Annotations_unsupervised/480p/<video>/<frame>.png`, and the expressions of
    /// `davis_text_annotations/Davis17_annot1.txt`, `…annot1_full_video.txt` (UTF-8), `…annot2.txt`,
    /// `…annot2_full_video.txt` (Latin-1), lines `<video> <obj_id> "<sentence>"`, each file's expressions of a video
    /// sorted by obj_id as a string, interleaved per object as ids 0, 1, 2, 3, 4, … (the converter's three misspelt
    /// video names corrected as it does).
    public static func refDAVIS(root: String) -> RefYouTubeVOS {
        let fm = FileManager.default
        let release = !fm.fileExists(atPath: joinPath(root, "meta_expressions"))
            && fm.fileExists(atPath: joinPath(root, "davis_text_annotations"))
        return RefYouTubeVOS(root: root, name: "refdavis", splits: ["train", "valid"], annotatedSplits: ["train", "valid"],
                             davisRelease: release)
    }

    /// Whether the split ships annotations (and object ids).
    public func hasGroundTruth(split: String) -> Bool { annotatedSplits.contains(split) }

    /// One referring expression of a video.
    public struct Expression: Equatable, Sendable {
        /// The key under `expressions` ("0", "1", …).
        public var id: String
        /// The sentence as the file stores it.
        public var sentence: String
        /// The referred object's id in the annotation PNGs; nil in valid and test.
        public var objectID: Int?
    }

    /// One video of a split: its listed frames and its expressions.
    public struct Video: Equatable, Sendable {
        public var id: String
        /// Frame names without extension, in list order ("00000", "00005", …).
        public var frames: [String]
        public var expressions: [Expression]
    }

    /// `ROOT/meta_expressions/<split>/meta_expressions.json`.
    public func metaPath(split: String) -> String {
        davisRelease ? joinPath(root, "davis_text_annotations") : joinPath(root, "meta_expressions", split, "meta_expressions.json")
    }

    /// `ROOT/<split>/JPEGImages/<video>/<frame>.jpg`.
    public func framePath(split: String, video: String, frame: String) -> String {
        joinPath(frameFolder(split: split, video: video), frame + ".jpg")
    }

    /// The folder of a video's JPEG frames.
    public func frameFolder(split: String, video: String) -> String {
        davisRelease ? joinPath(root, "DAVIS", "JPEGImages", "480p", video) : joinPath(root, split, "JPEGImages", video)
    }

    /// `ROOT/<split>/Annotations/<video>/<frame>.png` (Ref-YouTube-VOS: only train has annotations).
    public func annotationPath(split: String = "train", video: String, frame: String) -> String {
        davisRelease ? joinPath(root, "DAVIS", "Annotations_unsupervised", "480p", video, frame + ".png")
                     : joinPath(root, split, "Annotations", video, frame + ".png")
    }

    /// The videos of a split, in file order; entries that cannot be used are skipped with a warning on stderr.
    public func videos(split: String) throws -> [Video] {
        var scan = Scan()
        let videos = try listVideos(split: split, scan: &scan)
        scan.warn()
        return videos
    }

    public func samples(split: String) throws -> [ReferringSample] {
        var scan = Scan()
        let videos = try listVideos(split: split, scan: &scan)
        scan.warn()
        return samples(split: split, videos: videos)
    }

    func samples(split: String, videos: [Video]) -> [ReferringSample] {
        var out: [ReferringSample] = []
        for video in videos {
            for expression in video.expressions {
                for frame in video.frames {
                    let framePath = framePath(split: split, video: video.id, frame: frame)
                    let id = "\(name)/\(video.id)/\(expression.id)/\(frame)"
                    if let object = expression.objectID, hasGroundTruth(split: split) {
                        let maskPath = annotationPath(split: split, video: video.id, frame: frame)
                        out.append(ReferringSample(
                            id: id, source: .image(path: framePath), sentence: expression.sentence, instance: String(object),
                            maskPath: maskPath, maskLoader: { try RefYouTubeVOS.loadMask(path: maskPath, objectID: object) }))
                    } else {
                        let problem = DatasetError.invalidValue(
                            file: metaPath(split: split), what: "ground truth",
                            reason: "\(split) has no object ids or annotations (the challenge server scores it); "
                                + "evaluate locally on \(annotatedSplits.joined(separator: " or "))")
                        out.append(ReferringSample(
                            id: id, source: .image(path: framePath), sentence: expression.sentence, instance: "",
                            maskPath: metaPath(split: split), maskLoader: { throw problem }))
                    }
                }
            }
        }
        return out
    }

    /// The mask of object `objectID` in an annotation PNG: the pixels whose palette index is the id.
    public static func loadMask(path: String, objectID: Int) throws -> PixelMask {
        let labels = try readLabelImage(path)
        let id = UInt8(clamping: objectID)
        return try PixelMask(width: labels.width, height: labels.height, pixels: labels.pixels.map { $0 == id ? 1 : 0 })
    }

    /// An annotation PNG's label map (palette index = object id, 255 void), for DAVIS's unsupervised evaluation.
    public static func loadLabels(path: String) throws -> LabelMap {
        let labels = try readLabelImage(path)
        return try LabelMap(width: labels.width, height: labels.height, labels: labels.pixels)
    }

    /// An annotation PNG's palette indices; a missing or unreadable file is a dataset error naming it.
    private static func readLabelImage(_ path: String) throws -> GrayImage {
        do {
            return try ImageIO.readLabels(path: path)
        } catch let error as VideoError {
            if error.kind == .missingFile { throw DatasetError.missingFile(path) }
            throw DatasetError.unreadable(file: path, reason: error.message)
        }
    }

    public func check(split: String, options: CheckOptions) throws -> CheckReport {
        var scan = Scan()
        scan.strict = options.strict
        let videos = try listVideos(split: split, scan: &scan)
        let fm = FileManager.default
        let annotated = hasGroundTruth(split: split)
        var frames = 0, expressions = 0, annotationFiles = 0
        for video in videos {
            expressions += video.expressions.count
            let folder = frameFolder(split: split, video: video.id)
            guard fm.fileExists(atPath: folder) else {
                try scan.missingFile(folder + "/")
                frames += video.frames.count
                continue
            }
            var objectsSeen = Set<UInt8>()
            for frame in video.frames {
                frames += 1
                let jpeg = framePath(split: split, video: video.id, frame: frame)
                if !fm.fileExists(atPath: jpeg) {
                    try scan.missingFile(jpeg)
                } else if ImageIO.stillFormat(path: jpeg) != "jpeg" {
                    try scan.failed(jpeg, DatasetError.unreadable(file: jpeg, reason: "not a JPEG file (its first bytes)"))
                }
                guard annotated else { continue }
                let png = annotationPath(split: split, video: video.id, frame: frame)
                annotationFiles += 1
                if !fm.fileExists(atPath: png) {
                    try scan.missingFile(png)
                } else if ImageIO.stillFormat(path: png) != "png" {
                    try scan.failed(png, DatasetError.unreadable(file: png, reason: "not a PNG file (its first bytes)"))
                } else if options.verifyMasks {
                    do {
                        objectsSeen.formUnion(try ImageIO.readLabels(path: png).pixels)
                    } catch let error as VideoError {
                        try scan.failed(png, DatasetError.unreadable(file: png, reason: error.message))
                    }
                }
            }
            if annotated && options.verifyMasks {
                for e in video.expressions {
                    if let object = e.objectID, !objectsSeen.contains(UInt8(clamping: object)) {
                        scan.notes.append("\(video.id) expression \(e.id): object \(object) appears in none of its "
                                          + "\(video.frames.count) annotation PNGs (its masks are all empty)")
                    }
                }
            }
        }
        if !annotated {
            scan.notes.append("\(split) has no annotations: J&F on it comes from the challenge server")
        }
        var counts: [(name: String, value: Int)] = [("videos", videos.count), ("expressions", expressions), ("frames", frames)]
        if annotated { counts.append(("annotation_files", annotationFiles)) }
        return CheckReport(dataset: name, split: split,
                           samples: videos.reduce(0) { $0 + $1.expressions.count * $1.frames.count },
                           unitName: "videos", units: videos.count, missing: Array(Set(scan.missing)).sorted(),
                           unreadable: scan.unreadable, skippedRows: scan.skippedRows, notes: scan.notes,
                           comparisons: [], counts: counts)
    }

    /// Reads the split's meta_expressions.json; entries that cannot be used go to `scan.skippedRows`.
    func listVideos(split: String, scan: inout Scan) throws -> [Video] {
        guard splits.contains(split) else { throw DatasetError.unknownSplit(split, known: splits) }
        if davisRelease { return try davisReleaseVideos(split: split) }
        let path = metaPath(split: split)
        let (videos, skipped) = try Self.parseMeta(try readFile(path), file: path, requireObjectIDs: hasGroundTruth(split: split))
        scan.skippedRows += skipped
        return videos
    }

    /// Parses a meta_expressions.json: the videos in file order, and the entries skipped (file: why). With
    /// `requireObjectIDs` (train) an expression without a numeric obj_id is skipped; without, obj_id is optional.
    public static func parseMeta(_ data: Data, file: String, requireObjectIDs: Bool) throws -> (videos: [Video], skipped: [String]) {
        let top: JSONValue
        do { top = try JSONValue.parse(data, file: file) } catch let e as JSONError {
            throw DatasetError.malformed(file: file, reason: "JSON: \(e.reason)")
        }
        guard let entries = top["videos"]?.members else {
            throw DatasetError.malformed(file: file, reason: "expected {\"videos\": {\"<video>\": {…}}} at the top")
        }
        var videos: [Video] = []
        var skipped: [String] = []
        for (videoID, entry) in entries {
            guard isSafeName(videoID) else {
                skipped.append("\(file): video '\(videoID)' is not a plain folder name"); continue
            }
            guard let frameList = entry["frames"]?.array, let expressionList = entry["expressions"]?.members else {
                skipped.append("\(file): video '\(videoID)' lacks \"frames\" (a list) or \"expressions\" (an object)"); continue
            }
            let frames = frameList.compactMap(\.string)
            guard frames.count == frameList.count, frames.allSatisfy(isSafeName) else {
                skipped.append("\(file): video '\(videoID)': \"frames\" must be a list of plain file names"); continue
            }
            var expressions: [Expression] = []
            for (expID, e) in expressionList {
                guard let sentence = e["exp"]?.string else {
                    skipped.append("\(file): video '\(videoID)' expression '\(expID)' has no \"exp\" string"); continue
                }
                var object: Int?
                if let value = e["obj_id"] {
                    object = value.string.flatMap { Int($0) } ?? value.int
                    guard let o = object, (1...255).contains(o) else {
                        skipped.append("\(file): video '\(videoID)' expression '\(expID)': obj_id \(value.text(.compact)) is not an "
                                       + "object id 1…255"); continue
                    }
                } else if requireObjectIDs {
                    skipped.append("\(file): video '\(videoID)' expression '\(expID)' has no obj_id"); continue
                }
                expressions.append(Expression(id: expID, sentence: sentence, objectID: object))
            }
            videos.append(Video(id: videoID, frames: frames, expressions: expressions))
        }
        return (videos, skipped)
    }

    /// A name usable as one path component: not empty, no "/", not "." or "..".
    static func isSafeName(_ name: String) -> Bool {
        !name.isEmpty && !name.contains("/") && name != "." && name != ".." && !name.contains("\0")
    }

    /// The videos of a split of the Ref-DAVIS17 release, with the expressions and ids ReferFormer's converter gives.
    func davisReleaseVideos(split: String) throws -> [Video] {
        let setFile = joinPath(root, "DAVIS", "ImageSets", "2017", split == "valid" ? "val.txt" : "train.txt")
        guard let setText = String(data: try readFile(setFile), encoding: .utf8) else {
            throw DatasetError.unreadable(file: setFile, reason: "not UTF-8 text")
        }
        let names = setText.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        let folder = joinPath(root, "davis_text_annotations")
        let files: [(String, String.Encoding)] = [("Davis17_annot1.txt", .utf8), ("Davis17_annot1_full_video.txt", .utf8),
                                                  ("Davis17_annot2.txt", .isoLatin1), ("Davis17_annot2_full_video.txt", .isoLatin1)]
        let fixes = ["clasic-car": "classic-car", "dog-scale": "dogs-scale", "motor-bike": "motorbike"]
        let annotations: [[String: [(object: String, sentence: String)]]] = try files.map { name, encoding in
            let path = joinPath(folder, name)
            guard let text = String(data: try readFile(path), encoding: encoding) else {
                throw DatasetError.unreadable(file: path, reason: "cannot be read as \(encoding == .utf8 ? "UTF-8" : "Latin-1")")
            }
            var byVideo: [String: [(object: String, sentence: String)]] = [:]
            for (n, line) in text.split(whereSeparator: \.isNewline).enumerated() {
                let words = line.split(whereSeparator: \.isWhitespace).map(String.init)
                guard words.count >= 2 else {
                    if words.isEmpty { continue }
                    throw DatasetError.malformed(file: path, reason: "line \(n + 1) is not <video> <obj_id> \"<sentence>\"")
                }
                let video = fixes[words[0]] ?? words[0]
                let sentence = String(words.dropFirst(2).joined(separator: " ").dropFirst().dropLast())
                byVideo[video, default: []].append((words[1], sentence))
            }
            // Python's sorted() is stable; obj_id is compared as a string.
            return byVideo.mapValues { list in
                list.enumerated().sorted { ($0.element.object, $0.offset) < ($1.element.object, $1.offset) }.map(\.element)
            }
        }
        let fm = FileManager.default
        return try names.map { video in
            var expressions: [Expression] = []
            let lists = annotations.map { $0[video] ?? [] }
            for k in 0..<(lists.map(\.count).min() ?? 0) {
                for list in lists {
                    guard let object = Int(list[k].object), (1...255).contains(object) else {
                        throw DatasetError.malformed(file: folder, reason: "video \(video): obj_id '\(list[k].object)' is not 1…255")
                    }
                    expressions.append(Expression(id: String(expressions.count), sentence: list[k].sentence, objectID: object))
                }
            }
            let frameFolder = frameFolder(split: split, video: video)
            let frames = ((try? fm.contentsOfDirectory(atPath: frameFolder)) ?? [])
                .map { String($0.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false).first ?? "") }
                .filter { !$0.isEmpty }.sorted()
            return Video(id: video, frames: frames, expressions: expressions)
        }
    }
}
