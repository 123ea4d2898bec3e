// Writing RGB frames to an mp4 file: H.264 through libx264 when the FFmpeg build has it, else MPEG-4
// part 2, always yuv420p (what browsers and QuickTime play). 4:2:0 cannot hold an odd width or height,
// so an odd-sized picture is padded to even by repeating its last column and row (a 159×119 source gives
// a 160×120 video). The index (moov) is put before the media data (+faststart) so players can start
// before the whole file has arrived, and the source's audio can be copied in (AudioCopy). The file is
// written under a temporary name in the destination folder and renamed by `finish()`.
import CFFmpeg
import Foundation
import FileOutput

/// An mp4 muxer (AVFormatContext with its AVIOContext), freed on deinit.
private final class OutputFile {
    private(set) var ctx: UnsafeMutablePointer<AVFormatContext>?

    init(path: String, reportedPath: String) throws {
        _ = FFmpegLog.configured
        var c: UnsafeMutablePointer<AVFormatContext>? = nil
        try check(avformat_alloc_output_context2(&c, nil, "mp4", path), .writeFailed, path: reportedPath,
                  "cannot set up an mp4 muxer")
        ctx = c
        guard let c else { throw VideoError(.writeFailed, path: reportedPath, "cannot set up an mp4 muxer") }
        try check(avio_open(&c.pointee.pb, path, AVIO_FLAG_WRITE), .writeFailed, path: reportedPath,
                  "cannot create a file there")
    }

    deinit {
        if let c = ctx, c.pointee.pb != nil { avio_closep(&c.pointee.pb) }
        avformat_free_context(ctx)
    }

    func close() {
        if let c = ctx, c.pointee.pb != nil { avio_closep(&c.pointee.pb) }
    }
}

/// Encodes RGB frames (H×W×3, all of the writer's size) into an mp4 file.
///
/// ```swift
/// let writer = try VideoWriter(path: "out.mp4", width: 320, height: 240, frameRate: reader.info.frameRate)
/// try writer.append(frame)   // for each frame
/// try writer.finish()        // the file appears under its name only now
/// ```
public final class VideoWriter {
    /// Which encoder to use.
    public enum Codec: Sendable {
        /// libx264 when the FFmpeg build has it, else MPEG-4 part 2.
        case automatic
        case h264
        case mpeg4
    }

    /// The destination; the file appears there when `finish()` succeeds.
    public let path: String
    /// The size of the frames appended.
    public let width: Int
    public let height: Int
    /// The size of the encoded video: the frames' size rounded up to even (the extra column and row repeat the last).
    public let encodedWidth: Int
    public let encodedHeight: Int
    public let frameRate: FrameRate
    /// The copied audio's codec ("aac", …); nil when there is no audio.
    public private(set) var audioCodec: String?
    /// Why the source's audio was not copied, when it has some that could not be (nil otherwise).
    public private(set) var audioProblem: String?
    /// The encoder's name ("libx264" or "mpeg4").
    public let codecName: String
    /// Frames appended so far.
    public private(set) var frameCount = 0

    private let temporary: String
    private var output: OutputFile?
    private let codec: CodecContext
    private let stream: UnsafeMutablePointer<AVStream>
    private let frame = Frame()
    private let packet = Packet()
    private let scaler = Scaler()
    private var finished = false
    /// Presentation times of the frames in the codec's time base (a variable-frame-rate source); nil: frame k at k.
    private let frameTimes: [Int64]?
    /// The source frame number of the video's first frame (`append(_:sourceFrame:)` counts from it).
    private let firstFrame: Int
    /// The next slot `append(_:)` fills: 0-based frames after `firstFrame`.
    private var nextSlot = 0
    private var audio: AudioCopy?

    /// Opens `path` for writing at `frameRate` (use the source video's rate) and width×height; `quality` is x264's
    /// CRF (lower is better, 20 by default) or, for MPEG-4, five times its quantiser.
    public convenience init(path: String, width: Int, height: Int, frameRate: FrameRate, codec choice: Codec = .automatic,
                            quality: Int = 20) throws {
        try self.init(path: path, width: width, height: height, frameRate: frameRate, codec: choice, quality: quality,
                      frameTimes: nil)
    }

