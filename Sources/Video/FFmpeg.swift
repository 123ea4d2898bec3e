// The owners of FFmpeg's C objects: each one is created and freed by exactly one Swift object here.
// Nothing in this file is public; the rest of the module works with these wrappers, other modules
// never see an FFmpeg type.
import CFFmpeg
import Foundation

/// FFmpeg's own log is silenced once (the module reports problems through `VideoError` and
/// `VideoReader.damage`); set CMPC_FFMPEG_LOG=1 in the environment to keep FFmpeg's messages.
enum FFmpegLog {
    static let configured: Void = {
        if ProcessInfo.processInfo.environment["CMPC_FFMPEG_LOG"] == nil { av_log_set_level(AV_LOG_QUIET) }
    }()
}

/// An opened input (AVFormatContext), closed on deinit.
final class InputFile {
    private(set) var ctx: UnsafeMutablePointer<AVFormatContext>?
    let path: String

    /// Opens `path` (probing the format from its bytes) and reads its stream headers.
    init(path: String) throws {
        _ = FFmpegLog.configured
        self.path = path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw VideoError(.missingFile, path: path, "no such file")
        }
        if isDirectory.boolValue { throw VideoError(.notMedia, path: path, "is a folder, not a media file") }
        // Devices and pipes can be endless (/dev/urandom would be demuxed forever): only regular files are read.
        var info = stat()
        guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            throw VideoError(.notMedia, path: path, "is not a regular file")
        }
        var c: UnsafeMutablePointer<AVFormatContext>? = nil
        let rc = avformat_open_input(&c, path, nil, nil)
        if rc < 0 {
            throw VideoError(.notMedia, path: path, "not a media file FFmpeg can read: \(avErrorText(rc))")
        }
        ctx = c
        // Sizes declared in the header are checked before any frame is read.
        try checkDeclaredSizes()
        let si = avformat_find_stream_info(c, nil)
        if si < 0 { throw VideoError(.notMedia, path: path, "cannot read the stream headers: \(avErrorText(si))") }
        try checkDeclaredSizes()
    }

    deinit { avformat_close_input(&ctx) }

    var streamCount: Int { Int(ctx?.pointee.nb_streams ?? 0) }

    func stream(_ i: Int) -> UnsafeMutablePointer<AVStream>? {
        guard let c = ctx, i >= 0, i < streamCount, let s = c.pointee.streams[i] else { return nil }
        return s
    }

    private func checkDeclaredSizes() throws {
        for i in 0..<streamCount {
            guard let par = stream(i)?.pointee.codecpar, par.pointee.codec_type == AVMEDIA_TYPE_VIDEO else { continue }
            let (w, h) = (Int(par.pointee.width), Int(par.pointee.height))
            if w > maximumSide || h > maximumSide || w < 0 || h < 0 {
                throw VideoError(.absurdSize, path: path,
                                 "stream \(i) declares a \(w)×\(h) picture (the limit is \(maximumSide) on a side)")
            }
        }
    }

    /// The index of the main video stream (the largest picture that is not cover art), or nil.
    func bestVideoStream() -> Int? {
        var best: (Int, Int)? = nil
        for i in 0..<streamCount {
            guard let s = stream(i), let par = s.pointee.codecpar, par.pointee.codec_type == AVMEDIA_TYPE_VIDEO,
                  s.pointee.disposition & AV_DISPOSITION_ATTACHED_PIC == 0 else { continue }
            let area = Int(par.pointee.width) * Int(par.pointee.height)
            if best == nil || area > best!.1 { best = (i, area) }
        }
        return best?.0
    }

    /// Makes the demuxer skip every stream but `keep` (no reading of audio packets).
    func discardAllBut(_ keep: Int) {
        for i in 0..<streamCount where i != keep { stream(i)?.pointee.discard = AVDISCARD_ALL }
    }
}

/// An opened decoder (AVCodecContext), freed on deinit.
final class CodecContext {
    private(set) var ctx: UnsafeMutablePointer<AVCodecContext>?
    let name: String

