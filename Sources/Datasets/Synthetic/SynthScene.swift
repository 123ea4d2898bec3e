// The synthetic world: actors (a shape with a colour and a size) doing one action through a clip.
//
// Legend: W×H frame size in pixels, F frames per clip (1-based frame numbers, as A2D names them),
// r an actor's radius in pixels. Positions are pixel centres, x to the right, y downwards.
// Every actor's pixel position is an integer at every frame and its rotation is an exact
// multiple of its shape's symmetry angle at annotated frames (frames 1 + k·8), so two actors of
// the same appearance look identical, up to a translation, in any annotated frame.
import Foundation
import Tensor

/// A deterministic random source: SplitMix64 with integer-only helpers (no platform-dependent
/// floating-point sampling), so a seed gives the same choices on every machine and Swift version.
public struct SynthRandom: Sendable {
    var generator: SplitMix64

    /// A generator for `seed`, mixed with `stream` so independent streams do not overlap.
    public init(seed: UInt64, stream: UInt64 = 0) {
        var g = SplitMix64(seed: seed ^ (stream &* 0xD1B5_4A32_D192_ED03))
        _ = g.next()
        generator = g
    }

    /// A uniform integer in 0..<n (n ≥ 1).
    public mutating func below(_ n: Int) -> Int {
        guard n > 1 else { return 0 }
        return Int(generator.next() % UInt64(n))
    }

    /// A uniform integer in the closed range.
    public mutating func int(in range: ClosedRange<Int>) -> Int {
        range.lowerBound + below(range.upperBound - range.lowerBound + 1)
    }

    /// A uniform Double in [0, 1) with 53 random bits.
    public mutating func unit() -> Double {
        Double(generator.next() >> 11) * 0x1p-53
    }

    /// True with probability `p`.
    public mutating func chance(_ p: Double) -> Bool { unit() < p }

    /// One element of a non-empty array.
    public mutating func pick<T>(_ items: [T]) -> T { items[below(items.count)] }

    /// The array in a random order (Fisher–Yates).
    public mutating func shuffled<T>(_ items: [T]) -> [T] {
        var a = items
        if a.count < 2 { return a }
        for i in stride(from: a.count - 1, to: 0, by: -1) {
            a.swapAt(i, below(i + 1))
        }
        return a
    }
}

/// The shapes actors can have.
public enum SynthShape: Int, CaseIterable, Sendable, Codable {
    case square, circle, triangle, diamond, star

    public var word: String {
        switch self {
        case .square: "square"
        case .circle: "circle"
        case .triangle: "triangle"
        case .diamond: "diamond"
        case .star: "star"
        }
    }

    /// The smallest rotation (radians) that maps the shape onto itself; nil for the circle.
    public var symmetryAngle: Double? {
        switch self {
        case .square: .pi / 2
        case .circle: nil
        case .triangle: 2 * .pi / 3
        case .diamond: .pi
        case .star: 2 * .pi / 5
        }
    }
}

/// The colours actors can have.
public enum SynthColour: Int, CaseIterable, Sendable, Codable {
    case red, green, blue, yellow, purple

    public var word: String {
        switch self {
        case .red: "red"
        case .green: "green"
        case .blue: "blue"
        case .yellow: "yellow"
        case .purple: "purple"
        }
    }

    /// The fill colour (r, g, b).
    public var rgb: (UInt8, UInt8, UInt8) {
        switch self {
        case .red: (222, 38, 38)
        case .green: (36, 178, 60)
        case .blue: (44, 84, 226)
        case .yellow: (236, 212, 36)
        case .purple: (150, 56, 192)
        }
    }
}

/// The sizes actors can have.
public enum SynthSize: Int, CaseIterable, Sendable, Codable {
    case small, big

    public var word: String { self == .small ? "small" : "big" }

    /// Radius in pixels for a frame whose shorter side is `side` pixels: 7.5 % (small) or 12.5 % (big)
    /// of it, times `scale`.
    public func radius(side: Int, scale: Double = 1) -> Int {
        let f = (self == .small ? 0.075 : 0.125) * scale
        return max(3, Int((Double(side) * f).rounded()))
    }
}

/// What an actor does through the clip.
public enum SynthAction: Int, CaseIterable, Sendable, Codable {
    case still, movingLeft, movingRight, movingUp, movingDown, jumping, spinning

    /// The words that may name the action in a sentence (one is picked per sentence).
    public var phrases: [String] {
        switch self {
        case .still: ["standing still", "that is standing still", "that is not moving"]
        case .movingLeft: ["moving left", "that is moving left", "going to the left"]
        case .movingRight: ["moving right", "that is moving right", "going to the right"]
        case .movingUp: ["moving up", "that is moving up", "going up"]
        case .movingDown: ["moving down", "that is moving down", "going down"]
        case .jumping: ["jumping", "that is jumping", "bouncing"]
        case .spinning: ["spinning", "that is spinning", "rotating"]
        }
    }

    /// The A2D-style action digit (1…7) used in `id` = actor·10 + action.
    public var code: Int { rawValue + 1 }

    /// Whether the action can be seen for `shape` (a spinning circle looks still).
    public func isVisible(for shape: SynthShape) -> Bool { self != .spinning || shape.symmetryAngle != nil }
}

/// A shape, a colour and a size: everything a single frame shows of an actor.
public struct SynthAppearance: Hashable, Sendable, Codable {
    public var shape: SynthShape
    public var colour: SynthColour
    public var size: SynthSize

    public init(shape: SynthShape, colour: SynthColour, size: SynthSize) {
        self.shape = shape
        self.colour = colour
        self.size = size
    }

