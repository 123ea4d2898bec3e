// Still images through FFmpeg's image demuxers and decoders: JPEG (also CMYK), PNG (grey, 16-bit,
// palette, alpha), BMP, TIFF, WebP → 8-bit RGB or grey; PNG writing for masks and RGB pictures and
// JPEG writing for RGB pictures, both through one still-encoding path; resizing with swscale.
// Writers write a temporary file beside the destination and rename it.
import CFFmpeg
import Foundation
import FileOutput

/// Reads and writes still images.
public enum ImageIO {
    /// Decodes the first picture of an image file to 8-bit RGB (H×W×3); alpha is dropped. With `upright` the
    /// picture is turned and mirrored as its EXIF orientation says (JPEG, PNG, TIFF), as viewers show it;
    /// without, it is as stored (what datasets annotate).
    public static func read(path: String, upright: Bool = false) throws -> RGBImage {
        let (image, orientation) = try readWithOrientation(path: path)
        return upright ? image.oriented(exif: orientation) : image
    }

    /// The picture as stored and its EXIF orientation (1 when it has none).
    static func readWithOrientation(path: String) throws -> (image: RGBImage, orientation: Int) {
        let decoder = try StreamDecoder(path: path, threads: 1)
        guard try decoder.receive() else { throw stillError(decoder, path: path) }
        try checkComplete(decoder, path: path)
        let f = decoder.frame.ptr
        let image = try convertToRGB(f, width: Int(f.pointee.width), height: Int(f.pointee.height), scaler: Scaler(),
                                     path: path)
        let orientation = EXIF.orientation(of: f)
            ?? (decoder.codec.ctx?.pointee.codec_id == AV_CODEC_ID_PNG ? EXIF.pngOrientation(path: path) : nil)
        return (image, orientation ?? 1)
    }

    /// The first picture of an image file, decoded completely, and its size (checked against `maximumSide`).
    static func decodeFirstPicture(path: String) throws -> (decoder: StreamDecoder, width: Int, height: Int) {
        let decoder = try StreamDecoder(path: path, threads: 1)
        guard try decoder.receive() else { throw stillError(decoder, path: path) }
        try checkComplete(decoder, path: path)
        let f = decoder.frame.ptr
        let (w, h) = (Int(f.pointee.width), Int(f.pointee.height))
        guard w > 0, h > 0, w <= maximumSide, h <= maximumSide else {
            throw VideoError(.absurdSize, path: path, "decoded a \(w)×\(h) picture")
        }
        return (decoder, w, h)
    }

    /// The first plane of a one-byte-a-pixel picture (grey values, palette indices) as it is, w×h.
    static func firstPlane(_ decoder: StreamDecoder, width w: Int, height h: Int, path: String) throws -> GrayImage {
        let f = decoder.frame.ptr
        let stride = Int(swift_frame_linesize(f)[0])
        guard let src = swift_frame_data(f)[0] else { throw stillError(decoder, path: path) }
        var pixels = [UInt8](repeating: 0, count: w * h)
        for y in 0..<h { for x in 0..<w { pixels[y * w + x] = src[y * stride + x] } }
        return try GrayImage(width: w, height: h, pixels: pixels)
    }

    /// Decodes the first picture of an image file to 8-bit grey (H×W); colour is converted with BT.601 weights.
    public static func readGray(path: String) throws -> GrayImage {
        let (decoder, w, h) = try decodeFirstPicture(path: path)
        let f = decoder.frame.ptr
        if AVPixelFormat(rawValue: f.pointee.format) == AV_PIX_FMT_GRAY8 {
            // Copied as is (swscale would rescale full-range grey to video range otherwise).
            return try firstPlane(decoder, width: w, height: h, path: path)
        }
        let rgb = try convertToRGB(f, width: w, height: h, scaler: Scaler(), path: path)
        var pixels = [UInt8](repeating: 0, count: w * h)
        for i in 0..<(w * h) {
            let v = 0.299 * Double(rgb.pixels[3 * i]) + 0.587 * Double(rgb.pixels[3 * i + 1])
                + 0.114 * Double(rgb.pixels[3 * i + 2])
            pixels[i] = UInt8(min(255, v.rounded()))
        }
        return try GrayImage(width: w, height: h, pixels: pixels)
    }

