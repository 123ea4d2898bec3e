// RefCOCO, RefCOCO+ (Yu et al., ECCV 2016; splitBy unc) and G-Ref / RefCOCOg (Mao et al., CVPR
// 2016; splitBy google or umd) as the original's build_batches.py reads them through the REFER API.
//
// Layout (REFER's data folder; images looked up in the first folder that exists, see `imageDirectory`):
//   <root>/<refcoco|refcoco+|refcocog>/refs(<splitBy>).p   Python pickle: a list of dicts
//        {ref_id, ann_id, image_id, split, sentences: [{tokens, raw, sent_id, sent}], category_id,
//         file_name, sent_ids}
//   <root>/<dataset>/instances.json                        COCO images and annotations
//   <images>/COCO_train2014_%012d.jpg
// Samples: refs of the split in pickle order, then each ref's sentences in order (the `sent`
// field); the mask is the ref's annotation segmentation decoded like pycocotools
// `np.max(decode(frPyObjects(seg, h, w)), axis=2)`. A ref whose annotation is missing or cannot be decoded
// keeps its sentences as samples whose mask load fails (evaluate counts them as failed); `check` leaves them out.
import Evaluation
import Foundation

/// The RefCOCO / RefCOCO+ / G-Ref reader.
public struct RefCOCO: ReferringDataset {
    /// Which REFER dataset.
    public enum Variant: String, Sendable, CaseIterable {
        case refcoco, refcocoPlus = "refcoco+", refcocog
    }

    public let root: String
    public let variant: Variant
    public let splitBy: String
    public var maskDecoder: COCOMaskDecoding
    /// Folder of COCO_train2014_*.jpg; nil picks the first existing of the usual places.
    public var imagesFolder: String?

    /// `RefCOCO(root:, dataset: .refcoco, splitBy: "unc")`; splitBy is unc for RefCOCO/RefCOCO+,
    /// google or umd for G-Ref.
    public init(root: String, dataset: Variant, splitBy: String, maskDecoder: COCOMaskDecoding = defaultCOCOMaskDecoder,
                imagesFolder: String? = nil) throws {
        let allowed: [Variant: [String]] = [.refcoco: ["unc", "google"], .refcocoPlus: ["unc"], .refcocog: ["google", "umd"]]
        guard allowed[dataset]?.contains(splitBy) == true else {
            throw DatasetError.unknownDataset("\(dataset.rawValue) split by '\(splitBy)'")
        }
        self.root = root
        self.variant = dataset
        self.splitBy = splitBy
        self.maskDecoder = maskDecoder
        self.imagesFolder = imagesFolder
    }

    /// The original's dataset names: "unc" (RefCOCO), "unc+" (RefCOCO+), "gref" (G-Ref, google) and
    /// "gref-umd" (G-Ref, umd), or their `DatasetKind.aliases` (refcoco, refcoco+, refcocog, refcocog-umd).
    public init(root: String, name: String, maskDecoder: COCOMaskDecoding = defaultCOCOMaskDecoder,
                imagesFolder: String? = nil) throws {
        guard let refer = DatasetKind(name: name)?.refer else {
            throw DatasetError.unknownDataset("\(name) (the RefCOCO family is unc, unc+, gref, gref-umd)")
        }
        try self.init(root: root, dataset: refer.variant, splitBy: refer.splitBy, maskDecoder: maskDecoder,
                      imagesFolder: imagesFolder)
    }

    public var splits: [String] {
        switch splitBy {
        case "unc": return ["train", "val", "testA", "testB"]
        case "umd": return ["train", "val", "test"]
        default: return variant == .refcocog ? ["train", "val"] : ["train", "val", "test"]
        }
    }

    public var refsPath: String { joinPath(root, variant.rawValue, "refs(\(splitBy)).p") }
    public var instancesPath: String { joinPath(root, variant.rawValue, "instances.json") }

    /// The folder holding COCO_train2014_*.jpg.
    public var imageDirectory: String {
        if let f = imagesFolder { return f }
        let candidates = [joinPath(root, "images", "mscoco", "images", "train2014"), joinPath(root, "images", "train2014"),
                          joinPath(root, "train2014"), joinPath(root, "coco", "images", "train2014")]
        return candidates.first { FileManager.default.fileExists(atPath: $0) } ?? candidates[1]
    }

