// The Video module's encoders as the synthetic dataset's media writer: H.264 mp4 clips through
// `VideoWriter` (libx264), PNG pictures through `ImageIO.writePNG` (the Video module has no JPEG
// encoder, so still images are PNG files).
import Foundation
import Video

/// Writes synthetic clips and pictures with the Video module.
public struct SyntheticVideoMedia: SyntheticMediaWriter {
    /// The x264 constant rate factor (lower is better quality).
    public var quality: Int

    public init(quality: Int = 18) {
        self.quality = quality
    }

    public func writeClip(_ frames: [SynthImage], frameRate: Int, to path: String) throws {
        guard let first = frames.first else { throw SyntheticError(what: path, reason: "a clip needs frames") }
        let writer = try VideoWriter(path: path, width: first.width, height: first.height,
                                     frameRate: FrameRate(frameRate), codec: .h264, quality: quality)
        for f in frames { try writer.append(try RGBImage(width: f.width, height: f.height, pixels: f.pixels)) }
        try writer.finish()
    }

    public var stillExtension: String { "png" }

    public func writeStill(_ image: SynthImage, to path: String) throws {
        try writePNG(image, to: path)
    }

    public func writePNG(_ image: SynthImage, to path: String) throws {
        try ImageIO.writePNG(try RGBImage(width: image.width, height: image.height, pixels: image.pixels), to: path)
    }
}
