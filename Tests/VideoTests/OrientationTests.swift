// EXIF orientation of stills: JPEGs made by FFmpeg (ImageIO.writeJPEG) with an APP1 EXIF segment written here,
// in both byte orders and all 8 orientations; a PNG with an eXIf chunk; a frame folder of such JPEGs; malformed
// EXIF blocks. The picture has one colour per quadrant, so each orientation's corners are known by hand.
import Foundation
import Testing
@testable import Video

@Suite struct OrientationTests {
    static let red: (UInt8, UInt8, UInt8) = (230, 30, 30), green: (UInt8, UInt8, UInt8) = (30, 200, 30)
    static let blue: (UInt8, UInt8, UInt8) = (30, 30, 230), white: (UInt8, UInt8, UInt8) = (240, 240, 240)

    /// 64×48 stored: red top-left, green top-right, blue bottom-left, white bottom-right.
    static func quadrants() -> RGBImage {
        var image = RGBImage(width: 64, height: 48)
        for y in 0..<48 {
            for x in 0..<64 {
                let c = y < 24 ? (x < 32 ? red : green) : (x < 32 ? blue : white)
                let i = (y * 64 + x) * 3
                image.pixels[i] = c.0; image.pixels[i + 1] = c.1; image.pixels[i + 2] = c.2
            }
        }
        return image
    }

    /// The quadrant colour nearest to the pixel: "R", "G", "B" or "W".
    static func name(_ p: (UInt8, UInt8, UInt8)) -> String {
        let all: [(String, (UInt8, UInt8, UInt8))] = [("R", red), ("G", green), ("B", blue), ("W", white)]
        func d(_ c: (UInt8, UInt8, UInt8)) -> Int {
            abs(Int(p.0) - Int(c.0)) + abs(Int(p.1) - Int(c.1)) + abs(Int(p.2) - Int(c.2))
        }
        return all.min { d($0.1) < d($1.1) }!.0
    }

    /// Top-left, top-right, bottom-left, bottom-right colours, read 4 pixels in from each corner.
    static func corners(_ image: RGBImage) -> String {
        let (w, h) = (image.width, image.height)
        return [image[4, 4], image[w - 5, 4], image[4, h - 5], image[w - 5, h - 5]].map(name).joined()
    }

    /// A TIFF-structured EXIF block whose IFD0 holds an orientation (and a tag before it).
    static func exif(orientation: Int, littleEndian: Bool) -> [UInt8] {
        func u16(_ v: Int) -> [UInt8] { littleEndian ? [UInt8(v & 255), UInt8(v >> 8)] : [UInt8(v >> 8), UInt8(v & 255)] }
        func u32(_ v: Int) -> [UInt8] { littleEndian ? u16(v & 0xFFFF) + u16(v >> 16) : u16(v >> 16) + u16(v & 0xFFFF) }
        let header: [UInt8] = littleEndian ? [0x49, 0x49, 0x2A, 0] : [0x4D, 0x4D, 0, 0x2A]
        let make = u16(0x010F) + u16(2) + u32(4) + Array("FFm\0".utf8)          // Make "FFm", inline
        let turn = u16(0x0112) + u16(3) + u32(1) + u16(orientation) + u16(0)
        return header + u32(8) + u16(2) + make + turn + u32(0)
    }

    /// `jpeg` with an APP1 EXIF segment inserted after its start-of-image marker.
    static func withAPP1(_ jpeg: [UInt8], _ tiff: [UInt8]) -> [UInt8] {
        let body = Array("Exif\0\0".utf8) + tiff
        let length = body.count + 2
        return Array(jpeg[0..<2]) + [0xFF, 0xE1, UInt8(length >> 8), UInt8(length & 255)] + body + Array(jpeg[2...])
    }

    static let expected: [Int: String] = [1: "RGBW", 2: "GRWB", 3: "WBGR", 4: "BWRG", 5: "RBGW", 6: "BRWG", 7: "WGBR",
                                          8: "GWRB"]

    @Test(arguments: [true, false]) func everyJPEGOrientationIsShownUpright(littleEndian: Bool) throws {
        let folder = try MediaFiles.scratchFolder("exif-jpeg")
        try ImageIO.writeJPEG(Self.quadrants(), to: folder + "/plain.jpg", quality: 95)
        let plain = [UInt8](try Data(contentsOf: URL(fileURLWithPath: folder + "/plain.jpg")))
        #expect(Self.corners(try ImageIO.read(path: folder + "/plain.jpg", upright: true)) == "RGBW")
        for orientation in 1...8 {
            let path = folder + "/o\(orientation).jpg"
            try Data(Self.withAPP1(plain, Self.exif(orientation: orientation, littleEndian: littleEndian)))
                .write(to: URL(fileURLWithPath: path))
            let stored = try ImageIO.read(path: path)
            #expect(Self.corners(stored) == "RGBW" && stored.width == 64, "orientation \(orientation) as stored")
            let upright = try ImageIO.read(path: path, upright: true)
            let size = orientation >= 5 ? (48, 64) : (64, 48)
            #expect((upright.width, upright.height) == size, "orientation \(orientation)")
            #expect(Self.corners(upright) == Self.expected[orientation], "orientation \(orientation)")
        }
    }

