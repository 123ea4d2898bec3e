// Label pictures: annotation PNGs whose pixel value is an object id (DAVIS, Ref-YouTube-VOS, MeViS ship them as
// palette PNGs, "P" mode in PIL). The id is the palette index, never the colour the palette gives it, so these are
// read without any colour conversion: a PAL8 picture yields its indices, an 8-bit grey one its values; any other
// pixel format is refused (its colours cannot be turned back into ids). Written as PAL8 PNGs with the PASCAL VOC /
// DAVIS colour map, as the datasets' own tools write them.
import CFFmpeg
import Foundation

extension ImageIO {
    /// The object ids of a label picture (H×W, one byte a pixel): a palette PNG's indices, or an 8-bit grey
    /// picture's values. Throws `.unsupported`, naming the file and its pixel format, for RGB or other pictures.
    public static func readLabels(path: String) throws -> GrayImage {
        let (decoder, w, h) = try decodeFirstPicture(path: path)
        let format = AVPixelFormat(rawValue: decoder.frame.ptr.pointee.format)
        guard format == AV_PIX_FMT_PAL8 || format == AV_PIX_FMT_GRAY8 else {
            let name = av_get_pix_fmt_name(format).map { String(cString: $0) } ?? "format \(format.rawValue)"
            throw VideoError(.unsupported, path: path, "is a \(name) picture, not a palette (or 8-bit grey) PNG: object ids "
                             + "are read from palette indices and cannot be recovered from colours; use the dataset's "
                             + "original annotation PNGs (an image editor or converter may have saved it as RGB)")
        }
        return try firstPlane(decoder, width: w, height: h, path: path)
    }

    /// Writes object ids (H×W) as an 8-bit palette PNG, pixel value = palette index, coloured with `palette`
    /// (256 0xRRGGBB entries; default the PASCAL VOC / DAVIS colour map: 0 black, 1 red, 2 green, …).
    public static func writeLabelPNG(_ labels: GrayImage, to path: String, palette: [UInt32] = labelColourMap) throws {
        guard palette.count == 256 else {
            throw VideoError(.invalidArgument, path: path, "a palette has 256 colours, got \(palette.count)")
        }
        var format = StillFormat(name: "PNG", codec: AV_CODEC_ID_PNG, pixelFormat: AV_PIX_FMT_PAL8)
        format.palette = palette.map { 0xFF00_0000 | ($0 & 0x00FF_FFFF) }
        try writeStill(labels.pixels, width: labels.width, height: labels.height, channels: 1, as: format, to: path)
    }

    /// The PASCAL VOC colour map DAVIS and YouTube-VOS annotations use (davis2017 utils.color_map): 256 0xRRGGBB.
    public static let labelColourMap: [UInt32] = (0..<256).map { i -> UInt32 in
        var (r, g, b, c) = (UInt32(0), UInt32(0), UInt32(0), UInt32(i))
        for j in 0..<8 {
            r |= (c & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        }
        return (r << 16) | (g << 8) | b
    }
}
