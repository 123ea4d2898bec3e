// What `segment` tells the user, run end to end on the tiny synthetic set with the shipped model: unknown words (an
// error when a sentence has no known word, unless --allow-unknown; a warning with their share otherwise), the
// input checked before the model loads, the --json summary, and the overlay's legend on a clip and on a still (and
// a warning when no font can be found).
import Foundation
import Testing
import Video

@Suite struct SegmentReportTests {
    @Test func aSentenceWithNoKnownWordIsAnErrorUnlessAllowed() throws {
        let folder = try TemporaryFolder()
        let root = try makeSyntheticSet(in: folder)
        let image = root + "/referit/images/1.jpg"
        let vocabulary = projectRoot.appendingPathComponent("data/default/vocabulary.txt").path
        let refused = try runTool(["segment", image, "xyzzy foo", "--out", folder.path("o1")], in: folder)
        #expect(refused.status == 1, "\(refused)")
        #expect(refused.stderr.contains("\"xyzzy\", \"foo\"") && refused.stderr.contains(vocabulary)
                && refused.stderr.contains("--allow-unknown"), "\(refused)")
        #expect(listing(folder.path("o1")).isEmpty)

        let allowed = try runToolSucceeding(["segment", image, "xyzzy foo", "--allow-unknown", "--out", folder.path("o2"),
                                             "--quiet"], in: folder)
        #expect(allowed.stderr.contains("100% of the words of \"xyzzy foo\""), "\(allowed)")
        #expect(listing(folder.path("o2")) == ["mask.png", "masks.json", "overlay.png"])

