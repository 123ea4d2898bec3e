// Copying a source's audio stream into the overlay mp4 without re-encoding: its packets are remuxed
// with their timestamps moved to the overlay's start and rescaled to the output stream's time base,
// and only those between the overlay's first frame and the end of its last frame are kept (whole
// packets: an AAC packet is about 21 ms). Internal: VideoWriter drives it.
import CFFmpeg
import Foundation

/// Where the audio of an overlay comes from: the source file and the span of its clock to copy.
struct AudioSpan {
    /// The media file holding the audio.
    var path: String
    /// Seconds on the source's clock: the overlay's first frame, and the end of its last frame.
    var start: Double
    var end: Double
}

/// The best audio stream of a source, copied packet by packet into one stream of an output file.
final class AudioCopy {
    private let input: InputFile
    private let inputIndex: Int
    private let inputTimeBase: AVRational
    private let span: AudioSpan
    private let packet = Packet()
    private var pending = false
    private var exhausted = false
    /// The stream added to the output.
    let outputStream: UnsafeMutablePointer<AVStream>
    /// The codec's name ("aac", "opus", …).
    let codecName: String

    /// Adds a copy of `span.path`'s audio stream to `output` (before its header is written). Nil when the source has
    /// no audio; throws `.unsupported` naming the codec when the mp4 muxer cannot hold it.
    init?(span: AudioSpan, output: UnsafeMutablePointer<AVFormatContext>, reportedPath: String) throws {
        let input = try InputFile(path: span.path)
        guard let fmt = input.ctx else { return nil }
        let found = av_find_best_stream(fmt, AVMEDIA_TYPE_AUDIO, -1, -1, nil, 0)
        guard found >= 0, let stream = input.stream(Int(found)), let par = stream.pointee.codecpar else { return nil }
        codecName = String(cString: avcodec_get_name(par.pointee.codec_id))
        guard avformat_query_codec(output.pointee.oformat, par.pointee.codec_id, FF_COMPLIANCE_NORMAL) == 1 else {
            throw VideoError(.unsupported, path: reportedPath, "the source's \(codecName) audio cannot be copied into "
                             + "an mp4 file")
        }
        // Some codecs pass the query but the muxer refuses them at the header (FLAC in FFmpeg 5.1: "experimental"):
        // a header written into memory with only this stream says so before the real file depends on it.
        let trial = Self.trialHeader(par, timeBase: stream.pointee.time_base)
        guard trial >= 0 else {
            throw VideoError(.unsupported, path: reportedPath, "the source's \(codecName) audio cannot be copied into "
                             + "an mp4 file (FFmpeg's mp4 muxer: \(avErrorText(trial)))")
        }
        guard let out = avformat_new_stream(output, nil) else {
            throw VideoError(.writeFailed, path: reportedPath, "cannot add an audio stream")
        }
        try check(avcodec_parameters_copy(out.pointee.codecpar, par), .writeFailed, path: reportedPath,
                  "cannot describe the audio stream")
        out.pointee.codecpar.pointee.codec_tag = 0
        out.pointee.time_base = stream.pointee.time_base
        input.discardAllBut(Int(found))
        self.input = input
        inputIndex = Int(found)
        inputTimeBase = stream.pointee.time_base
        self.span = span
        outputStream = out
    }

    /// What writing an mp4 header (into memory) for a copy of the stream `par` returns: ≥ 0 when the muxer takes it.
    private static func trialHeader(_ par: UnsafePointer<AVCodecParameters>, timeBase: AVRational) -> Int32 {
        var c: UnsafeMutablePointer<AVFormatContext>? = nil
        guard avformat_alloc_output_context2(&c, nil, "mp4", nil) >= 0, let c else { return swift_AVERROR(ENOMEM) }
        defer {
            if c.pointee.pb != nil {
                var buffer: UnsafeMutablePointer<UInt8>? = nil
                _ = avio_close_dyn_buf(c.pointee.pb, &buffer)
                av_free(buffer)
                c.pointee.pb = nil
            }
            avformat_free_context(c)
        }
        guard let s = avformat_new_stream(c, nil) else { return swift_AVERROR(ENOMEM) }
        let copied = avcodec_parameters_copy(s.pointee.codecpar, par)
        guard copied >= 0 else { return copied }
        s.pointee.codecpar.pointee.codec_tag = 0
        s.pointee.time_base = timeBase
        let opened = avio_open_dyn_buf(&c.pointee.pb)
        guard opened >= 0 else { return opened }
        return avformat_write_header(c, nil)
    }

    /// Writes the packets that start before `seconds` after the overlay's start (all of the span when nil).
    func copy(upTo seconds: Double?, into output: UnsafeMutablePointer<AVFormatContext>, path: String) throws {
        guard let fmt = input.ctx else { return }
        let tb = Double(inputTimeBase.num) / Double(inputTimeBase.den)
        let none = swift_AV_NOPTS_VALUE()
        while !exhausted {
            if !pending {
                if av_read_frame(fmt, packet.ptr) < 0 { exhausted = true; return }
                guard Int(packet.ptr.pointee.stream_index) == inputIndex else { av_packet_unref(packet.ptr); continue }
                pending = true
            }
            let p = packet.ptr.pointee
            let ts = p.pts != none ? p.pts : p.dts
            guard ts != none else { av_packet_unref(packet.ptr); pending = false; continue }
            let t = Double(ts) * tb, length = Double(max(0, p.duration)) * tb
            if t >= span.end { av_packet_unref(packet.ptr); pending = false; exhausted = true; return }
            if t + max(length, 1e-9) <= span.start { av_packet_unref(packet.ptr); pending = false; continue }
            if let seconds, t - span.start >= seconds { return }
            // Moved so the overlay's first frame is time 0, then into the output stream's time base.
            let shift = Int64((span.start / tb).rounded())
            if p.pts != none { packet.ptr.pointee.pts -= shift }
            if p.dts != none { packet.ptr.pointee.dts -= shift }
            packet.ptr.pointee.pos = -1
            av_packet_rescale_ts(packet.ptr, inputTimeBase, outputStream.pointee.time_base)
            packet.ptr.pointee.stream_index = outputStream.pointee.index
            pending = false
            let w = av_interleaved_write_frame(output, packet.ptr)
            av_packet_unref(packet.ptr)
            try check(w, .writeFailed, path: path, "writing an audio packet failed")
        }
    }

    deinit { if pending { av_packet_unref(packet.ptr) } }
}
