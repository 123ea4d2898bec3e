import Foundation
import Testing
@testable import Evaluation

/// Loads a JSON fixture of Fixtures/coco (written by Tools/reference/make_coco_fixtures.py).
func loadCOCOFixture<T: Decodable>(_ name: String, as type: T.Type) throws -> T {
    let url = try #require(Bundle.module.url(forResource: "Fixtures/coco/\(name)", withExtension: "json"))
    return try JSONDecoder().decode(T.self, from: Data(contentsOf: url))
}

/// A row-major '0'/'1' string as mask bytes.
func maskBits(_ s: String) -> [UInt8] { s.utf8.map { $0 == UInt8(ascii: "1") ? 1 : 0 } }

struct PolygonFixture: Decodable {
    struct Case: Decodable {
        var name: String
        var height: Int
        var width: Int
        var polygons: [[Double]]
        var per_polygon: [String]
        var counts: String
        var reencoded: String
        var area: Int
        var bbox: [Double]
        var bits: String?
    }
    struct Box: Decodable { var name: String; var height: Int; var width: Int; var box: [Double]; var counts: String }
    var polygons: [Case]
    var boxes: [Box]
}

struct MaskFixture: Decodable {
    struct Case: Decodable {
        var name: String
        var height: Int
        var width: Int
        var bits: [String]?
        var counts: [String]
        var area: [Int]
        var bbox: [[Double]]
        var union: String?
        var intersection: String?
        var iscrowd: [Int]?
        var iou: [[Double]]?
    }
    var cases: [Case]
}

@Suite struct COCOMaskTests {
    @Test func handWorkedEncodingIsColumnMajorStartingWithZeros() throws {
        // 2×3 row-major [1 0 1; 1 1 0] → column-major 1 1 0 1 1 0 → runs 0,2,1,2,1.
        let rle = try RLE(mask: [1, 0, 1, 1, 1, 0], height: 2, width: 3)
        #expect(rle.counts == [0, 2, 1, 2, 1])
        #expect(rle.area == 4)
        #expect(rle.decode() == [1, 0, 1, 1, 1, 0])
        #expect(rle.bbox() == [0, 0, 3, 2])
        let empty = try RLE(mask: [0, 0, 0, 0], height: 2, width: 2)
        #expect(empty.counts == [4])
        #expect(empty.bbox() == [0, 0, 0, 0])
        // pycocotools' documentation example: M = [0 0 1 1 1 0 1] → counts [2 3 1 1].
        #expect(try RLE(mask: [0, 0, 1, 1, 1, 0, 1], height: 7, width: 1).counts == [2, 3, 1, 1])
    }

    @Test func compressedStringsRoundTripIncludingNegativeDifferencesAndLongRuns() throws {
        let counts: [UInt32] = [0, 1, 100_000, 3, 5, 4_000_000, 2, 31, 32, 16, 15, 1 << 20, 7]
        let total = Int(counts.reduce(0, +))
        let rle = try RLE(height: total, width: 1, counts: counts)
        let back = try RLE(compressed: rle.compressedString, height: total, width: 1)
        #expect(back == rle)
        #expect(try RLE(height: 10, width: 10, counts: [100]).compressedString == "T3")
    }

    @Test func badInputThrowsInsteadOfCrashing() {
        #expect(throws: RLEError.self) { try RLE(compressed: "T3", height: 10, width: 11) }    // sum 100 ≠ 110
        #expect(throws: RLEError.self) { try RLE(compressed: "T3 ", height: 10, width: 10) }  // bad character
        #expect(throws: RLEError.self) { try RLE(compressed: "T", height: 10, width: 10) }    // truncated value
        #expect(throws: RLEError.self) { try RLE(compressed: "oooooooooooooo", height: 2, width: 2) }
        #expect(throws: RLEError.self) { try RLE(compressed: "@", height: 1, width: 1) }  // negative count
        #expect(throws: RLEError.self) { try RLE(mask: [1, 0, 1], height: 2, width: 2) }
        #expect(throws: RLEError.self) { try RLE(height: -1, width: 3, counts: []) }
        #expect(throws: RLEError.self) { try RLE(height: 1 << 40, width: 1 << 40, counts: []) }
        #expect(throws: RLEError.self) { try RLE.fromPolygons([[0, 0, .nan, 1, 2, 2]], height: 4, width: 4) }
        #expect(throws: RLEError.self) { try RLE.fromPolygons([[0, 0, 1e12, 1, 2, 2]], height: 4, width: 4) }
        #expect(throws: RLEError.self) { try RLE.fromBoxes([[0, 0, 1]], height: 4, width: 4) }
    }

