// Adapter from COCOSegmentation to the Evaluation module's COCO RLE code (pycocotools' mask API).
// Excluded from the build (Package.swift `exclude: ["Pending"]`) until Evaluation's RLE is on main;
// then move this file up one folder and point `defaultCOCOMaskDecoder` at `EvaluationCOCOMaskDecoder()`.
// The calls follow the names announced for Evaluation: RLE.fromPolygons, RLE(compressed:height:width:),
// RLE(counts:height:width:), decode(); adjust the labels to the landed signatures.
import Evaluation
import Foundation

/// Decodes COCO segmentations with Evaluation's RLE, like `np.max(decode(frPyObjects(seg, h, w)), axis=2)`.
public struct EvaluationCOCOMaskDecoder: COCOMaskDecoding {
    public init() {}

    public func mask(_ segmentation: COCOSegmentation, height: Int, width: Int) throws -> BinaryMask {
        var parts: [RLE] = []
        switch segmentation {
        case .polygons(let polygons):
            for p in polygons { parts.append(contentsOf: try RLE.fromPolygons([p], height: height, width: width)) }
        case .uncompressedRLE(let rles):
            for r in rles { parts.append(try RLE(counts: r.counts, height: r.height, width: r.width)) }
        case .compressedRLE(let counts, let h, let w):
            parts.append(try RLE(compressed: counts, height: h, width: w))
        }
        var out = BinaryMask(width: width, height: height)
        for part in parts {
            let m = try part.decode()   // column-major 0/1, height × width
            guard m.count == width * height else {
                throw DatasetError.sizeMismatch(file: "instances.json", reason: "decoded RLE has \(m.count) pixels, expected \(height)×\(width)")
            }
            for x in 0..<width {
                for y in 0..<height where m[x * height + y] != 0 { out.pixels[y * width + x] = 1 }
            }
        }
        return out
    }
}
