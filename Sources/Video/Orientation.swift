// EXIF orientation of still images: the tag (1…8) read from FFmpeg's frame metadata (its JPEG decoder
// exports the APP1 segment's tags there, TIFF's too) or, for PNG, whose decoder in FFmpeg 5.1 ignores the
// eXIf chunk, from that chunk by the bounded reader below; and the turn or flip that shows a picture upright.
//
// EXIF (TIFF structure): "II*\0" (little-endian) or "MM\0*" (big-endian), the offset of IFD0, then IFD0:
// a 2-byte entry count and 12-byte entries (tag, type, count, value). Orientation is tag 0x0112, type
// SHORT (3), count 1, its value in the entry's first two value bytes. Values: 1 as stored, 2 mirrored
// left-right, 3 turned 180°, 4 mirrored top-bottom, 5 transposed, 6 turned 90° clockwise, 7 transverse,
// 8 turned 270° clockwise.
import CFFmpeg
import Foundation

enum EXIF {
    /// The orientation (1…8) in a TIFF-structured EXIF block, nil when it holds none or is malformed.
    static func orientation(tiff b: [UInt8]) -> Int? {
        guard b.count >= 8 else { return nil }
        let little: Bool
        if b[0] == 0x49, b[1] == 0x49, b[2] == 0x2A, b[3] == 0 { little = true }
        else if b[0] == 0x4D, b[1] == 0x4D, b[2] == 0, b[3] == 0x2A { little = false }
        else { return nil }
        func u16(_ i: Int) -> Int? {
            guard i >= 0, i + 2 <= b.count else { return nil }
            return little ? Int(b[i]) | Int(b[i + 1]) << 8 : Int(b[i]) << 8 | Int(b[i + 1])
        }
        func u32(_ i: Int) -> Int? {
            guard let lo = u16(little ? i : i + 2), let hi = u16(little ? i + 2 : i) else { return nil }
            return hi << 16 | lo
        }
        guard let ifd = u32(4), let count = u16(ifd) else { return nil }
        for e in 0..<min(count, 1024) {
            let entry = ifd + 2 + 12 * e
            guard let tag = u16(entry), let type = u16(entry + 2), let n = u32(entry + 4) else { return nil }
            if tag == 0x0112, type == 3, n == 1, let v = u16(entry + 8), (1...8).contains(v) { return v }
        }
        return nil
    }

    /// The orientation in a PNG file's eXIf chunk; nil when the file is no PNG or has none.
    static func pngOrientation(path: String) -> Int? {
        guard let data = try? Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped), data.count > 8 else {
            return nil
        }
        return data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> Int? in
            let b = raw.bindMemory(to: UInt8.self)
            guard Array(b.prefix(8)) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] else { return nil }
            var at = 8
            while at + 8 <= b.count {
                let length = Int(b[at]) << 24 | Int(b[at + 1]) << 16 | Int(b[at + 2]) << 8 | Int(b[at + 3])
                let type = String(decoding: b[(at + 4)..<(at + 8)], as: UTF8.self)
                let start = at + 8
                guard length >= 0, start + length <= b.count else { return nil }
                if type == "eXIf" { return orientation(tiff: Array(b[start..<(start + length)])) }
                if type == "IEND" { return nil }
                at = start + length + 4      // data, then the CRC
            }
            return nil
        }
    }

    /// The orientation FFmpeg's decoder exported with `frame` (its "Orientation" metadata), nil when there is none.
    static func orientation(of frame: UnsafeMutablePointer<AVFrame>) -> Int? {
        guard let entry = av_dict_get(frame.pointee.metadata, "Orientation", nil, 0), let value = entry.pointee.value,
              let v = Int(String(cString: value).trimmingCharacters(in: .whitespaces)), (1...8).contains(v) else {
            return nil
        }
        return v
    }
}

extension RGBImage {
    /// The picture shown upright for an EXIF orientation (1…8; other values leave it as it is): turned and/or
    /// mirrored, width and height swapped for 5…8.
    public func oriented(exif orientation: Int) -> RGBImage {
        guard (2...8).contains(orientation) else { return self }
        let (w, h) = (width, height)
        let swap = orientation >= 5
        let (ow, oh) = swap ? (h, w) : (w, h)
        var out = [UInt8](repeating: 0, count: pixels.count)
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for oy in 0..<oh {
                    for ox in 0..<ow {
                        // The stored pixel shown at (ox, oy).
                        let (x, y): (Int, Int)
                        switch orientation {
                        case 2: (x, y) = (w - 1 - ox, oy)
                        case 3: (x, y) = (w - 1 - ox, h - 1 - oy)
                        case 4: (x, y) = (ox, h - 1 - oy)
                        case 5: (x, y) = (oy, ox)
                        case 6: (x, y) = (oy, h - 1 - ox)
                        case 7: (x, y) = (w - 1 - oy, h - 1 - ox)
                        default: (x, y) = (w - 1 - oy, ox)
                        }
                        let s = (y * w + x) * 3, d = (oy * ow + ox) * 3
                        dst[d] = src[s]; dst[d + 1] = src[s + 1]; dst[d + 2] = src[s + 2]
                    }
                }
            }
        }
        return RGBImage(width: ow, height: oh, unchecked: out)
    }
}