    /// The image file of a COCO train2014 image id.
    public func imagePath(imageID: Int) -> String {
        joinPath(imageDirectory, String(format: "COCO_train2014_%012d.jpg", imageID))
    }

    public func samples(split: String) throws -> [ReferringSample] {
        let scan = try self.scan(split: split, strict: false)
        scan.warn()
        return scan.samples
    }

    public func check(split: String, options: CheckOptions) throws -> CheckReport {
        let scan = try self.scan(split: split, strict: options.strict)
        let name = "\(variant.rawValue)(\(splitBy))"
        var official: [(name: String, value: Int, source: String)] = []
        if let o = RefCOCO.officialCounts["\(name) \(split)"] {
            official = [("samples", o.sentences, o.source), ("refs", o.refs, o.source)]
        }
        return try finishCheck(dataset: name, split: split, scan: scan, unitName: "images", official: official,
                               options: options)
    }

    /// Sentences and refs per split as the REFER releases count them.
    /// RefCOCO unc sentences: 120,624 / 10,834 / 5,657 / 5,095 (FlagEval's RefCOCO page, from the refs(unc).p
    /// release); refs per split: TensorFlow Datasets' ref_coco catalog (refcoco unc train 42,404, val 3,811)
    /// and the tables of Yu et al. 2016 (RefCOCO, RefCOCO+) and Nagaraja et al. 2016 (umd). Per-split numbers
    /// add up to the published totals: RefCOCO 142,210 sentences / 50,000 refs, RefCOCO+ 141,564 / 49,856,
    /// RefCOCOg 95,010 / 49,822 under both google and umd splits.
    static let officialCounts: [String: (sentences: Int, refs: Int, source: String)] = {
        let yu = "Yu et al. ECCV 2016 / REFER release (refs(unc).p); TFDS ref_coco catalog"
        let umd = "Nagaraja et al. ECCV 2016 / REFER release (refs(umd).p)"
        let google = "Mao et al. CVPR 2016 / REFER release (refs(google).p)"
        return [
            "refcoco(unc) train": (120624, 42404, yu), "refcoco(unc) val": (10834, 3811, yu),
            "refcoco(unc) testA": (5657, 1975, yu), "refcoco(unc) testB": (5095, 1810, yu),
            "refcoco+(unc) train": (120191, 42278, yu), "refcoco+(unc) val": (10758, 3805, yu),
            "refcoco+(unc) testA": (5726, 1975, yu), "refcoco+(unc) testB": (4889, 1798, yu),
            "refcocog(google) train": (85474, 44822, google), "refcocog(google) val": (9536, 5000, google),
            "refcocog(umd) train": (80512, 42226, umd), "refcocog(umd) val": (4896, 2573, umd),
            "refcocog(umd) test": (9602, 5023, umd),
        ]
    }()

    /// One ref of the pickle, checked.
    struct Ref {
        var refID: Int
        var annID: Int
        var imageID: Int
        var sentences: [(id: Int, text: String)]
    }

    /// Reads the refs of one split from the pickle (malformed entries are reported, not fatal).
    func readRefs(split: String, _ scan: inout Scan) throws -> [Ref] {
        let value = try Pickle.load(refsPath)
        guard let list = value.arrayValue else {
            throw DatasetError.malformed(file: refsPath, reason: "expected a list of refs at the top")
        }
        var refs: [Ref] = []
        var counts: [String: Int] = [:]
        for (i, item) in list.enumerated() {
            guard let s = item["split"]?.stringValue else {
                scan.skippedRows.append("\(refsPath): ref #\(i) has no 'split'")
                continue
            }
            counts[s, default: 0] += 1
            guard s == split else { continue }
            guard let refID = item["ref_id"]?.intValue, let annID = item["ann_id"]?.intValue,
                  let imageID = item["image_id"]?.intValue, let sents = item["sentences"]?.arrayValue else {
                scan.skippedRows.append("\(refsPath): ref #\(i) lacks ref_id, ann_id, image_id or sentences")
                continue
            }
            var sentences: [(Int, String)] = []
            for (k, sent) in sents.enumerated() {
                guard let text = sent["sent"]?.stringValue else {
                    scan.skippedRows.append("\(refsPath): ref \(refID) sentence #\(k) has no 'sent'")
                    continue
                }
                sentences.append((sent["sent_id"]?.intValue ?? k, text))
            }
            refs.append(Ref(refID: refID, annID: annID, imageID: imageID, sentences: sentences))
        }
        if counts[split] == nil {
            throw DatasetError.unknownSplit(split, known: counts.keys.sorted())
        }
        return refs
    }

