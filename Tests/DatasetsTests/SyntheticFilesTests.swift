import Foundation
import Testing
@testable import Datasets

@Suite struct SyntheticFilesTests {
    /// A clip with a known layout: a big red square at (30, 20) behind a small blue circle at (36, 20),
    /// and a yellow triangle at (60, 35), on a 80×48 frame.
    func knownClip() -> SynthClip {
        let motion = SynthMotion(width: 80, height: 48, frames: 1, annotateEvery: 1)
        func actor(_ k: Int, _ s: SynthShape, _ c: SynthColour, _ x: Int, _ y: Int, _ r: Int) -> SynthActor {
            SynthActor(instance: k, appearance: SynthAppearance(shape: s, colour: c, size: r > 6 ? .big : .small),
                       action: .still, startX: x, startY: y, phase: 0, spinDirection: 1, radius: r)
        }
        return SynthClip(id: "known", width: 80, height: 48, frameCount: 1, annotatedFrames: [1],
                         actors: [actor(0, .square, .red, 30, 20, 8), actor(1, .circle, .blue, 36, 20, 5),
                                  actor(2, .triangle, .yellow, 60, 35, 7)],
                         expressions: [], motion: motion, backgroundSeed: 3, isTest: false)
    }

    @Test func h5MasksAreTransposedAndReadBackThroughTheA2DReader() throws {
        let t = try TemporaryFolder()
        let clip = knownClip()
        let frame = SynthRenderer.renderAll(clip)[0]
        let a = SyntheticWriter.annotation(clip, frame: frame)
        #expect(a.instances == [0, 1, 2])
        #expect(a.labels == [11, 21, 31])
        let path = t.sub("00001.h5")
        try SynthAnnotationFile.write(a, to: path)

        // Raw layout: reMask is N×W×H, so reMask[k][x][y] is pixel (x, y) of instance k.
        let re = try HDF5File.read(path, dataset: "reMask")
        #expect(re.shape == [3, 80, 48])
        func raw(_ k: Int, _ x: Int, _ y: Int) -> Double { re.values[k * 80 * 48 + x * 48 + y] }
        #expect(raw(0, 24, 14) == 1 && raw(0, 14, 24) == 0)      // the square's top-left corner, not its mirror
        #expect(raw(0, 23, 20) == 0 && raw(0, 24, 20) == 1)
        #expect(raw(1, 36, 20) == 1 && raw(0, 36, 20) == 0)      // occluded by the circle
        #expect(raw(2, 60, 35) == 1 && raw(2, 35, 60 - 48) == 0)
        #expect(try HDF5File.read(path, dataset: "instance").values == [0, 1, 2])
        let box = try HDF5File.read(path, dataset: "reBBox")
        #expect(box.shape == [4, 3])
        // Row-major 4×N: x1 of every instance, then y1, x2, y2; the square spans x 24…36, y 14…26.
        #expect(box.values[0] == 24 && box.values[3] == 14 && box.values[6] == 37 && box.values[9] == 27)
        #expect(box.values[1] == 32 && box.values[7] == 41)      // the circle: x 32…40
        #expect(try HDF5File.read(path, dataset: "id").shape == [1, 3])

        // Through the A2D reader: the same masks as the label map.
        let (ids, masks) = try A2DSentences.readAnnotation(path: path)
        #expect(ids == [0, 1, 2])
        for k in 0..<3 {
            #expect(masks[k].width == 80 && masks[k].height == 48)
            #expect(masks[k].pixels == frame.mask(instance: k))
        }
        #expect(try A2DSentences.loadMask(path: path, instance: 1).pixels == frame.mask(instance: 1))
    }

    @Test func h5BytesDoNotDependOnTheTime() throws {
        let t = try TemporaryFolder()
        let clip = knownClip()
        let a = SyntheticWriter.annotation(clip, frame: SynthRenderer.renderAll(clip)[0])
        try SynthAnnotationFile.write(a, to: t.sub("a.h5"))
        Thread.sleep(forTimeInterval: 1.1)     // a stored modification time would change now
        try SynthAnnotationFile.write(a, to: t.sub("b.h5"))
        let da = try Data(contentsOf: URL(fileURLWithPath: t.sub("a.h5")))
        #expect(da == (try Data(contentsOf: URL(fileURLWithPath: t.sub("b.h5")))))
        #expect(da.count < 8000, "reMask should be compressed (\(da.count) bytes)")
        #expect(!FileManager.default.fileExists(atPath: t.sub(".a.h5.tmp")))
    }

    @Test func matFilesReadBackAsReferItMasks() throws {
        let t = try TemporaryFolder()
        let clip = knownClip()
        let frame = SynthRenderer.renderAll(clip)[0]
        let segimg = frame.labels.map { $0 == 2 ? UInt8(0) : UInt8(1) }
        let path = t.sub("1_3.mat")
        try MATWriter.write([MATMatrix(name: "segimg_t", rows: 48, columns: 80, values: .uint8(segimg))], to: path)
        let m = try MATFile.read(path, variable: "segimg_t")
        #expect(m.dims == [48, 80])
        #expect(m.className == "uint8")
        #expect(try ReferIt.loadMask(path: path).pixels == frame.mask(instance: 2))

        // Doubles, column-major on disk, and the fixed header (no date).
        let d = try MATWriter.encode([MATMatrix(name: "a", rows: 2, columns: 3, values: .double([1, 2, 3, 4, 5, 6]))])
        #expect(String(decoding: d.prefix(116), as: UTF8.self) == "MATLAB 5.0 MAT-file, Platform: cmpc-video synth".padding(toLength: 116, withPad: " ", startingAt: 0))
        #expect(Array(d[124..<128]) == [0x00, 0x01, 0x49, 0x4D])
        try d.write(to: URL(fileURLWithPath: t.sub("a.mat")))
        let a = try MATFile.read(t.sub("a.mat"), variable: "a")
        #expect(a.dims == [2, 3] && a.className == "double")
        #expect(a.values == [1, 4, 2, 5, 3, 6])      // column-major
        let z = try MATWriter.encode([MATMatrix(name: "segimg_t", rows: 48, columns: 80, values: .uint8(segimg))],
                                     compressed: true)
        #expect(z.count < 1000 && Array(z[128..<132]) == [15, 0, 0, 0])
        try z.write(to: URL(fileURLWithPath: t.sub("z.mat")))
        #expect(try ReferIt.loadMask(path: t.sub("z.mat")).pixels == frame.mask(instance: 2))
        #expect(throws: SyntheticError.self) {
            try MATWriter.encode([MATMatrix(name: "bad name", rows: 1, columns: 1, values: .double([1]))])
        }
        #expect(throws: SyntheticError.self) {
            try MATWriter.encode([MATMatrix(name: "a", rows: 2, columns: 2, values: .uint8([1]))])
        }
    }

    @Test func vocabularyStartsWithTheSpecialTokensAndCoversEverySentence() throws {
        let v = SyntheticWriter.vocabulary
        #expect(Array(v.prefix(4)) == ["<pad>", "<go>", "<eos>", "<unk>"])
        #expect(Set(v).count == v.count)
        var c = SyntheticConfig()
        c.videos = 12
        let g = try SynthGenerator(config: c)
        for i in 0..<12 {
            for e in try g.clip(i).expressions {
                for w in e.text.split(separator: " ") { #expect(v.contains(String(w)), "'\(w)' of '\(e.text)'") }
            }
        }
    }
}