    /// Opens the decoder for `stream`; `threads` 0 lets FFmpeg choose, frame threads are used when the codec has them.
    init(decoderFor stream: UnsafeMutablePointer<AVStream>, threads: Int, path: String) throws {
        guard let par = stream.pointee.codecpar else { throw VideoError(.notMedia, path: path, "stream has no parameters") }
        guard let decoder = avcodec_find_decoder(par.pointee.codec_id) else {
            let n = String(cString: avcodec_get_name(par.pointee.codec_id))
            throw VideoError(.unsupported, path: path, "no decoder for codec \(n) in this FFmpeg build")
        }
        name = String(cString: decoder.pointee.name)
        ctx = avcodec_alloc_context3(decoder)
        guard let c = ctx else { throw VideoError(.unsupported, path: path, "cannot allocate a decoder") }
        try check(avcodec_parameters_to_context(c, par), .notMedia, path: path, "bad codec parameters")
        c.pointee.thread_count = Int32(max(0, threads))
        c.pointee.thread_type = FF_THREAD_FRAME | FF_THREAD_SLICE
        c.pointee.pkt_timebase = stream.pointee.time_base
        try check(avcodec_open2(c, decoder, nil), .unsupported, path: path, "cannot open the \(name) decoder")
    }

    /// Opens an encoder already configured by `configure` (size, format, time base…).
    init(encoder: UnsafePointer<AVCodec>, path: String, options: [String: String] = [:],
         configure: (UnsafeMutablePointer<AVCodecContext>) -> Void) throws {
        name = String(cString: encoder.pointee.name)
        ctx = avcodec_alloc_context3(encoder)
        guard let c = ctx else { throw VideoError(.writeFailed, path: path, "cannot allocate the \(name) encoder") }
        configure(c)
        var dict: OpaquePointer? = nil
        for (k, v) in options { av_dict_set(&dict, k, v, 0) }
        defer { av_dict_free(&dict) }
        try check(avcodec_open2(c, encoder, &dict), .writeFailed, path: path, "cannot open the \(name) encoder")
    }

    deinit { avcodec_free_context(&ctx) }
}

/// An AVFrame, freed on deinit.
final class Frame {
    private(set) var ptr: UnsafeMutablePointer<AVFrame>
    init() {
        guard let p = av_frame_alloc() else { fatalError("av_frame_alloc: out of memory") }
        ptr = p
    }
    deinit {
        var p: UnsafeMutablePointer<AVFrame>? = ptr
        av_frame_free(&p)
    }
}

/// An AVPacket, freed on deinit.
final class Packet {
    private(set) var ptr: UnsafeMutablePointer<AVPacket>
    init() {
        guard let p = av_packet_alloc() else { fatalError("av_packet_alloc: out of memory") }
        ptr = p
    }
    deinit {
        var p: UnsafeMutablePointer<AVPacket>? = ptr
        av_packet_free(&p)
    }
}

/// A swscale context reused while the geometry stays the same, freed on deinit.
final class Scaler {
    private(set) var ctx: OpaquePointer?
    private var colour: (space: Int32, fullRange: Bool)?

    /// Makes the context convert srcW×srcH `src` to dstW×dstH `dst` (bilinear when resizing).
    func configure(srcW: Int, srcH: Int, src: AVPixelFormat, dstW: Int, dstH: Int, dst: AVPixelFormat,
                   path: String) throws {
        let previous = ctx
        ctx = sws_getCachedContext(ctx, Int32(srcW), Int32(srcH), src, Int32(dstW), Int32(dstH), dst,
                                   SWS_BILINEAR, nil, nil, nil)
        if ctx != previous { colour = nil }
        if ctx == nil {
            let name = av_get_pix_fmt_name(src).map { String(cString: $0) } ?? "\(src.rawValue)"
            throw VideoError(.unsupported, path: path,
                             "cannot convert \(name) \(srcW)×\(srcH) to \(dstW)×\(dstH)")
        }
    }

