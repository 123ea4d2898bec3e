// `evaluate --dataset refdavis` with ReferFormer's protocol: a tiny Ref-DAVIS17 release each test writes (DAVIS 2017's
// folders and the four text files of both annotators), run with the shipped model of data/default. The summary's
// "referformer" numbers are compared with the protocol code (DAVISUnsupervised) run on the label maps the tool saved
// and the annotations, and the label maps with the per-expression masks they merge.
import Evaluation
import Foundation
import Testing
import Video

/// Two videos of unlike sizes: v1 (64×48, 3 frames) a red square moving right (1) and a blue disc (2); v2 (56×40,
/// 4 frames) the same two plus a green bar (3) no expression names (a missed object), and a void band (255).
func makeRefDAVIS(in folder: TemporaryFolder) throws -> String {
    let root = folder.path("refdavis")
    let davis = root + "/DAVIS"
    for sub in ["ImageSets/2017", "JPEGImages/480p/v1", "JPEGImages/480p/v2", "Annotations_unsupervised/480p/v1",
                "Annotations_unsupervised/480p/v2", "../davis_text_annotations"] {
        try FileManager.default.createDirectory(atPath: davis + "/" + sub, withIntermediateDirectories: true)
    }
    try Data("v1\nv2\n".utf8).write(to: URL(fileURLWithPath: davis + "/ImageSets/2017/val.txt"))
    try Data("".utf8).write(to: URL(fileURLWithPath: davis + "/ImageSets/2017/train.txt"))
    let texts = [
        "Davis17_annot1.txt": "v1 1 \"the red square\"\nv1 2 \"the blue circle\"\nv2 1 \"a red square\"\nv2 2 \"a blue circle\"\n",
        "Davis17_annot1_full_video.txt": "v1 1 \"the red square moving right\"\nv1 2 \"the blue circle\"\n"
            + "v2 1 \"the red square moving\"\nv2 2 \"the blue circle standing\"\n",
        "Davis17_annot2.txt": "v1 2 \"blue circle\"\nv1 1 \"red square\"\nv2 1 \"red square\"\nv2 2 \"blue circle\"\n",
        "Davis17_annot2_full_video.txt": "v1 1 \"a red square moving\"\nv1 2 \"a blue circle\"\nv2 1 \"red\"\nv2 2 \"blue\"\n",
    ]
    for (name, text) in texts {
        try Data(text.utf8).write(to: URL(fileURLWithPath: root + "/davis_text_annotations/" + name))
    }
    for (video, w, h, count) in [("v1", 64, 48, 3), ("v2", 56, 40, 4)] {
        for k in 0..<count {
            var rgb = RGBImage(width: w, height: h)
            var labels = GrayImage(width: w, height: h)
            for y in 0..<h {
                for x in 0..<w {
                    let i = y * w + x
                    var colour: (UInt8, UInt8, UInt8) = (120, 120, 120)
                    if (10..<24).contains(y), (4 + 6 * k..<18 + 6 * k).contains(x) {
                        colour = (220, 30, 30); labels.pixels[i] = 1
                    } else if (x - w + 16) * (x - w + 16) + (y - 30) * (y - 30) <= 64 {
                        colour = (30, 40, 220); labels.pixels[i] = 2
                    } else if video == "v2", (2..<8).contains(y), (20..<50).contains(x) {
                        colour = (30, 200, 40); labels.pixels[i] = 3
                    } else if video == "v2", y >= h - 3 {
                        labels.pixels[i] = 255
                    }
                    rgb.pixels[3 * i] = colour.0; rgb.pixels[3 * i + 1] = colour.1; rgb.pixels[3 * i + 2] = colour.2
                }
            }
            let name = String(format: "%05d", k)
            try ImageIO.writeJPEG(rgb, to: "\(davis)/JPEGImages/480p/\(video)/\(name).jpg")
            try ImageIO.writeLabelPNG(labels, to: "\(davis)/Annotations_unsupervised/480p/\(video)/\(name).png")
        }
    }
    return root
}

private let videos: [(id: String, frames: Int)] = [("v1", 3), ("v2", 4)]

private func labelMap(_ path: String) throws -> LabelMap {
    let image = try ImageIO.readLabels(path: path)
    return try LabelMap(width: image.width, height: image.height, labels: image.pixels)
}

