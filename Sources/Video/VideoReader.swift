// Reading videos frame by frame to 8-bit RGB: whatever FFmpeg demuxes and decodes (mp4/H.264 with
// B-frames, mkv/webm VP9, avi MPEG-4, …) and folders or printf patterns of numbered still images
// (A2D's and J-HMDB's %05d.png frame folders).
//
// Numbering: frame k (1-based) is the k-th frame the decoder outputs when the stream is decoded from
// its start — A2D's annotation numbering. Random access gives exactly that frame: a pass over the
// packets at open (no decoding) lists every shown frame's presentation time and every keyframe;
// `frame(at:)` seeks to the keyframe before the target and decodes forward until the target's
// presentation time comes out. Frames whose packets an edit list marks for discarding are not counted
// (the decoder drops them). Sequential decoding checks each frame's time against the list; if they ever
// disagree (a decoder dropping a damaged frame, say) random access falls back to decoding from the start.
//
// Frame count: the number of video packets the demuxer delivers, not flagged for discarding — every
// codec FFmpeg decodes here outputs one frame per such packet. The container's own count (nb_frames)
// is only used to notice truncation. Memory: decoding streams (one frame at a time); the packet list
// costs 16 bytes per frame.
//
// Rotation: `info.rotation` is the clockwise turn (0, 90, 180, 270) that the display matrix asks for;
// frames come out as stored unless `Options.autorotate` is set (A2D clips carry no rotation, and
// datasets annotate stored frames). For a folder of stills, `autorotate` applies each file's EXIF
// orientation.
import CFFmpeg
import Foundation

/// A frame rate as a rational, numerator/denominator frames per second.
public struct FrameRate: Equatable, Sendable, CustomStringConvertible {
    public var numerator: Int
    public var denominator: Int

    /// numerator/denominator frames per second (`FrameRate(30000, 1001)` is NTSC's 29.97).
    public init(_ numerator: Int, _ denominator: Int = 1) {
        self.numerator = numerator
        self.denominator = denominator
    }

    /// Frames per second as a Double (0 when the denominator is 0).
    public var value: Double { denominator == 0 ? 0 : Double(numerator) / Double(denominator) }
    public var description: String { denominator == 1 ? "\(numerator)" : "\(numerator)/\(denominator)" }
}

/// What a video holds: frame count, rate, stored size, duration and display rotation.
public struct VideoInfo: Equatable, Sendable {
    /// Frames the decoder outputs from start to end (see the numbering note of `VideoReader`).
    public var frameCount: Int
    /// The average frame rate (frames / duration; the nominal rate for constant-rate files).
    public var frameRate: FrameRate
    /// The stored picture size (before any rotation).
    public var width: Int
    public var height: Int
    /// Seconds.
    public var duration: Double
    /// Clockwise degrees (0, 90, 180, 270) to turn a stored frame to show it upright.
    public var rotation: Int
    /// The decoder's name ("h264", "vp9", "mpeg4", "png", …).
    public var codec: String
}

/// Decodes a video (or a folder of numbered images) to RGB frames, in order or by 1-based index.
///
/// ```swift
/// let reader = try VideoReader(path: "clip.mp4")
/// while let frame = try reader.nextFrame() { … }      // frame.pixels: H×W×3
/// let f17 = try reader.frame(at: 17)
/// ```
public final class VideoReader {
    /// How frames are produced.
    public struct Options: Sendable {
        /// Size of the returned frames (after rotation when `autorotate`); nil keeps the native size.
        public var outputSize: (width: Int, height: Int)?
        /// Decoder threads (frame threads where the codec has them); 0 lets FFmpeg choose.
        public var threads: Int
        /// Return frames turned upright: by `info.rotation` for a video, by each file's EXIF orientation in a folder.
        public var autorotate: Bool
        /// The rate reported for image folders, which carry none.
        public var imageSequenceFrameRate: FrameRate