    /// Sets the YUV matrix (an SWS_CS_* value) and whether the source uses the full 0…255 range.
    func setSourceColour(space: Int32, fullRange: Bool) {
        guard let c = ctx else { return }
        if let current = colour, current.space == space, current.fullRange == fullRange { return }
        colour = (space, fullRange)
        var invTable: UnsafeMutablePointer<Int32>? = nil, table: UnsafeMutablePointer<Int32>? = nil
        var srcRange: Int32 = 0, dstRange: Int32 = 0, brightness: Int32 = 0, contrast: Int32 = 0, saturation: Int32 = 0
        guard sws_getColorspaceDetails(c, &invTable, &srcRange, &table, &dstRange, &brightness, &contrast,
                                       &saturation) >= 0 else { return }
        _ = sws_setColorspaceDetails(c, sws_getCoefficients(space), fullRange ? 1 : 0, table, dstRange,
                                     brightness, contrast, saturation)
    }

    deinit { sws_freeContext(ctx) }
}

/// The swscale matrix and range of a decoded frame: its colour space when tagged (BT.601 otherwise), full range
/// for JPEG-range frames and for grey pictures (which carry no range and are stored 0…255).
func sourceColour(of frame: UnsafeMutablePointer<AVFrame>) -> (space: Int32, fullRange: Bool) {
    let space: Int32
    switch frame.pointee.colorspace {
    case AVCOL_SPC_BT709: space = SWS_CS_ITU709
    case AVCOL_SPC_BT2020_NCL, AVCOL_SPC_BT2020_CL: space = SWS_CS_BT2020
    case AVCOL_SPC_FCC: space = SWS_CS_FCC
    case AVCOL_SPC_SMPTE240M: space = SWS_CS_SMPTE240M
    default: space = SWS_CS_DEFAULT
    }
    var full = frame.pointee.color_range == AVCOL_RANGE_JPEG
    if let desc = av_pix_fmt_desc_get(AVPixelFormat(rawValue: frame.pointee.format)),
       desc.pointee.nb_components <= 2, desc.pointee.flags & UInt64(AV_PIX_FMT_FLAG_PAL) == 0,
       frame.pointee.color_range != AVCOL_RANGE_MPEG {
        full = true
    }
    return (space, full)
}

/// Converts the decoded `frame` to packed RGB24 of size w×h.
func convertToRGB(_ frame: UnsafeMutablePointer<AVFrame>, width w: Int, height h: Int, scaler: Scaler,
                  path: String) throws -> RGBImage {
    let (fw, fh) = (Int(frame.pointee.width), Int(frame.pointee.height))
    guard fw > 0, fh > 0, fw <= maximumSide, fh <= maximumSide else {
        throw VideoError(.absurdSize, path: path, "decoded a \(fw)×\(fh) picture")
    }
    try scaler.configure(srcW: fw, srcH: fh, src: AVPixelFormat(rawValue: frame.pointee.format), dstW: w, dstH: h,
                         dst: AV_PIX_FMT_RGB24, path: path)
    let colour = sourceColour(of: frame)
    scaler.setSourceColour(space: colour.space, fullRange: colour.fullRange)
    // swscale's SIMD paths write whole vectors: with a row of w·3 bytes that is not a multiple of
    // their width (a 40×30 clip, say) they run past the end of an exact buffer. Convert into rows
    // aligned to 64 bytes with a spare row, then pack.
    let rowBytes = w * 3
    let stride = (rowBytes + 63) & ~63
    let staging = UnsafeMutablePointer<UInt8>.allocate(capacity: stride * (h + 1))
    defer { staging.deallocate() }
    let rc = swift_sws_frame_to_packed(scaler.ctx, frame, staging, Int32(stride))
    let pixels = [UInt8](unsafeUninitializedCapacity: rowBytes * h) { buffer, count in
        for y in 0..<h { (buffer.baseAddress! + y * rowBytes).update(from: staging + y * stride, count: rowBytes) }
        count = rowBytes * h
    }
    if rc < 0 { throw VideoError(.damaged, path: path, "colour conversion failed: \(avErrorText(rc))") }
    return RGBImage(width: w, height: h, unchecked: pixels)
}
