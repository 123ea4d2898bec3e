// Still images through FFmpeg's image demuxers and decoders: JPEG (also CMYK), PNG (grey, 16-bit,
// palette, alpha), BMP, TIFF, WebP → 8-bit RGB or grey; PNG writing for masks and RGB pictures;
// resizing with swscale. Writers write a temporary file beside the destination and rename it.
import CFFmpeg
import Foundation

/// Reads and writes still images.
public enum ImageIO {
    /// Decodes the first picture of an image file to 8-bit RGB (H×W×3); alpha is dropped.
    public static func read(path: String) throws -> RGBImage {
        let decoder = try StreamDecoder(path: path, threads: 1)
        guard try decoder.receive() else { throw stillError(decoder, path: path) }
        let f = decoder.frame.ptr
        return try convertToRGB(f, width: Int(f.pointee.width), height: Int(f.pointee.height), scaler: Scaler(),
                                path: path)
    }

    /// Decodes the first picture of an image file to 8-bit grey (H×W); colour is converted with BT.601 weights.
    public static func readGray(path: String) throws -> GrayImage {
        let decoder = try StreamDecoder(path: path, threads: 1)
        guard try decoder.receive() else { throw stillError(decoder, path: path) }
        let f = decoder.frame.ptr
        let (w, h) = (Int(f.pointee.width), Int(f.pointee.height))
        guard w > 0, h > 0, w <= maximumSide, h <= maximumSide else {
            throw VideoError(.absurdSize, path: path, "decoded a \(w)×\(h) picture")
        }
        let format = AVPixelFormat(rawValue: f.pointee.format)
        if format == AV_PIX_FMT_GRAY8 {
            // Copied as is (swscale would rescale full-range grey to video range otherwise).
            var pixels = [UInt8](repeating: 0, count: w * h)
            let stride = Int(swift_frame_linesize(f)[0])
            guard let src = swift_frame_data(f)[0] else { throw stillError(decoder, path: path) }
            for y in 0..<h { for x in 0..<w { pixels[y * w + x] = src[y * stride + x] } }
            return try GrayImage(width: w, height: h, pixels: pixels)
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
                                                Int32(image.height), dst.baseAddress, Int32(width * 3))
                count = width * height * 3
            }
        }
        if rc < 0 { throw VideoError(.invalidArgument, path: "resize", "swscale failed: \(avErrorText(rc))") }
        return RGBImage(width: width, height: height, unchecked: out)
    }

    /// Writes an RGB picture as an 8-bit RGB PNG.
    public static func writePNG(_ image: RGBImage, to path: String) throws {
        guard image.width > 0, image.height > 0, image.pixels.count == image.width * image.height * 3 else {
            throw VideoError(.invalidArgument, path: path, "picture of \(image.pixels.count) bytes is not "
                             + "\(image.width)×\(image.height)×3")
        }
        let bytes = try encodePNG(image.pixels, width: image.width, height: image.height, channels: 3, path: path)
        try AtomicFile.write(bytes, to: path)
    }

    /// Writes a grey picture (a 0/255 mask) as an 8-bit grey PNG.
    public static func writePNG(_ image: GrayImage, to path: String) throws {
        guard image.width > 0, image.height > 0, image.pixels.count == image.width * image.height else {
            throw VideoError(.invalidArgument, path: path, "picture of \(image.pixels.count) bytes is not "
                             + "\(image.width)×\(image.height)")
        }
        let bytes = try encodePNG(image.pixels, width: image.width, height: image.height, channels: 1, path: path)
        try AtomicFile.write(bytes, to: path)
    }

    private static func stillError(_ decoder: StreamDecoder, path: String) -> VideoError {
        let detail = decoder.problems.isEmpty ? "" : ": " + decoder.problems.joined(separator: "; ")
        return VideoError(.damaged, path: path, "no picture could be decoded\(detail)")
    }

    private static func encodePNG(_ pixels: [UInt8], width: Int, height: Int, channels: Int,
                                  path: String) throws -> [UInt8] {
        guard width <= maximumSide, height <= maximumSide else {
            throw VideoError(.absurdSize, path: path, "\(width)×\(height) is above \(maximumSide) on a side")
        }
        _ = FFmpegLog.configured
        guard let encoder = avcodec_find_encoder(AV_CODEC_ID_PNG) else {
            throw VideoError(.unsupported, path: path, "this FFmpeg build has no PNG encoder")
        }
        let format = channels == 3 ? AV_PIX_FMT_RGB24 : AV_PIX_FMT_GRAY8
        let codec = try CodecContext(encoder: encoder, path: path) { c in
            c.pointee.width = Int32(width)
            c.pointee.height = Int32(height)
            c.pointee.pix_fmt = format
            c.pointee.time_base = AVRational(num: 1, den: 25)
        }
        let frame = Frame()
        let f = frame.ptr
        f.pointee.width = Int32(width)
        f.pointee.height = Int32(height)
        f.pointee.format = format.rawValue
        try check(av_frame_get_buffer(f, 0), .writeFailed, path: path, "cannot allocate a frame")
        let stride = Int(swift_frame_linesize(f)[0])
        guard let dst = swift_frame_data(f)[0] else { throw VideoError(.writeFailed, path: path, "no frame buffer") }
        pixels.withUnsafeBufferPointer { src in
            for y in 0..<height {
                (dst + y * stride).update(from: src.baseAddress! + y * width * channels, count: width * channels)
            }
        }
        guard let c = codec.ctx else { throw VideoError(.writeFailed, path: path, "no encoder") }
        try check(avcodec_send_frame(c, f), .writeFailed, path: path, "PNG encoding failed")
        _ = avcodec_send_frame(c, nil)
        let packet = Packet()
        try check(avcodec_receive_packet(c, packet.ptr), .writeFailed, path: path, "PNG encoding failed")
        defer { av_packet_unref(packet.ptr) }
        let p = packet.ptr.pointee
        guard let data = p.data, p.size > 0 else { throw VideoError(.writeFailed, path: path, "empty PNG") }
        return Array(UnsafeBufferPointer(start: data, count: Int(p.size)))
    }
}