        public init(outputSize: (width: Int, height: Int)? = nil, threads: Int = 0, autorotate: Bool = false,
                    imageSequenceFrameRate: FrameRate = FrameRate(30)) {
            self.outputSize = outputSize
            self.threads = threads
            self.autorotate = autorotate
            self.imageSequenceFrameRate = imageSequenceFrameRate
        }
    }

    /// The file, folder or pattern this reader was opened on.
    public let path: String
    /// Frame count, rate, stored size, duration, rotation and codec.
    public let info: VideoInfo
    /// Size of the frames this reader returns.
    public let outputWidth: Int
    public let outputHeight: Int
    /// Frames passed by reading so far: `nextFrame()` returns frame `position + 1`.
    public private(set) var position = 0

    private let options: Options
    /// How random access got its frames (for tests): keyframe seeks, and reopenings to decode from the start.
    private(set) var seeks = 0
    private(set) var restarts = 0
    private var backend: Backend
    private var lastFrame: (index: Int, image: RGBImage)?

    private enum Backend {
        case stream(StreamState)
        case images([String])
    }

    private final class StreamState {
        var decoder: StreamDecoder
        let index: PacketIndex
        var indexTrusted: Bool
        let scaler = Scaler()
        var pastProblems: [String] = []
        init(decoder: StreamDecoder, index: PacketIndex) {
            self.decoder = decoder
            self.index = index
            indexTrusted = index.framePts != nil
        }
    }

    /// Opens a video file, a folder of numbered images, or a printf pattern such as `frames/%05d.png`.
    public init(path: String, options: Options = Options()) throws {
        self.path = path
        self.options = options
        if let size = options.outputSize {
            guard (1...maximumSide).contains(size.width), (1...maximumSide).contains(size.height) else {
                throw VideoError(.absurdSize, path: path,
                                 "requested output size \(size.width)×\(size.height) is outside 1…\(maximumSide)")
            }
        }
        if let files = try ImageSequence.files(at: path) {
            let (stored, orientation) = try ImageIO.readWithOrientation(path: files[0])
            let first = options.autorotate ? stored.oriented(exif: orientation) : stored
            let rate = options.imageSequenceFrameRate
            info = VideoInfo(frameCount: files.count, frameRate: rate, width: stored.width, height: stored.height,
                             duration: rate.value > 0 ? Double(files.count) / rate.value : 0, rotation: 0,
                             codec: "image sequence")
            outputWidth = options.outputSize?.width ?? first.width
            outputHeight = options.outputSize?.height ?? first.height
            backend = .images(files)
            return
        }
        let index = try PacketIndex.build(path: path)
        let decoder = try StreamDecoder(path: path, threads: options.threads)
        let stream = decoder.stream
        guard let par = stream.pointee.codecpar else { throw VideoError(.notMedia, path: path, "no codec parameters") }
        let (w, h) = (Int(par.pointee.width), Int(par.pointee.height))
        guard w > 0, h > 0 else { throw VideoError(.notMedia, path: path, "the video stream declares no picture size") }
        guard index.frameCount > 0 else {
            let extra = index.problems.isEmpty ? "" : " (" + index.problems.joined(separator: "; ") + ")"
            throw VideoError(.noFrames, path: path, "the video stream has no frames\(extra)")
        }
        var rate = stream.pointee.avg_frame_rate
        if rate.num <= 0 || rate.den <= 0 { rate = stream.pointee.r_frame_rate }
        let frameRate = rate.num > 0 && rate.den > 0 ? FrameRate(Int(rate.num), Int(rate.den)) : FrameRate(0, 1)
        var duration = 0.0
        let tb = stream.pointee.time_base
        if stream.pointee.duration != swift_AV_NOPTS_VALUE(), stream.pointee.duration > 0, tb.den > 0 {
            duration = Double(stream.pointee.duration) * Double(tb.num) / Double(tb.den)
        } else if let fmt = decoder.input.ctx, fmt.pointee.duration != swift_AV_NOPTS_VALUE(), fmt.pointee.duration > 0 {
            duration = Double(fmt.pointee.duration) / Double(AV_TIME_BASE)
        } else if frameRate.value > 0 {
            duration = Double(index.frameCount) / frameRate.value
        }
        let rotation = Int(swift_stream_rotation(stream).rounded()) % 360
        info = VideoInfo(frameCount: index.frameCount, frameRate: frameRate, width: w, height: h, duration: duration,
                         rotation: rotation, codec: decoder.codec.name)
        let quarterTurn = options.autorotate && (rotation == 90 || rotation == 270)
        outputWidth = options.outputSize?.width ?? (quarterTurn ? h : w)
        outputHeight = options.outputSize?.height ?? (quarterTurn ? w : h)
        backend = .stream(StreamState(decoder: decoder, index: index))
    }

