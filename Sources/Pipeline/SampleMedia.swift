// The pictures of a dataset sample, read by frame number: a video file or a folder of numbered
// frames (through Video.VideoReader, as `segment` reads them), or a still image (a video of one
// frame). The dataset predictor and the training sample reader both read frames through it.

import Datasets
import Video

/// Random access to the frames of one sample's video (or its still image).
public final class SampleMedia {
    /// The video file, frame folder or image.
    public let path: String
    /// N, the number of frames the clip window clamps to: the decoder's count (a sample's `frameCount`
    /// says which frames have masks, not how long the clip is); 1 for a still image.
    public let frameCount: Int
    private let reader: VideoReader?
    private let image: RGBImage?

    /// Opens the video, frame folder or image a sample reads.
    public init(_ source: SampleSource) throws {
        switch source {
        case let .video(path, _, _), let .frames(path, _, _):
            let reader = try VideoReader(path: path)
            self.path = path
            self.reader = reader
            image = nil
            frameCount = reader.info.frameCount
        case let .image(path):
            self.path = path
            reader = nil
            image = try ImageIO.read(path: path)
            frameCount = 1
        }
    }

    /// Frame `number` (1-based), as sequential decoding gives it.
    public func frame(_ number: Int) throws -> RGBImage {
        if let reader { return try reader.frame(at: number) }
        guard let image, number == 1 else {
            throw VideoError(.frameOutOfRange, path: path, "frame \(number) of a still image (it has frame 1 only)")
        }
        return image
    }
}
