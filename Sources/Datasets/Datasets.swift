// Datasets: readers for the referring-segmentation datasets CMPC is trained and evaluated on.
//
// A reader turns a dataset folder into `ReferringSample`s: where the frame or image is, which
// sentence refers to which instance, and a closure that loads the ground-truth mask. Pixels are
// decoded later (Video module); nothing here preprocesses or caches.
//
//   A2DSentences    videos (Release/clips320H/<vid>.mp4), masks in HDF5 (libhdf5)
//   JHMDBSentences  frame folders (Rename_Images/…/%05d.png), masks in MATLAB v5 .mat
//   RefCOCO         RefCOCO / RefCOCO+ / G-Ref: REFER pickles + COCO instances.json
//   ReferIt         referit_query_*.json, masks in MATLAB v5 .mat
import Evaluation
import Foundation

/// Where the pixels of a sample come from. Frame indices are 1-based, as the datasets number them.
public enum SampleSource: Equatable, Sendable {
    /// Frame `frame` (1-based: the `frame`-th decoded frame) of a video file; `frameCount` when known.
    case video(path: String, frame: Int, frameCount: Int?)
    /// Frame `frame` of a folder of numbered images `%05d.png`; `frameCount` images are usable.
    case frames(directory: String, frame: Int, frameCount: Int)
    /// A still image.
    case image(path: String)

    /// The file holding the target frame or image.
    public var path: String {
        switch self {
        case .video(let path, _, _): return path
        case .frames(let directory, let frame, _): return Self.framePath(directory: directory, frame: frame)
        case .image(let path): return path
        }
    }

    /// The video file, frame folder or image the pixels come from (what a decoder opens).
    public var media: String {
        switch self {
        case let .video(path, _, _), let .frames(path, _, _), let .image(path): return path
        }
    }

    /// The target frame (1-based; 1 for a still image).
    public var frame: Int {
        switch self {
        case let .video(_, frame, _), let .frames(_, frame, _): return frame
        case .image: return 1
        }
    }

    /// The path of frame `frame` (1-based) in a `%05d.png` frame folder.
    public static func framePath(directory: String, frame: Int) -> String {
        (directory as NSString).appendingPathComponent(String(format: "%05d.png", frame))
    }
}

/// One (sentence, frame or image, referred instance) triple with a loader for its ground-truth mask.
public struct ReferringSample: Sendable {
    /// A stable identifier, e.g. `a2d/<vid>/<frame>/<instance>/<sentence index>`.
    public var id: String
    public var source: SampleSource
    /// The referring expression as the dataset stores it (not tokenised).
    public var sentence: String
    /// The referred instance: A2D instance id, COCO annotation id, ReferIt mask key, J-HMDB video id.
    public var instance: String
    /// The file the mask comes from (for error messages and `check`).
    public var maskPath: String
    /// Loads the ground-truth mask at the frame's original resolution.
    public var maskLoader: @Sendable () throws -> PixelMask

    public init(id: String, source: SampleSource, sentence: String, instance: String, maskPath: String,
                maskLoader: @escaping @Sendable () throws -> PixelMask) {
        self.id = id
        self.source = source
        self.sentence = sentence
        self.instance = instance
        self.maskPath = maskPath
        self.maskLoader = maskLoader
    }

    /// Loads the mask; when the decoded frame's size is given, a mask of another size is an error.
    public func loadMask(frameWidth: Int? = nil, frameHeight: Int? = nil) throws -> PixelMask {
        let mask = try maskLoader()
        if let w = frameWidth, let h = frameHeight, (mask.width, mask.height) != (w, h) {
            throw DatasetError.sizeMismatch(
                file: maskPath, reason: "mask is \(mask.height)×\(mask.width) (H×W), frame is \(h)×\(w)")
        }
        return mask
    }
}

/// A dataset that lists its samples per split and can audit itself.
public protocol ReferringDataset {
    /// The split names the dataset knows (e.g. ["train", "test"]).
    var splits: [String] { get }
    /// All samples of a split, in the order the original preprocessing visits them.
    func samples(split: String) throws -> [ReferringSample]
    /// Counts samples, lists missing or unreadable files and compares with the official counts.
    func check(split: String, options: CheckOptions) throws -> CheckReport
}

/// Errors of the dataset readers. Every case names the file (or value) at fault.
public enum DatasetError: Error, Equatable, CustomStringConvertible {
    case missingFile(String)
    case unreadable(file: String, reason: String)
    case unwritable(file: String, reason: String)
    case malformed(file: String, reason: String)
    case unsupported(file: String, reason: String)
    case forbiddenOpcode(file: String, opcode: String, offset: Int)
    case sizeMismatch(file: String, reason: String)
    case invalidValue(file: String, what: String, reason: String)
    case unknownSplit(String, known: [String])
    case unknownDataset(String)

    public var description: String {
        switch self {
        case .missingFile(let f): return "\(f): file not found"
        case .unreadable(let f, let r): return "\(f): cannot read: \(r)"
        case .unwritable(let f, let r): return "\(f): cannot write: \(r)"
        case .malformed(let f, let r): return "\(f): malformed: \(r)"
        case .unsupported(let f, let r): return "\(f): unsupported: \(r)"
        case .forbiddenOpcode(let f, let op, let off):
            return "\(f): pickle opcode \(op) at byte \(off) is not allowed (only dicts, lists, tuples, strings and numbers)"
        case .sizeMismatch(let f, let r): return "\(f): size mismatch: \(r)"
        case .invalidValue(let f, let w, let r): return f.isEmpty ? "\(w): \(r)" : "\(f): \(w): \(r)"
        case .unknownSplit(let s, let known): return "unknown split '\(s)' (known: \(known.joined(separator: ", ")))"
        case .unknownDataset(let d): return "unknown dataset '\(d)'"
        }
    }
}

extension DatasetError: LocalizedError {
    public var errorDescription: String? { description }
}

/// Reads a whole file, turning a missing file into `DatasetError.missingFile`.
func readFile(_ path: String) throws -> Data {
    guard FileManager.default.fileExists(atPath: path) else { throw DatasetError.missingFile(path) }
    do {
        return try Data(contentsOf: URL(fileURLWithPath: path), options: .mappedIfSafe)
    } catch {
        throw DatasetError.unreadable(file: path, reason: error.localizedDescription)
    }
}

/// `a/b/c` from path components.
func joinPath(_ parts: String...) -> String {
    parts.dropFirst().reduce(parts.first ?? "") { ($0 as NSString).appendingPathComponent($1) }
}