    func scan(split: String, strict: Bool) throws -> Scan {
        guard splits.contains(split) else { throw DatasetError.unknownSplit(split, known: splits) }
        var scan = Scan()
        scan.strict = strict
        let refs = try readRefs(split: split, &scan)
        scan.counts["refs"] = refs.count
        let instances = try COCOInstances(path: instancesPath)
        let file = instancesPath
        let decoder = maskDecoder
        for ref in refs {
            // A ref whose annotation cannot be used stays listed, with a mask loader that throws the problem: evaluate
            // logs its sentences as failed (or stops with --strict) instead of leaving them out of the metrics unseen;
            // `check` reports the problem and does not count them as samples.
            var problem: DatasetError?
            var decode: (@Sendable () throws -> PixelMask)?
            if let ann = instances.annotations[ref.annID] {
                if let image = instances.images[ann.imageID] {
                    do {
                        let segmentation = try COCOSegmentation(json: ann.segmentation, file: file, annotation: ann.id)
                        let annID = ann.id
                        decode = {
                            try RefCOCO.decodeMask(segmentation, image: image, annotation: annID, file: file, decoder: decoder)
                        }
                    } catch {
                        try scan.failed(file, error)
                        problem = error as? DatasetError ?? .malformed(file: file, reason: "annotation \(ann.id): \(error)")
                    }
                } else {
                    problem = .malformed(file: file, reason: "annotation \(ann.id): image \(ann.imageID) is not in instances.json")
                    scan.skippedRows.append("\(file): annotation \(ann.id): image \(ann.imageID) is not in instances.json")
                }
            } else {
                problem = .malformed(file: file, reason: "ref \(ref.refID): annotation \(ref.annID) is not in instances.json")
                scan.skippedRows.append("\(refsPath): ref \(ref.refID): annotation \(ref.annID) is not in instances.json")
            }
            let failure = problem ?? .malformed(file: file, reason: "annotation \(ref.annID): no mask")
            let load: @Sendable () throws -> PixelMask = decode ?? { throw failure }
            let imagePath = self.imagePath(imageID: ref.imageID)
            for sentence in ref.sentences {
                let id = "\(variant.rawValue)/\(splitBy)/\(ref.refID)/\(sentence.id)"
                if decode == nil { scan.unloadable.insert(id) }
                scan.samples.append(ReferringSample(
                    id: id, source: .image(path: imagePath), sentence: sentence.text, instance: String(ref.annID),
                    maskPath: file, maskLoader: load))
            }
        }
        return scan
    }

    /// Decodes a segmentation for an image, checking RLE sizes against the image.
    static func decodeMask(_ segmentation: COCOSegmentation, image: COCOImage, annotation: Int, file: String,
                           decoder: COCOMaskDecoding) throws -> PixelMask {
        let sizes: [(Int, Int)]
        switch segmentation {
        case .uncompressedRLE(let rles): sizes = rles.map { ($0.height, $0.width) }
        case .compressedRLE(_, let h, let w): sizes = [(h, w)]
        default: sizes = []
        }
        for (h, w) in sizes where (h, w) != (image.height, image.width) {
            throw DatasetError.sizeMismatch(
                file: file, reason: "annotation \(annotation): RLE is \(h)×\(w), image \(image.id) is \(image.height)×\(image.width)")
        }
        let mask = try decoder.mask(segmentation, height: image.height, width: image.width)
        guard mask.width == image.width, mask.height == image.height else {
            throw DatasetError.sizeMismatch(
                file: file, reason: "annotation \(annotation): decoded mask is \(mask.height)×\(mask.width), image is \(image.height)×\(image.width)")
        }
        return mask
    }
}
