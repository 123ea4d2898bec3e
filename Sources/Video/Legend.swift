// The overlay's legend: each sentence's text in its mask's colour, one line a sentence, on a darkened box at the
// frame's top left. The text is rasterised once per legend with FreeType (anti-aliased, 8-bit coverage) into a
// coverage picture, then blended onto every frame in the sentence's colour. The font is $CMPC_VIDEO_FONT, else
// DejaVu Sans at Debian's path (fonts-dejavu-core) or at other distributions' paths.
//
// Not libavfilter's drawtext: Debian's libavfilter links libblas, which would load OpenBLAS at process start,
// before the engine chooses its kernel (Tensor/BLAS.swift), and make every GEMM about 5× slower.
import CFreeType
import Foundation

/// Each sentence's text in its colour, drawn onto overlay frames.
public struct Legend: Sendable {
    /// Where Debian's fonts-dejavu-core puts DejaVu Sans.
    public static let debianFont = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"

    /// Font files tried in order when none is given and CMPC_VIDEO_FONT is unset: DejaVu Sans at Debian's, Arch's
    /// and Fedora's paths, Liberation Sans, then macOS's Helvetica.
    public static var fontCandidates: [String] {
        [debianFont, "/usr/share/fonts/TTF/DejaVuSans.ttf", "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",
                      "/usr/share/fonts/dejavu/DejaVuSans.ttf",
                      "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf", "/System/Library/Fonts/Helvetica.ttc"]
    }

    /// The font used when none is given: the first of `fontCandidates` that exists ($CMPC_VIDEO_FONT is used
    /// as given, so a wrong one is reported), else nil.
    public static var defaultFontFile: String? {
        if let env = ProcessInfo.processInfo.environment["CMPC_VIDEO_FONT"], !env.isEmpty { return env }
        return fontCandidates.first { FileManager.default.fileExists(atPath: $0) }
    }

    /// Frame size the legend was laid out for.
    public let width: Int
    public let height: Int
    /// Pixel height of a line, and the text's size in pixels.
    public let lineHeight: Int
    public let fontSize: Int
    /// A drawn line: the text's coverage (W×lineHeight, 0…255) and the width of its ink, in pixels.
    struct Line: Sendable {
        let coverage: [UInt8]
        let inkWidth: Int
    }
    let lines: [Line]
    /// How many sentences did not fit ("+N more" is drawn for them).
    public let hidden: Int

    /// Lays out `texts` for W×H frames. Lines that do not fit in the frame's height are left out (the last line
    /// that fits then says how many). Throws `VideoError` when no font can be loaded: install fonts-dejavu-core,
    /// set CMPC_VIDEO_FONT, or give `fontFile`.
    public init(texts: [String], width: Int, height: Int, fontFile: String? = Legend.defaultFontFile) throws {
        guard width > 0, height > 0, width <= maximumSide, height <= maximumSide else {
            throw VideoError(.invalidArgument, path: "Legend", "frame size \(width)×\(height)")
        }
        guard let fontFile else {
            throw VideoError(.missingFile, path: Legend.debianFont, "no font for the legend: install fonts-dejavu-core "
                + "(apt-get install fonts-dejavu-core) or set CMPC_VIDEO_FONT to a .ttf file")
        }
        guard FileManager.default.fileExists(atPath: fontFile) else {
            throw VideoError(.missingFile, path: fontFile, "no such font file: install fonts-dejavu-core "
                + "(apt-get install fonts-dejavu-core) or set CMPC_VIDEO_FONT to a .ttf file")
        }
        self.width = width
        self.height = height
        fontSize = max(9, min(32, height / 18))
        lineHeight = fontSize * 5 / 4 + 2
        let fitting = max(1, (height - 4) / lineHeight)
        var shown = texts.map { $0.replacingOccurrences(of: "\n", with: " ") }
        var hidden = 0
        if shown.count > fitting {
            hidden = shown.count - (fitting - 1)
            shown = Array(shown.prefix(fitting - 1)) + ["+\(hidden) more"]
        }
        self.hidden = hidden
        let renderer = try TextRasteriser(width: width, height: lineHeight, fontSize: fontSize, fontFile: fontFile)
        lines = try shown.map { text in
            let coverage = try renderer.render(text)
            var ink = 0
            for y in 0..<renderer.height {
                for x in stride(from: width - 1, through: ink, by: -1) where coverage[y * width + x] != 0 {
                    ink = x + 1
                    break
                }
            }
            return Line(coverage: coverage, inkWidth: ink)
        }
    }

