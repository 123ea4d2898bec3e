// `evaluate --dataset ytvos|mevis`: J and F per expression over whole videos, with the shipped model of data/default, on a
// tiny Ref-YouTube-VOS folder each test writes (JPEG frames and palette-PNG annotations through the project's
// ImageIO); and `datasets check --dataset ytvos` on the same folder.
import Checkpoint
import Evaluation
import Foundation
import Testing
import Video

/// Two videos at 64×48: a red square (object 1) moving right and a blue disc (object 2) standing still.
private func makeYTVOS(in folder: TemporaryFolder) throws -> String {
    let root = folder.path("ytvos")
    let meta = """
        {"videos": {
          "v1": {"expressions": {"0": {"exp": "the red square moving right", "obj_id": "1"},
                                 "1": {"exp": "the blue circle", "obj_id": "2"}},
                 "frames": ["00000", "00005", "00010", "00015"]},
          "v2": {"expressions": {"0": {"exp": "the red square", "obj_id": "1"}}, "frames": ["00000", "00005", "00010"]}
        }}
        """
    try FileManager.default.createDirectory(atPath: root + "/meta_expressions/train", withIntermediateDirectories: true)
    try Data(meta.utf8).write(to: URL(fileURLWithPath: root + "/meta_expressions/train/meta_expressions.json"))
    for (video, count) in [("v1", 4), ("v2", 3)] {
        for folder in ["JPEGImages", "Annotations"] {
            try FileManager.default.createDirectory(atPath: "\(root)/train/\(folder)/\(video)", withIntermediateDirectories: true)
        }
        for k in 0..<count {
            var rgb = RGBImage(width: 64, height: 48)
            var labels = GrayImage(width: 64, height: 48)
            for y in 0..<48 {
                for x in 0..<64 {
                    let i = y * 64 + x
                    var colour: (UInt8, UInt8, UInt8) = (120, 120, 120)
                    if (10..<24).contains(y), (4 + 6 * k..<18 + 6 * k).contains(x) {
                        colour = (220, 30, 30); labels.pixels[i] = 1
                    } else if (x - 48) * (x - 48) + (y - 32) * (y - 32) <= 64 {
                        colour = (30, 40, 220); labels.pixels[i] = 2
                    }
                    rgb.pixels[3 * i] = colour.0; rgb.pixels[3 * i + 1] = colour.1; rgb.pixels[3 * i + 2] = colour.2
                }
            }
            let name = String(format: "%05d", 5 * k)
            try ImageIO.writeJPEG(rgb, to: "\(root)/train/JPEGImages/\(video)/\(name).jpg")
            try ImageIO.writeLabelPNG(labels, to: "\(root)/train/Annotations/\(video)/\(name).png")
        }
    }
    return root
}