/// Writing through a temporary file in the destination folder, renamed over the destination on success.
enum AtomicFile {
    /// A fresh temporary path beside `path` that keeps its extension (muxers choose by it).
    static func temporaryPath(for path: String) -> String {
        let url = URL(fileURLWithPath: path)
        let ext = url.pathExtension
        let tag = String(UInt64.random(in: 0...UInt64.max), radix: 36)
        let name = ".\(url.deletingPathExtension().lastPathComponent).partial-\(getpid())-\(tag)"
            + (ext.isEmpty ? "" : ".\(ext)")
        return url.deletingLastPathComponent().appendingPathComponent(name).path
    }

    /// Renames `temporary` to `path`, removing the temporary file when that fails.
    static func commit(_ temporary: String, to path: String) throws {
        if rename(temporary, path) != 0 {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw VideoError(.writeFailed, path: path, "cannot move the finished file into place: \(reason)")
        }
    }

    /// Writes `bytes` to `path` atomically.
    static func write(_ bytes: [UInt8], to path: String) throws {
        let temporary = temporaryPath(for: path)
        guard let file = fopen(temporary, "wb") else {
            throw VideoError(.writeFailed, path: path, "cannot create a file there: \(String(cString: strerror(errno)))")
        }
        let written = bytes.withUnsafeBufferPointer { fwrite($0.baseAddress, 1, bytes.count, file) }
        let closed = fclose(file)
        guard written == bytes.count, closed == 0 else {
            unlink(temporary)
            throw VideoError(.writeFailed, path: path, "writing failed: \(String(cString: strerror(errno)))")
        }
        try commit(temporary, to: path)
    }
}
