// COCO instances.json (the copy REFER ships next to refs(<splitBy>).p): images and annotations.
//
// Format (cocodataset.org/#format-data): {"images": [{id, width, height, file_name}, …],
// "annotations": [{id, image_id, category_id, iscrowd, bbox, segmentation}, …], …}.
// `segmentation` is a list of polygons [[x1, y1, x2, y2, …], …], or an RLE {"size": [h, w],
// "counts": [run lengths] (uncompressed) or "string" (compressed)}. `COCOSegmentation.init(json:)`
// sorts these exactly as pycocotools' `frPyObjects` dispatches them; what it rejects
// (a first polygon of 4 numbers goes to frBbox and fails) is an error here too.
import Evaluation
import Foundation

/// An uncompressed COCO RLE: column-major run lengths, starting with a run of zeros.
public struct COCOUncompressedRLE: Equatable, Sendable {
    public var height: Int
    public var width: Int
    public var counts: [Int]
}

/// A COCO segmentation in the form pycocotools' `frPyObjects` receives it.
public enum COCOSegmentation: Equatable, Sendable {
    /// Polygons [x1, y1, x2, y2, …] in pixel coordinates; the mask is their union.
    case polygons([[Double]])
    /// Uncompressed RLEs (each with its own size); the mask is their union.
    case uncompressedRLE([COCOUncompressedRLE])
    /// A compressed RLE string (crowd annotations), as COCO's `annToRLE` passes it through.
    case compressedRLE(counts: String, height: Int, width: Int)

    /// Sorts a JSON `segmentation` value the way `frPyObjects(seg, h, w)` does.
    public init(json: Any, file: String, annotation: Int) throws {
        func bad(_ reason: String) -> DatasetError {
            .malformed(file: file, reason: "annotation \(annotation): segmentation \(reason)")
        }
        func numbers(_ v: Any) throws -> [Double] {
            guard let a = v as? [Any] else { throw bad("has a polygon that is not a list") }
            return try a.map {
                guard let n = $0 as? NSNumber else { throw bad("has a non-numeric coordinate") }
                return n.doubleValue
            }
        }
        func rle(_ d: [String: Any]) throws -> (counts: Any, h: Int, w: Int) {
            guard let size = d["size"] as? [Any], size.count == 2,
                  let h = (size[0] as? NSNumber)?.intValue, let w = (size[1] as? NSNumber)?.intValue,
                  h >= 0, w >= 0, h <= 1 << 16, w <= 1 << 16, let counts = d["counts"] else {
                throw bad("RLE needs 'size': [h, w] and 'counts'")
            }
            return (counts, h, w)
        }
        func uncompressed(_ d: [String: Any]) throws -> COCOUncompressedRLE {
            let r = try rle(d)
            guard let counts = r.counts as? [Any] else { throw bad("RLE 'counts' is not a list") }
            let ints = try counts.map { c -> Int in
                guard let n = c as? NSNumber, n.doubleValue >= 0, n.doubleValue.rounded() == n.doubleValue else {
                    throw bad("RLE count is not a non-negative integer")
                }
                return n.intValue
            }
            guard ints.reduce(0, +) == r.h * r.w else {
                throw bad("RLE counts sum to \(ints.reduce(0, +)), not \(r.h)×\(r.w) = \(r.h * r.w)")
            }
            return COCOUncompressedRLE(height: r.h, width: r.w, counts: ints)
        }
        if let list = json as? [Any] {
            guard let first = list.first else { throw bad("is an empty list") }
            if let firstList = first as? [Any] {
                let all = try list.map(numbers)
                // frPyObjects hands a list whose first entry has 4 numbers to frBbox, which rejects lists.
                if firstList.count == 4 { throw bad("has a first polygon of 4 numbers (pycocotools reads it as a box and fails)") }
                guard firstList.count > 4 else { throw bad("has a polygon of \(firstList.count) numbers") }
                for p in all where p.count % 2 != 0 { throw bad("has a polygon with an odd number of coordinates") }
                self = .polygons(all)
                return
            }
            if first is [String: Any] {
                self = .uncompressedRLE(try list.map {
                    guard let d = $0 as? [String: Any] else { throw bad("mixes RLEs and other values") }
                    return try uncompressed(d)
                })
                return
            }
            let single = try numbers(list)
            if single.count == 4 { throw bad("is 4 numbers (pycocotools reads it as a box and fails)") }
            guard single.count > 4, single.count % 2 == 0 else { throw bad("is a polygon of \(single.count) numbers") }
            self = .polygons([single])
            return
        }
        if let d = json as? [String: Any] {
            let r = try rle(d)
            if let s = r.counts as? String {
                self = .compressedRLE(counts: s, height: r.h, width: r.w)
            } else {
                self = .uncompressedRLE([try uncompressed(d)])
            }
            return
        }
        throw bad("is neither a list of polygons nor an RLE")
    }
}

/// Turns COCO segmentations into masks as pycocotools' `frPyObjects` + `decode` (+ max over parts) do.
public protocol COCOMaskDecoding: Sendable {
    /// The union of the segmentation's parts as an H×W mask, for an image of `height`×`width`.
    func mask(_ segmentation: COCOSegmentation, height: Int, width: Int) throws -> PixelMask
}

/// One image of instances.json.
public struct COCOImage: Equatable, Sendable {
    public var id: Int
    public var width: Int
    public var height: Int
    public var fileName: String
}

/// One annotation of instances.json (segmentation kept raw until a sample needs it).
struct COCOAnnotation {
    var id: Int
    var imageID: Int
    var segmentation: Any
}

/// instances.json, indexed by image and annotation id.
struct COCOInstances {
    var images: [Int: COCOImage] = [:]
    var annotations: [Int: COCOAnnotation] = [:]

    init(path: String) throws {
        let data = try readFile(path)
        let root: Any
        do {
            root = try JSONSerialization.jsonObject(with: data)
        } catch {
            throw DatasetError.malformed(file: path, reason: "not valid JSON (truncated?): \(error.localizedDescription)")
        }
        guard let top = root as? [String: Any], let images = top["images"] as? [Any],
              let anns = top["annotations"] as? [Any] else {
            throw DatasetError.malformed(file: path, reason: "expected an object with 'images' and 'annotations' lists")
        }
        for (i, item) in images.enumerated() {
            guard let d = item as? [String: Any], let id = (d["id"] as? NSNumber)?.intValue,
                  let w = (d["width"] as? NSNumber)?.intValue, let h = (d["height"] as? NSNumber)?.intValue,
                  w > 0, h > 0, w <= 1 << 16, h <= 1 << 16 else {
                throw DatasetError.malformed(file: path, reason: "images[\(i)] needs id, width and height (positive)")
            }
            self.images[id] = COCOImage(id: id, width: w, height: h, fileName: d["file_name"] as? String ?? "")
        }
        for (i, item) in anns.enumerated() {
            guard let d = item as? [String: Any], let id = (d["id"] as? NSNumber)?.intValue,
                  let image = (d["image_id"] as? NSNumber)?.intValue, let seg = d["segmentation"] else {
                throw DatasetError.malformed(file: path, reason: "annotations[\(i)] needs id, image_id and segmentation")
            }
            annotations[id] = COCOAnnotation(id: id, imageID: image, segmentation: seg)
        }
    }
}
