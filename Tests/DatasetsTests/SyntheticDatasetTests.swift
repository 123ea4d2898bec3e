import Foundation
import Testing
import Video
@testable import Datasets

/// A whole small synthetic dataset written with the real encoders and read back with the real readers.
@Suite(.serialized) struct SyntheticDatasetTests {
    static func config(seed: UInt64 = 11) -> SyntheticConfig {
        var c = SyntheticConfig()
        c.videos = 2
        c.images = 2
        c.seed = seed
        c.width = 96
        c.height = 72
        c.frames = 24
        return c
    }

    static func write(_ c: SyntheticConfig, to dir: String) throws -> SyntheticSummary {
        SyntheticVideoMedia.makeHeapDeterministic()
        defer { SyntheticVideoMedia.makeHeapDeterministic(false) }
        return try SyntheticWriter(generator: SynthGenerator(config: c), media: SyntheticVideoMedia()).write(to: dir)
    }

    /// PSNR (dB) of a decoded picture against the rendered pixels.
    static func psnr(_ decoded: RGBImage, _ rendered: [UInt8]) -> Double {
        var squared = 0.0
        for i in rendered.indices { let d = Double(decoded.pixels[i]) - Double(rendered[i]); squared += d * d }
        return 10 * log10(255 * 255 / (squared / Double(rendered.count)))
    }

    /// The decoded picture's mean colour over a 0/1 mask, the palette colour nearest to it, and the
    /// number of mask pixels.
    static func meanColour(_ decoded: RGBImage, mask: [UInt8]) -> (mean: [Int], nearest: SynthColour?, pixels: Int) {
        var sum = [0, 0, 0], n = 0
        for i in mask.indices where mask[i] == 1 {
            let p = decoded[i % decoded.width, i / decoded.width]
            sum[0] += Int(p.0); sum[1] += Int(p.1); sum[2] += Int(p.2); n += 1
        }
        let mean = sum.map { $0 / max(1, n) }
        let nearest = SynthColour.allCases.min { c1, c2 in
            func d(_ c: SynthColour) -> Int {
                let (r, g, b) = c.rgb
                return abs(mean[0] - Int(r)) + abs(mean[1] - Int(g)) + abs(mean[2] - Int(b))
            }
            return d(c1) < d(c2)
        }
        return (mean, nearest, n)
    }

    /// Every file under `dir`, relative path → bytes.
    static func files(_ dir: String) throws -> [String: Data] {
        var out: [String: Data] = [:]
        let e = try #require(FileManager.default.enumerator(atPath: dir))
        while let rel = e.nextObject() as? String {
            var isDir: ObjCBool = false
            let full = (dir as NSString).appendingPathComponent(rel)
            if FileManager.default.fileExists(atPath: full, isDirectory: &isDir), !isDir.boolValue {
                out[rel] = try Data(contentsOf: URL(fileURLWithPath: full))
            }
        }
        return out
    }

