// PixelMask, the one mask type: 0/1 values, size checks, pixel access and its RLE.
import Testing
@testable import Evaluation

@Suite struct PixelMaskTests {
    @Test func valuesBecomeZeroOrOneAndSizesAreChecked() throws {
        let m = try PixelMask(width: 3, height: 2, pixels: [0, 255, 1, 0, 0, 7])
        #expect(m.pixels == [0, 1, 1, 0, 0, 1] && m.area == 3 && !m.isEmpty)
        #expect(m[0, 1] == 1 && m[1, 0] == 0 && m[1, 2] == 1)
        #expect(throws: RLEError.maskSize(count: 5, height: 2, width: 3)) { try PixelMask(width: 3, height: 2, pixels: [0, 0, 0, 0, 0]) }
        #expect(throws: RLEError.badSize(height: 2, width: -1)) { try PixelMask(width: -1, height: 2, pixels: []) }
    }

    @Test func anEmptyMaskIsSetPixelByPixel() throws {
        var m = PixelMask(width: 4, height: 2)
        #expect(m.isEmpty && m.area == 0 && m.pixels.count == 8)
        m[1, 3] = 9
        #expect(m.pixels == [0, 0, 0, 0, 0, 0, 0, 1] && m.area == 1)
        #expect(try m.rle().decode() == m.pixels && m.rle().area == 1)
    }
}
