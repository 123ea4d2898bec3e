import Foundation
import Testing
@testable import Datasets

/// Reads a synthetic sentence back into its parts with the fixed word lists, independently of
/// how the generator built it, and finds the actors it fits at a frame.
struct SentenceReader {
    var shape: SynthShape
    var colour: SynthColour?
    var size: SynthSize?
    var action: SynthAction?
    var relation: SynthRelation?
    var anchor: (shape: SynthShape, colour: SynthColour?, size: SynthSize?)?

    init?(_ text: String) {
        var words = text.split(separator: " ").map(String.init)
        func phrase() -> (SynthShape, SynthColour?, SynthSize?)? {
            guard words.first == "the" else { return nil }
            words.removeFirst()
            var size: SynthSize?, colour: SynthColour?
            if let s = SynthSize.allCases.first(where: { $0.word == words.first }) { size = s; words.removeFirst() }
            if let c = SynthColour.allCases.first(where: { $0.word == words.first }) { colour = c; words.removeFirst() }
            guard let sh = SynthShape.allCases.first(where: { $0.word == words.first }) else { return nil }
            words.removeFirst()
            return (sh, colour, size)
        }
        guard let np = phrase() else { return nil }
        (shape, colour, size) = np
        let rest = words.joined(separator: " ")
        if rest.isEmpty { return }
        if let a = SynthAction.allCases.first(where: { $0.phrases.contains(rest) }) {
            action = a
            return
        }
        for r in SynthRelation.allCases {
            for p in r.phrases where rest.hasPrefix(p + " the ") {
                words = rest.dropFirst(p.count + 1).split(separator: " ").map(String.init)
                guard let anchorNP = phrase(), words.isEmpty else { return nil }
                relation = r
                anchor = anchorNP
                return
            }
        }
        return nil
    }

    static func fits(_ a: SynthAppearance, _ shape: SynthShape, _ colour: SynthColour?, _ size: SynthSize?) -> Bool {
        a.shape == shape && (colour == nil || a.colour == colour) && (size == nil || a.size == size)
    }

    /// The actors the sentence fits at frame t; `parts` drops the action and relation when false.
    func referents(_ clip: SynthClip, frame t: Int, parts: Bool = true) -> [Int] {
        var c = clip.actors.filter { Self.fits($0.appearance, shape, colour, size) }
        guard parts else { return c.map(\.instance) }
        if let action { c = c.filter { $0.action == action } }
        if let relation, let anchor {
            let anchors = clip.actors.filter { Self.fits($0.appearance, anchor.shape, anchor.colour, anchor.size) }
            guard anchors.count == 1 else { return [] }
            let p = anchors[0].center(frame: t, motion: clip.motion)
            c = c.filter { relation.offset($0.center(frame: t, motion: clip.motion), from: p) > 0 }
        }
        return c.map(\.instance)
    }
}

@Suite struct SyntheticSceneTests {
    static func generator(videos: Int = 40, images: Int = 0, seed: UInt64 = 7, actorScale: Double = 1) throws
        -> SynthGenerator {
        var c = SyntheticConfig()
        c.actorScale = actorScale
        c.videos = videos
        c.images = images
        c.seed = seed
        return try SynthGenerator(config: c)
    }

    @Test func sameSeedSameClipsAndFrames() throws {
        let g1 = try Self.generator(), g2 = try Self.generator()
        let other = try Self.generator(seed: 8)
        var differs = false
        for i in 0..<6 {
            let a = try g1.clip(i), b = try g2.clip(i)
            #expect(a.actors == b.actors)
            #expect(a.expressions.map(\.text) == b.expressions.map(\.text))
            #expect(a.expressions.map(\.cue) == b.expressions.map(\.cue))
            let fa = SynthRenderer.renderAll(a), fb = SynthRenderer.renderAll(b)
            #expect(fa.map(\.image) == fb.map(\.image))
            #expect(fa.map(\.labels) == fb.map(\.labels))
            if try other.clip(i).actors != a.actors { differs = true }
        }
        #expect(differs, "another seed should give other clips")
    }