    @Test func aPNGsEXIfChunkIsApplied() throws {
        let folder = try MediaFiles.scratchFolder("exif-png")
        try ImageIO.writePNG(Self.quadrants(), to: folder + "/plain.png")
        let png = [UInt8](try Data(contentsOf: URL(fileURLWithPath: folder + "/plain.png")))
        // The eXIf chunk goes after IHDR (8-byte signature + 25-byte IHDR chunk); FFmpeg 5.1 ignores its CRC.
        let tiff = Self.exif(orientation: 6, littleEndian: false)
        let length = tiff.count
        let chunk = [UInt8(length >> 24), UInt8((length >> 16) & 255), UInt8((length >> 8) & 255), UInt8(length & 255)]
            + Array("eXIf".utf8) + tiff + [0, 0, 0, 0]
        try Data(Array(png[0..<33]) + chunk + Array(png[33...])).write(to: URL(fileURLWithPath: folder + "/turned.png"))
        #expect(Self.corners(try ImageIO.read(path: folder + "/turned.png")) == "RGBW")
        let upright = try ImageIO.read(path: folder + "/turned.png", upright: true)
        #expect((upright.width, upright.height) == (48, 64) && Self.corners(upright) == "BRWG")
    }

    /// A folder of JPEGs with orientation 8 reads upright with `autorotate` (as segment reads it), stored without.
    @Test func aFrameFolderAppliesEachFilesOrientationWhenAsked() throws {
        let folder = try MediaFiles.scratchFolder("exif-folder")
        try ImageIO.writeJPEG(Self.quadrants(), to: folder + "/plain.jpg", quality: 95)
        let plain = [UInt8](try Data(contentsOf: URL(fileURLWithPath: folder + "/plain.jpg")))
        try FileManager.default.createDirectory(atPath: folder + "/frames", withIntermediateDirectories: true)
        for k in 1...3 {
            try Data(Self.withAPP1(plain, Self.exif(orientation: 8, littleEndian: true)))
                .write(to: URL(fileURLWithPath: folder + "/frames/0000\(k).jpg"))
        }
        let upright = try VideoReader(path: folder + "/frames", options: .init(autorotate: true))
        #expect((upright.outputWidth, upright.outputHeight) == (48, 64))
        #expect(try decodeAll(upright).map(Self.corners) == ["GWRB", "GWRB", "GWRB"])
        let stored = try VideoReader(path: folder + "/frames")
        #expect(try decodeAll(stored).map(Self.corners) == ["RGBW", "RGBW", "RGBW"])
    }

    /// A clip tagged `rotate=90` reads upright with `autorotate` exactly as the ffmpeg tool (which autorotates) shows it.
    @Test func aRotatedClipReadsAsTheFFmpegToolShowsIt() throws {
        let path = try MediaFiles.rotated()
        let reader = try VideoReader(path: path, options: .init(autorotate: true))
        #expect((reader.outputWidth, reader.outputHeight) == (120, 160))
        let ours = try decodeAll(reader)
        let tools = try MediaFiles.ffmpegFrames(path, width: 120, height: 160)
        #expect(ours.count == 60 && tools.count == 60)
        for (k, (a, b)) in zip(ours, tools).enumerated() {
            let difference = zip(a.pixels, b.pixels).reduce(0) { $0 + abs(Int($1.0) - Int($1.1)) } / a.pixels.count
            #expect(difference <= 2, "frame \(k + 1) differs from the ffmpeg tool's by \(difference) on average")
        }
    }

    @Test func malformedEXIFIsIgnored() {
        let good = Self.exif(orientation: 6, littleEndian: true)
        #expect(EXIF.orientation(tiff: good) == 6)
        #expect(EXIF.orientation(tiff: Self.exif(orientation: 9, littleEndian: true)) == nil)
        for cut in [0, 3, 8, 12, 30] { #expect(EXIF.orientation(tiff: Array(good.prefix(cut))) == nil, "cut at \(cut)") }
        var farIFD = good
        farIFD[4] = 0xFF; farIFD[5] = 0xFF; farIFD[6] = 0xFF; farIFD[7] = 0x7F       // IFD offset past the end
        #expect(EXIF.orientation(tiff: farIFD) == nil)
        var manyEntries = good
        manyEntries[8] = 0xFF; manyEntries[9] = 0xFF                                  // 65535 entries in 38 bytes
        #expect(EXIF.orientation(tiff: manyEntries) == 6)
        #expect(EXIF.orientation(tiff: Array("XXXXXXXXXXXX".utf8)) == nil)
    }

    /// A PNG whose chunk lengths run past the end, or that ends inside a chunk header, has no orientation.
    @Test func aPNGWithBrokenChunksHasNoOrientation() throws {
        let folder = try MediaFiles.scratchFolder("exif-png-broken")
        let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        let cases: [[UInt8]] = [
            signature + [0xFF, 0xFF, 0xFF, 0xF0] + Array("eXIf".utf8) + [1, 2, 3],
            signature + [0, 0, 0, 4] + Array("tEXt".utf8) + [1, 2, 3, 4, 0, 0, 0, 0] + [0, 0],
            signature + [0, 0, 0, 0] + Array("eXIf".utf8) + [0, 0, 0, 0],
            signature,
        ]
        for (i, bytes) in cases.enumerated() {
            let path = folder + "/broken-\(i).png"
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            #expect(EXIF.pngOrientation(path: path) == nil, "case \(i)")
        }
    }
}
