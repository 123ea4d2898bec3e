// RefYouTubeVOS on a tiny dataset each test writes in the layout the release ships: JPEG frames written by the
// project's ImageIO, palette-PNG annotations (pixel value = object id), meta_expressions.json per split.
import Evaluation
import Foundation
import Testing
import Video
@testable import Datasets

/// A two-video Ref-YouTube-VOS folder: train (annotated) and valid (no obj_id), 24×16 frames.
private final class TinyYTVOS {
    let folder: TemporaryFolder
    var root: String { folder.path }
    static let (width, height) = (24, 16)

    /// Object `id` of video `v` in frame `f`: a 3×4 box moving right; object 2 of "b" is absent from frame 00005.
    static func objects(video v: String, frame f: Int) -> GrayImage {
        var labels = GrayImage(width: width, height: height)
        let shift = f / 5
        for y in 2..<5 { for x in (1 + shift)..<(5 + shift) { labels.pixels[y * width + x] = 1 } }
        if v == "b" && f != 5 { for y in 9..<14 { for x in 15..<20 { labels.pixels[y * width + x] = 2 } } }
        return labels
    }

    init() throws {
        folder = try TemporaryFolder()
        let meta = """
            {"videos": {
              "b": {"expressions": {"0": {"exp": "a red box moving right", "obj_id": "1"},
                                    "1": {"exp": "the square at the bottom", "obj_id": "2"}},
                    "frames": ["00000", "00005", "00010"]},
              "a": {"expressions": {"0": {"exp": "the only box", "obj_id": "1"}}, "frames": ["00000", "00005"]}
            }}
            """
        try folder.write("meta_expressions/train/meta_expressions.json", meta)
        try folder.write("meta_expressions/valid/meta_expressions.json", """
            {"videos": {"c": {"expressions": {"0": {"exp": "a dog"}, "1": {"exp": "a cat"}}, "frames": ["00000"]}}}
            """)
        for (video, frames) in [("b", [0, 5, 10]), ("a", [0, 5])] {
            for f in frames {
                let name = String(format: "%05d", f)
                try writeFrame(folder.sub("train/JPEGImages/\(video)/\(name).jpg"))
                try FileManager.default.createDirectory(atPath: folder.sub("train/Annotations/\(video)"), withIntermediateDirectories: true)
                try ImageIO.writeLabelPNG(Self.objects(video: video, frame: f), to: folder.sub("train/Annotations/\(video)/\(name).png"))
            }
        }
        try writeFrame(folder.sub("valid/JPEGImages/c/00000.jpg"))
    }

    func writeFrame(_ path: String) throws {
        var image = RGBImage(width: Self.width, height: Self.height)
        for i in 0..<image.pixels.count { image.pixels[i] = UInt8((i * 7) % 251) }
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try ImageIO.writeJPEG(image, to: path)
    }
}

