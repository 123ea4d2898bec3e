// Demuxing and decoding one video stream with FFmpeg's send/receive API; the packet index that
// makes random access exact. Internal: VideoReader and ImageIO build on it.
import CFFmpeg

/// One video stream being decoded in order: reads packets, feeds the decoder, hands out frames.
final class StreamDecoder {
    let path: String
    let input: InputFile
    let codec: CodecContext
    let streamIndex: Int
    let stream: UnsafeMutablePointer<AVStream>
    let packet = Packet()
    let frame = Frame()
    private var demuxDone = false
    private var draining = false
    /// Problems met while reading (damaged packets, read errors), in the order met.
    private(set) var problems: [String] = []
    /// The dts of the first video packet read since the last seek (to check where a seek landed).
    private(set) var firstPacketDts: Int64?
    private var packetsSent = 0

    init(path: String, threads: Int) throws {
        self.path = path
        input = try InputFile(path: path)
        guard let si = input.bestVideoStream(), let s = input.stream(si) else {
            throw VideoError(.noVideoStream, path: path, "has no video stream")
        }
        streamIndex = si
        stream = s
        input.discardAllBut(si)
        codec = try CodecContext(decoderFor: s, threads: threads, path: path)
    }

    var timeBase: AVRational { stream.pointee.time_base }

    /// Decodes the next frame into `frame`; false at the end of the stream.
    func receive() throws -> Bool {
        guard let c = codec.ctx, let fmt = input.ctx else { return false }
        var strayErrors = 0
        while true {
            let r = avcodec_receive_frame(c, frame.ptr)
            if r == 0 { return true }
            if r == swift_AVERROR_EOF() { return false }
            if r != swift_AVERROR(swift_EAGAIN()) {
                problems.append("decoder error after packet \(packetsSent): \(avErrorText(r))")
                strayErrors += 1
                if strayErrors > 64 || draining { return false }
            }
            if draining { return false }
            if demuxDone {
                draining = true
                _ = avcodec_send_packet(c, nil)
                continue
            }
            let rr = av_read_frame(fmt, packet.ptr)
            if rr < 0 {
                demuxDone = true
                if rr != swift_AVERROR_EOF() {
                    problems.append("reading stopped after packet \(packetsSent): \(avErrorText(rr))")
                }
                continue
            }
            defer { av_packet_unref(packet.ptr) }
            guard Int(packet.ptr.pointee.stream_index) == streamIndex else { continue }
            if firstPacketDts == nil {
                let d = packet.ptr.pointee.dts
                firstPacketDts = d != swift_AV_NOPTS_VALUE() ? d : packet.ptr.pointee.pts
            }
            packetsSent += 1
            let s = avcodec_send_packet(c, packet.ptr)
            if s < 0 && s != swift_AVERROR(swift_EAGAIN()) {
                let pos = packet.ptr.pointee.pos
                problems.append("packet \(packetsSent)\(pos >= 0 ? " at byte \(pos)" : "") is damaged: \(avErrorText(s))")
            }
        }
    }

    /// The presentation time of the frame in `frame` (best effort), or nil.
    var framePts: Int64? {
        let p = frame.ptr.pointee.pts
        if p != swift_AV_NOPTS_VALUE() { return p }
        let b = frame.ptr.pointee.best_effort_timestamp
        return b != swift_AV_NOPTS_VALUE() ? b : nil
    }

    /// Seeks to the last keyframe at or before `dts` (stream time base) and empties the decoder.
    func seek(toDts dts: Int64) -> Bool {
        guard let fmt = input.ctx, let c = codec.ctx else { return false }
        let r = av_seek_frame(fmt, Int32(streamIndex), dts, AVSEEK_FLAG_BACKWARD)
        avcodec_flush_buffers(c)
        demuxDone = false
        draining = false
        firstPacketDts = nil
        return r >= 0
    }
}

/// One video packet as the demuxer gave it.
struct PacketRecord {
    var pts: Int64?
    var dts: Int64?
    var isKey: Bool
    var isDiscarded: Bool
}

/// What a pass over the packets (no decoding) learns about a stream.
struct PacketIndex {
    /// Presentation times of the frames in display order (frame k is `framePts[k - 1]`); nil when unusable.
    var framePts: [Int64]?
    /// Keyframes (including ones the edit list hides) as (pts, dts), by increasing pts.
    var keyframes: [(pts: Int64, dts: Int64)]
    /// Frames the stream shows: packets not flagged for discarding.
    var frameCount: Int
    var problems: [String]

    /// Reads every packet of the main video stream of `path`.
    static func build(path: String) throws -> PacketIndex {
        let input = try InputFile(path: path)
        guard let si = input.bestVideoStream(), let stream = input.stream(si), let fmt = input.ctx else {
            throw VideoError(.noVideoStream, path: path, "has no video stream")
        }
        input.discardAllBut(si)
        let packet = Packet()
        var records: [PacketRecord] = []
        var problems: [String] = []
        let none = swift_AV_NOPTS_VALUE()
        while true {
            let r = av_read_frame(fmt, packet.ptr)
            if r < 0 {
                if r != swift_AVERROR_EOF() {
                    problems.append("reading stopped after packet \(records.count)"
                                    + " at byte \(avio_tell(fmt.pointee.pb)): \(avErrorText(r))")
                }
                break
            }
            let p = packet.ptr.pointee
            if Int(p.stream_index) == si {
                if p.flags & AV_PKT_FLAG_CORRUPT != 0 {
                    problems.append("packet \(records.count + 1) at byte \(p.pos) is marked corrupt")
                }
                records.append(PacketRecord(pts: p.pts == none ? nil : p.pts, dts: p.dts == none ? nil : p.dts,
                                            isKey: p.flags & AV_PKT_FLAG_KEY != 0,
                                            isDiscarded: p.flags & AV_PKT_FLAG_DISCARD != 0))
            }
            av_packet_unref(packet.ptr)
        }
        let declared = Int(stream.pointee.nb_frames)
        let shown = records.filter { !$0.isDiscarded }
        if declared > 0, shown.count < declared, records.count < declared {
            problems.append("the container declares \(declared) frames but only \(records.count) packets could be read"
                            + " (file truncated?)")
        }
        var index = PacketIndex(framePts: nil, keyframes: [], frameCount: shown.count, problems: problems)
        // Random access needs a presentation time on every frame, all different.
        var pts: [Int64] = []
        pts.reserveCapacity(shown.count)
        for r in shown {
            guard let t = r.pts ?? (r.dts) else { return index }
            pts.append(t)
        }
        // Without pts (some AVI files) decode order is display order only when dts are all there.
        if shown.contains(where: { $0.pts == nil }), shown.count > 1 {
            for i in 1..<pts.count where pts[i] <= pts[i - 1] { return index }
        }
        pts.sort()
        for i in pts.indices.dropFirst() where pts[i] == pts[i - 1] { return index }
        index.framePts = pts
        index.keyframes = records.compactMap { r in
            guard r.isKey, let t = r.pts ?? r.dts else { return nil }
            return (t, r.dts ?? t)
        }.sorted { $0.pts < $1.pts }
        return index
    }

    /// The position in `keyframes` of the keyframe to start decoding from to reach the frame shown at `pts`.
    func keyframeIndex(before pts: Int64) -> Int? {
        var lo = 0, hi = keyframes.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if keyframes[mid].pts <= pts { lo = mid + 1 } else { hi = mid }
        }
        return lo > 0 ? lo - 1 : nil
    }
}
