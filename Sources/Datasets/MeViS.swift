// MeViS (Ding et al., ICCV 2023): motion expressions, where one sentence may name several objects, as the release
// ships it and as its tools/eval_mevis.py reads it.
//
// Layout:
//   ROOT/{train,valid_u,valid}/JPEGImages/<video>/<frame>.jpg
//   ROOT/<split>/meta_expressions.json
//     {"videos": {"<video>": {"expressions": {"<exp_id>": {"exp": "…", "obj_id": [0, 1], "anno_id": [3, 4]}},
//                             "frames": ["00000", "00001", …]}}}
//   ROOT/<split>/mask_dict.json   {"<anno_id>": [RLE or null per listed frame]}, RLE as pycocotools writes it
//     ({"size": [h, w], "counts": "…"}); train and valid_u have it, valid (scored by the server) does not.
// The ground truth of an expression in frame k is the union of its anno_ids' masks at k (null: nothing), as
// eval_mevis.py sums them. One sample per (expression, frame): id `mevis/<video>/<exp_id>/<frame>`.
import Evaluation
import Foundation
import JSON
import Video

/// The MeViS reader.
public struct MeViS: ReferringDataset {
    public let root: String
    public var splits: [String] { ["train", "valid_u", "valid"] }

    public init(root: String) {
        self.root = root
    }

    /// One motion expression: its sentence and the annotations (objects) it names.
    public struct Expression: Equatable, Sendable {
        public var id: String
        public var sentence: String
        /// The objects named (obj_id), possibly several.
        public var objectIDs: [Int]
        /// Keys of mask_dict.json, one per named object.
        public var annotationIDs: [String]
    }

    /// One video: its listed frames and its expressions.
    public struct Video: Equatable, Sendable {
        public var id: String
        public var frames: [String]
        public var expressions: [Expression]
    }

    /// mask_dict.json: each annotation's mask per listed frame (nil where the object is absent).
    public struct Masks: Sendable {
        public var file: String
        public var entries: [String: [RLE?]]

        /// The union of `annotationIDs`' masks in frame `index` (0-based), `height`×`width` where none is present.
        public func union(_ annotationIDs: [String], frame index: Int, height: Int, width: Int) throws -> PixelMask {
            var pixels = [UInt8](repeating: 0, count: height * width)
            for id in annotationIDs {
                guard let list = entries[id] else {
                    throw DatasetError.malformed(file: file, reason: "no annotation '\(id)'")
                }
                guard index < list.count else {
                    throw DatasetError.malformed(file: file, reason: "annotation '\(id)' has \(list.count) frames, "
                                                 + "frame \(index + 1) asked for")
                }
                guard let rle = list[index] else { continue }
                guard (rle.height, rle.width) == (height, width) else {
                    throw DatasetError.sizeMismatch(file: file, reason: "annotation '\(id)' frame \(index + 1) is "
                                                    + "\(rle.height)×\(rle.width), the video \(height)×\(width)")
                }
                for (i, v) in rle.decode().enumerated() where v != 0 { pixels[i] = 1 }
            }
            return try PixelMask(width: width, height: height, pixels: pixels)
        }

        /// The size (height, width) of the first present mask of `annotationIDs`; nil when all are absent.
        public func size(of annotationIDs: [String]) -> (height: Int, width: Int)? {
            for id in annotationIDs { if let r = entries[id]?.lazy.compactMap({ $0 }).first { return (r.height, r.width) } }
            return nil
        }
    }

    public func metaPath(split: String) -> String { joinPath(root, split, "meta_expressions.json") }
    public func maskDictPath(split: String) -> String { joinPath(root, split, "mask_dict.json") }
    public func framePath(split: String, video: String, frame: String) -> String {
        joinPath(root, split, "JPEGImages", video, frame + ".jpg")
    }
    /// Whether the split ships its masks (train, valid_u).
    public func hasGroundTruth(split: String) -> Bool { split != "valid" }