        let some = try runToolSucceeding(["segment", image, "the small xyzzy star", "--out", folder.path("o3"), "--quiet"],
                                         in: folder)
        #expect(some.stderr.contains("25% of the words of \"the small xyzzy star\"") && some.stderr.contains("\"xyzzy\"")
                && some.stderr.contains(vocabulary), "\(some)")
    }

    /// A missing or unreadable input is reported before the model loads: a broken checkpoint is never read.
    @Test func theInputIsCheckedBeforeTheModelLoads() throws {
        let folder = try TemporaryFolder()
        let broken = folder.path("broken.safetensors")
        try Data("not a checkpoint".utf8).write(to: URL(fileURLWithPath: broken))
        let missing = folder.path("no-such-clip.mp4")
        let run = try runTool(["segment", missing, "the red square", "--checkpoint", broken, "--vocab", broken],
                              in: folder)
        #expect(run.status == 1 && run.stderr.contains("\(missing): no such file"), "\(run)")
        #expect(!run.stderr.contains("broken.safetensors"), "\(run)")

        let notMedia = folder.path("notes.mp4")
        try Data("hello".utf8).write(to: URL(fileURLWithPath: notMedia))
        let unreadable = try runTool(["segment", notMedia, "the red square", "--checkpoint", broken], in: folder)
        #expect(unreadable.status == 1 && unreadable.stderr.contains(notMedia), "\(unreadable)")
        #expect(!unreadable.stderr.contains("broken.safetensors"), "\(unreadable)")
    }

    @Test func jsonSummarisesAClipRun() throws {
        let folder = try TemporaryFolder()
        let root = try makeSyntheticSet(in: folder)
        let clip = root + "/Release/clips320H/syn00000.mp4"
        let out = folder.path("out")
        let run = try runToolSucceeding(["segment", clip, "the red square", "--text", "the big xyzzy circle",
                                         "--frames", "1,5", "--out", out, "--json"], in: folder)
        let lines = run.stdout.split(separator: "\n")
        #expect(lines.count == 1, "stdout holds only the summary: \(run)")
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        let input = try #require(summary["input"] as? [String: Any])
        #expect(input["path"] as? String == clip && input["kind"] as? String == "video", "\(input)")
        #expect(input["width"] as? Int == 64 && input["height"] as? Int == 48 && input["frame_count"] as? Int == 12)
        #expect(input["frame_rate"] as? Double == 24, "\(input)")
        let sentences = try #require(summary["sentences"] as? [[String: Any]])
        #expect(sentences.map { $0["text"] as? String } == ["the red square", "the big xyzzy circle"])
        #expect(sentences.map { $0["unknown_words"] as? [String] } == [[], ["xyzzy"]])
        #expect(sentences.map { $0["unknown_share"] as? Double } == [0, 0.25])
        #expect(sentences.allSatisfy { ($0["colour"] as? String)?.count == 7 }, "\(sentences)")
        #expect(summary["frames"] as? [Int] == [1, 5] && summary["stopped"] as? Bool == false)
        #expect(summary["precision"] as? String == "fp32")
        let outputs = try #require(summary["outputs"] as? [String: Any])
        #expect(outputs["overlay"] as? String == out + "/overlay.mp4" && outputs["masks_json"] as? String == out + "/masks.json")
        #expect(outputs["masks"] as? [String] == [out + "/masks/0", out + "/masks/1"])
        for path in [out + "/overlay.mp4", out + "/masks.json", out + "/masks/1/00005.png"] {
            #expect(FileManager.default.fileExists(atPath: path), "\(path)")
        }
        let timings = try #require(summary["timings"] as? [String: Double])
        #expect(Set(timings.keys) == ["open_input", "load_model", "segment", "total"], "\(timings)")
        #expect(timings.values.allSatisfy { $0 >= 0 } && timings["total"]! >= timings["segment"]!, "\(timings)")

        let still = try runToolSucceeding(["segment", root + "/referit/images/1.jpg", "the small green star", "--text",
                                           "the red square", "--out", folder.path("still"), "--json"], in: folder)
        let stillSummary = try #require(try JSONSerialization.jsonObject(with: Data(still.stdout.utf8)) as? [String: Any])
        #expect((stillSummary["input"] as? [String: Any])?["kind"] as? String == "image", "\(still)")
        #expect(stillSummary["frames"] as? [Int] == [1])
        #expect((stillSummary["outputs"] as? [String: Any])?["masks"] as? [String]
                == [folder.path("still") + "/mask-0.png", folder.path("still") + "/mask-1.png"], "\(still)")
    }

    /// The legend (each sentence in its colour on a darkened box at the top left) is on every overlay frame and on
    /// a still's overlay.png; below it, away from the masks, the frame is as it was.
    @Test func overlaysCarryTheLegend() throws {
        let folder = try TemporaryFolder()
        let root = try makeSyntheticSet(in: folder)
        let clip = root + "/Release/clips320H/syn00000.mp4"
        let out = folder.path("out")
        try runToolSucceeding(["segment", clip, "the red square", "--frames", "3", "--out", out, "--quiet"], in: folder)
        let source = try VideoReader(path: clip)
        let overlay = try VideoReader(path: out + "/overlay.mp4")
        for frame in 1...3 {
            let a = try #require(try source.nextFrame()), b = try #require(try overlay.nextFrame())
            #expect(Self.meanDifference(a, b, rows: 0..<12, columns: 0..<32) > 30, "frame \(frame): no legend")
        }

        let image = root + "/referit/images/1.jpg"
        try runToolSucceeding(["segment", image, "the small green star", "--out", folder.path("still"), "--quiet"],
                              in: folder)
        let input = try ImageIO.read(path: image), drawn = try ImageIO.read(path: folder.path("still") + "/overlay.png")
        #expect(Self.meanDifference(input, drawn, rows: 0..<12, columns: 0..<32) > 30, "overlay.png has no legend")
    }

    /// Without a font the run still writes its overlay, without a legend, and a warning names the font and the fix.
    @Test func withoutAFontTheOverlayHasNoLegendAndAWarningSaysWhy() throws {
        let folder = try TemporaryFolder()
        let still = try InstallationTests.still(in: folder)
        let missing = folder.path("NoSuchFont.ttf")
        let run = try InstallationTests.run(toolURL.path, ["segment", still, "the red square", "--out", folder.path("o"),
                                                           "--quiet"], environment: ["CMPC_VIDEO_FONT": missing], in: folder)
        #expect(run.status == 0, "\(run)")
        #expect(run.stderr.contains("the overlay has no legend") && run.stderr.contains(missing)
                && run.stderr.contains("fonts-dejavu-core") && run.stderr.contains("CMPC_VIDEO_FONT"), "\(run)")
        #expect(listing(folder.path("o")) == ["mask.png", "masks.json", "overlay.png"])
    }

    /// The mean absolute difference of two pictures over a region, per channel value.
    static func meanDifference(_ a: RGBImage, _ b: RGBImage, rows: Range<Int>, columns: Range<Int>) -> Double {
        var total = 0
        for y in rows {
            for x in columns {
                for k in 0..<3 { total += abs(Int(a.pixels[(y * a.width + x) * 3 + k]) - Int(b.pixels[(y * b.width + x) * 3 + k])) }
            }
        }
        return Double(total) / Double(rows.count * columns.count * 3)
    }
}
