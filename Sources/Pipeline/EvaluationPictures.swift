// `evaluate --vis DIR`: pictures of the worst and best evaluated samples of a log, and an index.html that shows them
// (plain HTML, no script, nothing fetched from elsewhere). Each picture is four panels of the sample's frame at its
// own size, 4 pixels apart: the frame itself, then on its dimmed grey copy the prediction (orange), the ground truth
// (blue), and where they agree or not (green: both; red: predicted only; blue: missed). The sentence, the IoU and the sample's place are in the HTML, not in the pixels.
//
// Files: DIR/worst-001.png …, DIR/best-001.png …, DIR/index.html, each written atomically; pictures of this naming
// that an earlier, longer run left and this one does not write are removed.

import Datasets
import Evaluation
import FileOutput
import Foundation
import Video

/// One picture of the page: a logged sample and its rank.
public struct PictureEntry: Sendable {
    /// "worst" or "best".
    public var group: String
    /// 1-based rank within its group.
    public var rank: Int
    public var record: LogRecord
    /// I / U of the (plain) prediction.
    public var iou: Double

    /// The picture's file name, e.g. "worst-001.png".
    public var fileName: String { String(format: "%@-%03d.png", group, rank) }
}

/// Writes the pictures and index.html of chosen samples of an evaluation log.
public struct EvaluationPictures {
    /// The folder (created when missing).
    public var folder: String
    /// A line for the page's heading (dataset, split, checkpoint, the metrics).
    public var title: String

    public init(folder: String, title: String) {
        self.folder = folder
        self.title = title
    }

    /// The `worst` lowest-IoU and `best` highest-IoU evaluated records (ties by index); a record is in one group only.
    public static func choose(_ records: [LogRecord], worst: Int, best: Int) -> [PictureEntry] {
        let scored: [(LogRecord, Double)] = records.compactMap { record in
            guard case .evaluated(let r, _) = record.outcome, r.prediction != nil, r.groundTruth != nil else { return nil }
            return (record, r.union > 0 ? Double(r.intersection) / Double(r.union) : 1)
        }
        let ascending = scored.sorted { ($0.1, $0.0.info.index) < ($1.1, $1.0.info.index) }
        let low = Array(ascending.prefix(max(0, worst)))
        let taken = Set(low.map(\.0.info.index))
        let high = ascending.reversed().filter { !taken.contains($0.0.info.index) }.prefix(max(0, best))
        return low.enumerated().map { PictureEntry(group: "worst", rank: $0.offset + 1, record: $0.element.0, iou: $0.element.1) }
            + high.enumerated().map { PictureEntry(group: "best", rank: $0.offset + 1, record: $0.element.0, iou: $0.element.1) }
    }