    @Test func jsonCodingIsPycocotoolsDictionary() throws {
        let rle = try RLE(mask: [1, 0, 1, 1, 1, 0], height: 2, width: 3)
        let json = try #require(String(data: JSONEncoder().encode(rle), encoding: .utf8))
        #expect(json.contains("\"size\":[2,3]"))
        #expect(json.contains("\"counts\":\"\(rle.compressedString)\""))
        #expect(try JSONDecoder().decode(RLE.self, from: Data(json.utf8)) == rle)
        let uncompressed = #"{"size": [2, 3], "counts": [0, 2, 1, 2, 1]}"#
        #expect(try JSONDecoder().decode(RLE.self, from: Data(uncompressed.utf8)) == rle)
        #expect(throws: (any Error).self) {
            try JSONDecoder().decode(RLE.self, from: Data(#"{"size": [2, 3], "counts": [0, 2]}"#.utf8))
        }
    }

    @Test func polygonsRasteriseExactlyAsPycocotools() throws {
        let fixture = try loadCOCOFixture("polygons", as: PolygonFixture.self)
        #expect(fixture.polygons.count >= 20)
        var mismatches: [String] = []
        for c in fixture.polygons {
            let rle = try RLE.fromPolygons(c.polygons, height: c.height, width: c.width)
            if rle.compressedString != c.counts { mismatches.append("\(c.name): \(rle.compressedString) vs \(c.counts)") }
            for (p, expected) in zip(c.polygons, c.per_polygon) {
                let single = try RLE.fromPolygons([p], height: c.height, width: c.width)
                if single.compressedString != expected { mismatches.append("\(c.name) single polygon") }
            }
            #expect(rle.area == c.area, "\(c.name)")
            #expect(rle.bbox() == c.bbox, "\(c.name)")
            let mask = rle.decode()
            #expect(try RLE(mask: mask, height: c.height, width: c.width).compressedString == c.reencoded, "\(c.name)")
            if let bits = c.bits { #expect(mask == maskBits(bits), "\(c.name)") }
        }
        #expect(mismatches.isEmpty, "\(mismatches)")
        for b in fixture.boxes {
            let rle = try RLE.fromBoxes([b.box], height: b.height, width: b.width)
            #expect(rle.compressedString == b.counts, "\(b.name)")
        }
    }

    @Test func masksAreaBoxMergeAndIoUMatchPycocotools() throws {
        let fixture = try loadCOCOFixture("masks", as: MaskFixture.self)
        var maxIoUDifference = 0.0
        for c in fixture.cases {
            let rles = try c.counts.map { try RLE(compressed: $0, height: c.height, width: c.width) }
            for (i, rle) in rles.enumerated() {
                #expect(rle.compressedString == c.counts[i], "\(c.name)")
                #expect(rle.area == c.area[i], "\(c.name)")
                #expect(rle.bbox() == c.bbox[i], "\(c.name) mask \(i)")
                let mask = rle.decode()
                #expect(try RLE(mask: mask, height: c.height, width: c.width) == rle, "\(c.name)")
                if let bits = c.bits?[i] {
                    #expect(mask == maskBits(bits), "\(c.name) mask \(i)")
                    #expect(try RLE(mask: maskBits(bits), height: c.height, width: c.width) == rle)
                }
            }
            if let union = c.union, let intersection = c.intersection {
                #expect(RLE.merge(rles).compressedString == union, "\(c.name) union")
                #expect(RLE.merge(rles, intersect: true).compressedString == intersection, "\(c.name) intersection")
            }
            if let expected = c.iou, let crowd = c.iscrowd {
                let got = iou(rles, rles, isCrowd: crowd.map { $0 != 0 })
                for (row, expectedRow) in zip(got, expected) {
                    for (a, b) in zip(row, expectedRow) { maxIoUDifference = max(maxIoUDifference, abs(a - b)) }
                }
            }
        }
        print("COCOMaskTests: max |IoU − pycocotools| = \(maxIoUDifference)")
        #expect(maxIoUDifference == 0)
    }

    @Test func mergeOfDifferentSizesIsEmptyAsMaskApi() throws {
        let a = try RLE(mask: [1, 0, 0, 1], height: 2, width: 2)
        let b = try RLE(mask: [1, 0, 0], height: 1, width: 3)
        let merged = RLE.merge([a, b])
        #expect(merged.height == 0 && merged.width == 0 && merged.counts.isEmpty)
        #expect(iou([a], [b]) == [[-1]])
        #expect(a.intersectionAndUnion(with: b) == nil)
    }
}