    /// As above; `frameTimes` (when given) are the frames' presentation times in the time base num/den, so a
    /// variable-frame-rate source keeps its timing (frames past the table follow at the last interval).
    /// `firstFrame` is the source frame number of the first slot (for `append(_:sourceFrame:)`); `audio`, when given,
    /// is copied from the source's best audio stream (a source without audio, or with audio mp4 cannot hold, gives a
    /// silent video; `audioProblem` says why for the latter).
    init(path: String, width: Int, height: Int, frameRate: FrameRate, codec choice: Codec = .automatic,
         quality: Int = 20, frameTimes: (times: [Int64], num: Int, den: Int)?, firstFrame: Int = 1,
         audio span: AudioSpan? = nil) throws {
        guard (1...maximumSide).contains(width), (1...maximumSide).contains(height) else {
            throw VideoError(.absurdSize, path: path, "size \(width)×\(height) is outside 1…\(maximumSide)")
        }
        guard frameRate.numerator > 0, frameRate.denominator > 0, frameRate.value <= 1000,
              frameRate.numerator <= Int(Int32.max), frameRate.denominator <= Int(Int32.max) else {
            throw VideoError(.invalidArgument, path: path, "frame rate \(frameRate) is not a usable rate")
        }
        self.path = path
        self.width = width
        self.height = height
        self.frameRate = frameRate
        self.firstFrame = firstFrame
        encodedWidth = width + width % 2
        encodedHeight = height + height % 2
        let (encodedWidth, encodedHeight) = (self.encodedWidth, self.encodedHeight)
        temporary = AtomicFile.temporaryPath(for: path)
        let x264 = avcodec_find_encoder_by_name("libx264")
        let encoder: UnsafePointer<AVCodec>
        switch choice {
        case .h264:
            guard let x264 else { throw VideoError(.unsupported, path: path, "this FFmpeg build has no libx264") }
            encoder = x264
        case .mpeg4, .automatic:
            if choice == .automatic, let x264 {
                encoder = x264
            } else {
                guard let m = avcodec_find_encoder(AV_CODEC_ID_MPEG4) else {
                    throw VideoError(.unsupported, path: path, "this FFmpeg build has neither libx264 nor mpeg4")
                }
                encoder = m
            }
        }
        let isX264 = String(cString: encoder.pointee.name) == "libx264"
        // MPEG-4 part 2 takes time bases up to 1/65535 only; then the source timing cannot be kept.
        var frameTimes = frameTimes
        if let t = frameTimes, t.times.count < 2 || t.num < 1 || t.den < 1 || t.num > Int(Int32.max)
            || t.den > (isX264 ? Int(Int32.max) : 65535) {
            frameTimes = nil
        }
        self.frameTimes = frameTimes?.times
        let pixelFormat = AV_PIX_FMT_YUV420P
        let out = try OutputFile(path: temporary, reportedPath: path)
        output = out
        do {
            guard let fmt = out.ctx, let s = avformat_new_stream(fmt, nil) else {
                throw VideoError(.writeFailed, path: path, "cannot add a video stream")
            }
            stream = s
            let globalHeader = (fmt.pointee.oformat.pointee.flags & AVFMT_GLOBALHEADER) != 0
            let timeBase = frameTimes.map { AVRational(num: Int32($0.num), den: Int32($0.den)) }
                ?? AVRational(num: Int32(frameRate.denominator), den: Int32(frameRate.numerator))
            let options = isX264 ? ["preset": "fast", "crf": String(quality)] : [:]
            codec = try CodecContext(encoder: encoder, path: path, options: options) { c in
                c.pointee.width = Int32(encodedWidth)
                c.pointee.height = Int32(encodedHeight)
                c.pointee.pix_fmt = pixelFormat
                c.pointee.time_base = timeBase
                c.pointee.framerate = AVRational(num: Int32(frameRate.numerator), den: Int32(frameRate.denominator))
                c.pointee.gop_size = 12
                c.pointee.color_range = AVCOL_RANGE_MPEG
                if !isX264 {
                    c.pointee.flags |= AV_CODEC_FLAG_QSCALE
                    c.pointee.global_quality = FF_QP2LAMBDA * Int32(max(2, min(31, quality / 5)))
                }
                if globalHeader { c.pointee.flags |= AV_CODEC_FLAG_GLOBAL_HEADER }
            }
            guard let c = codec.ctx else { throw VideoError(.writeFailed, path: path, "no encoder") }
            codecName = codec.name
            try check(avcodec_parameters_from_context(s.pointee.codecpar, c), .writeFailed, path: path,
                      "cannot describe the stream")
            s.pointee.time_base = timeBase
            s.pointee.avg_frame_rate = c.pointee.framerate
            if let span {
                do {
                    audio = try AudioCopy(span: span, output: fmt, reportedPath: path)
                    audioCodec = audio?.codecName
                } catch let error as VideoError {
                    audioProblem = error.message
                }
            }
            var header: OpaquePointer? = nil
            av_dict_set(&header, "movflags", "+faststart", 0)
            defer { av_dict_free(&header) }
            try check(avformat_write_header(fmt, &header), .writeFailed, path: path, "cannot write the mp4 header")
            let f = frame.ptr
            f.pointee.width = Int32(encodedWidth)
            f.pointee.height = Int32(encodedHeight)
            f.pointee.format = pixelFormat.rawValue
            try check(av_frame_get_buffer(f, 0), .writeFailed, path: path, "cannot allocate a frame")
            try scaler.configure(srcW: encodedWidth, srcH: encodedHeight, src: AV_PIX_FMT_RGB24, dstW: encodedWidth,
                                 dstH: encodedHeight, dst: pixelFormat, path: path)
        } catch {
            out.close()
            output = nil
            unlink(temporary)
            throw error
        }
    }

