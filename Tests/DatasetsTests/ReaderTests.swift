import Evaluation
import Foundation
import Testing
@testable import Datasets

/// Writes one A2D frame annotation the way the release stores it (reMask transposed).
func writeA2DFrame(_ path: String, instances: [Int], masks: [PixelMask]) throws {
    try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                            withIntermediateDirectories: true)
    let w = try HDF5Writer(path: path)
    try w.write("instance", shape: [instances.count], values: instances.map(Double.init))
    let (mw, mh) = (masks[0].width, masks[0].height)
    var values: [Double] = []
    for m in masks {
        for x in 0..<mw { for y in 0..<mh { values.append(Double(m[y, x])) } }
    }
    try w.write("reMask", shape: masks.count == 1 ? [mw, mh] : [masks.count, mw, mh], values: values, as: .uint8)
    try w.write("reBBox", shape: [4, instances.count], values: [Double](repeating: 0, count: 4 * instances.count))
    try w.close()
}

func mask(_ w: Int, _ h: Int, _ on: [(Int, Int)]) -> PixelMask {
    var m = PixelMask(width: w, height: h)
    for (y, x) in on { m.pixels[y * w + x] = 1 }
    return m
}

@Suite struct A2DSentencesTests {
    @Test func masksFollowTheOriginalGetMasks() throws {
        let expected = try #require(try jsonFixture("a2d_expected.json") as? [String: Any])
        for (name, ids) in [("a2d_one.h5", [3, 7]), ("a2d_two.h5", [2, 5, 9])] {
            for id in ids {
                let got = try A2DSentences.loadMask(path: try fixture(name), instance: id)
                #expect(got == (try expectedMask(expected["\(name):\(id)"])), "\(name) instance \(id)")
            }
        }
        // Strict matching refuses the one-instance frame for another id.
        #expect(try A2DSentences.loadMask(path: try fixture("a2d_one.h5"), instance: 7, matching: .strict).isEmpty)
    }

    @Test func instanceIdsStoredAsAColumnAreAccepted() throws {
        let t = try TemporaryFolder()
        let w = try HDF5Writer(path: t.sub("00001.h5"))
        try w.write("instance", shape: [2, 1], values: [4, 6])
        try w.write("reMask", shape: [2, 2, 3], values: [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], as: .uint8)
        try w.close()
        #expect(try A2DSentences.loadMask(path: t.sub("00001.h5"), instance: 6) == mask(2, 3, [(2, 1)]))
        #expect(try A2DSentences.loadMask(path: t.sub("00001.h5"), instance: 4) == mask(2, 3, [(0, 0)]))
    }

    /// A small A2D folder: 3 videos (2 train, 1 test), one missed video, malformed rows, an empty mask.
    func makeDataset() throws -> TemporaryFolder {
        let t = try TemporaryFolder()
        try t.write("Release/videoset.csv", """
            vidA,1,0,10,240,320,40,3,0
            vidB,1,0,10,240,320,40,3,0
            vidC,1,0,10,240,320,40,3,1
            vidM,1,0,10,240,320,40,3,0
            broken row without split,x

            """)
        try t.write("a2d_annotation.txt", """
            video_id,instance_id,query
            vidA,1,"the man, in white, jumping"
            vidA,2,dog running
            vidB,1 (copy),copied row
            vidB,0,a ball rolling
            vidC,4,car on the right
            vidM,1,missed
            vidZ,1,unknown video
            vidA,3

            """)
        try t.write("a2d_missed_videos.txt", "vidM\n")
        let dir = t.sub("a2d_annotation_with_instances")
        // vidA: frame 5 has instances 1 and 2; frame 12 has instance 1 only with an empty mask.
        try writeA2DFrame("\(dir)/vidA/00005.h5", instances: [1, 2],
                          masks: [mask(4, 3, [(0, 1), (2, 3)]), mask(4, 3, [(1, 1)])])
        try writeA2DFrame("\(dir)/vidA/00012.h5", instances: [1], masks: [mask(4, 3, [])])
        // vidB: frame 3 has one instance with id 7 (the original uses it for any sentence).
        try writeA2DFrame("\(dir)/vidB/00003.h5", instances: [7], masks: [mask(4, 3, [(2, 0)])])
        // vidC: frames 1 and 2, instances 4 twice in frame 2 (merged).
        try writeA2DFrame("\(dir)/vidC/00001.h5", instances: [4], masks: [mask(4, 3, [(0, 0)])])
        try writeA2DFrame("\(dir)/vidC/00002.h5", instances: [4, 5, 4],
                          masks: [mask(4, 3, [(0, 0)]), mask(4, 3, [(1, 1)]), mask(4, 3, [(2, 2)])])
        for v in ["vidA", "vidC"] { try t.write("Release/clips320H/\(v).mp4", "") }
        return t
    }