    @Test(arguments: [1.0, 2.0])
    func everySentenceSinglesOutItsActorThroughItsCue(actorScale: Double) throws {
        let g = try Self.generator(videos: 30, images: 20, actorScale: actorScale)
        var cues: [SynthCue: Int] = [:]
        let clips = try (0..<30).map { try g.clip($0) } + (0..<20).map { try g.still($0) }
        for clip in clips {
            #expect(clip.expressions.count == clip.actors.count)
            #expect(Set(clip.expressions.map(\.target)) == Set(clip.actors.map(\.instance)))
            #expect((2...4).contains(clip.actors.count))
            for a in clip.actors {
                #expect(a.radius == a.appearance.size.radius(side: 120, scale: actorScale))
            }
            for e in clip.expressions {
                let r = try #require(SentenceReader(e.text), "cannot read back '\(e.text)'")
                cues[e.cue, default: 0] += 1
                for t in clip.annotatedFrames {
                    #expect(r.referents(clip, frame: t) == [e.target], "\(clip.id) '\(e.text)' at frame \(t)")
                    let bare = r.referents(clip, frame: t, parts: false)
                    switch e.cue {
                    case .appearance: #expect(bare == [e.target], "\(clip.id) '\(e.text)'")
                    case .action:
                        #expect(bare.count > 1 && r.action != nil && r.relation == nil, "\(clip.id) '\(e.text)'")
                    case .relation:
                        #expect(bare.count > 1 && r.relation != nil && r.action == nil, "\(clip.id) '\(e.text)'")
                    }
                }
            }
            try SynthVerifier.verify(clip, clip.expressions)
        }
        #expect((cues[.action] ?? 0) > 0 && (cues[.relation] ?? 0) > 0 && (cues[.appearance] ?? 0) > 0)
    }

    @Test func cueSharesAreBalanced() throws {
        let g = try Self.generator(videos: 100)
        var cues: [SynthCue: Int] = [:]
        for i in 0..<100 { for e in try g.clip(i).expressions { cues[e.cue, default: 0] += 1 } }
        let total = Double(cues.values.reduce(0, +))
        for cue in [SynthCue.action, .relation] {
            let share = Double(cues[cue] ?? 0) / total
            #expect(share >= 0.25 && share <= 0.4, "\(cue) share \(share)")
        }
    }