@Suite struct RefDAVISProtocolRunTests {
    @Test func summaryHoldsReferFormersProtocolAsTheSavedLabelMapsGiveIt() throws {
        let folder = try TemporaryFolder()
        let root = try makeRefDAVIS(in: folder)
        let out = folder.path("davis.jsonl"), masks = folder.path("masks")
        let run = try runToolSucceeding(["evaluate", "--dataset", "refdavis", "--root", root, "--split", "valid", "--out", out,
                                         "--save-masks", masks, "--quiet"], in: folder)
        #expect(run.stdout.contains("expressions 16, frames 56") && run.stdout.contains("ReferFormer's protocol"), "\(run)")

        // The protocol rides on each video's first line only.
        let lines = try String(contentsOfFile: out, encoding: .utf8).split(separator: "\n").dropFirst()
        #expect(lines.filter { $0.contains("\"referformer\"") }.count == 2)
        #expect(lines.filter { $0.contains("\"referformer\"") }.allSatisfy { $0.contains("\"exp_id\":\"0\"") })

        // Per expression set: the label maps the tool saved, against the annotations, through the protocol code.
        let summary = try readJSONObject(out + ".summary.json")
        let protocolSummary = try #require(summary["referformer"] as? [String: Any], "\(summary)")
        let sets = try #require(protocolSummary["annotators"] as? [[String: Any]])
        #expect(sets.map { $0["annotator"] as? Int } == [1, 1, 2, 2])
        #expect(sets.map { $0["expressions"] as? String } == ["first-frame", "full-video", "first-frame", "full-video"])
        var result = RefDAVISProtocol.Result()
        for s in 0..<4 {
            for (video, count) in videos {
                let names = (0..<count).map { String(format: "%05d", $0) }
                #expect(listing("\(masks)/referformer/anno_\(s)/\(video)") == names.map { $0 + ".png" })
                let predicted = try names.map { try labelMap("\(masks)/referformer/anno_\(s)/\(video)/\($0).png") }
                let truths = try names.map { try labelMap("\(root)/DAVIS/Annotations_unsupervised/480p/\(video)/\($0).png") }
                result.objects[s] += try DAVISUnsupervised.evaluate(results: predicted, groundTruths: truths)

                // Each label map merges the set's object masks: object k (label k + 1) is expression 4k + s.
                for (k, name) in names.enumerated() {
                    let objectMasks = try (0..<2).map { o in try ImageIO.readGray(path: "\(masks)/\(video)/\(4 * o + s)/\(name).png") }
                    let wrong = predicted[k].labels.indices.filter { i in
                        let label = Int(predicted[k].labels[i])
                        let covered = objectMasks.map { $0.pixels[i] != 0 }
                        return label == 0 ? covered.contains(true) : !covered[label - 1]
                    }
                    #expect(wrong.isEmpty, "\(video) set \(s) frame \(name): \(wrong.count) pixels whose label no mask of its object covers")
                }
            }
            #expect(result.objects[s].count == 5, "2 objects in v1, 3 in v2 (one never named)")
            let expected = result.set(s)
            #expect(abs(try #require(sets[s]["J"] as? Double) - expected.j) < 1e-12, "set \(s): \(sets[s]) vs \(expected)")
            #expect(abs(try #require(sets[s]["F"] as? Double) - expected.f) < 1e-12, "set \(s)")
            #expect(abs(try #require(sets[s]["J&F"] as? Double) - expected.jf) < 1e-12, "set \(s)")
            #expect(sets[s]["objects"] as? Int == 5)
        }
        let final = result.final
        #expect(abs(try #require(protocolSummary["J"] as? Double) - final.j) < 1e-12, "\(protocolSummary)")
        #expect(abs(try #require(protocolSummary["F"] as? Double) - final.f) < 1e-12)
        #expect(abs(try #require(protocolSummary["J&F"] as? Double) - final.jf) < 1e-12)
        #expect(protocolSummary["videos"] as? Int == 2)
        // The per-expression numbers stay beside it.
        #expect(summary["J"] is Double && summary["expressions"] as? Int == 16)
    }

