// The overlay's legend: each sentence's text in its mask's colour, one line a sentence, on a darkened box at the
// frame's top left. The text is rasterised once per legend by FFmpeg's drawtext filter (libavfilter, with
// libfreetype) into a coverage picture, then blended onto every frame in the sentence's colour. The font is
// DejaVu Sans at Debian's path (fonts-dejavu-core), else whatever fontconfig gives for "Sans".
import CFFmpeg
import Foundation

/// Each sentence's text in its colour, drawn onto overlay frames.
public struct Legend: Sendable {
    /// Where Debian's fonts-dejavu-core puts DejaVu Sans.
    public static let debianFont = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"

    /// The font file used when none is given: DejaVu Sans at Debian's path when it is there, else nil (drawtext
    /// then asks fontconfig for "Sans").
    public static var defaultFontFile: String? {
        FileManager.default.fileExists(atPath: debianFont) ? debianFont : nil
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
    /// that fits then says how many). Throws `VideoError` when drawtext cannot load a font: install
    /// fonts-dejavu-core, or give `fontFile`.
    public init(texts: [String], width: Int, height: Int, fontFile: String? = Legend.defaultFontFile) throws {
        guard width > 0, height > 0, width <= maximumSide, height <= maximumSide else {
            throw VideoError(.invalidArgument, path: "Legend", "frame size \(width)×\(height)")
        }
        if let fontFile, !FileManager.default.fileExists(atPath: fontFile) {
            throw VideoError(.missingFile, path: fontFile,
                             "no such font file: install fonts-dejavu-core (apt-get install fonts-dejavu-core)")
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
                    for y in max(0, sy)..<min(height, sy + swatch) {
                        for x in 4..<min(width, 4 + swatch) {
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

/// Renders one line of text, white on black, with drawtext: a buffer source → drawtext → buffer sink graph,
/// made once per call (drawtext's text is an option fixed at initialisation).
final class TextRasteriser {
    let width: Int, height: Int, fontSize: Int
    let fontFile: String?

    init(width: Int, height: Int, fontSize: Int, fontFile: String?) throws {
        _ = FFmpegLog.configured
        self.width = width
        self.height = height
        self.fontSize = fontSize
        self.fontFile = fontFile
        _ = try render("Ag")   // fails here, once, when no font can be loaded
    }

    /// The text's coverage, W×H bytes (0 background, 255 ink), its baseline at 4/5 of a line's font size.
    func render(_ text: String) throws -> [UInt8] {
        let fix = "the overlay's legend needs a font: install fonts-dejavu-core (apt-get install fonts-dejavu-core)"
        var graph: UnsafeMutablePointer<AVFilterGraph>? = avfilter_graph_alloc()
        guard graph != nil else { throw VideoError(.unsupported, path: "drawtext", "cannot allocate a filter graph") }
        defer { avfilter_graph_free(&graph) }
        var source: UnsafeMutablePointer<AVFilterContext>? = nil
        var sink: UnsafeMutablePointer<AVFilterContext>? = nil
        let args = "video_size=\(width)x\(height):pix_fmt=rgb24:time_base=1/25:pixel_aspect=1/1"
        try check(avfilter_graph_create_filter(&source, avfilter_get_by_name("buffer"), "in", args, nil, graph),
                  .unsupported, path: "drawtext", "cannot make the filter graph's source")
        try check(avfilter_graph_create_filter(&sink, avfilter_get_by_name("buffersink"), "out", nil, nil, graph),
                  .unsupported, path: "drawtext", "cannot make the filter graph's sink")
        guard let filter = avfilter_get_by_name("drawtext"),
              let draw = avfilter_graph_alloc_filter(graph, filter, "text") else {
            throw VideoError(.unsupported, path: "drawtext", "this FFmpeg has no drawtext filter (built without libfreetype)")
        }
        let search = Int32(AV_OPT_SEARCH_CHILDREN)
        var options: [(String, String)] = [("text", text.isEmpty ? " " : text), ("expansion", "none"),
                                           ("fontsize", "\(fontSize)"), ("fontcolor", "white"), ("x", "0"),
                                           ("y", "\(fontSize * 19 / 20 + 1)-max_glyph_a")]
        if let fontFile { options.append(("fontfile", fontFile)) } else { options.append(("font", "Sans")) }
        for (key, value) in options {
            try check(av_opt_set(draw, key, value, search), .unsupported, path: "drawtext", "cannot set \(key)")
        }
        try check(avfilter_init_str(draw, nil), .unsupported, path: fontFile ?? "fontconfig Sans",
                  "drawtext cannot load the font; \(fix)")
        try check(avfilter_link(source, 0, draw, 0), .unsupported, path: "drawtext", "cannot link the source")
        try check(avfilter_link(draw, 0, sink, 0), .unsupported, path: "drawtext", "cannot link the sink")
        try check(avfilter_graph_config(graph, nil), .unsupported, path: "drawtext", "cannot configure the filter graph")

        let input = try Frame(width: width, height: height)
        try check(av_buffersrc_add_frame(source, input.pointer), .unsupported, path: "drawtext", "cannot send the frame")
        try check(av_buffersrc_add_frame(source, nil), .unsupported, path: "drawtext", "cannot end the input")
        let output = try Frame()
        try check(av_buffersink_get_frame(sink, output.pointer), .unsupported, path: "drawtext", "no picture came out")
        let f = output.pointer.pointee
        guard f.format == AV_PIX_FMT_RGB24.rawValue, Int(f.width) == width, Int(f.height) == height,
              let data = swift_frame_data(output.pointer)[0] else {
            throw VideoError(.unsupported, path: "drawtext", "unexpected picture \(f.width)×\(f.height), format \(f.format)")
        }
        let stride = Int(swift_frame_linesize(output.pointer)[0])
        var coverage = [UInt8](repeating: 0, count: width * height)
        for y in 0..<height {
            for x in 0..<width { coverage[y * width + x] = data[y * stride + x * 3] }
        }
        return coverage
    }

    /// One AVFrame owned here: black RGB24 of a size, or empty to receive a picture.
    private final class Frame {
        private var owned: UnsafeMutablePointer<AVFrame>?
        var pointer: UnsafeMutablePointer<AVFrame> { owned! }

        init() throws {
            owned = av_frame_alloc()
            guard owned != nil else { throw VideoError(.unsupported, path: "drawtext", "out of memory") }
        }

        convenience init(width: Int, height: Int) throws {
            try self.init()
            pointer.pointee.width = Int32(width)
            pointer.pointee.height = Int32(height)
            pointer.pointee.format = AV_PIX_FMT_RGB24.rawValue
            pointer.pointee.pts = 0
            try check(av_frame_get_buffer(pointer, 0), .unsupported, path: "drawtext", "cannot allocate a frame")
            let stride = Int(swift_frame_linesize(pointer)[0])
            if let data = swift_frame_data(pointer)[0] {
                for y in 0..<height { memset(data + y * stride, 0, width * 3) }
            }
        }

        deinit { av_frame_free(&owned) }
    }
}