    /// Opens `path` for frames like `reader`'s: its output size and its frame rate (25 when the source has none);
    /// a variable-frame-rate source keeps its frames' timestamps. `frames` (1-based source frame numbers, all of
    /// them by default) is the span the video covers: its first frame is shown at time 0. With `copyAudio` the
    /// source's audio over that span is copied in.
    public convenience init(path: String, matching reader: VideoReader, frames: ClosedRange<Int>? = nil,
                            copyAudio: Bool = true, codec: Codec = .automatic, quality: Int = 20) throws {
        let rate = reader.info.frameRate.value > 0 ? reader.info.frameRate : FrameRate(25)
        let span = frames ?? 1...max(1, reader.info.frameCount)
        guard span.lowerBound >= 1, span.upperBound <= max(1, reader.info.frameCount) else {
            throw VideoError(.frameOutOfRange, path: path, "frames \(span.lowerBound)…\(span.upperBound) are outside "
                             + "the source's 1…\(reader.info.frameCount)")
        }
        var times = reader.variableFrameTimes
        if let t = times {
            let part = Array(t.times[(span.lowerBound - 1)..<min(t.times.count, span.upperBound)])
            times = part.count > 1 ? (part.map { $0 - part[0] }, t.num, t.den) : nil
        }
        var audio: AudioSpan? = nil
        if copyAudio, let start = reader.sourceSeconds(ofFrame: span.lowerBound),
           let last = reader.sourceSeconds(ofFrame: span.upperBound) {
            let end = reader.sourceSeconds(ofFrame: span.upperBound + 1) ?? last + 1 / rate.value
            audio = AudioSpan(path: reader.path, start: start, end: end)
        }
        try self.init(path: path, width: reader.outputWidth, height: reader.outputHeight, frameRate: rate,
                      codec: codec, quality: quality, frameTimes: times, firstFrame: span.lowerBound, audio: audio)
    }

    deinit {
        if !finished {
            output?.close()
            output = nil
            unlink(temporary)
        }
    }

    /// Encodes one frame (H×W×3 of the writer's size), shown after the previous one.
    public func append(_ image: RGBImage) throws {
        try append(image, slot: nextSlot)
    }

    /// Encodes one frame shown at the time of source frame `number` (1-based; the writer's first frame unless it was
    /// opened on a span): the frames between keep showing the previous one. Numbers must increase.
    public func append(_ image: RGBImage, sourceFrame number: Int) throws {
        guard number - firstFrame >= nextSlot else {
            throw VideoError(.invalidArgument, path: path, "source frame \(number) comes after frame "
                             + "\(firstFrame + nextSlot - 1): frames must be appended in increasing order")
        }
        try append(image, slot: number - firstFrame)
    }

