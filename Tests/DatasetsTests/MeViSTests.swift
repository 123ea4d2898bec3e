// MeViS on a tiny dataset each test writes as the release ships it: JPEG frames (the project's ImageIO),
// meta_expressions.json with obj_id / anno_id lists, mask_dict.json with pycocotools RLE strings (the project's
// RLE encoder) or null per frame. An expression naming two objects has their union as ground truth.
import Evaluation
import Foundation
import Testing
import Video
@testable import Datasets

private final class TinyMeViS {
    let folder: TemporaryFolder
    var root: String { folder.path }
    static let (width, height) = (20, 12)

    /// Annotation 10: a box at the left, moving down; annotation 11: a box at the right, absent from frame 2.
    static func object(_ anno: String, frame k: Int) -> PixelMask? {
        var m = PixelMask(width: width, height: height)
        switch anno {
        case "10": for y in k..<(k + 4) { for x in 1..<5 { m[y, x] = 1 } }
        default:
            if k == 2 { return nil }
            for y in 6..<10 { for x in 12..<18 { m[y, x] = 1 } }
        }
        return m
    }

    init() throws {
        folder = try TemporaryFolder()
        try folder.write("train/meta_expressions.json", """
            {"videos": {"m1": {"expressions": {
                "0": {"exp": "the box moving down", "obj_id": [0], "anno_id": [10]},
                "1": {"exp": "both boxes", "obj_id": [0, 1], "anno_id": [10, 11]},
                "2": {"exp": "broken", "obj_id": [0]}},
              "frames": ["00000", "00001", "00002"]}}}
            """)
        var dict: [String: Any] = [:]
        for anno in ["10", "11"] {
            dict[anno] = try (0..<3).map { k -> Any in
                guard let m = Self.object(anno, frame: k) else { return NSNull() }
                return ["size": [Self.height, Self.width], "counts": try m.rle().compressedString] as [String: Any]
            }
        }
        // JSONSerialization escapes the backslashes RLE strings can hold.
        try folder.write("train/mask_dict.json", try JSONSerialization.data(withJSONObject: dict))
        try folder.write("valid/meta_expressions.json", """
            {"videos": {"m2": {"expressions": {"0": {"exp": "a bird flying away", "obj_id": [0], "anno_id": [0]}},
              "frames": ["00000"]}}}
            """)
        for (split, video, count) in [("train", "m1", 3), ("valid", "m2", 1)] {
            try FileManager.default.createDirectory(atPath: folder.sub("\(split)/JPEGImages/\(video)"), withIntermediateDirectories: true)
            for k in 0..<count {
                try ImageIO.writeJPEG(RGBImage(width: Self.width, height: Self.height),
                                      to: folder.sub("\(split)/JPEGImages/\(video)/\(String(format: "%05d", k)).jpg"))
            }
        }
    }
}

@Suite struct MeViSTests {
    @Test func expressionsNamingSeveralObjectsHaveTheirUnionAsGroundTruth() throws {
        let data = try TinyMeViS()
        let reader = MeViS(root: data.root)
        let videos = try reader.videos(split: "train")
        #expect(videos.count == 1 && videos[0].frames == ["00000", "00001", "00002"])
        #expect(videos[0].expressions == [
            .init(id: "0", sentence: "the box moving down", objectIDs: [0], annotationIDs: ["10"]),
            .init(id: "1", sentence: "both boxes", objectIDs: [0, 1], annotationIDs: ["10", "11"]),
        ])
        let samples = try reader.samples(split: "train")
        #expect(samples.map(\.id) == ["mevis/m1/0/00000", "mevis/m1/0/00001", "mevis/m1/0/00002",
                                      "mevis/m1/1/00000", "mevis/m1/1/00001", "mevis/m1/1/00002"])
        for k in 0..<3 {
            let one = try samples[k].loadMask(frameWidth: TinyMeViS.width, frameHeight: TinyMeViS.height)
            #expect(one == TinyMeViS.object("10", frame: k)!)
            let both = try samples[3 + k].loadMask()
            var union = TinyMeViS.object("10", frame: k)!
            if let other = TinyMeViS.object("11", frame: k) {
                for i in union.pixels.indices where other.pixels[i] != 0 { union.pixels[i] = 1 }
            }
            #expect(both == union, "frame \(k)")
            #expect(both.area == 16 + (k == 2 ? 0 : 24))
        }
    }

    @Test func checkCountsAndReportsProblems() throws {
        let data = try TinyMeViS()
        let reader = try DatasetKind(name: "mevis")!.reader(root: data.root)
        let report = try reader.check(split: "train", options: CheckOptions())
        #expect(report.samples == 6 && report.units == 1 && report.missing.isEmpty && report.unreadable.isEmpty)
        #expect(report.counts.map(\.value) == [1, 2, 3, 2])
        #expect(report.skippedRows.count == 1 && report.skippedRows[0].contains("'2' needs \"exp\" and a non-empty \"anno_id\""))

        let valid = try reader.check(split: "valid", options: CheckOptions())
        #expect(valid.notes.contains { $0.contains("no mask_dict.json") })
        expectDatasetError(["valid", "server", "valid_u"]) { _ = try reader.samples(split: "valid")[0].loadMask() }

        // An annotation missing from mask_dict.json, and one with a frame count unlike the video's.
        try data.folder.write("train/mask_dict.json", "{\"10\": [null, null]}")
        try FileManager.default.removeItem(atPath: data.folder.sub("train/JPEGImages/m1/00001.jpg"))
        let broken = try reader.check(split: "train", options: CheckOptions())
        #expect(broken.missing == [data.folder.sub("train/JPEGImages/m1/00001.jpg")])
        #expect(broken.unreadable.count == 2, "\(broken.unreadable)")
        #expect(broken.unreadable.contains { $0.reason.contains("annotation '10' has 2 frames, video m1 lists 3") })
        #expect(broken.unreadable.contains { $0.reason.contains("names annotation '11', which it lacks") })
    }

    @Test func badMaskDictionariesAreErrorsNamingTheEntry() throws {
        let data = try TinyMeViS()
        try data.folder.write("train/mask_dict.json", "{\"10\": [{\"size\": [12, 20], \"counts\": 5}]}")
        expectDatasetError(["mask_dict.json", "annotation '10' frame 1"]) { _ = try MeViS(root: data.root).masks(split: "train") }
        try data.folder.write("train/mask_dict.json", "{\"10\": [{\"size\": [12, 20], \"counts\": \"~~~\"}]}")
        expectDatasetError(["mask_dict.json", "annotation '10' frame 1"]) { _ = try MeViS(root: data.root).masks(split: "train") }
        try data.folder.write("train/mask_dict.json", "[]")
        expectDatasetError(["mask_dict.json", "<anno_id>"]) { _ = try MeViS(root: data.root).masks(split: "train") }
    }
}
