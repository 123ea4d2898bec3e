// `evaluate --dataset ytvos|mevis|refdavis --limit M`: the first M videos of the split or of the --shard block, with
// all their expressions, on the tiny Ref-DAVIS17 release of RefDAVISProtocolRunTests (v1: 8 expressions × 3 frames,
// v2: 8 × 4).
import Foundation
import Testing

@Suite struct EvaluateExpressionsLimitTests {
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
}