    /// The still-image format of a file judged by its first bytes, not its name: "png", "jpeg", "bmp", "tiff",
    /// "webp" or "pnm"; nil for anything else (a video, whatever its name). A file that cannot be read is nil.
    public static func stillFormat(path: String) -> String? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        guard let head = try? handle.read(upToCount: 12), head.count >= 2 else { return nil }
        let b = [UInt8](head)
        func starts(_ prefix: [UInt8]) -> Bool { b.count >= prefix.count && Array(b.prefix(prefix.count)) == prefix }
        if starts([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return "png" }
        if starts([0xFF, 0xD8, 0xFF]) { return "jpeg" }
        if starts([0x42, 0x4D]), b.count >= 6 { return "bmp" }
        if starts([0x49, 0x49, 0x2A, 0x00]) || starts([0x4D, 0x4D, 0x00, 0x2A]) { return "tiff" }
        if starts(Array("RIFF".utf8)), b.count >= 12, Array(b[8..<12]) == Array("WEBP".utf8) { return "webp" }
        if b[0] == UInt8(ascii: "P"), (UInt8(ascii: "1")...UInt8(ascii: "6")).contains(b[1]) { return "pnm" }
        return nil
    }

    /// Resizes a picture (bilinear) to width×height.
    public static func resize(_ image: RGBImage, width: Int, height: Int) throws -> RGBImage {
        guard (1...maximumSide).contains(width), (1...maximumSide).contains(height) else {
            throw VideoError(.absurdSize, path: "resize", "size \(width)×\(height) is outside 1…\(maximumSide)")
        }
        guard image.width > 0, image.height > 0, image.pixels.count == image.width * image.height * 3 else {
            throw VideoError(.invalidArgument, path: "resize", "picture of \(image.pixels.count) bytes is not "
                             + "\(image.width)×\(image.height)×3")
        }
        let scaler = Scaler()
        try scaler.configure(srcW: image.width, srcH: image.height, src: AV_PIX_FMT_RGB24, dstW: width, dstH: height,
                             dst: AV_PIX_FMT_RGB24, path: "resize")
        var rc: Int32 = 0
        let out = image.pixels.withUnsafeBufferPointer { src in
            [UInt8](unsafeUninitializedCapacity: width * height * 3) { dst, count in
                rc = swift_sws_packed_to_packed(scaler.ctx, src.baseAddress, Int32(image.width * 3),
                                                Int32(image.height), dst.baseAddress, Int32(width * 3), Int32(height))
                count = width * height * 3
            }
        }
        if rc < 0 { throw VideoError(.invalidArgument, path: "resize", "swscale failed: \(avErrorText(rc))") }
        return RGBImage(width: width, height: height, unchecked: out)
    }

    /// Writes an RGB picture (H×W×3) as an 8-bit RGB PNG.
    public static func writePNG(_ image: RGBImage, to path: String) throws {
        try writeStill(image.pixels, width: image.width, height: image.height, channels: 3, as: .png(AV_PIX_FMT_RGB24),
                       to: path)
    }

    /// Writes a grey picture (H×W, e.g. a 0/255 mask) as an 8-bit grey PNG.
    public static func writePNG(_ image: GrayImage, to path: String) throws {
        try writeStill(image.pixels, width: image.width, height: image.height, channels: 1, as: .png(AV_PIX_FMT_GRAY8),
                       to: path)
    }

    /// Writes an RGB picture (H×W×3) as a baseline JPEG (JFIF, 4:4:4, full-range BT.601 YCbCr) through FFmpeg's
    /// mjpeg encoder; `quality` 1…100 as in libjpeg (100 best). The same picture gives the same bytes.
    public static func writeJPEG(_ image: RGBImage, to path: String, quality: Int = 90) throws {
        guard (1...100).contains(quality) else {
            throw VideoError(.invalidArgument, path: path, "JPEG quality \(quality) is outside 1…100")
        }
        try writeStill(image.pixels, width: image.width, height: image.height, channels: 3,
                       as: .jpeg(qscale: jpegQuantiser(quality: quality)), to: path)
    }

