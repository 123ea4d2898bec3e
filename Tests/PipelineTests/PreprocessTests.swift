// Preprocessing: resize_and_pad of frames and masks into the network input (one implementation for
// both), and resize_and_crop of predictions back to the frame.
import Testing
import Tensor
@testable import Pipeline

@Suite struct PreprocessTests {
    @Test func resizeAndPadCentresTheFrameAndSubtractsTheMeanInBGR() throws {
        // A 4×2 (w×h) pure red frame into an 8×8 input: scaled ×2 to 8×4, padded 2 rows top and bottom.
        let rgb = [UInt8](repeating: 0, count: 4 * 2 * 3).enumerated().map { $0.offset % 3 == 0 ? UInt8(255) : 0 }
        let p = try Preprocess.prepare(rgb: rgb, width: 4, height: 2, H: 8, W: 8)
        #expect(p.geometry == PadGeometry(frameHeight: 2, frameWidth: 4, resizedHeight: 4, resizedWidth: 8, padTop: 2, padLeft: 0))
        #expect(p.tensor.shape == [8, 8, 3])
        // Inside: B = 0 − 104.0…, G = 0 − 116.6…, R = 255 − 122.6…
        let inside = Array(p.tensor.scalars[(3 * 8 + 4) * 3..<(3 * 8 + 4) * 3 + 3])
        #expect(abs(inside[0] + 104.00698793) < 1e-3 && abs(inside[2] - (255 - 122.67891434)) < 1e-3)
        // Padding: 0 − mean.
        #expect(abs(p.tensor.scalars[0] + 104.00698793) < 1e-3)
        #expect(p.rgb[(3 * 8 + 4) * 3] == 255 && p.rgb[0] == 0)
    }

    @Test func maskGoesBackToTheFrameSize() {
        // 8×8 prediction with the middle rows on → back to a 4×2 frame (crop of the ×0.5 resize).
        var binary = [Float](repeating: 0, count: 64)
        for y in 2..<6 { for x in 0..<8 { binary[y * 8 + x] = 1 } }
        let mask = Preprocess.maskToFrame(binary, H: 8, W: 8, frameHeight: 2, frameWidth: 4)
        #expect(mask.count == 8)
        #expect(mask.allSatisfy { $0 == 1 })
    }

    @Test func badImagesAreErrors() {
        #expect(throws: (any Error).self) { try Preprocess.prepare(rgb: [1, 2, 3], width: 2, height: 2, H: 8, W: 8) }
    }

    @Test func maskIsResizedAndPaddedLikeTheImage() throws {
        // A 4×2 (W×H) mask with its right half set → 8×8: content rows 2…5, columns 4…7.
        let t = try Preprocess.padMask(pixels: [0, 0, 1, 1, 0, 0, 1, 1], width: 4, height: 2, H: 8, W: 8)
        #expect(t.shape == [8, 8])
        for y in 0..<8 {
            for x in 0..<8 {
                let inside = (2..<6).contains(y) && x >= 4
                if inside { #expect(t.scalars[y * 8 + x] == 1, "(\(y),\(x))") }
                if !(2..<6).contains(y) { #expect(t.scalars[y * 8 + x] == 0, "(\(y),\(x))") }
                if x < 3 { #expect(t.scalars[y * 8 + x] == 0, "(\(y),\(x))") }
            }
        }
    }

    @Test func maskAtTheInputSizeIsTakenAsItIs() throws {
        // At the frame's own size resize_and_pad is the identity, so "> 0" adds no border; a
        // smaller input widens the mask by the pixels the bilinear resize touches.
        var rng = SplitMix64(seed: 5)
        let pixels: [UInt8] = (0..<(16 * 12)).map { _ in rng.next() % 3 == 0 ? 1 : 0 }
        #expect(try Preprocess.padMask(pixels: pixels, width: 16, height: 12, H: 12, W: 16).scalars == pixels.map(Float.init))
        let square: [UInt8] = (0..<1600).map { i in (10..<30).contains(i / 40) && (10..<30).contains(i % 40) ? 1 : 0 }
        let half = try Preprocess.padMask(pixels: square, width: 40, height: 40, H: 20, W: 20)
        #expect(half.scalars.reduce(0, +) > 100)      // 10×10 at half size, more after "> 0"
    }

    @Test(arguments: [(7, 5), (5, 9), (33, 20), (20, 33), (16, 16), (3, 40)])
    func aFullMaskCoversExactlyThePaddedImage(width: Int, height: Int) throws {
        // The image and its mask go through one resize_and_pad: a white frame's non-zero pixels and an
        // all-ones mask's foreground are the same rectangle of the 24×32 input.
        let white = try Preprocess.prepare(rgb: [UInt8](repeating: 255, count: width * height * 3),
                                           width: width, height: height, H: 24, W: 32)
        let mask = try Preprocess.padMask(pixels: [UInt8](repeating: 1, count: width * height),
                                          width: width, height: height, H: 24, W: 32)
        let g = white.geometry
        #expect(g == Preprocess.padGeometry(width: width, height: height, H: 24, W: 32))
        for i in 0..<(24 * 32) {
            let (y, x) = (i / 32, i % 32)
            let inside = (g.padTop..<(g.padTop + g.resizedHeight)).contains(y) && (g.padLeft..<(g.padLeft + g.resizedWidth)).contains(x)
            #expect((white.rgb[i * 3] != 0) == inside, "image at (\(y),\(x))")
            #expect((mask.scalars[i] != 0) == inside, "mask at (\(y),\(x))")
        }
    }

    @Test func aMaskOfTheWrongSizeIsAnError() {
        #expect(throws: (any Error).self) { try Preprocess.padMask(pixels: [1, 0, 1], width: 2, height: 2, H: 8, W: 8) }
    }
}