    @Test func shardsMergeAndResumeKeepTheProtocol() throws {
        let folder = try TemporaryFolder()
        let root = try makeRefDAVIS(in: folder)
        let arguments = ["evaluate", "--dataset", "refdavis", "--root", root, "--split", "valid", "--quiet"]
        try runToolSucceeding(arguments + ["--out", folder.path("full.jsonl")], in: folder)
        try runToolSucceeding(arguments + ["--shard", "0/2", "--out", folder.path("s0.jsonl")], in: folder)
        try runToolSucceeding(arguments + ["--shard", "1/2", "--out", folder.path("s1.jsonl")], in: folder)
        try runToolSucceeding(["evaluate", "--merge", folder.path("s0.jsonl"), folder.path("s1.jsonl"),
                               "--out", folder.path("merged.jsonl")], in: folder)
        let full = try Data(contentsOf: URL(fileURLWithPath: folder.path("full.jsonl.summary.json")))
        #expect(try Data(contentsOf: URL(fileURLWithPath: folder.path("merged.jsonl.summary.json"))) == full)
        #expect(String(decoding: full, as: UTF8.self).contains("\"referformer\""))
        // A shard alone has the protocol of its own videos.
        let s0 = try readJSONObject(folder.path("s0.jsonl.summary.json"))
        #expect((s0["referformer"] as? [String: Any])?["videos"] as? Int == 1)
        // Resumed from a log cut inside v2's lines: the same summary.
        let text = try String(contentsOfFile: folder.path("full.jsonl"), encoding: .utf8)
        let cut = try #require(text.range(of: "\"video\":\"v2\",\"exp_id\":\"3\"")).lowerBound
        try Data(String(text[..<cut]).utf8).write(to: URL(fileURLWithPath: folder.path("full.jsonl")))
        try runToolSucceeding(arguments + ["--out", folder.path("full.jsonl")], in: folder)
        #expect(try Data(contentsOf: URL(fileURLWithPath: folder.path("full.jsonl.summary.json"))) == full)
    }

    /// The same videos in the layout ReferFormer's converter writes (valid/JPEGImages, valid/Annotations from
    /// Annotations_unsupervised, meta_expressions/valid/meta_expressions.json with the four expressions per object
    /// interleaved) give the same summary, protocol included.
    @Test func convertedLayoutGivesTheSameNumbers() throws {
        let folder = try TemporaryFolder()
        let release = try makeRefDAVIS(in: folder)
        let converted = folder.path("converted")
        let fm = FileManager.default
        try fm.createDirectory(atPath: converted + "/valid", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: converted + "/meta_expressions/valid", withIntermediateDirectories: true)
        try fm.copyItem(atPath: release + "/DAVIS/JPEGImages/480p", toPath: converted + "/valid/JPEGImages")
        try fm.copyItem(atPath: release + "/DAVIS/Annotations_unsupervised/480p", toPath: converted + "/valid/Annotations")
        // convert_davis_to_ytvos.py: per object (sorted by obj_id), annot1, annot1_full_video, annot2, annot2_full_video.
        let sentences: [String: [[String]]] = [
            "v1": [["the red square", "the red square moving right", "red square", "a red square moving"],
                   ["the blue circle", "the blue circle", "blue circle", "a blue circle"]],
            "v2": [["a red square", "the red square moving", "red square", "red"],
                   ["a blue circle", "the blue circle standing", "blue circle", "blue"]],
        ]
        var videosJSON: [String] = []
        for (video, count) in videos {
            var expressions: [String] = []
            for (o, list) in sentences[video]!.enumerated() {
                for sentence in list {
                    expressions.append("\"\(expressions.count)\": {\"exp\": \"\(sentence)\", \"obj_id\": \"\(o + 1)\"}")
                }
            }
            let frames = (0..<count).map { String(format: "\"%05d\"", $0) }.joined(separator: ", ")
            videosJSON.append("\"\(video)\": {\"expressions\": {\(expressions.joined(separator: ", "))}, \"frames\": [\(frames)]}")
        }
        try Data("{\"videos\": {\(videosJSON.joined(separator: ", "))}}".utf8)
            .write(to: URL(fileURLWithPath: converted + "/meta_expressions/valid/meta_expressions.json"))
        for (root, out) in [(release, "release.jsonl"), (converted, "converted.jsonl")] {
            try runToolSucceeding(["evaluate", "--dataset", "refdavis", "--root", root, "--split", "valid",
                                   "--out", folder.path(out), "--quiet"], in: folder)
        }
        let a = try readJSONObject(folder.path("release.jsonl.summary.json"))
        let b = try readJSONObject(folder.path("converted.jsonl.summary.json"))
        #expect(NSDictionary(dictionary: a).isEqual(to: b), "release \(a)\nconverted \(b)")
        #expect(a["referformer"] != nil)
    }
}