    /// The videos of a split, in file order; unusable entries are skipped with a warning on stderr.
    public func videos(split: String) throws -> [Video] {
        var scan = Scan()
        let videos = try listVideos(split: split, scan: &scan)
        scan.warn()
        return videos
    }

    /// Reads the split's mask_dict.json.
    public func masks(split: String) throws -> Masks {
        let path = maskDictPath(split: split)
        return try Self.parseMasks(try readFile(path), file: path)
    }

    public func samples(split: String) throws -> [ReferringSample] {
        let videos = try self.videos(split: split)
        let masks = hasGroundTruth(split: split) ? try self.masks(split: split) : nil
        var out: [ReferringSample] = []
        for video in videos {
            for e in video.expressions {
                let size = masks?.size(of: e.annotationIDs)
                for (k, frame) in video.frames.enumerated() {
                    let framePath = framePath(split: split, video: video.id, frame: frame)
                    let maskPath = masks?.file ?? metaPath(split: split)
                    let loader: @Sendable () throws -> PixelMask
                    if let masks {
                        let ids = e.annotationIDs
                        loader = {
                            let (h, w) = try size ?? { let f = try ImageIO.read(path: framePath); return (f.height, f.width) }()
                            return try masks.union(ids, frame: k, height: h, width: w)
                        }
                    } else {
                        let problem = DatasetError.invalidValue(file: maskPath, what: "ground truth",
                                                                reason: "\(split) has no mask_dict.json (the server scores it); evaluate on valid_u")
                        loader = { throw problem }
                    }
                    out.append(ReferringSample(id: "mevis/\(video.id)/\(e.id)/\(frame)", source: .image(path: framePath),
                                               sentence: e.sentence, instance: e.annotationIDs.joined(separator: ","),
                                               maskPath: maskPath, maskLoader: loader))
                }
            }
        }
        return out
    }

    public func check(split: String, options: CheckOptions) throws -> CheckReport {
        var scan = Scan()
        scan.strict = options.strict
        let videos = try listVideos(split: split, scan: &scan)
        let fm = FileManager.default
        var masks: Masks?
        if hasGroundTruth(split: split) {
            do { masks = try self.masks(split: split) } catch { try scan.failed(maskDictPath(split: split), error) }
        } else {
            scan.notes.append("\(split) has no mask_dict.json: J&F on it comes from the challenge server")
        }
        var frames = 0, expressions = 0, annotations = Set<String>()
        for video in videos {
            expressions += video.expressions.count
            frames += video.frames.count
            for frame in video.frames {
                let jpeg = framePath(split: split, video: video.id, frame: frame)
                if !fm.fileExists(atPath: jpeg) {
                    try scan.missingFile(jpeg)
                } else if ImageIO.stillFormat(path: jpeg) != "jpeg" {
                    try scan.failed(jpeg, DatasetError.unreadable(file: jpeg, reason: "not a JPEG file (its first bytes)"))
                }
            }
            guard let masks else { continue }
            for e in video.expressions {
                for id in e.annotationIDs where annotations.insert(id).inserted {
                    guard let list = masks.entries[id] else {
                        try scan.failed(masks.file, DatasetError.malformed(
                            file: masks.file, reason: "video \(video.id) expression \(e.id) names annotation '\(id)', which it lacks"))
                        continue
                    }
                    if list.count != video.frames.count {
                        try scan.failed(masks.file, DatasetError.malformed(
                            file: masks.file, reason: "annotation '\(id)' has \(list.count) frames, video \(video.id) lists \(video.frames.count)"))
                    }
                }
            }
        }
        var counts: [(name: String, value: Int)] = [("videos", videos.count), ("expressions", expressions), ("frames", frames)]
        if masks != nil { counts.append(("annotations", annotations.count)) }
        return CheckReport(dataset: "mevis", split: split,
                           samples: videos.reduce(0) { $0 + $1.expressions.count * $1.frames.count },
                           unitName: "videos", units: videos.count, missing: Array(Set(scan.missing)).sorted(),
                           unreadable: scan.unreadable, skippedRows: scan.skippedRows, notes: scan.notes,
                           comparisons: [], counts: counts)
    }

