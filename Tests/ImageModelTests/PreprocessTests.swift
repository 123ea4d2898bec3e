import Testing
@testable import ImageModel

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
}