    /// The frame with the legend drawn at its top left: a darkened box, and per line a colour swatch and the text
    /// in `colours[i]` (sentence i's colour; the "+N more" line is light grey). The frame must be W×H.
    public func draw(on frame: RGBImage, colours: [Overlay.Colour]) throws -> RGBImage {
        guard frame.width == width, frame.height == height else {
            throw VideoError(.invalidArgument, path: "Legend",
                             "frame \(frame.width)×\(frame.height) is not the legend's \(width)×\(height)")
        }
        var out = frame
        let swatch = max(4, fontSize * 2 / 3)
        let textX = 4 + swatch + 4
        let boxWidth = min(width, textX + (lines.map(\.inkWidth).max() ?? 0) + 4)
        let boxHeight = min(height, lines.count * lineHeight + 4)
        out.pixels.withUnsafeMutableBufferPointer { p in
            // The box: the frame darkened to 40%, so the colours read on it and what lies beneath still shows.
            for y in 0..<boxHeight {
                for x in 0..<boxWidth {
                    let o = (y * width + x) * 3
                    for k in 0..<3 { p[o + k] = UInt8(Int(p[o + k]) * 2 / 5) }
                }
            }
            for (i, line) in lines.enumerated() {
                let top = 2 + i * lineHeight
                let more = hidden > 0 && i == lines.count - 1
                let colour = more ? (200, 200, 200) : (colours.isEmpty ? Overlay.palette[0] : colours[i % colours.count])
                let c = [Int(colour.0), Int(colour.1), Int(colour.2)]
                if !more {
                    let sy = top + (lineHeight - swatch) / 2
                    for y in max(0, sy)..<max(max(0, sy), min(height, sy + swatch)) {
                        for x in 4..<max(4, min(width, 4 + swatch)) {
                            let o = (y * width + x) * 3
                            for k in 0..<3 { p[o + k] = UInt8(c[k]) }
                        }
                    }
                }
                for y in 0..<lineHeight where top + y < height {
                    for x in 0..<max(0, min(line.inkWidth, width - textX)) {
                        let a = Int(line.coverage[y * width + x])
                        guard a > 0 else { continue }
                        let o = ((top + y) * width + textX + x) * 3
                        for k in 0..<3 { p[o + k] = UInt8((Int(p[o + k]) * (255 - a) + c[k] * a + 127) / 255) }
                    }
                }
            }
        }
        return out
    }
}

/// Renders lines of text as 8-bit coverage with FreeType: one library and face, owned here.
final class TextRasteriser {
    let width: Int, height: Int, fontSize: Int
    let fontFile: String
    private var library: FT_Library?
    private var face: FT_Face?
    /// The baseline's row in a line.
    private let baseline: Int

    init(width: Int, height: Int, fontSize: Int, fontFile: String) throws {
        self.width = width
        self.height = height
        self.fontSize = fontSize
        self.fontFile = fontFile
        let fix = "install fonts-dejavu-core (apt-get install fonts-dejavu-core) or set CMPC_VIDEO_FONT to a .ttf file"
        guard FT_Init_FreeType(&library) == 0, let library else {
            throw VideoError(.unsupported, path: fontFile, "FreeType cannot start")
        }
        guard FT_New_Face(library, fontFile, 0, &face) == 0, let face else {
            throw VideoError(.unsupported, path: fontFile, "FreeType cannot read this font: \(fix)")
        }
        guard FT_Set_Pixel_Sizes(face, 0, FT_UInt(fontSize)) == 0 else {
            throw VideoError(.unsupported, path: fontFile, "the font has no \(fontSize)-pixel size: \(fix)")
        }
        let ascender = Int(face.pointee.size.pointee.metrics.ascender >> 6)
        let descender = -Int(face.pointee.size.pointee.metrics.descender >> 6)
        baseline = min(height - 1, max(1, (height - ascender - descender) / 2 + ascender))
    }

    deinit {
        if let face { FT_Done_Face(face) }
        if let library { FT_Done_FreeType(library) }
    }

    /// The text's coverage, W×H bytes (0 background, 255 ink), from the left edge, clipped to the picture.
    func render(_ text: String) throws -> [UInt8] {
        var coverage = [UInt8](repeating: 0, count: width * height)
        guard let face else { return coverage }
        var pen = 0
        for scalar in text.unicodeScalars {
            guard pen < width else { break }
            let glyph = FT_Get_Char_Index(face, FT_ULong(scalar.value))
            guard FT_Load_Glyph(face, glyph, Int32(swift_FT_LOAD_RENDER())) == 0, let slot = face.pointee.glyph else { continue }
            let bitmap = slot.pointee.bitmap
            if bitmap.pixel_mode == UInt8(FT_PIXEL_MODE_GRAY.rawValue), let buffer = bitmap.buffer {
                let left = pen + Int(slot.pointee.bitmap_left), top = baseline - Int(slot.pointee.bitmap_top)
                for row in 0..<Int(bitmap.rows) where top + row >= 0 && top + row < height {
                    for column in 0..<Int(bitmap.width) where left + column >= 0 && left + column < width {
                        let value = buffer[row * Int(bitmap.pitch) + column]
                        let o = (top + row) * width + left + column
                        coverage[o] = max(coverage[o], value)
                    }
                }
            }
            pen += Int(slot.pointee.advance.x >> 6)
        }
        return coverage
    }
}