    @Test func samplesOfEachSplit() throws {
        let t = try makeDataset()
        let a2d = A2DSentences(root: t.path)
        let train = try a2d.samples(split: "train")
        // vidA sentence 1 → frame 5 (frame 12's mask is empty); sentence 2 → frame 5; vidB "0" → frame 3 (original rule).
        #expect(train.map(\.id) == ["a2d/vidA/5/1/2", "a2d/vidA/5/2/3", "a2d/vidB/3/0/5"])
        #expect(train[0].sentence == "the man, in white, jumping")
        #expect(train[0].source == .video(path: t.sub("Release/clips320H/vidA.mp4"), frame: 5, frameCount: nil))
        #expect(try train[0].loadMask() == mask(4, 3, [(0, 1), (2, 3)]))
        #expect(try train[1].loadMask() == mask(4, 3, [(1, 1)]))
        let test = try a2d.samples(split: "test")
        #expect(test.map(\.id) == ["a2d/vidC/1/4/6", "a2d/vidC/2/4/6"])
        #expect(try test[1].loadMask() == mask(4, 3, [(0, 0), (2, 2)]))
        // Strict matching drops vidB (its only instance is 7, the sentence says 0).
        #expect(try A2DSentences(root: t.path, matching: .strict).samples(split: "train").count == 2)
        expectDatasetError(["unknown split 'val'"]) { _ = try a2d.samples(split: "val") }
    }

    @Test func checkReportsMissingFilesAndSkippedRows() throws {
        let t = try makeDataset()
        let report = try A2DSentences(root: t.path).check(split: "train", options: CheckOptions())
        #expect(report.samples == 3)
        #expect(report.units == 2)
        #expect(report.missing == [t.sub("Release/clips320H/vidB.mp4")])
        #expect(report.skippedRows.count == 4)   // broken videoset row, "1 (copy)", unknown video, short row
        #expect(report.skippedRows.contains { $0.contains("'1 (copy)' is not an integer") })
        #expect(report.comparisons.contains { $0.name == "annotation_rows" && $0.counted == 8 && $0.official == 6655 })
        let json = try #require(try JSONSerialization.jsonObject(with: Data(report.json().utf8)) as? [String: Any])
        #expect(json["samples"] as? Int == 3)
        #expect(json["videos"] as? Int == 2)
        #expect((json["missing"] as? [String])?.count == 1)
        #expect(json["skipped_rows"] as? Int == 4)
        // Keys sorted, no whitespace, slashes not escaped (as `datasets check --json` always printed it).
        let text = report.json()
        #expect(text.hasPrefix(#"{"dataset":"#) && text.contains(#","missing_count":1,"notes":["#))
        #expect(text.contains(t.sub("Release/clips320H/vidB.mp4")))
        // --strict stops at the first missing file.
        expectDatasetError(["vidB.mp4", "not found"]) {
            _ = try A2DSentences(root: t.path).check(split: "train", options: CheckOptions(strict: true))
        }
    }

    @Test func brokenAnnotationFilesAreReportedNotFatal() throws {
        let t = try makeDataset()
        let dir = t.sub("a2d_annotation_with_instances")
        // A truncated file, and one whose reMask does not fit its instance list.
        let good = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/vidC/00002.h5"))
        try t.write("a2d_annotation_with_instances/vidC/00002.h5", good.prefix(good.count / 3))
        let w = try HDF5Writer(path: "\(dir)/vidC/00001.h5")
        try w.write("instance", shape: [2], values: [4, 5])
        try w.write("reMask", shape: [4, 3], values: [Double](repeating: 1, count: 12))
        try w.close()
        let report = try A2DSentences(root: t.path).check(split: "test", options: CheckOptions())
        #expect(report.samples == 0)
        #expect(report.unreadable.map { ($0.file as NSString).lastPathComponent }.sorted() == ["00001.h5", "00002.h5"])
        #expect(report.unreadable.contains { $0.reason.contains("does not fit 2 instance(s)") })
        expectDatasetError(["00001.h5"]) {
            _ = try A2DSentences(root: t.path).check(split: "test", options: CheckOptions(strict: true))
        }
    }

