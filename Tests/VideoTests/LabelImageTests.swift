// Label pictures (annotation PNGs whose pixel value is an object id): written as palette PNGs, read back as
// palette indices, never as colours; RGB pictures are refused with the file and the fix.
import Foundation
import Testing
@testable import Video

@Suite struct LabelImageTests {
    /// Ids 0 … 3 in bands, and id 255 (DAVIS's void) in one corner, on an odd size.
    static let labels: GrayImage = {
        var image = GrayImage(width: 37, height: 23)
        for y in 0..<23 { for x in 0..<37 { image.pixels[y * 37 + x] = UInt8(x / 10) } }
        image.pixels[0] = 255
        return image
    }()

    @Test func paletteIndicesRoundTrip() throws {
        let folder = try MediaFiles.scratchFolder("labels")
        let path = (folder as NSString).appendingPathComponent("00000.png")
        try ImageIO.writeLabelPNG(Self.labels, to: path)
        #expect(try ImageIO.readLabels(path: path) == Self.labels)
        // ffprobe sees a palette PNG, and its colours are DAVIS's: id 1 red (128, 0, 0), id 2 green (0, 128, 0).
        let probe = try MediaFiles.run("ffprobe", ["-v", "error", "-show_entries", "stream=pix_fmt", "-of", "csv=p=0", path])
        #expect(probe.trimmingCharacters(in: .whitespacesAndNewlines) == "pal8")
        let rgb = try ImageIO.read(path: path)
        let at = { (x: Int) in Array(rgb.pixels[(5 * 37 + x) * 3..<(5 * 37 + x) * 3 + 3]) }
        #expect(at(12) == [128, 0, 0] && at(25) == [0, 128, 0] && at(35) == [128, 128, 0])
        // Read as grey, the colours' luma would come back instead of the ids.
        #expect(try ImageIO.readGray(path: path) != Self.labels)
    }

    @Test func paletteWrittenByFFmpegReadsAsIndices() throws {
        // A palette PNG from another writer: ffmpeg's palettegen/paletteuse; the indices read back must map
        // through the file's palette onto the picture's colours.
        let folder = try MediaFiles.scratchFolder("labels-ffmpeg")
        let rgbPath = (folder as NSString).appendingPathComponent("rgb.png")
        let palettePath = (folder as NSString).appendingPathComponent("pal.png")
        var rgb = RGBImage(width: 16, height: 8)
        for y in 0..<8 { for x in 0..<16 where x >= 8 { rgb.pixels[(y * 16 + x) * 3] = 200 } }
        try ImageIO.writePNG(rgb, to: rgbPath)
        try MediaFiles.ffmpeg(["-i", rgbPath, "-vf", "split[a][b];[a]palettegen=max_colors=4:reserve_transparent=0[p];[b][p]paletteuse=dither=none",
                               "-frames:v", "1", "-update", "1", palettePath])
        let ids = try ImageIO.readLabels(path: palettePath)
        #expect(ids.width == 16 && ids.height == 8)
        #expect(Set(ids.pixels).count == 2, "two colours give two palette indices: \(Set(ids.pixels))")
        #expect(ids[0, 0] != ids[15, 7] && ids[0, 0] == ids[7, 7])   // [x, y]
    }

    @Test func greyPicturesReadAsTheirValues() throws {
        let folder = try MediaFiles.scratchFolder("labels-grey")
        let path = (folder as NSString).appendingPathComponent("grey.png")
        try ImageIO.writePNG(Self.labels, to: path)
        #expect(try ImageIO.readLabels(path: path) == Self.labels)
    }

    @Test func rgbPicturesAreRefusedNamingTheFileAndTheFix() throws {
        let folder = try MediaFiles.scratchFolder("labels-rgb")
        let path = (folder as NSString).appendingPathComponent("00005.png")
        try ImageIO.writePNG(RGBImage(width: 4, height: 4), to: path)
        #expect {
            _ = try ImageIO.readLabels(path: path)
        } throws: {
            let text = "\($0)"
            return text.contains(path) && text.contains("rgb24") && text.contains("original annotation PNGs")
        }
    }
}
