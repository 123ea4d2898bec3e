// DatasetKind: the datasets this package reads, under the names the original's scripts give them
// (a2d, jhmdb, unc, unc+, gref, gref-umd, referit, ytvos, mevis, refdavis), with their long aliases, and the reader each name makes.
// `cmpc-video evaluate`, `datasets check` and `train` take these names for --dataset.
import Foundation

/// One referring-segmentation dataset, named as the original's scripts name it.
///
/// ```swift
/// let reader = try DatasetKind(name: "unc")!.reader(root: "refer/data")   // RefCOCO, unc splits
/// ```
public enum DatasetKind: String, CaseIterable, Sendable {
    /// A2D Sentences: clips320H mp4s, HDF5 masks.
    case a2d
    /// J-HMDB Sentences: frame folders, puppet_mask.mat.
    case jhmdb
    /// RefCOCO, UNC splits (train, val, testA, testB).
    case unc
    /// RefCOCO+, UNC splits.
    case uncPlus = "unc+"
    /// G-Ref (RefCOCOg), Google split (train, val).
    case gref
    /// G-Ref (RefCOCOg), UMD split (train, val, test).
    case grefUMD = "gref-umd"
    /// ReferIt (IAPR TC-12): referit_query_*.json, .mat masks.
    case referit
    /// Ref-YouTube-VOS: JPEG frame folders, palette-PNG annotations, meta_expressions.json.
    case ytvos
    /// MeViS: JPEG frame folders, mask_dict.json (COCO RLE per annotation and frame), meta_expressions.json.
    case mevis
    /// Ref-DAVIS17: the Ref-YouTube-VOS layout ReferFormer's converter writes, or DAVIS 2017 + davis_text_annotations.
    case refdavis

    /// Other accepted spellings of each name (matched case-insensitively, like the names).
    public static let aliases: [String: DatasetKind] = [
        "a2d-sentences": .a2d, "jhmdb-sentences": .jhmdb,
        "refcoco": .unc, "refcoco+": .uncPlus, "refcocog": .gref, "refcocog-umd": .grefUMD,
        "ref-youtube-vos": .ytvos, "refytvos": .ytvos, "ref-davis17": .refdavis, "ref-davis": .refdavis,
    ]

    /// The dataset a name or alias denotes (case-insensitive); nil for an unknown name.
    public init?(name: String) {
        let key = name.lowercased()
        guard let kind = DatasetKind(rawValue: key) ?? Self.aliases[key] else { return nil }
        self = kind
    }

    /// The dataset's name in the papers, e.g. "RefCOCO+ (UNC splits)".
    public var title: String {
        switch self {
        case .a2d: return "A2D Sentences"
        case .jhmdb: return "J-HMDB Sentences"
        case .unc: return "RefCOCO (UNC splits)"
        case .uncPlus: return "RefCOCO+ (UNC splits)"
        case .gref: return "G-Ref (Google split)"
        case .grefUMD: return "G-Ref (UMD split)"
        case .referit: return "ReferIt"
        case .ytvos: return "Ref-YouTube-VOS"
        case .mevis: return "MeViS"
        case .refdavis: return "Ref-DAVIS17 (ReferFormer's layout, or as released)"
        }
    }

    /// The REFER variant and split scheme of the RefCOCO family; nil for the other datasets.
    public var refer: (variant: RefCOCO.Variant, splitBy: String)? {
        switch self {
        case .unc: return (.refcoco, "unc")
        case .uncPlus: return (.refcocoPlus, "unc")
        case .gref: return (.refcocog, "google")
        case .grefUMD: return (.refcocog, "umd")
        case .a2d, .jhmdb, .referit, .ytvos, .mevis, .refdavis: return nil
        }
    }

    /// Whether the samples are frames of videos (A2D, J-HMDB, Ref-YouTube-VOS, MeViS, Ref-DAVIS17) rather than still images.
    public var isVideo: Bool { self == .a2d || self == .jhmdb || self == .ytvos || self == .mevis || self == .refdavis }

    /// The reader of the dataset under `root` (for the RefCOCO family: REFER's data folder).
    /// `images` is the folder of COCO_train2014_*.jpg for the RefCOCO family (nil: looked up under `root`);
    /// the other datasets have no such folder and reject it.
    public func reader(root: String, images: String? = nil) throws -> ReferringDataset {
        if let refer {
            return try RefCOCO(root: root, dataset: refer.variant, splitBy: refer.splitBy, imagesFolder: images)
        }
        if let images {
            throw DatasetError.invalidValue(file: images, what: "images folder",
                                            reason: "only the RefCOCO family (unc, unc+, gref, gref-umd) reads COCO "
                                                + "images from a separate folder; \(rawValue) keeps its frames under the root")
        }
        switch self {
        case .a2d: return A2DSentences(root: root)
        case .jhmdb: return JHMDBSentences(root: root)
        case .ytvos: return RefYouTubeVOS(root: root)
        case .mevis: return MeViS(root: root)
        case .refdavis: return RefYouTubeVOS.refDAVIS(root: root)
        default: return ReferIt(root: root)
        }
    }
}
