// COCO masks through the Evaluation module's RLE (a port of pycocotools' maskApi): the decoder the
// RefCOCO-family readers use.
import Evaluation
import Foundation

/// The decoder `RefCOCO` uses unless given another.
public let defaultCOCOMaskDecoder: COCOMaskDecoding = EvaluationCOCOMaskDecoder()

/// Decodes COCO segmentations like `np.max(decode(frPyObjects(seg, h, w)), axis=2)`: polygons are rasterised
/// one by one (rleFrPoly) and merged, RLEs decoded; the result is their union, H×W row-major.
public struct EvaluationCOCOMaskDecoder: COCOMaskDecoding {
    public init() {}

    public func mask(_ segmentation: COCOSegmentation, height: Int, width: Int) throws -> PixelMask {
        var parts: [RLE] = []
        do {
            switch segmentation {
            case .polygons(let polygons):
                parts = try polygons.map { try RLE.fromPolygons([$0], height: height, width: width) }
            case .uncompressedRLE(let rles):
                parts = try rles.map { r in
                    try RLE(height: r.height, width: r.width, counts: r.counts.map {
                        guard let c = UInt32(exactly: $0) else { throw RLEError.badString(reason: "count \($0) out of range") }
                        return c
                    })
                }
            case .compressedRLE(let counts, let h, let w):
                parts = [try RLE(compressed: counts, height: h, width: w)]
            }
        } catch let e as RLEError {
            throw DatasetError.malformed(file: "instances.json", reason: e.description)
        }
        var out = PixelMask(width: width, height: height)
        for part in parts {
            guard part.height == height, part.width == width else {
                throw DatasetError.sizeMismatch(
                    file: "instances.json", reason: "RLE is \(part.height)×\(part.width), image is \(height)×\(width)")
            }
            let m = part.decode()
            for i in 0..<min(m.count, out.pixels.count) where m[i] != 0 { out.pixels[i] = 1 }
        }
        return out
    }
}