    /// The A2D-style actor digit (1…5) used in `id` = actor·10 + action.
    public var code: Int { shape.rawValue + 1 }
}

/// The motion parameters shared by a clip: how far things move, how high they jump.
public struct SynthMotion: Sendable, Equatable {
    /// Pixels per frame of the moving actions.
    public var speed: Double
    /// Jump height in pixels.
    public var jumpHeight: Double
    /// Frames per jump (one bounce).
    public var jumpPeriod: Int
    /// Frames per turn of a spinning actor by its symmetry angle (= the annotation stride).
    public var spinPeriod: Int

    /// Motion scaled to a W×H frame and F frames: a moving actor crosses about 45 % of the shorter side.
    public init(width: Int, height: Int, frames: Int, annotateEvery: Int) {
        let side = Double(min(width, height))
        speed = 0.45 * side / Double(max(1, frames - 1))
        jumpHeight = (0.14 * side).rounded()
        jumpPeriod = 16
        spinPeriod = max(1, annotateEvery)
    }
}

/// One actor of a clip or still image.
public struct SynthActor: Sendable, Equatable {
    /// The instance id written to the annotations (0-based within a clip, as A2D's).
    public var instance: Int
    public var appearance: SynthAppearance
    public var action: SynthAction
    /// Pixel centre at frame 1 (integers).
    public var startX: Int
    public var startY: Int
    /// Jump phase in frames (0 ..< jumpPeriod); spin direction ±1.
    public var phase: Int
    public var spinDirection: Int
    /// Radius in pixels.
    public var radius: Int

    /// The pixel centre at a 1-based frame.
    public func center(frame t: Int, motion: SynthMotion) -> (x: Int, y: Int) {
        let k = Double(t - 1)
        let step = Int((motion.speed * k).rounded())
        switch action {
        case .still, .spinning: return (startX, startY)
        case .movingLeft: return (startX - step, startY)
        case .movingRight: return (startX + step, startY)
        case .movingUp: return (startX, startY - step)
        case .movingDown: return (startX, startY + step)
        case .jumping:
            let p = Double((t - 1 + phase) % motion.jumpPeriod) / Double(motion.jumpPeriod)
            let lift = Int((motion.jumpHeight * sin(.pi * p)).rounded())
            return (startX, startY - lift)
        }
    }

    /// The rotation in radians at a 1-based frame: 0 unless spinning; a spinning actor turns by
    /// its symmetry angle every `spinPeriod` frames, reduced modulo that angle (the shape is the same).
    public func angle(frame t: Int, motion: SynthMotion) -> Double {
        guard action == .spinning, let sym = appearance.shape.symmetryAngle else { return 0 }
        let k = (t - 1) % motion.spinPeriod
        if k == 0 { return 0 }
        return Double(spinDirection) * sym * Double(k) / Double(motion.spinPeriod)
    }

    /// The A2D-style actor-action label (actor digit · 10 + action digit).
    public var label: Int { appearance.code * 10 + action.code }
}

/// Which cue a sentence needs to single out its actor.
public enum SynthCue: String, Sendable, Codable, CaseIterable {
    /// The entity and/or attributes alone are unique.
    case appearance
    /// Only the relation to another actor makes it unique.
    case relation
    /// Only the action (several frames) makes it unique.
    case action
}

/// A spatial relation between two actors, judged on their centres at an annotated frame.
public enum SynthRelation: Int, CaseIterable, Sendable, Codable {
    case leftOf, rightOf, above, below

    public var phrases: [String] {
        switch self {
        case .leftOf: ["left of", "to the left of"]
        case .rightOf: ["right of", "to the right of"]
        case .above: ["above", "over"]
        case .below: ["below", "under"]
        }
    }

    /// The signed distance by which `a` lies in this direction of `b` (positive: it does).
    public func offset(_ a: (x: Int, y: Int), from b: (x: Int, y: Int)) -> Int {
        switch self {
        case .leftOf: b.x - a.x
        case .rightOf: a.x - b.x
        case .above: b.y - a.y
        case .below: a.y - b.y
        }
    }
}

/// A noun phrase: a shape with optional colour and size ("the big red square").
public struct SynthNounPhrase: Hashable, Sendable {
    public var shape: SynthShape
    public var colour: SynthColour?
    public var size: SynthSize?

    public func matches(_ a: SynthAppearance) -> Bool {
        a.shape == shape && (colour == nil || colour == a.colour) && (size == nil || size == a.size)
    }

    /// "the big red square".
    public var text: String {
        var words = ["the"]
        if let size { words.append(size.word) }
        if let colour { words.append(colour.word) }
        words.append(shape.word)
        return words.joined(separator: " ")
    }
}

/// A referring expression: a noun phrase, optionally an action and a relation to an anchor actor.
public struct SynthExpression: Sendable {
    /// The referred actor's instance id.
    public var target: Int
    public var phrase: SynthNounPhrase
    public var action: SynthAction?
    public var relation: (kind: SynthRelation, anchor: SynthNounPhrase)?
    /// Which cue is needed (see `SynthCue`).
    public var cue: SynthCue
    /// The sentence as written to the annotation file.
    public var text: String
}

/// A generated clip (or, with one frame and no actions, a still image).
public struct SynthClip: Sendable {
    public var id: String
    public var width: Int
    public var height: Int
    public var frameCount: Int
    /// 1-based frame numbers that carry mask annotations.
    public var annotatedFrames: [Int]
    /// Actors in drawing order (back to front); `actors[k].instance == k`.
    public var actors: [SynthActor]
    public var expressions: [SynthExpression]
    public var motion: SynthMotion
    /// Seed of the background texture.
    public var backgroundSeed: UInt64
    /// True for the test split.
    public var isTest: Bool
}