@Suite struct EvaluateExpressionsTests {
    @Test func evaluateWritesJAndFPerExpressionAndTheirMeans() throws {
        let folder = try TemporaryFolder()
        let root = try makeYTVOS(in: folder)
        let out = folder.path("out/ytvos.jsonl")
        let masks = folder.path("masks")
        let run = try runToolSucceeding(["evaluate", "--dataset", "ytvos", "--root", root, "--split", "train",
                                         "--out", out, "--save-masks", masks, "--quiet"], in: folder)
        #expect(run.stdout.contains("expressions 3, frames 11"), "\(run)")
        let logLines = try String(contentsOfFile: out, encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(logLines.first?.hasPrefix("{\"provenance\": {\"checkpoint\"") == true, "the first line says what produced the log")
        let lines = Array(logLines.dropFirst())
        #expect(lines.count == 3)
        let records = try lines.map { line in
            try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(line)")
        }
        // Keys in the documented order.
        for line in lines {
            let order = ["\"index\"", "\"video\"", "\"exp_id\"", "\"sentence\"", "\"J\"", "\"F\"", "\"frames\"", "\"I\"", "\"U\"", "\"gt_area\""].map { line.range(of: $0)!.lowerBound }
            #expect(order == order.sorted(), "\(line)")
        }
        #expect(records.map { $0["video"] as? String } == ["v1", "v1", "v2"])
        #expect(records.map { $0["exp_id"] as? String } == ["0", "1", "0"])
        #expect(records.map { $0["sentence"] as? String } == ["the red square moving right", "the blue circle", "the red square"])
        #expect(records.map { $0["frames"] as? Int } == [4, 4, 3])
        // The numbers as written (Swift's Double(String) reads the shortest representation back exactly, which
        // JSONSerialization on Linux does not always do).
        func number(_ key: String, _ line: String) -> Double {
            guard let start = line.range(of: "\"\(key)\":")?.upperBound else { return -1 }
            return Double(line[start...].prefix { $0 != "," && $0 != "}" }) ?? -1
        }
        let j = lines.map { number("J", $0) }, f = lines.map { number("F", $0) }
        #expect(j.allSatisfy { (0...1).contains($0) } && f.allSatisfy { (0...1).contains($0) }, "\(j) \(f)")

        // --save-masks: DIR/<video>/<exp_id>/<frame>.png, 0/255 at the frame's size; J recomputed from them and the
        // annotations (IoU per frame, 1 for an empty union, then the mean) is the logged J.
        #expect(listing(masks) == ["v1", "v2"] && listing(masks + "/v1") == ["0", "1"])
        #expect(listing(masks + "/v1/1") == ["00000.png", "00005.png", "00010.png", "00015.png"])
        var frameCounts: [(i: Int, u: Int)] = []   // frames with an object, for P@K and IoU
        for (r, (video, exp, object, count)) in [("v1", "0", 1, 4), ("v1", "1", 2, 4), ("v2", "0", 1, 3)].enumerated() {
            var ious: [Double] = []
            for k in 0..<count {
                let name = String(format: "%05d", 5 * k)
                let predicted = try ImageIO.readGray(path: "\(masks)/\(video)/\(exp)/\(name).png")
                let truth = try ImageIO.readLabels(path: "\(root)/train/Annotations/\(video)/\(name).png")
                #expect(predicted.width == 64 && predicted.height == 48 && predicted.pixels.allSatisfy { $0 == 0 || $0 == 255 })
                let pairs = zip(predicted.pixels, truth.pixels).map { ($0 != 0, Int($1) == object) }
                let (i, u) = (pairs.filter { $0.0 && $0.1 }.count, pairs.filter { $0.0 || $0.1 }.count)
                ious.append(u == 0 ? 1 : Double(i) / Double(u))
                if truth.pixels.contains(UInt8(object)) { frameCounts.append((i, u)) }
            }
            #expect(j[r] == ious.reduce(0, +) / Double(count), "\(video)/\(exp): logged J \(j[r]), from the masks \(ious)")
        }

        let summary = try readJSONObject(out + ".summary.json")
        let (sj, sf) = (try #require(summary["J"] as? Double), try #require(summary["F"] as? Double))
        #expect(abs(sj - j.reduce(0, +) / 3) < 1e-12 && abs(sf - f.reduce(0, +) / 3) < 1e-12, "\(summary)")
        #expect(abs(try #require(summary["J&F"] as? Double) - (sj + sf) / 2) < 1e-15)
        #expect(summary["expressions"] as? Int == 3 && summary["frames"] as? Int == 11)
        // P@K, overall and mean IoU over the frames whose ground truth is not empty, as for A2D.
        #expect(summary["iou_frames"] as? Int == frameCounts.count && summary["iou_frames_skipped"] as? Int == 11 - frameCounts.count)
        let overall = Double(frameCounts.map(\.i).reduce(0, +)) / Double(frameCounts.map(\.u).reduce(0, +))
        let frameIoUs = frameCounts.map { Double($0.i) / Double($0.u) }
        #expect(abs(try #require(summary["overall_iou"] as? Double) - overall) < 1e-12, "\(summary)")
        #expect(abs(try #require(summary["mean_iou"] as? Double) - frameIoUs.reduce(0, +) / Double(frameIoUs.count)) < 1e-12)
        for k in [0.5, 0.7, 0.9] {
            let share = Double(frameIoUs.filter { $0 >= k }.count) / Double(frameIoUs.count)
            #expect(abs(try #require(summary["P@\(k)"] as? Double) - share) < 1e-12, "P@\(k) in \(summary)")
        }
        #expect(listing(folder.path("out")) == ["ytvos.jsonl", "ytvos.jsonl.summary.json"], "no temporary files left")
    }

    @Test func splitsWithoutGroundTruthAndUnsupportedOptionsAreRefused() throws {
        let folder = try TemporaryFolder()
        let root = try makeYTVOS(in: folder)
        let valid = try runTool(["evaluate", "--dataset", "ytvos", "--root", root, "--split", "valid", "--quiet"], in: folder)
        #expect(valid.status == 1 && valid.stderr.contains("challenge server") && valid.stderr.contains("--split train"), "\(valid)")
        let refined = try runTool(["evaluate", "--dataset", "ytvos", "--root", root, "--split", "train", "--crf"], in: folder)
        #expect(refined.status == 64 && refined.stderr.contains("--crf"), "\(refined)")
        // A split whose videos list no frames: nothing to score is an error naming the check to run.
        try Data(#"{"videos": {"v1": {"expressions": {"0": {"exp": "a", "obj_id": "1"}}, "frames": []}}}"#.utf8)
            .write(to: URL(fileURLWithPath: root + "/meta_expressions/train/meta_expressions.json"))
        let empty = try runTool(["evaluate", "--dataset", "ytvos", "--root", root, "--split", "train", "--out", folder.path("e.jsonl")],
                                in: folder)
        #expect(empty.status == 1 && empty.stderr.contains("v1 has 1 expressions and 0 frames")
                && empty.stderr.contains("datasets check --dataset ytvos"), "\(empty)")
        #expect(!FileManager.default.fileExists(atPath: folder.path("e.jsonl")))
        let masks = try runTool(["evaluate", "--dataset", "a2d", "--root", root, "--split", "test", "--save-masks", "m"], in: folder)
        #expect(masks.status == 64 && masks.stderr.contains("--save-masks") && masks.stderr.contains("ytvos"), "\(masks)")
    }

    @Test func datasetsCheckCountsVideosExpressionsAndFrames() throws {
        let folder = try TemporaryFolder()
        let root = try makeYTVOS(in: folder)
        let run = try runToolSucceeding(["datasets", "check", "--dataset", "ytvos", "--root", root, "--split", "train",
                                         "--verify-masks"], in: folder)
        #expect(run.stdout.contains("ytvos train: 11 samples, 2 videos"), "\(run)")
        #expect(run.stdout.contains("videos 2, expressions 3, frames 7, annotation_files 7"), "\(run)")
        #expect(run.stdout.contains("missing files: 0") && run.stdout.contains("unreadable files: 0"), "\(run)")
        try FileManager.default.removeItem(atPath: root + "/train/JPEGImages/v2/00010.jpg")
        let broken = try runToolSucceeding(["datasets", "check", "--dataset", "ytvos", "--root", root, "--split", "train",
                                            "--json"], in: folder)
        #expect(broken.stdout.contains("\"missing\":[\"\(root)/train/JPEGImages/v2/00010.jpg\"]"), "\(broken)")
    }

    @Test func mevisScoresTheUnionOfTheNamedObjects() throws {
        // The ytvos folder's frames as a MeViS valid_u split: annotation 0 the square, 1 the disc; expression 2 names
        // both. Scored against the saved masks here, J of expression 2 must be the IoU with the union.
        let folder = try TemporaryFolder()
        let ytvos = try makeYTVOS(in: folder)
        let root = folder.path("mevis")
        try FileManager.default.createDirectory(atPath: root + "/valid_u/JPEGImages", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: ytvos + "/train/JPEGImages/v1", toPath: root + "/valid_u/JPEGImages/v1")
        var labels: [GrayImage] = []
        for k in 0..<4 { labels.append(try ImageIO.readLabels(path: ytvos + "/train/Annotations/v1/\(String(format: "%05d", 5 * k)).png")) }
        var dict: [String: Any] = [:]
        for anno in 0..<2 {
            dict[String(anno)] = try labels.map { l -> [String: Any] in
                let rle = try PixelMask(width: 64, height: 48, pixels: l.pixels.map { Int($0) == anno + 1 ? 1 : 0 }).rle()
                return ["size": [48, 64], "counts": rle.compressedString]   // the strings hold backslashes: JSON escapes them
            }
        }
        try JSONSerialization.data(withJSONObject: dict).write(to: URL(fileURLWithPath: root + "/valid_u/mask_dict.json"))
        try Data("""
            {"videos": {"v1": {"expressions": {"0": {"exp": "the red square", "obj_id": [0], "anno_id": [0]},
                                               "1": {"exp": "the blue circle", "obj_id": [1], "anno_id": [1]},
                                               "2": {"exp": "the red square and the blue circle", "obj_id": [0, 1], "anno_id": [0, 1]}},
                               "frames": ["00000", "00005", "00010", "00015"]}}}
            """.utf8).write(to: URL(fileURLWithPath: root + "/valid_u/meta_expressions.json"))
        let out = folder.path("mevis.jsonl"), masks = folder.path("mevis-masks")
        let run = try runToolSucceeding(["evaluate", "--dataset", "mevis", "--root", root, "--split", "valid_u", "--out", out,
                                         "--save-masks", masks, "--quiet"], in: folder)
        #expect(run.stdout.contains("expressions 3, frames 12"), "\(run)")
        let lines = Array(try String(contentsOfFile: out, encoding: .utf8).split(separator: "\n").map(String.init).dropFirst())
        #expect(lines.count == 3)
        var ious: [Double] = []
        for (k, l) in labels.enumerated() {
            let predicted = try ImageIO.readGray(path: masks + "/v1/2/\(String(format: "%05d", 5 * k)).png")
            let pairs = zip(predicted.pixels, l.pixels).map { ($0 != 0, $1 != 0) }
            let (i, u) = (pairs.filter { $0.0 && $0.1 }.count, pairs.filter { $0.0 || $0.1 }.count)
            ious.append(u == 0 ? 1 : Double(i) / Double(u))
        }
        let j2 = lines[2].range(of: "\"J\":").map { Double(lines[2][$0.upperBound...].prefix { $0 != "," }) ?? -1 } ?? -1
        #expect(j2 == ious.reduce(0, +) / 4, "\(lines[2]) vs the union's IoU \(ious)")
        let refused = try runTool(["evaluate", "--dataset", "mevis", "--root", root, "--split", "valid", "--quiet"], in: folder)
        #expect(refused.status == 1 && refused.stderr.contains("valid_u"), "\(refused)")
    }

    @Test func refDAVISEvaluatesItsValidSplit() throws {
        let folder = try TemporaryFolder()
        let root = try makeYTVOS(in: folder)
        try FileManager.default.moveItem(atPath: root + "/train", toPath: root + "/valid")
        try FileManager.default.moveItem(atPath: root + "/meta_expressions/train", toPath: root + "/meta_expressions/valid")
        let out = folder.path("davis.jsonl")
        let run = try runToolSucceeding(["evaluate", "--dataset", "refdavis", "--root", root, "--split", "valid", "--out", out,
                                         "--quiet"], in: folder)
        #expect(run.stdout.contains("expressions 3, frames 11"), "\(run)")
        #expect(try readJSONObject(out + ".summary.json")["dataset"] as? String == "refdavis")
    }

    @Test func submissionZipsThePredictionsInTheChallengeLayoutAlsoWithoutGroundTruth() throws {
        let folder = try TemporaryFolder()
        let root = try makeYTVOS(in: folder)
        // valid: the same frames, expressions without obj_id, no annotations.
        try FileManager.default.createDirectory(atPath: root + "/valid", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: root + "/train/JPEGImages", toPath: root + "/valid/JPEGImages")
        try FileManager.default.createDirectory(atPath: root + "/meta_expressions/valid", withIntermediateDirectories: true)
        let meta = try String(contentsOfFile: root + "/meta_expressions/train/meta_expressions.json", encoding: .utf8)
            .replacingOccurrences(of: #", "obj_id": "[0-9]""#, with: "", options: .regularExpression)
        try Data(meta.utf8).write(to: URL(fileURLWithPath: root + "/meta_expressions/valid/meta_expressions.json"))
        let zip = folder.path("out/valid.zip")
        let run = try runToolSucceeding(["evaluate", "--dataset", "ytvos", "--root", root, "--split", "valid",
                                         "--submission", zip, "--quiet"], in: folder)
        #expect(run.stdout.contains("11 masks of 3 expressions"), "\(run)")
        let members = try ZipArchive.read(URL(fileURLWithPath: zip))
        #expect(members.map(\.name) == ["v1/0/00000", "v1/0/00005", "v1/0/00010", "v1/0/00015",
                                        "v1/1/00000", "v1/1/00005", "v1/1/00010", "v1/1/00015",
                                        "v2/0/00000", "v2/0/00005", "v2/0/00010"].map { "Annotations/\($0).png" })
        #expect(listing(folder.path("out")) == ["valid.zip"], "the temporary masks are gone")
        #expect(!FileManager.default.fileExists(atPath: folder.path("results.jsonl")), "no scores without ground truth")

        // On train, with --save-masks too: the zip holds exactly the saved PNGs, and the run is scored as before.
        let trainZip = folder.path("train.zip"), masks = folder.path("masks")
        try runToolSucceeding(["evaluate", "--dataset", "ytvos", "--root", root, "--split", "train", "--out", folder.path("t.jsonl"),
                               "--save-masks", masks, "--submission", trainZip, "--quiet"], in: folder)
        for m in try ZipArchive.read(URL(fileURLWithPath: trainZip)) {
            let saved = try Data(contentsOf: URL(fileURLWithPath: masks + "/" + m.name.dropFirst("Annotations/".count)))
            #expect([UInt8](saved) == m.data, "\(m.name)")
            let png = folder.path("one.png")
            try Data(m.data).write(to: URL(fileURLWithPath: png))
            let image = try ImageIO.readGray(path: png)
            #expect(image.width == 64 && image.height == 48)
        }
        #expect(try readJSONObject(folder.path("t.jsonl.summary.json"))["expressions"] as? Int == 3)
    }

    @Test func aKilledRunResumesAndAnotherRunsLogIsRefused() throws {
        let folder = try TemporaryFolder()
        let root = try makeYTVOS(in: folder)
        let out = folder.path("r.jsonl")
        let arguments = ["evaluate", "--dataset", "ytvos", "--root", root, "--split", "train", "--out", out]
        try runToolSucceeding(arguments + ["--quiet"], in: folder)
        let complete = try Data(contentsOf: URL(fileURLWithPath: out))
        let summary = try Data(contentsOf: URL(fileURLWithPath: out + ".summary.json"))
        // Killed while writing v2's line: v1 is kept, v2 evaluated again; the log and summary come out the same.
        let text = String(decoding: complete, as: UTF8.self)
        let cut = try #require(text.range(of: "{\"index\":2,\"video\":\"v2\"")).lowerBound
        try Data((String(text[..<cut]) + "{\"index\":2,\"vid").utf8).write(to: URL(fileURLWithPath: out))
        let resumed = try runToolSucceeding(arguments, in: folder)
        #expect(resumed.stderr.contains("cut an incomplete last line") && resumed.stderr.contains("v1: in the log already")
                && resumed.stderr.contains("v2: 1 expressions"), "\(resumed)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: out)) == complete)
        #expect(try Data(contentsOf: URL(fileURLWithPath: out + ".summary.json")) == summary)
        // Killed between v1's two lines: v1 is evaluated again, its stale line dropped.
        let second = try #require(text.range(of: "{\"index\":1,\"video\":\"v1\",\"exp_id\":\"1\"")).lowerBound
        try Data(String(text[..<second]).utf8).write(to: URL(fileURLWithPath: out))
        let again = try runToolSucceeding(arguments, in: folder)
        #expect(again.stderr.contains("evaluating again v1"), "\(again)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: out)) == complete)
        // Another setting is refused, naming it; --restart starts afresh.
        let other = try runTool(arguments + ["--resize", "antialias", "--quiet"], in: folder)
        #expect(other.status == 1 && other.stderr.contains("resize") && other.stderr.contains("--restart"), "\(other)")
        try runToolSucceeding(arguments + ["--resize", "antialias", "--restart", "--quiet"], in: folder)
        #expect(try String(contentsOfFile: out, encoding: .utf8).contains("\"resize\": \"antialias\""))
    }

    @Test func shardsMergeIntoTheUnshardedLogAndSummary() throws {
        let folder = try TemporaryFolder()
        let root = try makeYTVOS(in: folder)
        let arguments = ["evaluate", "--dataset", "ytvos", "--root", root, "--split", "train", "--quiet"]
        try runToolSucceeding(arguments + ["--out", folder.path("full.jsonl")], in: folder)
        try runToolSucceeding(arguments + ["--shard", "0/2", "--out", folder.path("s0.jsonl")], in: folder)
        try runToolSucceeding(arguments + ["--shard", "1/2", "--out", folder.path("s1.jsonl")], in: folder)
        let s0 = try String(contentsOfFile: folder.path("s0.jsonl"), encoding: .utf8)
        #expect(s0.contains("\"video\":\"v1\"") && !s0.contains("\"video\":\"v2\""), "shard 0 holds the first video")
        // Given in either order, the merge equals the unsharded run byte for byte.
        let merge = try runToolSucceeding(["evaluate", "--merge", folder.path("s1.jsonl"), folder.path("s0.jsonl"),
                                           "--out", folder.path("merged.jsonl")], in: folder)
        #expect(merge.stdout.contains("3 expressions from 2 logs"), "\(merge)")
        for suffix in ["", ".summary.json"] {
            #expect(try Data(contentsOf: URL(fileURLWithPath: folder.path("merged.jsonl" + suffix)))
                    == Data(contentsOf: URL(fileURLWithPath: folder.path("full.jsonl" + suffix))), "merged.jsonl\(suffix)")
        }
        // A shard of another run is refused, naming what differs.
        try runToolSucceeding(arguments + ["--shard", "1/2", "--resize", "antialias", "--out", folder.path("x1.jsonl")], in: folder)
        let mixed = try runTool(["evaluate", "--merge", folder.path("s0.jsonl"), folder.path("x1.jsonl")], in: folder)
        #expect(mixed.status == 1 && mixed.stderr.contains("resize"), "\(mixed)")
    }
}