@Suite struct RefYouTubeVOSTests {
    @Test func videosAndExpressionsInFileOrder() throws {
        let data = try TinyYTVOS()
        let videos = try RefYouTubeVOS(root: data.root).videos(split: "train")
        #expect(videos.map(\.id) == ["b", "a"])
        #expect(videos[0].frames == ["00000", "00005", "00010"])
        #expect(videos[0].expressions == [
            .init(id: "0", sentence: "a red box moving right", objectID: 1),
            .init(id: "1", sentence: "the square at the bottom", objectID: 2),
        ])
        let valid = try RefYouTubeVOS(root: data.root).videos(split: "valid")
        #expect(valid.map(\.id) == ["c"] && valid[0].expressions.map(\.objectID) == [nil, nil])
    }

    @Test func samplesAreExpressionsTimesFramesWithObjectMasks() throws {
        let data = try TinyYTVOS()
        let samples = try RefYouTubeVOS(root: data.root).samples(split: "train")
        #expect(samples.count == 2 * 3 + 1 * 2)
        #expect(samples.map(\.id).prefix(4) == ["ytvos/b/0/00000", "ytvos/b/0/00005", "ytvos/b/0/00010", "ytvos/b/1/00000"])
        let first = samples[1]   // b, expression 0, frame 00005
        #expect(first.source == .image(path: data.folder.sub("train/JPEGImages/b/00005.jpg")))
        #expect(first.sentence == "a red box moving right" && first.instance == "1")
        let mask = try first.loadMask(frameWidth: TinyYTVOS.width, frameHeight: TinyYTVOS.height)
        let labels = TinyYTVOS.objects(video: "b", frame: 5)
        #expect(mask.pixels == labels.pixels.map { $0 == 1 ? 1 : 0 })
        #expect(mask.area == 12)
        // Object 2 is absent from frame 00005: an empty mask, not an error; present in 00010.
        #expect(try samples[4].loadMask().isEmpty)
        #expect(try samples[5].loadMask().area == 25)
        // The frame itself decodes at the annotation's size.
        let frame = try ImageIO.read(path: first.source.path)
        #expect((frame.width, frame.height) == (mask.width, mask.height))
    }

    @Test func validHasNoGroundTruthAndSaysWhere() throws {
        let data = try TinyYTVOS()
        let samples = try RefYouTubeVOS(root: data.root).samples(split: "valid")
        #expect(samples.map(\.id) == ["ytvos/c/0/00000", "ytvos/c/1/00000"])
        expectDatasetError(["valid", "challenge server", "train"]) { _ = try samples[0].loadMask() }
    }

    @Test func checkCountsAndFindsMissingAndUnreadableFiles() throws {
        let data = try TinyYTVOS()
        let reader = try DatasetKind(name: "Ref-YouTube-VOS")!.reader(root: data.root)
        let clean = try reader.check(split: "train", options: CheckOptions(verifyMasks: true))
        #expect(clean.samples == 8 && clean.units == 2 && clean.missing.isEmpty && clean.unreadable.isEmpty)
        #expect(clean.counts.map(\.name) == ["videos", "expressions", "frames", "annotation_files"])
        #expect(clean.counts.map(\.value) == [2, 3, 5, 5])
        #expect(clean.json().contains("\"counts\":{\"videos\":2,\"expressions\":3,\"frames\":5,\"annotation_files\":5}"))
        #expect(clean.text().contains("videos 2, expressions 3, frames 5"))

        try FileManager.default.removeItem(atPath: data.folder.sub("train/JPEGImages/a/00005.jpg"))
        try FileManager.default.removeItem(atPath: data.folder.sub("train/Annotations/b/00010.png"))
        try data.folder.write("train/Annotations/b/00000.png", "not a picture")
        try ImageIO.writePNG(RGBImage(width: 24, height: 16), to: data.folder.sub("train/Annotations/a/00000.png"))
        let report = try reader.check(split: "train", options: CheckOptions(verifyMasks: true))
        #expect(report.missing == [data.folder.sub("train/Annotations/b/00010.png"), data.folder.sub("train/JPEGImages/a/00005.jpg")])
        #expect(report.unreadable.map(\.file) == [data.folder.sub("train/Annotations/b/00000.png"),
                                                  data.folder.sub("train/Annotations/a/00000.png")])
        #expect(report.unreadable[1].reason.contains("rgb24") && report.unreadable[1].reason.contains("palette"))
        // Strict mode stops at the first problem, naming the file.
        expectDatasetError(["b/00000.png", "not a PNG"]) {
            _ = try reader.check(split: "train", options: CheckOptions(strict: true, verifyMasks: true))
        }
    }

    @Test func objectAbsentFromEveryFrameIsNoted() throws {
        let data = try TinyYTVOS()
        let meta = data.folder.sub("meta_expressions/train/meta_expressions.json")
        try data.folder.write("meta_expressions/train/meta_expressions.json",
                              try String(contentsOfFile: meta, encoding: .utf8).replacingOccurrences(of: "\"obj_id\": \"2\"", with: "\"obj_id\": \"7\""))
        let report = try RefYouTubeVOS(root: data.root).check(split: "train", options: CheckOptions(verifyMasks: true))
        #expect(report.notes.contains { $0.contains("b expression 1: object 7 appears in none") })
    }

    @Test func unusableEntriesAreSkippedAndReported() throws {
        let data = try TinyYTVOS()
        try data.folder.write("meta_expressions/train/meta_expressions.json", """
            {"videos": {
              "..": {"expressions": {}, "frames": []},
              "x": {"expressions": {"0": {"exp": "no id"}, "1": {"exp": "bad id", "obj_id": "one"},
                                    "2": {"obj_id": "1"}, "3": {"exp": "fine", "obj_id": 1}},
                    "frames": ["00000"]},
              "y": {"frames": ["../../etc/passwd"], "expressions": {}},
              "z": {"expressions": {"0": {"exp": "e", "obj_id": "1"}}}
            }}
            """)
        let report = try RefYouTubeVOS(root: data.root).check(split: "train", options: CheckOptions())
        #expect(report.units == 1 && report.samples == 1)
        #expect(report.skippedRows.count == 6, "\(report.skippedRows)")
        for fragment in ["'..' is not a plain folder name", "'0' has no obj_id", "obj_id \"one\"", "'2' has no \"exp\"",
                         "'y': \"frames\" must be", "'z' lacks \"frames\""] {
            #expect(report.skippedRows.contains { $0.contains(fragment) }, "no skipped row says \(fragment)")
        }
        // The missing frame folder of x is reported as missing.
        #expect(report.missing == [data.folder.sub("train/JPEGImages/x") + "/"])
    }

    @Test func unknownSplitAndBadMetaFilesAreErrorsNamingTheFile() throws {
        let data = try TinyYTVOS()
        let reader = RefYouTubeVOS(root: data.root)
        expectDatasetError(["unknown split 'val'", "train, valid, test"]) { _ = try reader.videos(split: "val") }
        expectDatasetError(["meta_expressions/test/meta_expressions.json", "not found"]) { _ = try reader.videos(split: "test") }
        try data.folder.write("meta_expressions/train/meta_expressions.json", "{\"videos\": [1, 2]}")
        expectDatasetError(["meta_expressions.json", "\"videos\""]) { _ = try reader.videos(split: "train") }
        try data.folder.write("meta_expressions/train/meta_expressions.json", "{\"videos\": {")
        expectDatasetError(["meta_expressions.json", "JSON"]) { _ = try reader.videos(split: "train") }
    }

    @Test func refDAVISInTheConvertedLayoutHasGroundTruthInValid() throws {
        // ReferFormer's converter writes Ref-DAVIS17 as this layout with Annotations in valid too.
        let data = try TinyYTVOS()
        let fm = FileManager.default
        try fm.removeItem(atPath: data.folder.sub("valid"))
        try fm.removeItem(atPath: data.folder.sub("meta_expressions/valid"))
        try fm.moveItem(atPath: data.folder.sub("train"), toPath: data.folder.sub("valid"))
        try fm.moveItem(atPath: data.folder.sub("meta_expressions/train"), toPath: data.folder.sub("meta_expressions/valid"))
        let davis = try #require(try DatasetKind(name: "ref-davis17")!.reader(root: data.root) as? RefYouTubeVOS)
        #expect(davis.splits == ["train", "valid"] && davis.hasGroundTruth(split: "valid"))
        let samples = try davis.samples(split: "valid")
        #expect(samples.count == 8 && samples[1].id == "refdavis/b/0/00005")
        #expect(samples[1].maskPath == data.folder.sub("valid/Annotations/b/00005.png"))
        #expect(try samples[1].loadMask().area == 12)
        let report = try davis.check(split: "valid", options: CheckOptions(verifyMasks: true))
        #expect(report.dataset == "refdavis" && report.missing.isEmpty && report.unreadable.isEmpty)
        #expect(report.counts.map(\.value) == [2, 3, 5, 5])
        // Read as Ref-YouTube-VOS, valid has no ground truth.
        expectDatasetError(["valid", "challenge server"]) { _ = try RefYouTubeVOS(root: data.root).samples(split: "valid")[0].loadMask() }
    }

    @Test func refDAVISAsReleasedGivesTheConvertersExpressions() throws {
        // DAVIS 2017 plus davis_text_annotations, read as ReferFormer's convert_davis_to_ytvos.py reads them: per file
        // a video's lines sorted by obj_id as a string ("10" before "2"), the four files interleaved per object,
        // annotator 2's files in Latin-1, "clasic-car" renamed.
        let folder = try TemporaryFolder()
        try folder.write("DAVIS/ImageSets/2017/val.txt", "classic-car\n")
        try folder.write("DAVIS/ImageSets/2017/train.txt", "other\n")
        let lines = [
            "Davis17_annot1.txt": "clasic-car 2 \"a red car\"\nclasic-car 10 \"a   tree\"\n",
            "Davis17_annot1_full_video.txt": "classic-car 2 \"the red car driving\"\nclassic-car 10 \"the tree\"\n",
        ]
        for (name, text) in lines { try folder.write("davis_text_annotations/" + name, text) }
        // Latin-1: é is the one byte E9.
        try folder.write("davis_text_annotations/Davis17_annot2.txt",
                         Data([UInt8]("classic-car 10 \"caf".utf8) + [0xE9] + [UInt8](" tree\"\nclassic-car 2 \"car\"\n".utf8)))
        try folder.write("davis_text_annotations/Davis17_annot2_full_video.txt", "classic-car 2 \"a car\"\nclassic-car 10 \"a tree on the left\"\n")
        let frames = folder.sub("DAVIS/JPEGImages/480p/classic-car")
        try FileManager.default.createDirectory(atPath: frames, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: folder.sub("DAVIS/Annotations_unsupervised/480p/classic-car"), withIntermediateDirectories: true)
        for name in ["00001", "00000"] {
            try ImageIO.writeJPEG(RGBImage(width: 24, height: 16), to: frames + "/\(name).jpg")
            var labels = GrayImage(width: 24, height: 16)
            labels.pixels[5] = 10
            labels.pixels[7] = 2
            try ImageIO.writeLabelPNG(labels, to: folder.sub("DAVIS/Annotations_unsupervised/480p/classic-car/\(name).png"))
        }
        let davis = try #require(try DatasetKind.refdavis.reader(root: folder.path) as? RefYouTubeVOS)
        #expect(davis.davisRelease)
        let videos = try davis.videos(split: "valid")
        #expect(videos.map(\.id) == ["classic-car"] && videos[0].frames == ["00000", "00001"])
        #expect(videos[0].expressions.map(\.id) == ["0", "1", "2", "3", "4", "5", "6", "7"])
        #expect(videos[0].expressions.map(\.sentence) == ["a tree", "the tree", "caf\u{E9} tree", "a tree on the left",
                                                         "a red car", "the red car driving", "car", "a car"])
        #expect(videos[0].expressions.map(\.objectID) == [10, 10, 10, 10, 2, 2, 2, 2])
        let samples = try davis.samples(split: "valid")
        #expect(samples.count == 16 && samples[0].source.path == frames + "/00000.jpg")
        #expect(try samples[0].loadMask().pixels.enumerated().filter { $0.element != 0 }.map(\.offset) == [5])
        #expect(try samples[9].loadMask().pixels.enumerated().filter { $0.element != 0 }.map(\.offset) == [7])
        let report = try davis.check(split: "valid", options: CheckOptions(verifyMasks: true))
        #expect(report.missing.isEmpty && report.unreadable.isEmpty && report.counts.map(\.value) == [1, 8, 2, 2], "\(report.text())")
    }
}

@Suite struct RefDAVISLabelMapTests {
    /// An annotation PNG's label map keeps every palette index as it is, void 255 included (the DAVIS toolkit's
    /// unsupervised evaluation needs the ids and the void), unlike `loadMask`, which keeps one object.
    @Test func loadLabelsKeepsObjectIDsAndVoid() throws {
        let folder = try TemporaryFolder()
        var labels = GrayImage(width: 5, height: 2)
        labels.pixels = [0, 1, 1, 2, 255, 3, 0, 255, 2, 1]
        let path = folder.sub("00000.png")
        try ImageIO.writeLabelPNG(labels, to: path)
        let map = try RefYouTubeVOS.loadLabels(path: path)
        #expect(map.width == 5 && map.height == 2 && map.labels == labels.pixels)
        #expect(map.highestLabel(ignoring: 255) == 3 && map.mask(2).area == 2)
        #expect(try RefYouTubeVOS.loadMask(path: path, objectID: 255).area == 2)
        do {
            _ = try RefYouTubeVOS.loadLabels(path: folder.sub("missing.png"))
            Issue.record("a missing annotation must be an error")
        } catch let error as DatasetError {
            #expect("\(error)".contains("missing.png"), "\(error)")
        }
    }
}