    @Test func sameSeedSameBytes() throws {
        let a = try TemporaryFolder(), b = try TemporaryFolder(), c = try TemporaryFolder()
        _ = try Self.write(Self.config(), to: a.path)
        _ = try Self.write(Self.config(), to: b.path)
        _ = try Self.write(Self.config(seed: 12), to: c.path)
        let fa = try Self.files(a.path), fb = try Self.files(b.path), fc = try Self.files(c.path)
        #expect(fa.keys.sorted() == fb.keys.sorted())
        #expect(fa.keys.contains("Release/clips320H/syn00001.mp4"))
        #expect(fa.keys.contains("a2d_annotation_with_instances/syn00000/00009.h5"))
        #expect(fa.keys.contains("referit/mask/2_1.mat"))
        #expect(fa.keys.contains("referit/images/1.jpg") && fa.keys.contains("referit/images/2.jpg"))
        #expect(!fa.keys.contains { $0.hasSuffix(".tmp") || $0.contains(".partial-") })
        for (name, data) in fa { #expect(fb[name] == data, "\(name) differs between two runs with one seed") }
        #expect(fa["a2d_annotation.txt"] != fc["a2d_annotation.txt"], "another seed should give other sentences")
    }

    @Test func readsBackThroughTheA2DAndReferItReaders() throws {
        let t = try TemporaryFolder()
        let config = Self.config()
        let summary = try Self.write(config, to: t.path)
        let g = try SynthGenerator(config: config)
        #expect(config.annotatedFrames == [9, 17])
        #expect(summary.videos == 2 && summary.testVideos == 1 && summary.samples == summary.sentences * 2)

        let a2d = A2DSentences(root: t.path)
        let train = try a2d.samples(split: "train"), test = try a2d.samples(split: "test")
        #expect(train.count + test.count == summary.samples)
        #expect(train.count == (try g.clip(0)).expressions.count * 2)

        let cues = try #require(try JSONSerialization.jsonObject(
            with: Data(contentsOf: URL(fileURLWithPath: t.sub("cues.json")))) as? [String: String])
        #expect(cues.count == summary.sentences)
        for (i, samples) in [(0, train), (1, test)] {
            let clip = try g.clip(i)
            let frames = SynthRenderer.renderAll(clip)
            let reader = try VideoReader(path: a2d.clipPath(video: clip.id))
            #expect(reader.info.frameCount == clip.frameCount)
            #expect(reader.info.width == clip.width && reader.info.height == clip.height)
            for s in samples {
                guard case .video(_, let frame, _) = s.source else {
                    Issue.record("sample \(s.id) is not a video frame")
                    continue
                }
                let instance = try #require(Int(s.instance))
                let e = try #require(clip.expressions.first { $0.target == instance })
                #expect(s.sentence == e.text)
                #expect(cues["\(clip.id),\(instance),\(s.sentence)"] == e.cue.rawValue)
                // The mask is the visible part of the actor in the rendered frame …
                let mask = try s.loadMask(frameWidth: clip.width, frameHeight: clip.height)
                #expect(mask.pixels == frames[frame - 1].mask(instance: instance))
                // … and the decoded frame is close to the rendered one (H.264, 4:2:0 chroma: lossy at
                // edges), with the actor's mean colour over its mask nearest to its own palette colour.
                let decoded = try reader.frame(at: frame)
                let psnr = Self.psnr(decoded, frames[frame - 1].image.pixels)
                #expect(psnr > 28, "\(clip.id) frame \(frame): PSNR \(psnr) dB")
                let (mean, nearest, _) = Self.meanColour(decoded, mask: mask.pixels)
                #expect(nearest == clip.actors[instance].appearance.colour,
                        "\(clip.id) frame \(frame) instance \(instance): mean colour \(mean)")
            }
        }

        let referit = ReferIt(root: t.sub("referit"))
        let stills = try referit.samples(split: "trainval") + referit.samples(split: "test")
        #expect(stills.count == summary.imageSentences)
        for s in stills {
            let key = s.instance
            let parts = key.split(separator: "_")
            let still = try g.still(try #require(Int(parts[0])) - 1)
            let instance = try #require(Int(parts[1])) - 1
            let frame = SynthRenderer.renderAll(still)[0]
            let mask = try s.loadMask(frameWidth: still.width, frameHeight: still.height)
            #expect(mask.pixels == frame.mask(instance: instance))
            #expect(s.sentence == still.expressions[instance].text)
            // The picture is found where the reader's sample says it is: a JPEG (images/<id>.jpg) close to the
            // rendered picture, the actor's mean colour over its mask nearest to its own palette colour.
            guard case .image(let imagePath) = s.source else {
                Issue.record("sample \(s.id) is not a still image")
                continue
            }
            #expect(imagePath == t.sub("referit/images/\(parts[0]).jpg"))
            let head = try Data(contentsOf: URL(fileURLWithPath: imagePath)).prefix(3)
            #expect(head.elementsEqual([0xFF, 0xD8, 0xFF]), "\(imagePath) does not start with a JPEG marker")
            let decoded = try ImageIO.read(path: imagePath)
            #expect(decoded.width == still.width && decoded.height == still.height)
            let psnr = Self.psnr(decoded, frame.image.pixels)
            #expect(psnr > 30, "\(imagePath): PSNR \(psnr) dB")
            let (mean, colour, n) = Self.meanColour(decoded, mask: mask.pixels)
            #expect(n == 0 || colour == still.actors[instance].appearance.colour, "\(key): mean colour \(mean)")
        }
        // The ReferIt check finds every picture and mask.
        for split in referit.splits {
            let report = try referit.check(split: split, options: CheckOptions(strict: true, verifyMasks: true))
            let pictures = Set(try referit.samples(split: split).map(\.source.path))
            #expect(report.missing.isEmpty && report.unreadable.isEmpty, "\(split): \(report.missing)")
            #expect(report.units == pictures.count && pictures.allSatisfy { $0.hasSuffix(".jpg") })
        }
    }
}