    /// Two identical actors told apart only by their action look the same in every annotated frame
    /// (same pixels up to a shift, wholly visible), and differ in how they move around it.
    @Test func actionPairsNeedSeveralFrames() throws {
        let g = try Self.generator(videos: 20)
        var pairs = 0
        for i in 0..<20 {
            let clip = try g.clip(i)
            let frames = SynthRenderer.renderAll(clip)
            for e in clip.expressions where e.cue == .action {
                let me = clip.actors[e.target]
                let twins = clip.actors.filter { $0.appearance == me.appearance && $0.instance != me.instance }
                let twin = try #require(twins.first)
                #expect(twin.action != me.action)
                for t in clip.annotatedFrames {
                    let frame = frames[t - 1]
                    func look(_ a: SynthActor) -> [[Int]] {
                        let c = a.center(frame: t, motion: clip.motion)
                        return frame.labels.indices.filter { frame.labels[$0] == Int16(a.instance) }.map { i in
                            let (x, y) = (i % clip.width, i / clip.width)
                            let px = frame.image.pixels[3 * i..<3 * i + 3].map(Int.init)
                            return [x - c.x, y - c.y] + px
                        }
                    }
                    let a = look(me), b = look(twin)
                    #expect(!a.isEmpty && a == b, "\(clip.id) frame \(t): the twins look different")
                    #expect(a.count == SynthRenderer.footprint(me, frame: t, motion: clip.motion, width: clip.width,
                                                               height: clip.height).count)
                }
                // Around an annotated frame (the 16-frame window the video model samples) they differ.
                let t = clip.annotatedFrames[0]
                let window = [t - 8, t - 4, t + 4, t + 7].filter { (1...clip.frameCount).contains($0) }
                let moves = window.contains { s in
                    let d1 = (me.center(frame: s, motion: clip.motion).x - me.center(frame: t, motion: clip.motion).x,
                              me.center(frame: s, motion: clip.motion).y - me.center(frame: t, motion: clip.motion).y)
                    let d2 = (twin.center(frame: s, motion: clip.motion).x - twin.center(frame: t, motion: clip.motion).x,
                              twin.center(frame: s, motion: clip.motion).y - twin.center(frame: t, motion: clip.motion).y)
                    return d1 != d2 || me.angle(frame: s, motion: clip.motion) != twin.angle(frame: s, motion: clip.motion)
                }
                #expect(moves, "\(clip.id): '\(e.text)' cannot be told from its twin in the sampled frames")
                pairs += 1
            }
        }
        #expect(pairs >= 6)
    }

    @Test func masksShowOcclusion() throws {
        let motion = SynthMotion(width: 64, height: 48, frames: 1, annotateEvery: 1)
        let back = SynthActor(instance: 0, appearance: SynthAppearance(shape: .square, colour: .red, size: .big),
                              action: .still, startX: 20, startY: 20, phase: 0, spinDirection: 1, radius: 8)
        let front = SynthActor(instance: 1, appearance: SynthAppearance(shape: .circle, colour: .blue, size: .small),
                               action: .still, startX: 26, startY: 20, phase: 0, spinDirection: 1, radius: 5)
        let clip = SynthClip(id: "t", width: 64, height: 48, frameCount: 1, annotatedFrames: [1], actors: [back, front],
                             expressions: [], motion: motion, backgroundSeed: 1, isTest: false)
        let frame = SynthRenderer.renderAll(clip)[0]
        let m0 = frame.mask(instance: 0), m1 = frame.mask(instance: 1)
        // The square spans x, y in 20 ± 6 (0.78 · 8 = 6.24); the circle (26 ± 4) covers its right edge.
        #expect(m0[20 * 64 + 14] == 1 && m0[20 * 64 + 21] == 1 && m0[20 * 64 + 13] == 0)
        #expect(m0[20 * 64 + 22] == 0 && m0[20 * 64 + 26] == 0 && m0[26 * 64 + 26] == 1 && m0[26 * 64 + 27] == 0)
        #expect(m0[14 * 64 + 20] == 1 && m0[13 * 64 + 20] == 0)
        #expect(m1[20 * 64 + 22] == 1 && m1[20 * 64 + 30] == 1 && m1[20 * 64 + 31] == 0)
        let full0 = SynthRenderer.footprint(back, frame: 1, motion: motion, width: 64, height: 48).count
        #expect(full0 == 13 * 13)
        #expect(m0.filter { $0 == 1 }.count < full0)
        #expect(zip(m0, m1).allSatisfy { $0 == 0 || $1 == 0 })
        #expect(frame.image.pixels[3 * (20 * 64 + 26)] == SynthColour.blue.rgb.0)
        #expect(frame.image.pixels[3 * (20 * 64 + 16) + 0] == SynthColour.red.rgb.0)
    }

    @Test func badSettingsThrow() throws {
        var c = SyntheticConfig()
        c.width = 31
        #expect(throws: SyntheticError.self) { try SynthGenerator(config: c) }
        c = SyntheticConfig()
        c.frames = 4
        #expect(throws: SyntheticError.self) { try SynthGenerator(config: c) }
        c = SyntheticConfig()
        c.testFraction = 1.5
        #expect(throws: SyntheticError.self) { try SynthGenerator(config: c) }
        c = SyntheticConfig()
        c.actorScale = 3
        #expect(throws: SyntheticError.self) { try SynthGenerator(config: c) }
        #expect(SynthSize.small.radius(side: 120, scale: 2) == 18 && SynthSize.big.radius(side: 120, scale: 2) == 30)
        #expect(SyntheticConfig().annotatedFrames == [9, 17, 25])
    }
}