    @Test func maskSizeMustMatchTheFrame() throws {
        let t = try makeDataset()
        let s = try #require(try A2DSentences(root: t.path).samples(split: "train").first)
        #expect(try s.loadMask(frameWidth: 4, frameHeight: 3).width == 4)
        expectDatasetError(["00005.h5", "mask is 3×4", "frame is 240×320"]) {
            _ = try s.loadMask(frameWidth: 320, frameHeight: 240)
        }
    }
}

@Suite struct JHMDBSentencesTests {
    @Test func threeFramesPerVideo() {
        #expect(JHMDBSentences.chosenFrames(usable: 10, selection: .firstMiddleLast) == [1, 5, 10])
        #expect(JHMDBSentences.chosenFrames(usable: 3, selection: .firstMiddleLast) == [1, 2, 3])
        #expect(JHMDBSentences.chosenFrames(usable: 2, selection: .firstMiddleLast) == [1, 2])
        #expect(JHMDBSentences.chosenFrames(usable: 4, selection: .all) == [1, 2, 3, 4])
    }

    @Test func samplesAndMasks() throws {
        let t = try TemporaryFolder()
        try t.write("jhmdb_annotation.txt", "video_id,query\nvidA,man is jumping\nvidB,woman waving\n,\n")
        for k in 1...5 { try t.write(String(format: "Rename_Images/jump/vidA/%05d.png", k), "") }
        try t.copy(fixture: "mask_v5z.mat", to: "puppet_mask/jump/vidA/puppet_mask.mat")
        for k in 1...2 { try t.write(String(format: "Rename_Images/wave/vidB/%05d.png", k), "") }
        let reader = JHMDBSentences(root: t.path)
        let samples = try reader.samples(split: "test")
        // part_mask is 4×5×3 → 3 usable frames (of 5 PNGs) → frames 1, 2, 3. vidB has no mask file.
        #expect(samples.map(\.id) == ["jhmdb/vidA/1", "jhmdb/vidA/2", "jhmdb/vidA/3"])
        #expect(samples[1].source == .frames(directory: t.sub("Rename_Images/jump/vidA"), frame: 2, frameCount: 3))
        #expect(samples[1].source.path == t.sub("Rename_Images/jump/vidA/00002.png"))
        let all = try #require(try jsonFixture("mat_expected.json") as? [String: Any])
        let values = try #require((all["part_mask"] as? [String: Any])?["values"] as? [Double])
        let m = try samples[1].loadMask()
        #expect(m.height == 4 && m.width == 5)
        for y in 0..<4 { for x in 0..<5 { #expect(m[y, x] == (values[y + 4 * x + 20] != 0 ? 1 : 0)) } }
        let report = try reader.check(split: "test", options: CheckOptions(verifyMasks: true))
        #expect(report.samples == 3 && report.units == 1)
        #expect(report.missing == [t.sub("puppet_mask/*/vidB/puppet_mask.mat")])
        #expect(report.skippedRows.count == 1)
        expectDatasetError(["puppet_mask.mat", "frame", "outside 1…3"]) {
            _ = try JHMDBSentences.loadMask(path: t.sub("puppet_mask/jump/vidA/puppet_mask.mat"), frame: 4)
        }
    }

    @Test func truncatedMaskFileIsReported() throws {
        let t = try TemporaryFolder()
        try t.write("jhmdb_annotation.txt", "video_id,query\nvidA,man is jumping\n")
        try t.write("Rename_Images/jump/vidA/00001.png", "")
        try t.copy(fixture: "truncated_v5z.mat", to: "puppet_mask/jump/vidA/puppet_mask.mat")
        let report = try JHMDBSentences(root: t.path).check(split: "test", options: CheckOptions())
        #expect(report.samples == 0)
        #expect(report.unreadable.first?.file == t.sub("puppet_mask/jump/vidA/puppet_mask.mat"))
        // Evaluation still sees the video's frames: each fails to load (logged as failed, or --strict stops).
        let samples = try JHMDBSentences(root: t.path).samples(split: "test")
        #expect(samples.map(\.id) == ["jhmdb/vidA/1"])
        expectDatasetError(["puppet_mask.mat"]) { _ = try samples.first?.loadMask() }
    }
}

@Suite struct RefCOCOTests {
    func makeDataset(pickle: String = "refs_p2.p") throws -> TemporaryFolder {
        let t = try TemporaryFolder()
        try t.copy(fixture: pickle, to: "refcoco/refs(unc).p")
        try t.copy(fixture: "instances.json", to: "refcoco/instances.json")
        try t.write("images/train2014/COCO_train2014_000000000009.jpg", "")
        return t
    }

    @Test func segmentationKindsFollowFrPyObjects() throws {
        let top = try #require(try jsonFixture("instances.json") as? [String: Any])
        let anns = try #require(top["annotations"] as? [[String: Any]])
        var kinds: [Int: String] = [:]
        for a in anns {
            let id = try #require(a["id"] as? Int)
            do {
                switch try COCOSegmentation(json: a["segmentation"] as Any, file: "instances.json", annotation: id) {
                case .polygons(let p): kinds[id] = "polygons\(p.count)"
                case .uncompressedRLE(let r): kinds[id] = "rle\(r.count)"
                case .compressedRLE(_, let h, let w): kinds[id] = "compressed\(h)x\(w)"
                }
            } catch let e as DatasetError {
                kinds[id] = e.description.contains("4 numbers") ? "rejected" : "\(e)"
            }
        }
        #expect(kinds == [101: "polygons2", 102: "polygons1", 103: "rle1", 104: "rejected", 105: "compressed8x9"])
    }

    @Test(arguments: ["refs_p2.p", "refs_p4.p"])
    func samplesPerSplit(pickle: String) throws {
        let t = try makeDataset(pickle: pickle)
        let reader = try RefCOCO(root: t.path, name: "unc")
        let train = try reader.samples(split: "train")
        #expect(train.map(\.sentence) == ["man on left", "guy", "the crowd"])
        #expect(train.map(\.instance) == ["101", "101", "103"])
        #expect(train[0].source == .image(path: t.sub("images/train2014/COCO_train2014_000000000009.jpg")))
        #expect(try reader.samples(split: "testA").map(\.sentence) == ["café chair"])
        let testB = try reader.samples(split: "testB")
        #expect(testB.count == 2)
        // Masks are what np.max(decode(frPyObjects(seg, h, w)), axis=2) gives (polygons, uncompressed and
        // compressed RLE).
        let expected = try #require(try jsonFixture("coco_expected.json") as? [String: Any])
        #expect(try train[0].loadMask() == (try expectedMask(expected["101"])))
        #expect(try train[2].loadMask() == (try expectedMask(expected["103"])))
        #expect(try reader.samples(split: "testA")[0].loadMask() == (try expectedMask(expected["102"])))
        #expect(try testB[1].loadMask() == (try expectedMask(expected["105"])))
        #expect(try train[0].loadMask().area > 0)
    }

    @Test func checkCountsAndBadSegmentations() throws {
        let t = try makeDataset()
        let reader = try RefCOCO(root: t.path, name: "unc")
        let val = try reader.check(split: "val", options: CheckOptions())
        #expect(val.samples == 0)
        #expect(val.unreadable.first?.reason.contains("annotation 104") == true)
        // evaluate still lists the ref's sentences: each mask load fails (logged as failed, or --strict stops).
        let failing = try reader.samples(split: "val")
        #expect(!failing.isEmpty)
        for sample in failing { expectDatasetError(["instances.json", "annotation 104"]) { _ = try sample.loadMask() } }
        let train = try reader.check(split: "train", options: CheckOptions())
        #expect(train.samples == 3 && train.units == 2)
        #expect(try reader.check(split: "train", options: CheckOptions(verifyMasks: true)).unreadable.isEmpty)
        #expect(train.missing == [t.sub("images/train2014/COCO_train2014_000000000025.jpg")])
        #expect(train.comparisons.contains { $0.name == "samples" && $0.official == 120624 })
        #expect(train.comparisons.contains { $0.name == "refs" && $0.counted == 2 && $0.official == 42404 })
        expectDatasetError(["unknown split 'test'"]) { _ = try reader.samples(split: "test") }
        expectDatasetError(["unknown dataset"]) { _ = try RefCOCO(root: t.path, dataset: .refcocoPlus, splitBy: "umd") }
    }

    @Test func rleOfAnotherSizeThanTheImageIsAnError() throws {
        let t = try makeDataset()
        var text = String(decoding: try Data(contentsOf: URL(fileURLWithPath: t.sub("refcoco/instances.json"))), as: UTF8.self)
        text = text.replacingOccurrences(of: "\"width\": 9, \"height\": 8", with: "\"width\": 9, \"height\": 7")
        try t.write("refcoco/instances.json", text)
        let reader = try RefCOCO(root: t.path, name: "unc")
        let crowd = try #require(try reader.samples(split: "train").last)
        expectDatasetError(["instances.json", "annotation 103", "RLE is 8×9", "image 25 is 7×9"]) { _ = try crowd.loadMask() }
    }

    @Test func aRefWhoseAnnotationIsMissingKeepsItsSentencesAsFailingSamples() throws {
        let t = try makeDataset()
        var text = String(decoding: try Data(contentsOf: URL(fileURLWithPath: t.sub("refcoco/instances.json"))), as: UTF8.self)
        text = text.replacingOccurrences(of: "\"id\": 101, \"image_id\": 9", with: "\"id\": 901, \"image_id\": 9")
        try t.write("refcoco/instances.json", text)
        let reader = try RefCOCO(root: t.path, name: "unc")
        let train = try reader.samples(split: "train")
        #expect(train.map(\.sentence) == ["man on left", "guy", "the crowd"])
        for sample in train.prefix(2) {
            expectDatasetError(["instances.json", "annotation 101 is not in instances.json"]) { _ = try sample.loadMask() }
        }
        #expect(try train[2].loadMask().area > 0)
        let report = try reader.check(split: "train", options: CheckOptions())
        #expect(report.samples == 1 && report.skippedRows.contains { $0.contains("annotation 101") }, "\(report)")
    }

    @Test func forbiddenPickleStopsTheReader() throws {
        let t = try makeDataset(pickle: "forbidden_global.p")
        expectDatasetError(["refs(unc).p", "GLOBAL"]) { _ = try RefCOCO(root: t.path, name: "unc").samples(split: "train") }
    }
}

@Suite struct ReferItTests {
    @Test func samplesInFileOrderWithSegimgMasks() throws {
        let t = try TemporaryFolder()
        try t.write("referit_query_test.json", #"{"30_2": ["tallest bldng", "sky"], "7_1": ["girl"], "bad": ["x"]}"#)
        try t.copy(fixture: "mask_v5.mat", to: "mask/30_2.mat")
        try t.write("images/30.jpg", "")
        let reader = ReferIt(root: t.path)
        let samples = try reader.samples(split: "test")
        #expect(samples.map(\.sentence) == ["tallest bldng", "sky", "girl", "x"])
        // The malformed key's sentence is listed for evaluate (which logs it as failed), not dropped.
        expectDatasetError(["referit_query_test.json", "'bad'"]) { _ = try samples[3].loadMask() }
        #expect(samples[0].source == .image(path: t.sub("images/30.jpg")))
        let m = try samples[0].loadMask()
        let all = try #require(try jsonFixture("mat_expected.json") as? [String: Any])
        let seg = try #require((all["segimg_t"] as? [String: Any])?["values"] as? [Double])
        #expect(m.height == 3 && m.width == 4)
        for y in 0..<3 { for x in 0..<4 { #expect(m[y, x] == (seg[y + 3 * x] == 0 ? 1 : 0)) } }
        let report = try reader.check(split: "test", options: CheckOptions())
        #expect(report.samples == 3 && report.units == 2)
        #expect(report.missing == [t.sub("images/7.jpg"), t.sub("mask/7_1.mat")])
        #expect(report.skippedRows.count == 1)
        #expect(report.comparisons.contains { $0.name == "samples" && $0.official == 60105 })
    }
}
