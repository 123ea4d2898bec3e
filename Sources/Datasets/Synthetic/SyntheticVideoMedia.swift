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

    /// Makes the mp4 bytes a function of the frames alone: libx264 (through libavcodec) reads some
    /// heap memory it never wrote (seen as clips whose bytes changed from run to run while the
    /// frames fed to the encoder did not, and that stopped with MALLOC_PERTURB_), so glibc is told
    /// to fill every allocation with one byte pattern (mallopt M_PERTURB) from now on; `false` turns
    /// that off again (it costs a memset per allocation).
    public static func makeHeapDeterministic(_ on: Bool = true) {
        #if os(Linux)
        // mallopt(M_PERTURB = -6, byte); malloc.h is not a Swift module, so it is looked up.
        if let f = dlsym(nil, "mallopt") {
            typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
            _ = unsafeBitCast(f, to: Mallopt.self)(-6, on ? 0x55 : 0)
        }
        #endif
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