    private func append(_ image: RGBImage, slot: Int) throws {
        guard !finished else { throw VideoError(.invalidArgument, path: path, "the writer is already finished") }
        guard image.width == width, image.height == height, image.pixels.count == width * height * 3 else {
            throw VideoError(.invalidArgument, path: path,
                             "frame \(frameCount + 1) is \(image.width)×\(image.height), the video is \(width)×\(height)")
        }
        let f = frame.ptr
        try check(av_frame_make_writable(f), .writeFailed, path: path, "cannot reuse the frame buffer")
        let pixels = encodedWidth == width && encodedHeight == height ? image.pixels : Self.padded(image)
        let rc = pixels.withUnsafeBufferPointer {
            swift_sws_packed_to_frame(scaler.ctx, $0.baseAddress, Int32(encodedWidth * 3), Int32(encodedHeight), f)
        }
        try check(rc, .writeFailed, path: path, "colour conversion failed")
        f.pointee.pts = presentationTime(slot)
        // The audio up to this frame's time goes in first (the muxer interleaves what it is given by time).
        if let audio, let fmt = output?.ctx, let c = codec.ctx {
            let seconds = Double(f.pointee.pts) * Double(c.pointee.time_base.num) / Double(c.pointee.time_base.den)
            try audio.copy(upTo: seconds, into: fmt, path: path)
        }
        try send(f)
        frameCount += 1
        nextSlot = slot + 1
    }

    /// The picture with its last column and row repeated up to an even size.
    private static func padded(_ image: RGBImage) -> [UInt8] {
        let (w, h) = (image.width, image.height)
        let (ew, eh) = (w + w % 2, h + h % 2)
        var out = [UInt8](repeating: 0, count: ew * eh * 3)
        image.pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for y in 0..<eh {
                    let sy = min(y, h - 1)
                    (dst.baseAddress! + y * ew * 3).update(from: src.baseAddress! + sy * w * 3, count: w * 3)
                    if ew > w { for k in 0..<3 { dst[(y * ew + w) * 3 + k] = src[(sy * w + w - 1) * 3 + k] } }
                }
            }
        }
        return out
    }

    /// Flushes the encoder, writes the trailer and moves the file to its name.
    public func finish() throws {
        guard !finished else { return }
        finished = true
        do {
            try send(nil)
            guard let fmt = output?.ctx else { throw VideoError(.writeFailed, path: path, "the file is closed") }
            try audio?.copy(upTo: nil, into: fmt, path: path)
            audio = nil
            try check(av_write_trailer(fmt), .writeFailed, path: path, "cannot finish the mp4 file")
            output?.close()
            output = nil
            do { try AtomicFile.commit(temporary, to: path) } catch let error as AtomicWriteError { throw error.videoError }
        } catch {
            output?.close()
            output = nil
            unlink(temporary)
            throw error
        }
    }

    /// The pts of 0-based frame `k`: the source's time when known, else k frame intervals.
    private func presentationTime(_ k: Int) -> Int64 {
        guard let t = frameTimes else { return Int64(k) }
        if k < t.count { return t[k] }
        let last = t.count - 1
        return t[last] + Int64(k - last) * max(1, t[last] - t[last - 1])
    }

    private func send(_ f: UnsafeMutablePointer<AVFrame>?) throws {
        guard let c = codec.ctx, let fmt = output?.ctx else {
            throw VideoError(.writeFailed, path: path, "the file is closed")
        }
        try check(avcodec_send_frame(c, f), .writeFailed, path: path, "encoding failed")
        while true {
            let r = avcodec_receive_packet(c, packet.ptr)
            if r == swift_AVERROR(swift_EAGAIN()) || r == swift_AVERROR_EOF() { return }
            try check(r, .writeFailed, path: path, "encoding failed")
            av_packet_rescale_ts(packet.ptr, c.pointee.time_base, stream.pointee.time_base)
            packet.ptr.pointee.stream_index = stream.pointee.index
            let w = av_interleaved_write_frame(fmt, packet.ptr)
            av_packet_unref(packet.ptr)
            try check(w, .writeFailed, path: path, "writing a packet failed")
        }
    }
}