    func listVideos(split: String, scan: inout Scan) throws -> [Video] {
        guard splits.contains(split) else { throw DatasetError.unknownSplit(split, known: splits) }
        let file = metaPath(split: split)
        let top: JSONValue
        do { top = try JSONValue.parse(try readFile(file), file: file) } catch let e as JSONError {
            throw DatasetError.malformed(file: file, reason: "JSON: \(e.reason)")
        }
        guard let entries = top["videos"]?.members else {
            throw DatasetError.malformed(file: file, reason: "expected {\"videos\": {\"<video>\": {…}}} at the top")
        }
        var videos: [Video] = []
        for (videoID, entry) in entries {
            guard RefYouTubeVOS.isSafeName(videoID) else {
                scan.skippedRows.append("\(file): video '\(videoID)' is not a plain folder name"); continue
            }
            guard let frameList = entry["frames"]?.array, let expressionList = entry["expressions"]?.members,
                  case let frames = frameList.compactMap(\.string), frames.count == frameList.count,
                  frames.allSatisfy(RefYouTubeVOS.isSafeName) else {
                scan.skippedRows.append("\(file): video '\(videoID)' needs \"frames\" (plain file names) and \"expressions\"")
                continue
            }
            var expressions: [Expression] = []
            for (expID, e) in expressionList {
                // Ids are numbers in the release; strings are taken too.
                func ids(_ key: String) -> [String]? {
                    guard let list = e[key]?.array else { return nil }
                    let out = list.compactMap { $0.int.map(String.init) ?? $0.string }
                    return out.count == list.count ? out : nil
                }
                guard let sentence = e["exp"]?.string, let annos = ids("anno_id"), !annos.isEmpty else {
                    scan.skippedRows.append("\(file): video '\(videoID)' expression '\(expID)' needs \"exp\" and a "
                                            + "non-empty \"anno_id\" list"); continue
                }
                let objects = (ids("obj_id") ?? []).compactMap { Int($0) }
                expressions.append(Expression(id: expID, sentence: sentence, objectIDs: objects, annotationIDs: annos))
            }
            videos.append(Video(id: videoID, frames: frames, expressions: expressions))
        }
        return videos
    }

    /// Parses mask_dict.json: {"<anno_id>": [RLE or null, …]}.
    public static func parseMasks(_ data: Data, file: String) throws -> Masks {
        let top: JSONValue
        do { top = try JSONValue.parse(data, file: file) } catch let e as JSONError {
            throw DatasetError.malformed(file: file, reason: "JSON: \(e.reason)")
        }
        guard let members = top.members else {
            throw DatasetError.malformed(file: file, reason: "expected {\"<anno_id>\": [RLE or null per frame]} at the top")
        }
        var entries: [String: [RLE?]] = [:]
        for (id, list) in members {
            guard let frames = list.array else {
                throw DatasetError.malformed(file: file, reason: "annotation '\(id)' is not a list of per-frame masks")
            }
            entries[id] = try frames.enumerated().map { k, value -> RLE? in
                if value == .null { return nil }
                guard let size = value["size"]?.array?.compactMap(\.int), size.count == 2,
                      let counts = value["counts"]?.string else {
                    throw DatasetError.malformed(file: file, reason: "annotation '\(id)' frame \(k + 1): expected "
                                                 + "{\"size\": [h, w], \"counts\": \"…\"} or null")
                }
                do { return try RLE(compressed: counts, height: size[0], width: size[1]) } catch {
                    throw DatasetError.malformed(file: file, reason: "annotation '\(id)' frame \(k + 1): \(error)")
                }
            }
        }
        return Masks(file: file, entries: entries)
    }
}
