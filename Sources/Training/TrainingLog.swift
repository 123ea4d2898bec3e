// OUT/train.jsonl: one JSON line per training step, and one per evaluation of --eval-split, appended whole (a line is
// written whole or not at all, through Evaluation's LogWriter) and kept consistent with the checkpoint on resume.
//
// Format: JSON Lines, UTF-8, keys sorted, each line ending in "\n":
//   step line   {"accuracy": {"all", "negative", "positive"}, "loss": cls_loss, "losses": {"cost", "cls_loss", …},
//                "lr": learning rate of the step, "seconds": wall time of the step, "step": N}
//   eval line   {"eval": {"mean_iou", "overall_iou", "samples", "split"}, "step": N}
// A fresh run starts the file empty. A resumed run at checkpoint step S keeps the lines of steps ≤ S and drops the
// rest (steps run after the last checkpoint of a killed run, which the resumed run repeats) and a torn last line.
// Each checkpoint syncs the file and redraws OUT/curves.svg from it (TrainingCurves.swift).

import Evaluation
import FileOutput
import Foundation

/// One line of train.jsonl.
public struct TrainingLogLine: Codable, Equatable, Sendable {
    /// The step just applied (1-based), or the step an evaluation ran after.
    public var step: Int
    /// cls_loss (the final head's loss), as the progress line prints it.
    public var loss: Double?
    /// Every loss term under the original's names (cost, cls_loss_all, cls_loss, cls_loss_c3…c5, reg_loss).
    public var losses: [String: Double]?
    /// The learning rate of the step.
    public var lr: Double?
    /// Pixel accuracy of the step (all, positive, negative).
    public var accuracy: PixelAccuracy?
    /// Wall time of the step.
    public var seconds: Double?
    /// An evaluation of --eval-split after this step.
    public var eval: Evaluation?

    /// Overall and mean IoU of a split at the network's resolution (`quickEvaluate`).
    public struct Evaluation: Codable, Equatable, Sendable {
        public var split: String
        public var samples: Int
        public var overallIoU: Double
        public var meanIoU: Double

        enum CodingKeys: String, CodingKey {
            case split, samples, overallIoU = "overall_iou", meanIoU = "mean_iou"
        }

        public init(split: String, samples: Int, overallIoU: Double, meanIoU: Double) {
            self.split = split
            self.samples = samples
            self.overallIoU = overallIoU
            self.meanIoU = meanIoU
        }
    }

    /// The line of a step.
    public init(_ report: StepReport, seconds: Double) {
        step = report.step
        loss = Self.decimal(report.terms.clsLoss)
        losses = Dictionary(uniqueKeysWithValues: report.terms.named.map { ($0.0, Self.decimal($0.1)) })
        lr = Self.decimal(report.learningRate)
        accuracy = report.accuracy
        self.seconds = seconds
    }

    /// A Float as the Double of its shortest decimal form (0.001, not 0.0010000000474974513).
    static func decimal(_ value: Float) -> Double { Double(value.description) ?? Double(value) }

    /// The line of an evaluation after `step`.
    public init(step: Int, eval: Evaluation) {
        self.step = step
        self.eval = eval
    }
}

/// OUT/train.jsonl being appended to, with the lines so far (for the curves).
public final class TrainingLog {
    /// OUT/train.jsonl.
    public let url: URL
    /// OUT/curves.svg.
    public let curvesURL: URL
    /// The lines in the file, in order.
    public private(set) var lines: [TrainingLogLine] = []
    private let writer: LogWriter
    private let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return e
    }()

    /// Opens `folder`/train.jsonl: emptied for a fresh run (`resumingAt` nil); for a run resumed at checkpoint step
    /// S, the lines of steps ≤ S are kept and the rest dropped (atomically). `syncEvery` lines reach the disk
    /// together (and at each `checkpointed()`).
    public init(folder: URL, resumingAt step: Int?, syncEvery: Int = 50) throws {
        url = folder.appendingPathComponent("train.jsonl")
        curvesURL = folder.appendingPathComponent("curves.svg")
        if let step {
            let contents = FileManager.default.fileExists(atPath: url.path) ? try Data(contentsOf: url) : Data()
            // The bytes after the last "\n" are a torn line (or nothing): dropped.
            let end = (contents.lastIndex(of: UInt8(ascii: "\n")) ?? contents.startIndex - 1) + 1
            var kept = Data()
            let decoder = JSONDecoder()
            for (number, raw) in contents[..<end].split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
                .enumerated() where !raw.isEmpty {
                let line: TrainingLogLine
                do { line = try decoder.decode(TrainingLogLine.self, from: Data(raw)) } catch {
                    throw TrainingError("\(url.path):\(number + 1): not a train.jsonl line (\(error)); move the file "
                                        + "away to start a new one")
                }
                guard line.step <= step else { continue }
                lines.append(line)
                kept.append(contentsOf: raw)
                kept.append(UInt8(ascii: "\n"))
            }
            if kept != contents { try AtomicFile.write(kept, to: url.path) }
        } else {
            try AtomicFile.write(Data(), to: url.path)
        }
        writer = try LogWriter(url: url, syncEvery: syncEvery)
    }

    /// Appends a line (whole or not at all).
    public func append(_ line: TrainingLogLine) throws {
        let data = try encoder.encode(line)
        try writer.write(String(decoding: data, as: UTF8.self) + "\n")
        lines.append(line)
    }

    /// At a checkpoint: the lines reach the disk and curves.svg is redrawn (atomically).
    public func checkpointed() throws {
        try writer.sync()
        try AtomicFile.write(Array(TrainingCurves(lines: lines).svg().utf8), to: curvesURL.path)
    }

    /// Syncs and closes the file.
    public func close() throws { try writer.close() }
}
