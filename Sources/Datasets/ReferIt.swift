// ReferIt (Kazemzadeh et al., EMNLP 2014) as the original's build_batches.py reads it.
//
// Layout:
//   referit_query_{trainval,test}.json   {"<image id>_<region>": ["sentence", …], …}
//   images/<image id>.jpg
//   mask/<image id>_<region>.mat          `segimg_t` (MATLAB v5), mask = segimg_t == 0
// One sample per sentence, keys in file order. The query files are looked up in <root>, then
// <root>/data (the original keeps them in ./data). A key that is not <image id>_<region> keeps its sentences as
// samples whose mask load fails (evaluate counts them as failed); `check` reports the row and leaves them out.
import Evaluation
import Foundation
import JSON

/// The ReferIt reader.
public struct ReferIt: ReferringDataset {
    public let root: String
    public var splits: [String] { ["trainval", "test"] }

    public init(root: String) {
        self.root = root
    }

    public func queryPath(split: String) -> String {
        let name = "referit_query_\(split).json"
        let direct = joinPath(root, name)
        let nested = joinPath(root, "data", name)
        if !FileManager.default.fileExists(atPath: direct), FileManager.default.fileExists(atPath: nested) { return nested }
        return direct
    }

    public func samples(split: String) throws -> [ReferringSample] {
        let scan = try self.scan(split: split, strict: false)
        scan.warn()
        return scan.samples
    }

    public func check(split: String, options: CheckOptions) throws -> CheckReport {
        let scan = try self.scan(split: split, strict: options.strict)
        // Counted in the query files the original release ships (spyflying/CMPC-Refseg data/,
        // identical to /work/shared/data): trainval 59,976 sentences, 49,515 regions, 9,995 images;
        // test 60,105 sentences, 49,730 regions, 9,994 images.
        let source = "referit_query_\(split).json of the original release"
        let official: [String: [(name: String, value: Int, source: String)]] = [
            "trainval": [("samples", 59976, source), ("images", 9995, source), ("regions", 49515, source)],
            "test": [("samples", 60105, source), ("images", 9994, source), ("regions", 49730, source)],
        ]
        var report = try finishCheck(dataset: "referit", split: split, scan: scan, unitName: "images",
                                     official: official[split] ?? [], options: options)
        let fm = FileManager.default
        var seen = Set<String>()
        var scan2 = Scan()
        scan2.strict = options.strict
        for s in scan.samples where seen.insert(s.maskPath).inserted && !fm.fileExists(atPath: s.maskPath) {
            try scan2.missingFile(s.maskPath)
        }
        report.missing = Array(Set(report.missing + scan2.missing)).sorted()
        return report
    }

    func scan(split: String, strict: Bool) throws -> Scan {
        guard splits.contains(split) else { throw DatasetError.unknownSplit(split, known: splits) }
        var scan = Scan()
        scan.strict = strict
        let path = queryPath(split: split)
        let entries = try Self.queries(try readFile(path), file: path)
        scan.counts["regions"] = entries.count
        for (key, sentences) in entries {
            let maskPath = joinPath(root, "mask", "\(key).mat")
            guard let underscore = key.firstIndex(of: "_"), underscore != key.startIndex else {
                // Its sentences stay listed with a mask load that fails: evaluate counts them as failed instead of
                // leaving them out of the metrics unseen; `check` reports the row and does not count them.
                let reason = "key '\(key)' is not <image id>_<region>"
                scan.skippedRows.append("\(path): \(reason)")
                let problem = DatasetError.malformed(file: path, reason: reason)
                for (i, sentence) in sentences.enumerated() {
                    let id = "referit/\(key)/\(i)"
                    scan.unloadable.insert(id)
                    scan.samples.append(ReferringSample(
                        id: id, source: .image(path: joinPath(root, "images", "\(key).jpg")), sentence: sentence,
                        instance: key, maskPath: path, maskLoader: { throw problem }))
                }
                continue
            }
            let image = String(key[..<underscore])
            let imagePath = joinPath(root, "images", "\(image).jpg")
            for (i, sentence) in sentences.enumerated() {
                scan.samples.append(ReferringSample(
                    id: "referit/\(key)/\(i)", source: .image(path: imagePath), sentence: sentence, instance: key,
                    maskPath: maskPath, maskLoader: { try ReferIt.loadMask(path: maskPath) }))
            }
        }
        return scan
    }

    /// The mask of a region: `segimg_t == 0`, H×W.
    public static func loadMask(path: String) throws -> PixelMask {
        let a = try MATFile.read(path, variable: "segimg_t")
        guard a.dims.count == 2 else {
            throw DatasetError.malformed(file: path, reason: "segimg_t has dimensions \(a.dims), expected H×W")
        }
        let (h, w) = (a.dims[0], a.dims[1])
        var m = PixelMask(width: w, height: h)
        for x in 0..<w {
            for y in 0..<h where a.values[x * h + y] == 0 { m.pixels[y * w + x] = 1 }
        }
        return m
    }

    /// A query file, `{"<image id>_<region>": ["sentence", …], …}`, as (key, sentences) pairs in file order
    /// (the order defines the sample order).
    public static func queries(_ data: Data, file: String) throws -> [(String, [String])] {
        let root: JSONValue
        do { root = try JSONValue.parse(data, file: file) } catch let e as JSONError {
            throw DatasetError.malformed(file: file, reason: "JSON: \(e.reason)")
        }
        guard let members = root.members else {
            throw DatasetError.malformed(file: file, reason: "expected a JSON object at the top")
        }
        return try members.map { key, value in
            guard let items = value.array else {
                throw DatasetError.malformed(file: file, reason: "value of '\(key)' is not a list")
            }
            return (key, try items.map {
                guard let s = $0.string else {
                    throw DatasetError.malformed(file: file, reason: "a sentence of '\(key)' is not a string")
                }
                return s
            })
        }
    }
}
