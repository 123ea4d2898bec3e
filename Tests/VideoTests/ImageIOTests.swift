import Foundation
import Testing
@testable import Video

@Suite struct ImageIOTests {
    /// A 40×30 picture with distinct colours: a red, a green and a blue bar over a horizontal grey ramp.
    static let colours: RGBImage = {
        var image = RGBImage(width: 40, height: 30)
        for y in 0..<30 {
            for x in 0..<40 {
                let i = (y * 40 + x) * 3
                let v = UInt8(x * 255 / 39)
                let px: (UInt8, UInt8, UInt8) = y < 5 ? (255, 0, 0) : y < 10 ? (0, 255, 0) : y < 15 ? (0, 0, 255) : (v, v, v)
                image.pixels[i] = px.0; image.pixels[i + 1] = px.1; image.pixels[i + 2] = px.2
            }
        }
        return image
    }()

    /// Writes `colours` as raw RGB and converts it with ffmpeg to `name` with `arguments`.
    static func encoded(_ name: String, _ arguments: [String]) throws -> String {
        let raw = try MediaFiles.file("colours.rgb") { p in
            try Data(colours.pixels).write(to: URL(fileURLWithPath: p))
        }
        return try MediaFiles.file(name) { p in
            try MediaFiles.ffmpeg(["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "40x30", "-i", raw] + arguments
                                  + ["-frames:v", "1", "-update", "1", p])
        }
    }

    func maxDifference(_ a: RGBImage, _ b: RGBImage) -> Int {
        guard a.width == b.width, a.height == b.height else { return 256 }
        return zip(a.pixels, b.pixels).map { abs(Int($0) - Int($1)) }.max() ?? 0
    }

    @Test func rgbPNGIsExact() throws {
        let image = try ImageIO.read(path: try Self.encoded("rgb.png", ["-pix_fmt", "rgb24"]))
        #expect(image == Self.colours)
    }

    @Test func sixteenBitPNGRoundsToEightBits() throws {
        let image = try ImageIO.read(path: try Self.encoded("rgb48.png", ["-pix_fmt", "rgb48be"]))
        #expect(maxDifference(image, Self.colours) <= 1)
    }

    @Test func rgbaPNGDropsAlpha() throws {
        let image = try ImageIO.read(path: try Self.encoded("rgba.png", ["-pix_fmt", "rgba"]))
        #expect(image == Self.colours)
    }

    @Test func greyPNGsGiveEqualChannels() throws {
        for (name, format) in [("gray8.png", "gray"), ("gray16.png", "gray16be")] {
            let image = try ImageIO.read(path: try Self.encoded(name, ["-pix_fmt", format]))
            #expect(image.width == 40 && image.height == 30)
            // The ramp rows: grey in, the same grey out (full range kept).
            for x in 0..<40 {
                let p = image[x, 20]
                #expect(p.0 == p.1 && p.1 == p.2)
                #expect(abs(Int(p.0) - x * 255 / 39) <= 1, "\(name) column \(x): \(p.0)")
            }
            let grey = try ImageIO.readGray(path: try Self.encoded(name, ["-pix_fmt", format]))
            #expect(abs(Int(grey[39, 20]) - 255) <= 1 && grey[0, 20] <= 1)
        }
    }

    @Test func palettePNGKeepsItsColours() throws {
        let path = try Self.encoded("palette.png", ["-vf", "split[a][b];[a]palettegen=max_colors=64[p];[b][p]paletteuse=dither=none"])
        let probe = try MediaFiles.run("ffprobe", ["-v", "error", "-show_entries", "stream=pix_fmt", "-of", "csv=p=0",
                                                   path])
        #expect(probe.contains("pal8"))
        let image = try ImageIO.read(path: path)
        #expect(image[20, 2] == (255, 0, 0) && image[20, 7] == (0, 255, 0) && image[20, 12] == (0, 0, 255))
        #expect(maxDifference(image, Self.colours) <= 16)
    }

    @Test func jpegIsCloseAndKeepsChannelOrder() throws {
        let image = try ImageIO.read(path: try Self.encoded("colours.jpg", ["-q:v", "2"]))
        let red = image[20, 2], blue = image[20, 12]
        #expect(red.0 > 200 && red.2 < 60 && blue.2 > 200 && blue.0 < 60, "\(red) \(blue)")
        #expect(maxDifference(image, Self.colours) <= 80)
        let grey = try ImageIO.read(path: try Self.encoded("grey.jpg", ["-pix_fmt", "gray", "-q:v", "2"]))
        let p = grey[39, 25]
        #expect(p.0 == p.1 && p.1 == p.2 && p.0 > 240)
    }

    /// A 16×8 CMYK JPEG (Adobe marker, no transform), left half red, right half blue. Made with Pillow 11:
    /// `Image.new("RGB", (16, 8))` filled with (220, 30, 30) | (30, 30, 220), `.convert("CMYK").save(buf, "JPEG",
    /// quality=95)`, base64-encoded.
    static let cmykJPEG = """
        /9j/7gAOQWRvYmUAZAAAAAAA/9sAQwACAQEBAQECAQEBAgICAgIEAwICAgIFBAQDBAYFBgYGBQYGBgcJCAYHCQcGBggLCAkKCgoKCgYICwwLCgwJ\
        CgoK/8AAFAgACAAQBEMRAE0RAFkRAEsRAP/EAB8AAAEFAQEBAQEBAAAAAAAAAAABAgMEBQYHCAkKC//EALUQAAIBAwMCBAMFBQQEAAABfQECAwAE\
        EQUSITFBBhNRYQcicRQygZGhCCNCscEVUtHwJDNicoIJChYXGBkaJSYnKCkqNDU2Nzg5OkNERUZHSElKU1RVVldYWVpjZGVmZ2hpanN0dXZ3eHl6\
        g4SFhoeIiYqSk5SVlpeYmZqio6Slpqeoqaqys7S1tre4ubrCw8TFxsfIycrS09TV1tfY2drh4uPk5ebn6Onq8fLz9PX29/j5+v/aAA4EQwBNAFkA\
        SwAAPwD9cK/Hevx3r9/K/kHor+viiv/Z
        """

    @Test func cmykJPEGBecomesRGB() throws {
        let path = try MediaFiles.file("cmyk.jpg") { p in
            try #require(Data(base64Encoded: Self.cmykJPEG)).write(to: URL(fileURLWithPath: p))
        }
        let image = try ImageIO.read(path: path)
        #expect(image.width == 16 && image.height == 8)
        let left = image[3, 4], right = image[12, 4]
        #expect(abs(Int(left.0) - 220) <= 6 && abs(Int(left.1) - 30) <= 6 && abs(Int(left.2) - 30) <= 6, "\(left)")
        #expect(abs(Int(right.0) - 30) <= 6 && abs(Int(right.1) - 30) <= 6 && abs(Int(right.2) - 220) <= 6, "\(right)")
    }

    @Test func pngWriterRoundTripsMasksAndPictures() throws {
        let folder = try MediaFiles.scratchFolder("png-writer")
        let mask = GrayImage.mask(width: 33, height: 17) { x, y in (x - 16) * (x - 16) + (y - 8) * (y - 8) < 40 }
        try ImageIO.writePNG(mask, to: folder + "/mask.png")
        let back = try ImageIO.readGray(path: folder + "/mask.png")
        #expect(back == mask)
        #expect(Set(back.pixels) == [0, 255])
        let probe = try MediaFiles.run("ffprobe", ["-v", "error", "-show_entries", "stream=pix_fmt,codec_name",
                                                   "-of", "csv=p=0", folder + "/mask.png"])
        #expect(probe.contains("png") && probe.contains("gray"), "\(probe)")

        try ImageIO.writePNG(Self.colours, to: folder + "/colours.png")
        #expect(try ImageIO.read(path: folder + "/colours.png") == Self.colours)
        // Overwriting replaces the file; no temporary file is left behind.
        try ImageIO.writePNG(RGBImage(width: 3, height: 2, fill: (1, 2, 3)), to: folder + "/colours.png")
        #expect(try ImageIO.read(path: folder + "/colours.png") == RGBImage(width: 3, height: 2, fill: (1, 2, 3)))
        let names = try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
        #expect(names == ["colours.png", "mask.png"])
    }

    @Test func pngWriterRefusesBadInput() throws {
        let folder = try MediaFiles.scratchFolder("png-writer-bad")
        #expect { try ImageIO.writePNG(RGBImage(width: 2, height: 2), to: folder + "/missing/x.png") } throws: {
            ($0 as? VideoError)?.kind == .writeFailed && "\($0)".contains("missing/x.png")
        }
        var broken = RGBImage(width: 4, height: 4)
        broken.pixels.removeLast()
        #expect(throws: VideoError.self) { try ImageIO.writePNG(broken, to: folder + "/broken.png") }
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder).isEmpty)
    }

    /// A smooth W×H picture: slow sine waves, a different one per channel.
    static func smooth(width: Int, height: Int) -> RGBImage {
        var image = RGBImage(width: width, height: height)
        for y in 0..<height {
            for x in 0..<width {
                let (u, v) = (Double(x) / Double(width), Double(y) / Double(height))
                let r = 128 + 100 * sin(2 * Double.pi * u), g = 128 + 100 * cos(2 * Double.pi * v)
                let b = 128 + 90 * sin(Double.pi * (u + v))
                let i = (y * width + x) * 3
                image.pixels[i] = UInt8(r.rounded()); image.pixels[i + 1] = UInt8(g.rounded())
                image.pixels[i + 2] = UInt8(b.rounded())
            }
        }
        return image
    }

    func psnr(_ a: RGBImage, _ b: RGBImage) -> Double {
        guard a.width == b.width, a.height == b.height, !a.pixels.isEmpty else { return 0 }
        var squared = 0.0
        for (p, q) in zip(a.pixels, b.pixels) { let d = Double(p) - Double(q); squared += d * d }
        return squared == 0 ? .infinity : 10 * log10(255 * 255 / (squared / Double(a.pixels.count)))
    }

    @Test func jpegWriterRoundTripsASmoothPicture() throws {
        let folder = try MediaFiles.scratchFolder("jpeg-writer")
        let image = Self.smooth(width: 96, height: 64)
        try ImageIO.writeJPEG(image, to: folder + "/smooth.jpg")
        let probe = try MediaFiles.run("ffprobe", ["-v", "error", "-show_entries", "stream=codec_name,pix_fmt,width,height",
                                                   "-of", "csv=p=0", folder + "/smooth.jpg"])
        #expect(probe.contains("mjpeg") && probe.contains("yuvj444p") && probe.contains("96,64"), "\(probe)")
        let back = try ImageIO.read(path: folder + "/smooth.jpg")
        #expect(back.width == 96 && back.height == 64)
        let atNinety = psnr(back, image)
        #expect(atNinety > 35, "PSNR at quality 90: \(atNinety) dB")
        // The quality setting matters: lower quality, smaller file and lower PSNR; quality 100 is closer still.
        try ImageIO.writeJPEG(image, to: folder + "/low.jpg", quality: 20)
        try ImageIO.writeJPEG(image, to: folder + "/best.jpg", quality: 100)
        let size = { (name: String) in try FileManager.default.attributesOfItem(atPath: folder + name)[.size] as? Int ?? 0 }
        #expect(try size("/low.jpg") < size("/smooth.jpg") && size("/smooth.jpg") < size("/best.jpg"))
        let atTwenty = psnr(try ImageIO.read(path: folder + "/low.jpg"), image)
        let atHundred = psnr(try ImageIO.read(path: folder + "/best.jpg"), image)
        #expect(atTwenty < atNinety && atNinety < atHundred, "\(atTwenty) \(atNinety) \(atHundred) dB")
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
                == ["best.jpg", "low.jpg", "smooth.jpg"])
    }

    @Test(arguments: [(33, 17), (1, 1), (17, 1), (2, 31)])
    func jpegWriterKeepsGreyAndOddSizes(width: Int, height: Int) throws {
        let folder = try MediaFiles.scratchFolder("jpeg-grey")
        var image = RGBImage(width: width, height: height)
        for y in 0..<height {
            for x in 0..<width {
                let v = UInt8(40 + (x * 150 / max(1, width - 1) + y * 50 / max(1, height - 1)))
                for c in 0..<3 { image.pixels[(y * width + x) * 3 + c] = v }
            }
        }
        try ImageIO.writeJPEG(image, to: folder + "/grey.jpg")
        let back = try ImageIO.read(path: folder + "/grey.jpg")
        #expect(back.width == width && back.height == height)
        for y in 0..<back.height {
            for x in 0..<back.width {
                let p = back[x, y], q = image[x, y]
                // Grey stays grey (neutral chroma), and close to the input.
                #expect(abs(Int(p.0) - Int(p.1)) <= 2 && abs(Int(p.1) - Int(p.2)) <= 2, "\(x),\(y): \(p)")
                #expect(abs(Int(p.1) - Int(q.1)) <= 12, "\(x),\(y): \(p.1) for \(q.1)")
            }
        }
    }

    @Test func jpegWriterGivesTheSameBytesTwice() throws {
        let folder = try MediaFiles.scratchFolder("jpeg-same")
        let image = Self.smooth(width: 45, height: 27)
        try ImageIO.writeJPEG(image, to: folder + "/a.jpg")
        try ImageIO.writeJPEG(image, to: folder + "/b.jpg")
        let a = try Data(contentsOf: URL(fileURLWithPath: folder + "/a.jpg"))
        let b = try Data(contentsOf: URL(fileURLWithPath: folder + "/b.jpg"))
        #expect(a == b)
        #expect(a.starts(with: [0xFF, 0xD8]) && a.suffix(2) == Data([0xFF, 0xD9]))
        // Bit-exact mode: no encoder version string that would change the bytes with the FFmpeg build.
        #expect(a.range(of: Data("Lavc".utf8)) == nil)
        // Another picture gives other bytes.
        var other = image
        other.pixels[0] ^= 0x80
        try ImageIO.writeJPEG(other, to: folder + "/c.jpg")
        #expect(try Data(contentsOf: URL(fileURLWithPath: folder + "/c.jpg")) != a)
    }

    @Test func jpegWriterRefusesBadInput() throws {
        let folder = try MediaFiles.scratchFolder("jpeg-bad")
        func refuses(_ image: RGBImage, quality: Int = 90, _ kind: VideoError.Kind, _ words: String,
                     sourceLocation: SourceLocation = #_sourceLocation) {
            #expect(sourceLocation: sourceLocation) {
                try ImageIO.writeJPEG(image, to: folder + "/x.jpg", quality: quality)
            } throws: {
                ($0 as? VideoError)?.kind == kind && "\($0)".contains("x.jpg") && "\($0)".contains(words)
            }
        }
        var broken = RGBImage(width: 4, height: 4)
        broken.pixels.removeLast()
        refuses(broken, .invalidArgument, "47 bytes is not 4×4×3")
        refuses(RGBImage(width: 0, height: 5), .invalidArgument, "0×5")
        var negative = RGBImage(width: 2, height: 2)
        negative.width = -2
        refuses(negative, .invalidArgument, "-2×2")
        var huge = RGBImage(width: 1, height: 1)
        huge.width = Int.max
        refuses(huge, .absurdSize, "above \(maximumSide)")
        refuses(RGBImage(width: maximumSide + 1, height: 1), .absurdSize, "\(maximumSide + 1)×1")
        refuses(RGBImage(width: 2, height: 2), quality: 0, .invalidArgument, "quality 0")
        refuses(RGBImage(width: 2, height: 2), quality: 101, .invalidArgument, "quality 101")
        #expect { try ImageIO.writeJPEG(RGBImage(width: 2, height: 2), to: folder + "/missing/x.jpg") } throws: {
            ($0 as? VideoError)?.kind == .writeFailed && "\($0)".contains("missing/x.jpg")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder).isEmpty)
    }

    @Test func jpegWriterLeavesNoTemporaryFileOnFailure() throws {
        let folder = try MediaFiles.scratchFolder("jpeg-fail")
        // The destination is a folder: encoding and writing succeed, the final rename fails.
        try FileManager.default.createDirectory(atPath: folder + "/taken.jpg", withIntermediateDirectories: false)
        #expect { try ImageIO.writeJPEG(Self.smooth(width: 8, height: 8), to: folder + "/taken.jpg") } throws: {
            ($0 as? VideoError)?.kind == .writeFailed && "\($0)".contains("taken.jpg")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder) == ["taken.jpg"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder + "/taken.jpg").isEmpty)
        // A failed overwrite keeps the old file.
        try ImageIO.writeJPEG(Self.smooth(width: 8, height: 8), to: folder + "/kept.jpg")
        let old = try Data(contentsOf: URL(fileURLWithPath: folder + "/kept.jpg"))
        #expect(throws: VideoError.self) { try ImageIO.writeJPEG(RGBImage(width: 3, height: 3), to: folder + "/kept.jpg",
                                                                 quality: 0) }
        #expect(try Data(contentsOf: URL(fileURLWithPath: folder + "/kept.jpg")) == old)
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder).sorted() == ["kept.jpg", "taken.jpg"])
    }

    @Test func jpegQualityMapsToTheQuantiser() {
        #expect(ImageIO.jpegQuantiser(quality: 100) == 1)
        #expect(ImageIO.jpegQuantiser(quality: 90) == 3)
        #expect(ImageIO.jpegQuantiser(quality: 50) == 14)
        #expect(ImageIO.jpegQuantiser(quality: 1) == 31)
        let all = (1...100).map { ImageIO.jpegQuantiser(quality: $0) }
        #expect(zip(all, all.dropFirst()).allSatisfy { $0 >= $1 }, "higher quality never quantises more coarsely")
    }

    @Test func resizeKeepsFlatColoursAndShapes() throws {
        let small = try ImageIO.resize(RGBImage(width: 50, height: 40, fill: (10, 200, 90)), width: 7, height: 9)
        #expect(small.width == 7 && small.height == 9)
        #expect(small.pixels.enumerated().allSatisfy { i, v in abs(Int(v) - [10, 200, 90][i % 3]) <= 1 })
    }

    @Test func rotationTurnsClockwise() throws {
        // 2×1: left red, right blue → turned 90° clockwise it is 1×2 with red on top.
        let image = try RGBImage(width: 2, height: 1, pixels: [255, 0, 0, 0, 0, 255])
        let turned = image.rotated(clockwise: 90)
        #expect(turned.width == 1 && turned.height == 2 && turned[0, 0] == (255, 0, 0) && turned[0, 1] == (0, 0, 255))
        #expect(image.rotated(clockwise: 270) == (try RGBImage(width: 1, height: 2, pixels: [0, 0, 255, 255, 0, 0])))
        #expect(image.rotated(clockwise: 180) == (try RGBImage(width: 2, height: 1, pixels: [0, 0, 255, 255, 0, 0])))
        #expect(image.rotated(clockwise: 360) == image)
    }
}
