// The overlay's legibility on the project's sample clip (data/sample.mp4: red squares and yellow triangles on a
// noisy reddish-grey ground) and on a still made by ffmpeg: a mask's colour avoids the hue under it, its outline
// has a dark and a light ring outside it, its fill is partial, and the legend writes each sentence in its colour.
import Foundation
import Testing
@testable import Video

@Suite struct OverlayTests {
    static let sampleClip = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("data/sample.mp4").path

    /// Frame 1 of the sample clip and a mask of its strongly red pixels (the two red squares).
    static func redSquares() throws -> (frame: RGBImage, mask: GrayImage) {
        let reader = try VideoReader(path: sampleClip)
        let frame = try #require(try reader.nextFrame())
        let mask = GrayImage.mask(width: frame.width, height: frame.height) { x, y in
            let o = (y * frame.width + x) * 3
            return frame.pixels[o] > 170 && frame.pixels[o + 1] < 90 && frame.pixels[o + 2] < 90
        }
        return (frame, mask)
    }

    /// The hue distance in degrees between two colours.
    static func hueDistance(_ a: Overlay.Colour, _ b: Overlay.Colour) -> Double {
        let d = abs(Overlay.hue(a) - Overlay.hue(b))
        return min(d, 360 - d)
    }

    @Test func aRedMaskOverRedGetsAColourOfAnotherHue() throws {
        let (frame, mask) = try Self.redSquares()
        #expect(mask.pixels.filter { $0 != 0 }.count > 500, "the sample's red squares were not found")
        let colour = Overlay.colour(under: mask, in: frame)
        #expect(Self.hueDistance(colour, (255, 0, 0)) >= 60, "\(colour) is drawn over red")
        // Over the grey-ish ground the palette's first colour (red) is kept; taken colours are avoided.
        let ground = GrayImage.mask(width: frame.width, height: frame.height) { x, y in x < 20 && y > frame.height - 20 }
        #expect(Overlay.colour(under: ground, in: frame) == Overlay.palette[0])
        #expect(Overlay.colour(under: ground, in: frame, avoiding: [Overlay.palette[0]]) == Overlay.palette[1])
    }