    /// The frames' presentation times when they are not evenly spaced (a variable-frame-rate clip): frame k at
    /// `times[k - 1] × num / den` seconds from frame 1, in the stream's time base. Nil for an evenly spaced
    /// stream, an image folder, or a stream without usable timestamps.
    public var variableFrameTimes: (times: [Int64], num: Int, den: Int)? {
        guard case .stream(let s) = backend, let pts = s.index.framePts, pts.count > 2, let first = pts.first else {
            return nil
        }
        let tb = s.decoder.timeBase
        guard tb.num > 0, tb.den > 0 else { return nil }
        let step = pts[1] - pts[0]
        guard zip(pts.dropFirst(), pts).allSatisfy({ $0 > $1 }) else { return nil }
        guard zip(pts.dropFirst(), pts).contains(where: { $0 - $1 != step }) else { return nil }
        return (pts.map { $0 - first }, Int(tb.num), Int(tb.den))
    }

    /// Seconds on the source's clock (the clock its audio shares) at which frame `number` (1-based) is shown; nil
    /// for an image folder or a number outside the stream. Frames without timestamps are placed at the frame rate
    /// from the stream's start.
    func sourceSeconds(ofFrame number: Int) -> Double? {
        guard case .stream(let s) = backend, number >= 1, number <= info.frameCount else { return nil }
        let tb = s.decoder.timeBase
        guard tb.num > 0, tb.den > 0 else { return nil }
        if let pts = s.index.framePts, number <= pts.count { return Double(pts[number - 1]) * Double(tb.num) / Double(tb.den) }
        let start = s.decoder.stream.pointee.start_time
        let origin = start != swift_AV_NOPTS_VALUE() ? Double(start) * Double(tb.num) / Double(tb.den) : 0
        return info.frameRate.value > 0 ? origin + Double(number - 1) / info.frameRate.value : nil
    }

    /// The names of a folder's frame files without their extension ("00000", "00005", …), in frame order; nil for a
    /// video file.
    public var frameNames: [String]? {
        guard case .images(let files) = backend else { return nil }
        return files.map { (($0 as NSString).lastPathComponent as NSString).deletingPathExtension }
    }

    /// Problems met so far: truncation, unreadable or damaged packets (with packet numbers and byte offsets).
    public var damage: [String] {
        switch backend {
        case .images: return []
        case .stream(let s):
            var all = s.index.problems
            for p in s.pastProblems + s.decoder.problems where !all.contains(p) { all.append(p) }
            return all
        }
    }

    /// The next frame in order (H×W×3 at the output size), or nil after the last one.
    ///
    /// Throws `.damaged` at the end when fewer frames could be decoded than the stream holds; the frames before
    /// the damage have been returned.
    public func nextFrame() throws -> RGBImage? {
        switch backend {
        case .images(let files):
            guard position < files.count else { return nil }
            position += 1
            let image = try sequenceImage(files[position - 1])
            lastFrame = (position, image)
            return image
        case .stream(let s):
            if position < 0 { try restart(s) }
            guard try advance(s) else {
                if position < info.frameCount { throw shortStream(s, wanted: nil) }
                return nil
            }
            let image = try convert(s)
            lastFrame = (position, image)
            return image
        }
    }

