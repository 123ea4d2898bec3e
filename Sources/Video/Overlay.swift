// Drawing a segmentation mask over a frame so it shows on any picture: a fill at partial opacity, a solid
// band in the mask's colour along its edge, and outside it a dark then a light ring (the halo), so the outline
// stands out on light and dark backgrounds alike; and the choice of each mask's colour, away from the hues
// under it (a red mask over a red square is drawn in another colour).

/// Mask overlays for result videos and pictures.
public enum Overlay {
    /// An 8-bit RGB colour.
    public typealias Colour = (UInt8, UInt8, UInt8)

    /// The overlay colours, in order of preference: saturated and far apart in hue.
    public static let palette: [Colour] = [
        (255, 48, 48), (48, 160, 255), (64, 220, 64), (255, 200, 0), (200, 64, 255), (0, 220, 200), (255, 120, 200),
        (255, 140, 0),
    ]

    /// The halo's rings outside the mask: dark right at its edge, light one pixel further out.
    public static let haloDark: Colour = (16, 16, 16)
    public static let haloLight: Colour = (240, 240, 240)

    /// Blends `colour` over the pixels where `mask` is nonzero (fill at `opacity`), paints the mask's edge band
    /// of `outlineWidth` pixels solid, and draws the halo outside it: a dark ring of one pixel at the edge, then a
    /// light one (with `halo`). Frame H×W×3, mask H×W of the same size.
    public static func blend(_ frame: RGBImage, mask: GrayImage, colour: Colour = (255, 32, 32),
                             opacity: Double = 0.4, outlineWidth: Int = 2, halo: Bool = true) throws -> RGBImage {
        guard frame.width == mask.width, frame.height == mask.height,
              frame.pixels.count == frame.width * frame.height * 3, mask.pixels.count == mask.width * mask.height else {
            throw VideoError(.invalidArgument, path: "Overlay",
                             "mask \(mask.width)×\(mask.height) does not match frame \(frame.width)×\(frame.height)")
        }
        guard opacity >= 0, opacity <= 1, outlineWidth >= 0, outlineWidth <= 64 else {
            throw VideoError(.invalidArgument, path: "Overlay",
                             "opacity \(opacity) must be in 0…1 and outline width \(outlineWidth) in 0…64")
        }
        let (w, h) = (frame.width, frame.height)
        let inside = mask.pixels.map { $0 != 0 }
        // Pixels within `outlineWidth` of the outside (Chebyshev distance): the mask minus its erosion.
        var core = inside
        for _ in 0..<outlineWidth { core = erode(core, width: w, height: h) }
        let ring1 = halo ? dilate(inside, width: w, height: h) : inside
        let ring2 = halo ? dilate(ring1, width: w, height: h) : inside
        var out = frame
        let c = [Double(colour.0), Double(colour.1), Double(colour.2)]
        let solid = [colour.0, colour.1, colour.2]
        let dark = [haloDark.0, haloDark.1, haloDark.2], light = [haloLight.0, haloLight.1, haloLight.2]
        out.pixels.withUnsafeMutableBufferPointer { p in
            for i in 0..<(w * h) where ring2[i] {
                let o = i * 3
                if inside[i] {
                    if core[i] {
                        for k in 0..<3 {
                            let v = (1 - opacity) * Double(p[o + k]) + opacity * c[k]
                            p[o + k] = UInt8(max(0, min(255, v.rounded())))
                        }
                    } else {
                        for k in 0..<3 { p[o + k] = solid[k] }
                    }
                } else if ring1[i] {
                    for k in 0..<3 { p[o + k] = dark[k] }
                } else {
                    for k in 0..<3 { p[o + k] = light[k] }
                }
            }
        }
        return out
    }

    /// A colour for a mask that differs from the hues under it: the first colour of `palette`, not in `taken`,
    /// of which little lies under the mask; failing that, the one least present there. Grey or dark ground
    /// keeps the palette's order, so colours stay stable from run to run.
    public static func colour(under mask: GrayImage, in frame: RGBImage, avoiding taken: [Colour] = []) -> Colour {
        let free = palette.filter { p in !taken.contains { $0 == p } }
        let candidates = free.isEmpty ? palette : free
        guard frame.width == mask.width, frame.height == mask.height else { return candidates[0] }
        let scores = candidates.map { presence(of: hue($0), under: mask, in: frame) }
        if let first = scores.firstIndex(where: { $0 <= 0.05 }) { return candidates[first] }
        return candidates[scores.indices.min { scores[$0] < scores[$1] }!]
    }

    /// How much of the hue `target` (degrees) is under the mask, 0…1: per pixel its chroma (0…1) times how
    /// close its hue is (1 at the same hue, 0 from 60° away), averaged over the mask.
    static func presence(of target: Double, under mask: GrayImage, in frame: RGBImage) -> Double {
        var total = 0.0, count = 0
        for i in 0..<(mask.width * mask.height) where mask.pixels[i] != 0 {
            count += 1
            let o = i * 3
            let colour = (frame.pixels[o], frame.pixels[o + 1], frame.pixels[o + 2])
            let chroma = Double(Int(max(colour.0, colour.1, colour.2)) - Int(min(colour.0, colour.1, colour.2))) / 255
            guard chroma > 0.1 else { continue }
            var distance = abs(hue(colour) - target).truncatingRemainder(dividingBy: 360)
            if distance > 180 { distance = 360 - distance }
            total += chroma * max(0, 1 - distance / 60)
        }
        return count == 0 ? 0 : total / Double(count)
    }

    /// The hue of a colour in degrees, 0..<360 (0 for greys).
    static func hue(_ c: Colour) -> Double {
        let r = Double(c.0), g = Double(c.1), b = Double(c.2)
        let hi = max(r, g, b), lo = min(r, g, b), d = hi - lo
        guard d > 0 else { return 0 }
        var h: Double
        if hi == r { h = (g - b) / d } else if hi == g { h = (b - r) / d + 2 } else { h = (r - g) / d + 4 }
        h *= 60
        return h < 0 ? h + 360 : h
    }

    /// 3×3 dilation of a W×H boolean picture (outside counts as false).
    static func dilate(_ m: [Bool], width w: Int, height h: Int) -> [Bool] {
        morphology(m, width: w, height: h, any: true)
    }

    /// 3×3 erosion of a W×H boolean picture (outside counts as false, so the frame border is an edge).
    static func erode(_ m: [Bool], width w: Int, height h: Int) -> [Bool] {
        morphology(m, width: w, height: h, any: false)
    }

    /// A separable 3×3 max (`any`) or min filter; pixels beyond the picture are false.
    private static func morphology(_ m: [Bool], width w: Int, height h: Int, any: Bool) -> [Bool] {
        func pass(_ src: [Bool], dx: Int, dy: Int) -> [Bool] {
            var out = src
            for y in 0..<h {
                for x in 0..<w {
                    let a = (x - dx >= 0 && y - dy >= 0) ? src[(y - dy) * w + x - dx] : false
                    let b = (x + dx < w && y + dy < h) ? src[(y + dy) * w + x + dx] : false
                    let c = src[y * w + x]
                    out[y * w + x] = any ? (a || b || c) : (a && b && c)
                }
            }
            return out
        }
        return pass(pass(m, dx: 1, dy: 0), dx: 0, dy: 1)
    }
}
