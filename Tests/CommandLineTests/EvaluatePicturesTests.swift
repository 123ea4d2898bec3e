// evaluate --vis: pictures of the worst and best samples and the index.html that shows them, checked against the
// log (which samples, their IoU, the mask areas drawn in the panels) and read back with FFmpeg's PNG decoder.
import Foundation
import Testing
import Video

@Suite struct EvaluatePicturesTests {
    @Test func visWritesThePicturesOfTheWorstAndBestSamplesAndAPageShowingThem() throws {
        let folder = try TemporaryFolder()
        let root = try makeSyntheticSet(in: folder)
        let log = folder.path("a2d.jsonl")
        let vis = folder.path("pictures")
        let arguments = ["evaluate", "--dataset", "a2d", "--root", root, "--split", "test", "--quiet", "--out", log,
                         "--vis", vis]
        let run = try runToolSucceeding(arguments + ["--worst", "2", "--best", "1"], in: folder)
        #expect(run.stdout.contains("pictures of 3 samples: \(vis)/index.html"), "\(run)")
        #expect(listing(vis) == ["best-001.png", "index.html", "worst-001.png", "worst-002.png"])

        // The samples by IoU, as the log has them (ties by index).
        var samples: [(iou: Double, sentence: String, predicted: Int, truth: Int)] = []
        for line in try logLines(log) {
            let r = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            let (i, u, area) = (r["I"] as! Int, r["U"] as! Int, r["gt_area"] as! Int)
            samples.append((Double(i) / Double(u), r["sentence"] as! String, u - area + i, area))
        }
        let ranked = samples.enumerated().sorted { ($0.element.iou, $0.offset) < ($1.element.iou, $1.offset) }.map(\.element)
        let html = try String(contentsOfFile: vis + "/index.html", encoding: .utf8)
        #expect(html.hasPrefix("<!DOCTYPE html>") && !html.contains("http") && !html.contains("<script"))
        for (name, sample) in [("worst-001.png", ranked[0]), ("worst-002.png", ranked[1]), ("best-001.png", ranked.last!)] {
            let figure = try #require(html.components(separatedBy: "<img src=\"\(name)\"").dropFirst().first, "\(name)")
            let caption = figure.components(separatedBy: "</figure>")[0]
            #expect(caption.contains(String(format: "IoU %.3f", sample.iou)) && caption.contains("“\(sample.sentence)”"),
                    "\(name): \(caption)")
            // Four panels of the 64×48 frame, 4 pixels apart; the prediction (orange) and the ground truth (blue)
            // cover exactly the masks' areas on the grey copies.
            let image = try ImageIO.read(path: vis + "/" + name)
            #expect(image.width == 4 * 64 + 3 * 4 && image.height == 48)
            var orange = 0, blue = 0
            for y in 0..<48 {
                for x in 0..<64 {
                    let p = image[68 + x, y], t = image[136 + x, y]
                    if Int(p.0) - Int(p.2) > 60 { orange += 1 }
                    if Int(t.2) - Int(t.0) > 60 { blue += 1 }
                }
            }
            #expect(orange == sample.predicted && blue == sample.truth, "\(name): \(orange) \(blue) \(sample)")
        }

        // A rerun with fewer pictures removes the ones it no longer writes.
        try runToolSucceeding(arguments + ["--worst", "1", "--best", "0"], in: folder)
        #expect(listing(vis) == ["index.html", "worst-001.png"])
    }
}
