// `cmpc-video datasets …`: look at dataset folders without preprocessing them.
import ArgumentParser
import Datasets
import Foundation

struct DatasetsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "datasets",
        abstract: "Inspect referring-segmentation datasets (A2D Sentences, J-HMDB Sentences, RefCOCO, RefCOCO+, G-Ref, ReferIt, Ref-YouTube-VOS, MeViS, Ref-DAVIS17).",
        subcommands: [DatasetsCheck.self])
}

struct DatasetsCheck: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Count samples, list missing or unreadable files, compare with the official counts.",
        discussion: """
            Without --split every split of the dataset is checked. With --json each split prints one object
            {"samples", "videos"|"images", "missing", "unreadable", "skipped_rows", "official", …}.
            The exit status is 0 unless --strict meets a missing or unreadable file (or an index file is unusable).
            """)

    @Option(name: .long, help: "The dataset.")
    var dataset: DatasetKind

    @Option(name: .long, help: "The dataset folder (for RefCOCO-family: REFER's data folder).")
    var root: String

    @Option(name: .long, help: "One split (default: all).")
    var split: String?

    @Flag(name: .long, help: "Print JSON (one object per split).")
    var json = false

    @Flag(name: .long, help: "Stop at the first missing or unreadable file.")
    var strict = false

    @Flag(name: .long, help: "Also load every sample's mask (slow on full datasets).")
    var verifyMasks = false

    @Option(name: .long, help: "RefCOCO family: folder of COCO_train2014_*.jpg (default: looked up under --root).")
    var images: String?

    func run() throws {
        let reader = try dataset.reader(root: root, images: images)
        let splits = split.map { [$0] } ?? reader.splits
        for s in splits {
            let report = try reader.check(split: s, options: CheckOptions(strict: strict, verifyMasks: verifyMasks))
            print(json ? report.json() : report.text())
        }
    }
}