    /// Frame `index` (1-based, A2D's numbering), exactly the one sequential decoding returns.
    public func frame(at index: Int) throws -> RGBImage {
        guard index >= 1, index <= info.frameCount else {
            throw VideoError(.frameOutOfRange, path: path, "frame \(index) is outside 1…\(info.frameCount)")
        }
        if let last = lastFrame, last.index == index { return last.image }
        switch backend {
        case .images(let files):
            let image = try sequenceImage(files[index - 1])
            position = index
            lastFrame = (index, image)
            return image
        case .stream(let s):
            if position < 0 { try restart(s) }
            if index > position, shouldDecodeForward(s, to: index) {
                return try decodeForward(s, to: index)
            }
            if s.indexTrusted, let image = try seekExact(s, to: index) {
                lastFrame = (index, image)
                return image
            }
            try restart(s)
            return try decodeForward(s, to: index)
        }
    }

    /// Whether `frame(at:)` may seek (every frame has its own presentation time and decoding agreed so far).
    var seeksByTimestamp: Bool {
        if case .stream(let s) = backend { return s.indexTrusted }
        return false
    }

    /// Goes back to the first frame.
    public func rewind() throws {
        lastFrame = nil
        switch backend {
        case .images: position = 0
        case .stream(let s): try restart(s)
        }
    }

    // MARK: - Stream decoding

    /// Decodes one frame into the decoder's frame; false at the end of the stream.
    private func advance(_ s: StreamState) throws -> Bool {
        guard try s.decoder.receive() else { return false }
        position += 1
        if s.indexTrusted, let pts = s.index.framePts {
            if position < 1 || position > pts.count || s.decoder.framePts != pts[position - 1] { s.indexTrusted = false }
        }
        return true
    }

    private func convert(_ s: StreamState) throws -> RGBImage {
        let turn = options.autorotate ? info.rotation : 0
        let quarter = turn == 90 || turn == 270
        let image = try convertToRGB(s.decoder.frame.ptr, width: quarter ? outputHeight : outputWidth,
                                     height: quarter ? outputWidth : outputHeight, scaler: s.scaler, path: path)
        return turn == 0 ? image : image.rotated(clockwise: turn)
    }

    private func shouldDecodeForward(_ s: StreamState, to index: Int) -> Bool {
        if !s.indexTrusted || index - position <= 48 { return true }
        guard let pts = s.index.framePts, let k = s.index.keyframeIndex(before: pts[index - 1]) else { return true }
        guard position >= 1 else { return false }
        // No keyframe between here and the target: decoding on is what a seek would do.
        return s.index.keyframes[k].pts <= pts[position - 1]
    }

    private func decodeForward(_ s: StreamState, to index: Int) throws -> RGBImage {
        while position < index {
            guard try advance(s) else { throw shortStream(s, wanted: index) }
        }
        let image = try convert(s)
        lastFrame = (index, image)
        return image
    }

    /// Seeks to the keyframe before frame `index` and decodes to it; nil when the seek cannot be trusted (the caller
    /// then decodes from the start, which also resets `position`).
    private func seekExact(_ s: StreamState, to index: Int) throws -> RGBImage? {
        guard let pts = s.index.framePts, index <= pts.count else { return nil }
        let target = pts[index - 1]
        guard var k = s.index.keyframeIndex(before: target) else { return nil }
        for _ in 0..<3 {
            let key = s.index.keyframes[k]
            seeks += 1
            guard s.decoder.seek(toDts: key.dts) else { return nil }
            var overshot = false
            while try s.decoder.receive() {
                if let landed = s.decoder.firstPacketDts, landed > key.dts { overshot = true; break }
                guard let t = s.decoder.framePts else { return nil }
                if t == target {
                    position = index
                    return try convert(s)
                }
                if t > target { overshot = true; break }
            }
            guard overshot, k > 0 else { return nil }
            k -= 1
        }
        return nil
    }

