// `evaluate --dataset ytvos|mevis|refdavis` options beyond the basics, on the tiny Ref-DAVIS17 release of
// RefDAVISProtocolRunTests (v1: 8 expressions × 3 frames at 64×48, v2: 8 × 4 at 56×40): `--limit M` (the first M videos
// of the split or of the --shard block, with all their expressions) and `--vis DIR` (pictures of the (expression,
// frame) pairs of lowest and highest IoU).
import Foundation
import Testing
import Video

@Suite struct EvaluateExpressionsOptionsTests {
    @Test func limitTakesTheFirstVideosOfTheSplitOrShard() throws {
        let folder = try TemporaryFolder()
        let root = try makeRefDAVIS(in: folder)
        let arguments = ["evaluate", "--dataset", "refdavis", "--root", root, "--split", "valid"]
        try runToolSucceeding(arguments + ["--quiet", "--out", folder.path("full.jsonl")], in: folder)
        let first = try runToolSucceeding(arguments + ["--limit", "1", "--out", folder.path("l1.jsonl")], in: folder)
        #expect(first.stdout.contains("expressions 8, frames 24") && first.stderr.contains("--limit 1 videos"), "\(first)")
        // Its lines are the unlimited run's first video's, byte for byte; the protocol covers that video.
        let full = try String(contentsOfFile: folder.path("full.jsonl"), encoding: .utf8).split(separator: "\n")
        let limited = try String(contentsOfFile: folder.path("l1.jsonl"), encoding: .utf8).split(separator: "\n")
        #expect(limited == Array(full.prefix(9)), "provenance and v1's 8 lines")
        let summary = try readJSONObject(folder.path("l1.jsonl.summary.json"))
        #expect(summary["expressions"] as? Int == 8 && (summary["referformer"] as? [String: Any])?["videos"] as? Int == 1)
        // Inside a shard: block 1 of 2 is v2.
        let second = try runToolSucceeding(arguments + ["--quiet", "--shard", "1/2", "--limit", "1", "--out", folder.path("s1.jsonl")],
                                           in: folder)
        #expect(second.stdout.contains("expressions 8, frames 32"), "\(second)")
        let negative = try runTool(arguments + ["--limit", "-1"], in: folder)
        #expect(negative.status == 64 && negative.stderr.contains("--limit"), "\(negative)")
    }

    @Test func visDrawsTheFramePairsOfLowestAndHighestIoU() throws {
        let folder = try TemporaryFolder()
        let root = try makeRefDAVIS(in: folder)
        let vis = folder.path("vis"), out = folder.path("v.jsonl")
        let run = try runToolSucceeding(["evaluate", "--dataset", "refdavis", "--root", root, "--split", "valid", "--out", out,
                                         "--vis", vis, "--worst", "2", "--best", "3", "--quiet"], in: folder)
        #expect(run.stdout.contains("pictures of 5 (expression, frame) pairs"), "\(run)")
        #expect(listing(vis) == ["best-001.png", "best-002.png", "best-003.png", "index.html", "worst-001.png", "worst-002.png"])

        // The pairs the page shows are the log's: over all (expression, frame) pairs with an object, the 2 lowest IoU and
        // then the 3 highest of the rest, ties in split order.
        var pairs: [(iou: Double, order: Int, id: String)] = []
        let frameNames = ["v1": ["00000", "00001", "00002"], "v2": ["00000", "00001", "00002", "00003"]]
        for line in try String(contentsOfFile: out, encoding: .utf8).split(separator: "\n").dropFirst() {
            let r = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            let (video, exp) = (r["video"] as! String, r["exp_id"] as! String)
            let (i, u, g) = (r["I"] as! [Int], r["U"] as! [Int], r["gt_area"] as! [Int])
            for k in i.indices where g[k] > 0 {
                pairs.append((Double(i[k]) / Double(u[k]), (r["index"] as! Int) * 1_000_000 + k, "\(video)/\(exp)/\(frameNames[video]![k])"))
            }
        }
        pairs.sort { ($0.iou, $0.order) < ($1.iou, $1.order) }
        let expected = pairs.prefix(2).map(\.id) + pairs.dropFirst(2).reversed().prefix(3).map(\.id)
        let page = try String(contentsOfFile: vis + "/index.html", encoding: .utf8)
        let shown = page.components(separatedBy: "<span class=\"place\">").dropFirst().map { $0.prefix { $0 != " " } }.map(String.init)
        #expect(shown == expected, "the page shows \(shown), the log's extremes are \(expected)")
        // Each picture: four panels of the pair's frame at its size, 4 pixels apart.
        let worst = try ImageIO.read(path: vis + "/worst-001.png")
        let size = expected[0].hasPrefix("v1/") ? (64, 48) : (56, 40)
        #expect(worst.width == 4 * size.0 + 12 && worst.height == size.1)
    }
}
