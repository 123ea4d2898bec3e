// Clip ends: `synth --annotated-frames all|LIST` annotates any frame, including the first and last ones whose
// 16-frame windows clamp, so a model can be trained and measured there; evaluate reads those frames.
import Foundation
import Testing

@Suite struct ClipEndsTests {
    @Test func synthAnnotatesEveryFrameOrAList() throws {
        let folder = try TemporaryFolder()
        let all = folder.path("all")
        let run = try runToolSucceeding(["synth", "--out", all, "--videos", "2", "--size", "64x48", "--frames", "12",
                                         "--annotated-frames", "all", "--test-fraction", "0.5", "--quiet"], in: folder)
        #expect(run.stdout.contains("annotated frames [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]"), "\(run)")
        let names = (1...12).map { String(format: "%05d.h5", $0) }
        for clip in ["syn00000", "syn00001"] {
            #expect(listing(all + "/a2d_annotation_with_instances/" + clip) == names)
        }
        #expect(try readJSONObject(all + "/synth.json")["annotated_frames"] as? [Int] == Array(1...12))

        let list = folder.path("list")
        try runToolSucceeding(["synth", "--out", list, "--videos", "2", "--size", "64x48", "--frames", "12",
                               "--annotated-frames", "1,3-4,12", "--test-fraction", "0.5", "--quiet"], in: folder)
        #expect(listing(list + "/a2d_annotation_with_instances/syn00001")
                == ["00001.h5", "00003.h5", "00004.h5", "00012.h5"])

        // The clamped first and last frames are evaluated like any other.
        let log = folder.path("ends.jsonl")
        try runToolSucceeding(["evaluate", "--dataset", "a2d", "--root", list, "--split", "test", "--out", log,
                               "--quiet"], in: folder)
        let frames = try logLines(log).compactMap { line -> Int? in
            let record = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            return record?["frame"] as? Int
        }
        #expect(Set(frames) == [1, 3, 4, 12], "\(frames)")

        for bad in ["0", "13", "3-1", "x", "1,,2"] {
            let refused = try runTool(["synth", "--out", folder.path("bad"), "--videos", "1", "--frames", "12",
                                       "--annotated-frames", bad, "--quiet"], in: folder)
            #expect(refused.status == 64 && refused.stderr.contains("--annotated-frames")
                    && refused.stderr.contains("1…12"), "\(refused)")
        }
        #expect(!FileManager.default.fileExists(atPath: folder.path("bad")))
    }
}