    /// Reopens the file and decoder at the first frame.
    private func restart(_ s: StreamState) throws {
        for p in s.decoder.problems where !s.pastProblems.contains(p) { s.pastProblems.append(p) }
        s.decoder = try StreamDecoder(path: path, threads: options.threads)
        position = 0
        restarts += 1
    }

    private func shortStream(_ s: StreamState, wanted: Int?) -> VideoError {
        let got = max(0, position)
        let what = wanted.map { "frame \($0) could not be decoded: " } ?? ""
        let detail = damage.isEmpty ? "" : " — " + damage.joined(separator: "; ")
        return VideoError(.damaged, path: path,
                          "\(what)decoding ended after frame \(got) of \(info.frameCount)\(detail)")
    }

    private func sequenceImage(_ file: String) throws -> RGBImage {
        let image = try ImageIO.read(path: file, upright: options.autorotate)
        if image.width == outputWidth, image.height == outputHeight { return image }
        // At the native size every frame must match frame 1: scaling an odd one would silently distort it.
        if options.outputSize == nil {
            throw VideoError(.invalidArgument, path: path, "frame \(file) is \(image.width)×\(image.height) but the "
                             + "first frame is \(outputWidth)×\(outputHeight): the frames of a folder must share one "
                             + "size; resize or remove the odd frames")
        }
        return try ImageIO.resize(image, width: outputWidth, height: outputHeight)
    }
}

/// Folders and printf patterns of numbered still images.
enum ImageSequence {
    static let extensions: Set<String> = ["png", "jpg", "jpeg", "bmp", "tif", "tiff", "webp", "ppm", "pgm"]

    /// The frame files of `path` in order when it names a folder or a `%d` pattern; nil for a plain file.
    static func files(at path: String) throws -> [String]? {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        if fm.fileExists(atPath: path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { return nil }
            let names = (try? fm.contentsOfDirectory(atPath: path)) ?? []
            var numbered: [(Int, String)] = []
            for name in names {
                let url = URL(fileURLWithPath: name)
                let stem = url.deletingPathExtension().lastPathComponent
                guard extensions.contains(url.pathExtension.lowercased()), !stem.isEmpty,
                      stem.allSatisfy({ $0.isASCII && $0.isNumber }), let n = Int(stem) else { continue }
                numbered.append((n, name))
            }
            guard !numbered.isEmpty else {
                throw VideoError(.noFrames, path: path, "folder holds no numbered image files (like 00001.png)")
            }
            numbered.sort { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }
            return numbered.map { (path as NSString).appendingPathComponent($0.1) }
        }
        // A printf pattern: prefix %[0N]d suffix.
        guard let range = path.range(of: #"%0?[0-9]*d"#, options: .regularExpression) else { return nil }
        let prefix = String(path[..<range.lowerBound]), suffix = String(path[range.upperBound...])
        let spec = String(path[range])
        let width = Int(spec.dropFirst().dropLast()) ?? 0
        let slash = prefix.lastIndex(of: "/")
        var folder = slash.map { String(prefix[..<$0]) } ?? "."
        if folder.isEmpty { folder = "/" }
        let namePrefix = slash.map { String(prefix[prefix.index(after: $0)...]) } ?? prefix
        guard let names = try? fm.contentsOfDirectory(atPath: folder) else {
            throw VideoError(.missingFile, path: path, "the pattern's folder does not exist")
        }
        var numbered: [(Int, String)] = []
        for name in names where name.hasPrefix(namePrefix) && name.hasSuffix(suffix)
            && name.count > namePrefix.count + suffix.count {
            let digits = name.dropFirst(namePrefix.count).dropLast(suffix.count)
            guard digits.allSatisfy({ $0.isASCII && $0.isNumber }), width == 0 || digits.count >= width,
                  let n = Int(digits) else { continue }
            numbered.append((n, name))
        }
        guard !numbered.isEmpty else { throw VideoError(.missingFile, path: path, "no files match the pattern") }
        numbered.sort { $0.0 < $1.0 }
        return numbered.map { slash == nil ? $0.1 : (folder as NSString).appendingPathComponent($0.1) }
    }
}
