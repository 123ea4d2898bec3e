// COCO run-length encoded masks, behaving as pycocotools' maskApi.c (cocodataset/cocoapi common/maskApi.c).
//
// Format. A mask of H×W pixels is read in column-major (Fortran) order — pixel (y, x) is element x·H + y — and
// stored as run lengths `counts` that alternate 0-runs and 1-runs, starting with a (possibly empty) 0-run; the
// counts sum to H·W. In JSON (COCO annotations, detection results) an RLE is `{"size": [H, W], "counts": …}`
// where counts is either the list of run lengths ("uncompressed", as iscrowd annotations carry it) or a string.
// The string form is LEB128-like with 6 bits a character: each count from the third on is first replaced by its
// difference to the count two places earlier; each (signed) value is written as 5-bit groups, least significant
// first, a group being `chunk | 0x20` when more groups follow, plus 48 (so characters '0' … 'o'); the last group's
// bit 0x10 is the sign.

import Foundation

/// A malformed RLE, polygon or mask.
public enum RLEError: Error, Equatable, CustomStringConvertible {
    /// The mask buffer does not hold height × width values.
    case maskSize(count: Int, height: Int, width: Int)
    /// Two masks that should have one size do not.
    case sizeMismatch(reason: String)
    /// Height or width is negative or their product absurd.
    case badSize(height: Int, width: Int)
    /// The counts do not sum to height × width.
    case countsSum(sum: Int, height: Int, width: Int)
    /// A character of a compressed string is outside '0' … 'o', or a value overflows.
    case badString(reason: String)
    /// A polygon coordinate is not finite or too far out to rasterise.
    case badPolygon(reason: String)

    public var description: String {
        switch self {
        case let .maskSize(count, h, w): return "RLE: mask has \(count) values, expected \(h)×\(w) = \(h * w)"
        case let .sizeMismatch(reason): return "RLE: size mismatch: \(reason)"
        case let .badSize(h, w): return "RLE: bad size \(h)×\(w)"
        case let .countsSum(sum, h, w): return "RLE: counts sum to \(sum), expected \(h)×\(w) = \(h * w)"
        case let .badString(reason): return "RLE: bad compressed counts string: \(reason)"
        case let .badPolygon(reason): return "RLE: bad polygon: \(reason)"
        }
    }
}

/// COCO run-length encoding, column-major (Fortran order) as pycocotools: counts alternate 0-runs and 1-runs starting with 0s.
///
/// Codable as pycocotools writes it: `{"size": [height, width], "counts": "<compressed string>"}`; decoding also
/// accepts uncompressed `counts` (a list of run lengths).
public struct RLE: Equatable, Sendable {
    public var height: Int
    public var width: Int
    public var counts: [UInt32]

    /// Largest accepted height × width (counts are 32-bit in maskApi.c).
    public static let maxPixels = Int(UInt32.max)

    /// Wraps run lengths (0-run first, column-major); they must sum to height × width.
    public init(height: Int, width: Int, counts: [UInt32]) throws {
        try RLE.checkSize(height: height, width: width)
        let sum = counts.reduce(0) { $0 + Int($1) }
        // maskApi.c stores an empty (0-pixel) mask either as [0] or with no counts at all.
        guard sum == height * width else { throw RLEError.countsSum(sum: sum, height: height, width: width) }
        self.height = height
        self.width = width
        self.counts = counts
    }

    /// Internal constructor for counts known to be consistent.
    init(unchecked height: Int, _ width: Int, _ counts: [UInt32]) {
        self.height = height
        self.width = width
        self.counts = counts
    }

    static func checkSize(height: Int, width: Int) throws {
        guard height >= 0, width >= 0, height <= maxPixels, width <= maxPixels,
              height.multipliedReportingOverflow(by: width).overflow == false,
              height * width <= maxPixels
        else { throw RLEError.badSize(height: height, width: width) }
    }

    /// Encodes a row-major H×W mask (nonzero = 1) as rleEncode does.
    public init(mask: [UInt8], height: Int, width: Int) throws {
        try RLE.checkSize(height: height, width: width)
        guard mask.count == height * width else {
            throw RLEError.maskSize(count: mask.count, height: height, width: width)
        }
        var counts: [UInt32] = []
        var previous = false
        var run: UInt32 = 0
        mask.withUnsafeBufferPointer { m in
            for x in 0..<width {
                var i = x
                for _ in 0..<height {
                    let value = m[i] != 0
                    if value != previous {
                        counts.append(run)
                        run = 0
                        previous = value
                    }
                    run += 1
                    i += width
                }
            }
        }
        counts.append(run)
        self.init(unchecked: height, width, counts)
    }