    @Test func outlineHasADarkAndALightRingAndTheFillIsPartial() throws {
        let (frame, mask) = try Self.redSquares()
        let colour: Overlay.Colour = (48, 160, 255)
        let out = try Overlay.blend(frame, mask: mask, colour: colour)
        let (w, h) = (frame.width, frame.height)
        func pixel(_ image: RGBImage, _ i: Int) -> [Int] { (0..<3).map { Int(image.pixels[i * 3 + $0]) } }
        /// Chebyshev distance from pixel i to the mask, up to 3.
        func distance(_ i: Int) -> Int {
            let (x, y) = (i % w, i / w)
            for r in 0...2 {
                for dy in -r...r {
                    for dx in -r...r where x + dx >= 0 && y + dy >= 0 && x + dx < w && y + dy < h
                        && mask.pixels[(y + dy) * w + x + dx] != 0 { return r }
                }
            }
            return 3
        }
        var dark = 0, light = 0, fills = 0
        for i in 0..<(w * h) {
            switch distance(i) {
            case 1:
                #expect(pixel(out, i).allSatisfy { $0 < 40 }, "ring 1 at \(i % w),\(i / w): \(pixel(out, i))")
                dark += 1
            case 2:
                #expect(pixel(out, i).allSatisfy { $0 > 220 }, "ring 2 at \(i % w),\(i / w): \(pixel(out, i))")
                light += 1
            case 3: #expect(pixel(out, i) == pixel(frame, i), "far from the mask at \(i % w),\(i / w)")
            default:
                // Deep inside: between the frame and the colour, not either.
                let (x, y) = (i % w, i / w)
                guard x > 2, y > 2, x < w - 3, y < h - 3,
                      (-2...2).allSatisfy({ dy in (-2...2).allSatisfy { mask.pixels[(y + dy) * w + x + $0] != 0 } })
                else { continue }
                let (f, o) = (pixel(frame, i), pixel(out, i))
                let c = [Int(colour.0), Int(colour.1), Int(colour.2)]
                #expect(o != f && o != c && (0..<3).allSatisfy { min(f[$0], c[$0]) - 1 <= o[$0] && o[$0] <= max(f[$0], c[$0]) + 1 },
                        "fill at \(x),\(y): frame \(f), out \(o)")
                fills += 1
            }
        }
        #expect(dark > 50 && light > 50 && fills > 200, "rings \(dark) dark, \(light) light; \(fills) fill pixels")
    }

    @Test func legendWritesEachSentenceInItsColour() throws {
        let (frame, _) = try Self.redSquares()
        let texts = ["the red square jumping", "the triangle going to the right"]
        let legend = try Legend(texts: texts, width: frame.width, height: frame.height)
        let colours: [Overlay.Colour] = [(48, 160, 255), (64, 220, 64)]
        let out = try legend.draw(on: frame, colours: colours)
        let w = frame.width
        // Each line holds text pixels close to its colour, in its own rows, right of the swatch.
        for (line, colour) in colours.enumerated() {
            var ink = 0
            for y in (2 + line * legend.lineHeight)..<(2 + (line + 1) * legend.lineHeight) {
                for x in (legend.fontSize + 8)..<w {
                    let o = (y * w + x) * 3
                    let p = (Int(out.pixels[o]), Int(out.pixels[o + 1]), Int(out.pixels[o + 2]))
                    if abs(p.0 - Int(colour.0)) < 40 && abs(p.1 - Int(colour.1)) < 40 && abs(p.2 - Int(colour.2)) < 40 { ink += 1 }
                }
            }
            #expect(ink > 20, "line \(line): \(ink) pixels in \(colour)")
        }
        // The legend region differs from the frame; the rest of the frame does not.
        let box = 2 + texts.count * legend.lineHeight
        var changedInBox = 0
        for y in 0..<box { for x in 0..<(w / 2) where out.pixels[(y * w + x) * 3] != frame.pixels[(y * w + x) * 3] { changedInBox += 1 } }
        #expect(changedInBox > box * w / 4, "\(changedInBox) pixels of the legend box changed")
        let below: Int = (box + 4) * w * 3
        let after: [UInt8] = Array(out.pixels[below...]), before: [UInt8] = Array(frame.pixels[below...])
        #expect(after == before)
    }

    @Test func legendKeepsToTheFrameAndCountsWhatDoesNotFit() throws {
        let legend = try Legend(texts: (1...40).map { "sentence \($0)" }, width: 64, height: 48)
        #expect(legend.hidden > 0 && legend.lines.count * legend.lineHeight <= 48, "\(legend.lines.count) lines")
        let frame = RGBImage(width: 64, height: 48, fill: (90, 90, 90))
        #expect(try legend.draw(on: frame, colours: Overlay.palette) != frame)
        #expect(throws: VideoError.self) { try legend.draw(on: RGBImage(width: 32, height: 48), colours: []) }
        // Frames narrower or lower than a line still get what fits.
        for (w, h) in [(2, 2), (3, 40), (40, 3)] {
            let tiny = try Legend(texts: ["the red square"], width: w, height: h)
            #expect(try tiny.draw(on: RGBImage(width: w, height: h, fill: (90, 90, 90)), colours: []).width == w)
        }
    }

    @Test func aMissingFontFileIsAClearError() throws {
        let missing = try MediaFiles.scratchFolder("font") + "/NoSuchFont.ttf"
        do {
            _ = try Legend(texts: ["the red square"], width: 160, height: 120, fontFile: missing)
            Issue.record("a legend was made without its font file")
        } catch let error as VideoError {
            #expect(error.path == missing && error.message.contains("fonts-dejavu-core"), "\(error)")
        }
    }
}