    /// Writes each entry's picture (its frame read from `sources[id]`) and index.html; returns index.html's path.
    /// A sample whose frame cannot be read is listed on the page with the reason instead of a picture.
    @discardableResult
    public func write(_ entries: [PictureEntry], sources: [String: SampleSource]) throws -> String {
        do { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) } catch {
            throw PipelineError("--vis \(folder): cannot create the folder: \(plainReason(error)); choose a writable place")
        }
        var problems: [String: String] = [:]
        var media: SampleMedia?
        for entry in entries {
            do {
                guard let source = sources[entry.record.id] else {
                    throw PipelineError("sample \(entry.record.id) is not in the dataset split")
                }
                if media?.path != source.media { media = try SampleMedia(source) }
                let frame = try media!.frame(source.frame)
                try ImageIO.writePNG(try Self.picture(frame: frame, record: entry.record),
                                     to: (folder as NSString).appendingPathComponent(entry.fileName))
            } catch {
                problems[entry.fileName] = "\(error)"
            }
        }
        let written = Set(entries.map(\.fileName)).subtracting(problems.keys)
        for name in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        where Self.isPictureName(name) && !written.contains(name) {
            try? FileManager.default.removeItem(atPath: (folder as NSString).appendingPathComponent(name))
        }
        let index = (folder as NSString).appendingPathComponent("index.html")
        do { try AtomicFile.write(Array(html(entries, problems: problems).utf8), to: index) } catch {
            throw PipelineError("--vis \(folder): cannot write index.html: \(plainReason(error))")
        }
        return index
    }

    /// "worst-NNN.png" or "best-NNN.png": the names this writer gives.
    static func isPictureName(_ name: String) -> Bool {
        for group in ["worst-", "best-"] where name.hasPrefix(group) && name.hasSuffix(".png") {
            let digits = name.dropFirst(group.count).dropLast(4)
            return !digits.isEmpty && digits.allSatisfy(\.isNumber)
        }
        return false
    }

    static let predictionColor: (Double, Double, Double) = (255, 140, 0)
    static let truthColor: (Double, Double, Double) = (30, 144, 255)

    /// Pixels between two panels (white).
    static let gap = 4

    /// The four panels side by side: the frame, the prediction, the ground truth, their agreement.
    static func picture(frame: RGBImage, record: LogRecord) throws -> RGBImage {
        guard case .evaluated(let r, _) = record.outcome, let p = r.prediction, let g = r.groundTruth else {
            throw PipelineError("sample \(record.id) has no masks in the log")
        }
        let (w, h) = (frame.width, frame.height)
        guard p.width == w, p.height == h, g.width == w, g.height == h else {
            throw PipelineError("sample \(record.id): the masks are \(g.height)×\(g.width), the frame \(h)×\(w)")
        }
        let prediction = p.decode(), truth = g.decode()
        let stride = w + gap
        var out = RGBImage(width: 4 * w + 3 * gap, height: h, fill: (255, 255, 255))
        let outline = { (mask: [UInt8], x: Int, y: Int) -> Bool in
            guard mask[y * w + x] != 0 else { return false }
            return x == 0 || y == 0 || x == w - 1 || y == h - 1 || mask[y * w + x - 1] == 0 || mask[y * w + x + 1] == 0
                || mask[(y - 1) * w + x] == 0 || mask[(y + 1) * w + x] == 0
        }
        for y in 0..<h {
            for x in 0..<w {
                let i = y * w + x
                let source = (Double(frame.pixels[3 * i]), Double(frame.pixels[3 * i + 1]), Double(frame.pixels[3 * i + 2]))
                let grey = 0.6 * (0.299 * source.0 + 0.587 * source.1 + 0.114 * source.2)   // dimmed, so colours show
                let base = (grey, grey, grey)
                let panels: [(Double, Double, Double)] = [
                    source,
                    shade(base, mask: prediction[i], outline: outline(prediction, x, y), color: predictionColor),
                    shade(base, mask: truth[i], outline: outline(truth, x, y), color: truthColor),
                    agreement(base, prediction: prediction[i] != 0, truth: truth[i] != 0),
                ]
                for (k, c) in panels.enumerated() {
                    let o = 3 * (y * out.width + k * stride + x)
                    out.pixels[o] = UInt8(min(255, max(0, c.0.rounded())))
                    out.pixels[o + 1] = UInt8(min(255, max(0, c.1.rounded())))
                    out.pixels[o + 2] = UInt8(min(255, max(0, c.2.rounded())))
                }
            }
        }
        return out
    }

    static func shade(_ base: (Double, Double, Double), mask: UInt8, outline: Bool,
                      color: (Double, Double, Double)) -> (Double, Double, Double) {
        if outline { return color }
        guard mask != 0 else { return base }
        return (0.45 * base.0 + 0.55 * color.0, 0.45 * base.1 + 0.55 * color.1, 0.45 * base.2 + 0.55 * color.2)
    }

    static func agreement(_ base: (Double, Double, Double), prediction: Bool, truth: Bool) -> (Double, Double, Double) {
        let color: (Double, Double, Double)
        switch (prediction, truth) {
        case (true, true): color = (40, 200, 60)
        case (true, false): color = (230, 30, 30)
        case (false, true): color = (30, 90, 255)
        case (false, false): return base
        }
        return (0.3 * base.0 + 0.7 * color.0, 0.3 * base.1 + 0.7 * color.1, 0.3 * base.2 + 0.7 * color.2)
    }

    /// The page: the heading, a key to the colours, then the worst and the best samples as figures.
    func html(_ entries: [PictureEntry], problems: [String: String]) -> String {
        var page = """
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <title>\(escaped(title))</title>
            <style>
            body { font-family: sans-serif; margin: 1.5em; color: #222; }
            figure { display: inline-block; vertical-align: top; margin: 0 1em 1.5em 0; max-width: 100%; }
            img { max-width: 100%; image-rendering: pixelated; border: 1px solid #ccc; }
            figcaption { max-width: 48em; }
            .iou { font-weight: bold; }
            .place { color: #666; font-size: 90%; }
            .key span { display: inline-block; width: 1em; height: 1em; vertical-align: middle; margin: 0 0.3em 0 1em; }
            </style>
            </head>
            <body>
            <h1>\(escaped(title))</h1>
            <p class="key">Each picture, left to right: the frame, the prediction<span style="background:#ff8c00"></span>, the \
            ground truth<span style="background:#1e90ff"></span>, and where they agree: both<span \
            style="background:#28c83c"></span> predicted only<span style="background:#e61e1e"></span> \
            missed<span style="background:#1e5aff"></span></p>

            """
        for group in ["worst", "best"] {
            let chosen = entries.filter { $0.group == group }
            guard !chosen.isEmpty else { continue }
            page += "<h2>The \(chosen.count) \(group == "worst" ? "lowest" : "highest") IoU</h2>\n"
            for e in chosen {
                let info = e.record.info
                var place = info.id
                if let video = info.video { place += " · video \(video)" + (info.frame.map { ", frame \($0)" } ?? "") }
                if let image = info.image { place += " · image \(image)" }
                page += "<figure>\n"
                if let problem = problems[e.fileName] {
                    page += "<p>(no picture: \(escaped(problem)))</p>\n"
                } else {
                    page += "<img src=\"\(e.fileName)\" alt=\"\(escaped(info.sentence))\" loading=\"lazy\">\n"
                }
                page += "<figcaption><span class=\"iou\">IoU \(String(format: "%.3f", e.iou))</span> "
                    + "“\(escaped(info.sentence))”<br><span class=\"place\">\(escaped(place))</span></figcaption>\n"
                    + "</figure>\n"
            }
        }
        if entries.isEmpty { page += "<p>No evaluated sample with masks in the log.</p>\n" }
        return page + "</body>\n</html>\n"
    }

    func escaped(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