    /// The row-major H×W mask, 0 or 1 per pixel.
    public func decode() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: height * width)
        guard height > 0, width > 0 else { return out }
        let (h, w) = (height, width)
        out.withUnsafeMutableBufferPointer { o in
            var position = 0                       // column-major index
            for (j, c) in counts.enumerated() {
                let c = Int(c)
                if j % 2 == 1, position < h * w {
                    for p in position..<min(position + c, h * w) {
                        let x = p / h
                        o[(p - x * h) * w + x] = 1
                    }
                }
                position += c
            }
        }
        return out
    }

    /// Number of 1-pixels (rleArea).
    public var area: Int {
        var a = 0
        var j = 1
        while j < counts.count { a += Int(counts[j]); j += 2 }
        return a
    }

    // MARK: Compressed strings (rleToString / rleFrString)

    /// Parses pycocotools' compressed counts string ("counts" in JSON) for an H×W mask.
    public init(compressed: String, height: Int, width: Int) throws {
        try RLE.checkSize(height: height, width: width)
        var counts: [UInt32] = []
        var x: Int64 = 0
        var k = 0
        for byte in compressed.utf8 {
            let c = Int64(byte) - 48
            guard c >= 0, c < 64 else {
                throw RLEError.badString(reason: "character \(UnicodeScalar(byte)) at value \(counts.count)")
            }
            guard k < 12 else { throw RLEError.badString(reason: "value \(counts.count) is too long") }
            x |= (c & 0x1f) << Int64(5 * k)
            k += 1
            if c & 0x20 != 0 { continue }
            if c & 0x10 != 0 { x |= -1 << Int64(5 * k) }
            if counts.count > 2 { x += Int64(counts[counts.count - 2]) }
            guard x >= 0, x <= Int64(UInt32.max) else {
                throw RLEError.badString(reason: "value \(counts.count) decodes to \(x)")
            }
            counts.append(UInt32(x))
            x = 0
            k = 0
        }
        guard k == 0 else { throw RLEError.badString(reason: "string ends inside a value") }
        try self.init(height: height, width: width, counts: counts)
    }

    /// pycocotools' compressed counts string (rleToString).
    public var compressedString: String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(counts.count * 2)
        for i in counts.indices {
            var x = Int64(counts[i])
            if i > 2 { x -= Int64(counts[i - 2]) }
            var more = true
            while more {
                var c = UInt8(truncatingIfNeeded: x & 0x1f)
                x >>= 5
                more = (c & 0x10) != 0 ? x != -1 : x != 0
                if more { c |= 0x20 }
                bytes.append(c + 48)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    // MARK: Polygons and boxes (rleFrPoly / rleFrBbox)

    /// Largest |coordinate| accepted by `fromPolygons` (pixels); farther points are rejected, not rasterised.
    public static let maxPolygonCoordinate = 1.0e6

    /// Rasterises COCO polygons `[x0, y0, x1, y1, …]` (pixel coordinates, 0-indexed) as frPyObjects (rleFrPoly per
    /// polygon) followed by merge (union) — the mask pycocotools' `COCO.annToRLE` gives a polygon annotation.
    ///
    /// An odd trailing coordinate is ignored and an empty polygon is an empty mask, as in pycocotools.
    /// (pycocotools' frPyObjects refuses a polygon list whose first polygon has fewer than 5 coordinates and sends
    /// one of exactly 4 to its box path, which fails on lists in pycocotools 2.0.11; here every polygon is a polygon.)
    public static func fromPolygons(_ polygons: [[Double]], height: Int, width: Int) throws -> RLE {
        try checkSize(height: height, width: width)
        let rles = try polygons.map { try fromPolygon($0, height: height, width: width) }
        if rles.isEmpty { return try RLE(height: height, width: width, counts: [UInt32(height * width)]) }
        return merge(rles)
    }

    /// Rasterises boxes `[x, y, w, h]` as rleFrBbox, then merges them (union).
    public static func fromBoxes(_ boxes: [[Double]], height: Int, width: Int) throws -> RLE {
        try checkSize(height: height, width: width)
        let rles = try boxes.map { box -> RLE in
            guard box.count == 4 else { throw RLEError.badPolygon(reason: "a box needs 4 values, got \(box.count)") }
            let (xs, ys) = (box[0], box[1])
            let (xe, ye) = (xs + box[2], ys + box[3])
            return try fromPolygon([xs, ys, xs, ye, xe, ye, xe, ys], height: height, width: width)
        }
        if rles.isEmpty { return try RLE(height: height, width: width, counts: [UInt32(height * width)]) }
        return merge(rles)
    }

    /// rleFrPoly for one polygon: upsample the boundary ×5, keep the crossings of pixel columns, sort them into runs.
    static func fromPolygon(_ xy: [Double], height h: Int, width w: Int) throws -> RLE {
        let k = xy.count / 2
        if h == 0 || w == 0 { return RLE(unchecked: h, w, [0]) }
        let scale = 5.0
        var xs = [Int](repeating: 0, count: k + 1)
        var ys = [Int](repeating: 0, count: k + 1)
        for j in 0..<k {
            let (px, py) = (xy[2 * j], xy[2 * j + 1])
            guard px.isFinite, py.isFinite, abs(px) <= maxPolygonCoordinate, abs(py) <= maxPolygonCoordinate else {
                throw RLEError.badPolygon(reason: "point \(j) is (\(px), \(py))")
            }
            xs[j] = Int(scale * px + 0.5)          // C's (int) cast: truncation toward zero
            ys[j] = Int(scale * py + 0.5)
        }
        if k > 0 { xs[k] = xs[0]; ys[k] = ys[0] }
        var total = 0
        for j in 0..<k { total += max(abs(xs[j] - xs[j + 1]), abs(ys[j] - ys[j + 1])) + 1 }
        guard total <= 1 << 28 else { throw RLEError.badPolygon(reason: "boundary of \(total) upsampled points") }

        // Dense boundary points (u, v) in the ×5 grid, each edge walked along its longer axis.
        var u = [Int](); u.reserveCapacity(total)
        var v = [Int](); v.reserveCapacity(total)
        for j in 0..<k {
            var (x0, x1, y0, y1) = (xs[j], xs[j + 1], ys[j], ys[j + 1])
            let dx = abs(x1 - x0), dy = abs(y0 - y1)
            let flip = (dx >= dy && x0 > x1) || (dx < dy && y0 > y1)
            if flip { swap(&x0, &x1); swap(&y0, &y1) }
            if dx >= dy {
                let s = dx == 0 ? 0 : Double(y1 - y0) / Double(dx)   // maskApi.c divides 0 by 0; the value is never used
                for d in 0...dx {
                    let t = flip ? dx - d : d
                    u.append(t + x0)
                    v.append(Int(Double(y0) + s * Double(t) + 0.5))
                }
            } else {
                let s = Double(x1 - x0) / Double(dy)
                for d in 0...dy {
                    let t = flip ? dy - d : d
                    v.append(t + y0)
                    u.append(Int(Double(x0) + s * Double(t) + 0.5))
                }
            }
        }

        // Points where the boundary crosses a pixel column centre, downsampled to pixel coordinates.
        var starts: [UInt32] = []
        let m = u.count
        if m > 1 {
            for j in 1..<m where u[j] != u[j - 1] {
                var xd = Double(u[j] < u[j - 1] ? u[j] : u[j] - 1)
                xd = (xd + 0.5) / scale - 0.5
                if xd.rounded(.down) != xd || xd < 0 || xd > Double(w - 1) { continue }
                var yd = Double(v[j] < v[j - 1] ? v[j] : v[j - 1])
                yd = (yd + 0.5) / scale - 0.5
                if yd < 0 { yd = 0 } else if yd > Double(h) { yd = Double(h) }
                yd = yd.rounded(.up)
                starts.append(UInt32(Int(xd) * h + Int(yd)))
            }
        }
        starts.append(UInt32(h * w))
        starts.sort()
        // Differences, then zero-length runs folded into their neighbours.
        var previous: UInt32 = 0
        for j in starts.indices { let t = starts[j]; starts[j] -= previous; previous = t }
        var counts: [UInt32] = [starts[0]]
        var j = 1
        while j < starts.count {
            if starts[j] > 0 {
                counts.append(starts[j]); j += 1
            } else {
                j += 1
                if j < starts.count { counts[counts.count - 1] += starts[j]; j += 1 }
            }
        }
        return RLE(unchecked: h, w, counts)
    }

    // MARK: Merge, bounding box, IoU

    /// Union (or intersection) of masks of one size, as rleMerge; masks of different sizes give a 0×0 RLE.
    public static func merge(_ rles: [RLE], intersect: Bool = false) -> RLE {
        guard let first = rles.first else { return RLE(unchecked: 0, 0, []) }
        let (h, w) = (first.height, first.width)
        if rles.count == 1 { return first }
        var cnts = first.counts
        for b in rles.dropFirst() {
            if b.height != h || b.width != w { return RLE(unchecked: 0, 0, []) }
            let a = cnts
            var out: [UInt32] = []
            out.reserveCapacity(a.count + b.counts.count)
            var ca = Int(a.first ?? 0), cb = Int(b.counts.first ?? 0)
            var v = false, va = false, vb = false
            var ia = 1, ib = 1, cc = 0, ct = 1
            while ct > 0 {
                let c = min(ca, cb)
                cc += c
                ct = 0
                ca -= c
                if ca == 0 && ia < a.count { ca = Int(a[ia]); ia += 1; va.toggle() }
                ct += ca
                cb -= c
                if cb == 0 && ib < b.counts.count { cb = Int(b.counts[ib]); ib += 1; vb.toggle() }
                ct += cb
                let vp = v
                v = intersect ? (va && vb) : (va || vb)
                if v != vp || ct == 0 { out.append(UInt32(cc)); cc = 0 }
            }
            cnts = out
        }
        return RLE(unchecked: h, w, cnts)
    }

    /// Bounding box `[x, y, width, height]` of the 1-pixels as rleToBbox (all zeros for an empty mask).
    public func bbox() -> [Double] {
        let h = height
        let m = (counts.count / 2) * 2
        if m == 0 || h == 0 { return [0, 0, 0, 0] }
        var xs = width, ys = h, xe = 0, ye = 0, cc = 0, xp = 0
        for j in 0..<m {
            cc += Int(counts[j])
            let t = cc - j % 2
            let y = t % h, x = (t - y) / h
            if j % 2 == 0 { xp = x } else if xp < x { ys = 0; ye = h - 1 }
            xs = min(xs, x); xe = max(xe, x); ys = min(ys, y); ye = max(ye, y)
        }
        return [Double(xs), Double(ys), Double(xe - xs + 1), Double(ye - ys + 1)]
    }

    /// Intersection and union pixel counts with another mask of the same size (nil if sizes differ).
    public func intersectionAndUnion(with other: RLE) -> (intersection: Int, union: Int)? {
        guard height == other.height, width == other.width else { return nil }
        return RLE.intersectionAndUnion(self, other)
    }

    static func intersectionAndUnion(_ d: RLE, _ g: RLE) -> (intersection: Int, union: Int) {
        var ca = Int(d.counts.first ?? 0), cb = Int(g.counts.first ?? 0)
        var va = false, vb = false
        var a = 1, b = 1, i = 0, u = 0, ct = 1
        while ct > 0 {
            let c = min(ca, cb)
            if va || vb { u += c; if va && vb { i += c } }
            ct = 0
            ca -= c
            if ca == 0 && a < d.counts.count { ca = Int(d.counts[a]); a += 1; va.toggle() }
            ct += ca
            cb -= c
            if cb == 0 && b < g.counts.count { cb = Int(g.counts[b]); b += 1; vb.toggle() }
            ct += cb
        }
        return (i, u)
    }
}

/// IoU of boxes `[x, y, w, h]` as bbIou: D×G, a crowd ground truth divides by the detection's area.
public func boxIoU(_ detections: [[Double]], _ groundTruths: [[Double]], isCrowd: [Bool] = []) -> [[Double]] {
    var o = [[Double]](repeating: [Double](repeating: 0, count: groundTruths.count), count: detections.count)
    for (g, gb) in groundTruths.enumerated() {
        let ga = gb[2] * gb[3]
        let crowd = g < isCrowd.count && isCrowd[g]
        for (d, db) in detections.enumerated() {
            let da = db[2] * db[3]
            let w = min(db[2] + db[0], gb[2] + gb[0]) - max(db[0], gb[0])
            if w <= 0 { continue }
            let h = min(db[3] + db[1], gb[3] + gb[1]) - max(db[1], gb[1])
            if h <= 0 { continue }
            let i = w * h
            o[d][g] = i / (crowd ? da : da + ga - i)
        }
    }
    return o
}

/// Mask IoU as maskApi rleIou (pycocotools `mask.iou`): D×G; −1 where sizes differ; a crowd ground truth
/// divides the intersection by the detection's area. Missing `isCrowd` entries are false.
public func iou(_ detections: [RLE], _ groundTruths: [RLE], isCrowd: [Bool] = []) -> [[Double]] {
    var o = boxIoU(detections.map { $0.bbox() }, groundTruths.map { $0.bbox() }, isCrowd: isCrowd)
    for (g, gt) in groundTruths.enumerated() {
        let crowd = g < isCrowd.count && isCrowd[g]
        for (d, dt) in detections.enumerated() where o[d][g] > 0 {
            guard dt.height == gt.height, dt.width == gt.width else { o[d][g] = -1; continue }
            var (i, u) = RLE.intersectionAndUnion(dt, gt)
            if i == 0 { u = 1 } else if crowd { u = dt.area }
            o[d][g] = Double(i) / Double(u)
        }
    }
    return o
}

extension RLE: Codable {
    enum CodingKeys: String, CodingKey { case size, counts }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let size = try c.decode([Int].self, forKey: .size)
        guard size.count == 2 else {
            throw DecodingError.dataCorruptedError(forKey: .size, in: c, debugDescription: "size must be [h, w]")
        }
        if let string = try? c.decode(String.self, forKey: .counts) {
            self = try RLE(compressed: string, height: size[0], width: size[1])
        } else {
            let counts = try c.decode([UInt32].self, forKey: .counts)
            self = try RLE(height: size[0], width: size[1], counts: counts)
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode([height, width], forKey: .size)
        try c.encode(compressedString, forKey: .counts)
    }
}
