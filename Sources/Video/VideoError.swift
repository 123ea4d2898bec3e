// The one error type of the Video module: the file, what went wrong, and FFmpeg's own words.
import CFFmpeg

/// An error about a media file: what kind of problem, which file, and a readable message.
public struct VideoError: Error, CustomStringConvertible, Equatable {
    /// What went wrong, for callers that branch on it.
    public enum Kind: String, Sendable {
        case missingFile, notMedia, noVideoStream, noFrames, absurdSize, damaged, unsupported,
             invalidArgument, frameOutOfRange, writeFailed
    }

    public let kind: Kind
    /// The file (or folder, or pattern) the error is about.
    public let path: String
    /// What happened, with av_strerror's text when FFmpeg reported it.
    public let message: String

    public init(_ kind: Kind, path: String, _ message: String) {
        self.kind = kind
        self.path = path
        self.message = message
    }

    public var description: String { "\(path): \(message)" }
}

/// av_strerror's text for an FFmpeg return code.
func avErrorText(_ code: Int32) -> String {
    var buffer = [CChar](repeating: 0, count: 256)
    if av_strerror(code, &buffer, buffer.count) < 0 { return "FFmpeg error \(code)" }
    return String(cString: buffer)
}

/// Throws `VideoError` when an FFmpeg call returned a negative code.
@discardableResult
func check(_ code: Int32, _ kind: VideoError.Kind, path: String, _ what: @autoclosure () -> String) throws -> Int32 {
    if code < 0 { throw VideoError(kind, path: path, "\(what()): \(avErrorText(code))") }
    return code
}
