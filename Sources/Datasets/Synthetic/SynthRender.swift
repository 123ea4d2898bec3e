// Rasterising synthetic clips into 8-bit RGB frames and instance label maps.
//
// A pixel (x, y) is inside an actor when its centre (x + 0.5, y + 0.5), taken into the actor's
// rotated frame around its integer centre (cx + 0.5, cy + 0.5), is inside the shape. Actors are
// drawn back to front, so the label map (and every mask made from it) shows occlusion.
import Foundation

/// An 8-bit RGB picture, H×W×3 row-major.
public struct SynthImage: Equatable, Sendable {
    public var width: Int
    public var height: Int
    /// H×W×3 bytes.
    public var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        self.width = width
        self.height = height
        self.pixels = pixels
    }
}

/// One rendered frame: the picture and, per pixel, the instance drawn there (−1 for background).
public struct SynthFrame: Sendable {
    public var image: SynthImage
    /// H×W instance ids, −1 where the background shows.
    public var labels: [Int16]

    /// The visible mask of one instance, H×W of 0/1.
    public func mask(instance: Int) -> [UInt8] {
        labels.map { $0 == Int16(instance) ? 1 : 0 }
    }
}

/// Draws clips.
public enum SynthRenderer {
    /// Whether the point (u, v), in shape units (radius 1, y downwards, unrotated), is inside `shape`.
    static func inside(_ shape: SynthShape, _ u: Double, _ v: Double) -> Bool {
        switch shape {
        case .circle:
            return u * u + v * v <= 0.9 * 0.9
        case .square:
            return abs(u) <= 0.78 && abs(v) <= 0.78
        case .diamond:
            return abs(u) / 0.62 + abs(v) <= 1
        case .triangle:
            // Equilateral, circumradius 1, apex up.
            return insidePolygon(u, v, trianglePoints)
        case .star:
            return insidePolygon(u, v, starPoints)
        }
    }

    static let trianglePoints: [(Double, Double)] = (0..<3).map { k in
        let a = -Double.pi / 2 + Double(k) * 2 * .pi / 3
        return (cos(a), sin(a))
    }

    static let starPoints: [(Double, Double)] = (0..<10).map { k in
        let a = -Double.pi / 2 + Double(k) * .pi / 5
        let r = k % 2 == 0 ? 1.0 : 0.45
        return (r * cos(a), r * sin(a))
    }

    /// Even–odd point-in-polygon test.
    static func insidePolygon(_ x: Double, _ y: Double, _ p: [(Double, Double)]) -> Bool {
        var c = false
        var j = p.count - 1
        for i in 0..<p.count {
            let (xi, yi) = p[i], (xj, yj) = p[j]
            if (yi > y) != (yj > y), x < (xj - xi) * (y - yi) / (yj - yi) + xi { c.toggle() }
            j = i
        }
        return c
    }

    /// The pixels an actor covers at a frame, unoccluded: (x, y) pairs inside the W×H frame.
    public static func footprint(_ actor: SynthActor, frame t: Int, motion: SynthMotion, width: Int,
                                 height: Int) -> [(x: Int, y: Int)] {
        let (cx, cy) = actor.center(frame: t, motion: motion)
        let angle = actor.angle(frame: t, motion: motion)
        let (c, s) = angle == 0 ? (1.0, 0.0) : (cos(angle), sin(angle))
        let r = Double(actor.radius)
        var out: [(x: Int, y: Int)] = []
        let (y0, y1) = (max(0, cy - actor.radius - 1), min(height - 1, cy + actor.radius + 1))
        let (x0, x1) = (max(0, cx - actor.radius - 1), min(width - 1, cx + actor.radius + 1))
        guard y0 <= y1, x0 <= x1 else { return [] }
        for y in y0...y1 {
            for x in x0...x1 {
                let dx = Double(x - cx), dy = Double(y - cy)
                // Rotate the pixel back into the shape's frame.
                let u = (c * dx + s * dy) / r
                let v = (-s * dx + c * dy) / r
                if inside(actor.appearance.shape, u, v) { out.append((x, y)) }
            }
        }
        return out
    }

    /// The textured background of a clip: smooth value noise between two greyish tints, plus grain.
    public static func background(width: Int, height: Int, seed: UInt64) -> SynthImage {
        var rng = SynthRandom(seed: seed, stream: 0xB6)
        // A greyish base and a weak tint: the actors' saturated colours stand out on any background.
        let grey = rng.int(in: 96...150)
        let base = (grey + rng.int(in: -12...12), grey + rng.int(in: -12...12), grey + rng.int(in: -12...12))
        let tint = (rng.int(in: -20...20), rng.int(in: -20...20), rng.int(in: -20...20))
        let cell = max(4, min(width, height) / 6)
        let gw = width / cell + 2, gh = height / cell + 2
        var grid = [Double](repeating: 0, count: gw * gh)
        for i in grid.indices { grid[i] = rng.unit() }
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for y in 0..<height {
            let fy = Double(y) / Double(cell)
            let gy = Int(fy), ty = fy - Double(gy)
            let sy = ty * ty * (3 - 2 * ty)
            for x in 0..<width {
                let fx = Double(x) / Double(cell)
                let gx = Int(fx), tx = fx - Double(gx)
                let sx = tx * tx * (3 - 2 * tx)
                let a = grid[gy * gw + gx], b = grid[gy * gw + gx + 1]
                let c = grid[(gy + 1) * gw + gx], d = grid[(gy + 1) * gw + gx + 1]
                let n = (a * (1 - sx) + b * sx) * (1 - sy) + (c * (1 - sx) + d * sx) * sy   // 0…1
                let grain = Double(rng.int(in: -10...10))
                let i = (y * width + x) * 3
                pixels[i] = clampByte(Double(base.0) + n * Double(tint.0) * 2 - Double(tint.0) + grain)
                pixels[i + 1] = clampByte(Double(base.1) + n * Double(tint.1) * 2 - Double(tint.1) + grain)
                pixels[i + 2] = clampByte(Double(base.2) + n * Double(tint.2) * 2 - Double(tint.2) + grain)
            }
        }
        return SynthImage(width: width, height: height, pixels: pixels)
    }

    static func clampByte(_ v: Double) -> UInt8 { UInt8(max(0, min(255, v.rounded()))) }

    /// Instance labels only (no picture), H×W, −1 for background.
    public static func labels(_ clip: SynthClip, frame t: Int) -> [Int16] {
        var labels = [Int16](repeating: -1, count: clip.width * clip.height)
        for actor in clip.actors {
            for p in footprint(actor, frame: t, motion: clip.motion, width: clip.width, height: clip.height) {
                labels[p.y * clip.width + p.x] = Int16(actor.instance)
            }
        }
        return labels
    }

    /// Renders a 1-based frame of a clip over a precomputed background.
    public static func render(_ clip: SynthClip, frame t: Int, background: SynthImage) -> SynthFrame {
        var image = background
        let labels = labels(clip, frame: t)
        for (i, l) in labels.enumerated() where l >= 0 {
            let (r, g, b) = clip.actors[Int(l)].appearance.colour.rgb
            image.pixels[3 * i] = r
            image.pixels[3 * i + 1] = g
            image.pixels[3 * i + 2] = b
        }
        return SynthFrame(image: image, labels: labels)
    }

    /// Renders every frame of a clip, 1…F.
    public static func renderAll(_ clip: SynthClip) -> [SynthFrame] {
        let bg = background(width: clip.width, height: clip.height, seed: clip.backgroundSeed)
        return (1...max(1, clip.frameCount)).map { render(clip, frame: $0, background: bg) }
    }
}