    /// FFmpeg's mjpeg quantiser (1…31) for a libjpeg quality: libjpeg scales its tables by
    /// 5000/q % (q < 50) or 200 − 2q %; mjpeg quantises with the MPEG-1 intra matrix × qscale / 8,
    /// whose mean (≈33) is 8/14 of the JPEG luminance table's (≈58), so qscale ≈ 0.14 × scale.
    static func jpegQuantiser(quality: Int) -> Int {
        let scale = quality < 50 ? 5000 / quality : 200 - 2 * quality
        return max(1, min(31, (scale * 14 + 50) / 100))
    }

    /// FFmpeg's JPEG decoder fills a picture cut short with grey and reports no error, so a JPEG must end its
    /// last scan with the End Of Image marker (FF D9; the scan's own data never holds FF D9, as FF is stuffed).
    static func checkComplete(_ decoder: StreamDecoder, path: String) throws {
        guard decoder.codec.ctx?.pointee.codec_id == AV_CODEC_ID_MJPEG,
              let data = try? Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped) else { return }
        let complete = data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> Bool in
            let b = raw.bindMemory(to: UInt8.self)
            guard b.count >= 4 else { return false }
            var i = b.count - 2
            while i >= 0 {
                if b[i] == 0xFF {
                    if b[i + 1] == 0xD9 { return true }
                    if b[i + 1] == 0xDA { return false }      // start of the last scan, with no end after it
                }
                i -= 1
            }
            return false
        }
        if !complete {
            throw VideoError(.damaged, path: path, "the JPEG is cut short (no End Of Image marker after its last "
                             + "scan): the file is incomplete; copy or download it again")
        }
    }

    static func stillError(_ decoder: StreamDecoder, path: String) -> VideoError {
        let detail = decoder.problems.isEmpty ? "" : ": " + decoder.problems.joined(separator: "; ")
        return VideoError(.damaged, path: path, "no picture could be decoded\(detail)")
    }

    /// How one still format is encoded: the codec, the pixel format it is fed and its settings.
    struct StillFormat {
        let name: String
        let codec: AVCodecID
        let pixelFormat: AVPixelFormat
        /// The colours of a PAL8 picture (0xAARRGGBB, 256 entries).
        var palette: [UInt32]? = nil
        var configure: (UnsafeMutablePointer<AVCodecContext>) -> Void = { _ in }

        /// Lossless PNG of packed RGB24 or GRAY8.
        static func png(_ format: AVPixelFormat) -> StillFormat {
            StillFormat(name: "PNG", codec: AV_CODEC_ID_PNG, pixelFormat: format)
        }

        /// JPEG at a fixed quantiser; bit-exact mode keeps FFmpeg's version string out of the file,
        /// one thread keeps the slices (and so the bytes) the same on every run.
        static func jpeg(qscale: Int) -> StillFormat {
            StillFormat(name: "JPEG", codec: AV_CODEC_ID_MJPEG, pixelFormat: AV_PIX_FMT_YUVJ444P) { c in
                c.pointee.color_range = AVCOL_RANGE_JPEG
                c.pointee.flags |= AV_CODEC_FLAG_QSCALE | AV_CODEC_FLAG_BITEXACT
                c.pointee.global_quality = FF_QP2LAMBDA * Int32(qscale)
                c.pointee.qmin = 1
                c.pointee.qmax = 31
                c.pointee.thread_count = 1
            }
        }
    }

    /// Checks a packed picture (H×W×channels), encodes it as one still of `format` and writes it atomically.
    static func writeStill(_ pixels: [UInt8], width: Int, height: Int, channels: Int, as format: StillFormat,
                                   to path: String) throws {
        // The sides are checked before they are multiplied (a huge width must not overflow).
        guard width <= maximumSide, height <= maximumSide else {
            throw VideoError(.absurdSize, path: path, "\(width)×\(height) is above \(maximumSide) on a side")
        }
        guard width > 0, height > 0, pixels.count == width * height * channels else {
            throw VideoError(.invalidArgument, path: path, "picture of \(pixels.count) bytes is not "
                             + "\(width)×\(height)" + (channels == 1 ? "" : "×\(channels)"))
        }
        let bytes = try encodeStill(pixels, width: width, height: height, channels: channels, as: format, path: path)
        do { try AtomicFile.write(bytes, to: path) } catch let error as AtomicWriteError { throw error.videoError }
    }

    /// Encodes a checked packed picture (RGB24 or GRAY8) as one packet of `format`; the pixels are copied when the
    /// encoder takes them as they are and converted with swscale otherwise.
    private static func encodeStill(_ pixels: [UInt8], width: Int, height: Int, channels: Int, as format: StillFormat,
                                    path: String) throws -> [UInt8] {
        _ = FFmpegLog.configured
        guard let encoder = avcodec_find_encoder(format.codec) else {
            throw VideoError(.unsupported, path: path, "this FFmpeg build has no \(format.name) encoder")
        }
        let codec = try CodecContext(encoder: encoder, path: path) { c in
            c.pointee.width = Int32(width)
            c.pointee.height = Int32(height)
            c.pointee.pix_fmt = format.pixelFormat
            c.pointee.time_base = AVRational(num: 1, den: 25)
            format.configure(c)
        }
        let frame = Frame()
        let f = frame.ptr
        f.pointee.width = Int32(width)
        f.pointee.height = Int32(height)
        f.pointee.format = format.pixelFormat.rawValue
        try check(av_frame_get_buffer(f, 0), .writeFailed, path: path, "cannot allocate a frame")
        let source = channels == 3 ? AV_PIX_FMT_RGB24 : AV_PIX_FMT_GRAY8
        if let palette = format.palette, format.pixelFormat == AV_PIX_FMT_PAL8, channels == 1 {
            // Indices copied as they are; the palette goes to data[1] as native-endian 0xAARRGGBB words.
            let stride = Int(swift_frame_linesize(f)[0])
            guard let dst = swift_frame_data(f)[0], let pal = swift_frame_data(f)[1], palette.count == 256 else {
                throw VideoError(.writeFailed, path: path, "no palette frame buffer")
            }
            for y in 0..<height { for x in 0..<width { dst[y * stride + x] = pixels[y * width + x] } }
            pal.withMemoryRebound(to: UInt32.self, capacity: 256) { p in for i in 0..<256 { p[i] = palette[i] } }
        } else if source == format.pixelFormat {
            let stride = Int(swift_frame_linesize(f)[0])
            guard let dst = swift_frame_data(f)[0] else { throw VideoError(.writeFailed, path: path, "no frame buffer") }
            pixels.withUnsafeBufferPointer { src in
                guard let base = src.baseAddress else { return }
                for y in 0..<height {
                    (dst + y * stride).update(from: base + y * width * channels, count: width * channels)
                }
            }
        } else {
            let scaler = Scaler()
            try scaler.configure(srcW: width, srcH: height, src: source, dstW: width, dstH: height,
                                 dst: format.pixelFormat, path: path)
            let rc = pixels.withUnsafeBufferPointer {
                swift_sws_packed_to_frame(scaler.ctx, $0.baseAddress, Int32(width * channels), Int32(height), f)
            }
            try check(rc, .writeFailed, path: path, "colour conversion for \(format.name) failed")
        }
        guard let c = codec.ctx else { throw VideoError(.writeFailed, path: path, "no encoder") }
        // A fixed-quantiser encoder takes the quantiser of each frame from the frame (as the ffmpeg tool sets it).
        f.pointee.quality = c.pointee.global_quality
        try check(avcodec_send_frame(c, f), .writeFailed, path: path, "\(format.name) encoding failed")
        _ = avcodec_send_frame(c, nil)
        let packet = Packet()
        try check(avcodec_receive_packet(c, packet.ptr), .writeFailed, path: path, "\(format.name) encoding failed")
        defer { av_packet_unref(packet.ptr) }
        let p = packet.ptr.pointee
        guard let data = p.data, p.size > 0 else {
            throw VideoError(.writeFailed, path: path, "the \(format.name) encoder gave no bytes")
        }
        return Array(UnsafeBufferPointer(start: data, count: Int(p.size)))
    }
}

extension AtomicWriteError {
    /// The error as the Video module reports write failures.
    var videoError: VideoError { VideoError(.writeFailed, path: file, problem) }
}
