// swscale and packed pictures: its SIMD paths read (and write) whole vectors past the last pixel of a row and of the
// picture, up to 16 bytes beyond an exact w·h·3 buffer (seen with valgrind at every size, odd or even). The shim's
// packed conversions hand it padded copies. These tests put the packed buffers right before an inaccessible page,
// so any access past their end crashes the test run instead of going unseen.
import CFFmpeg
import Foundation
import Testing
@testable import Video

@Suite struct SwscaleBufferTests {
    static let sizes = [(1, 1), (3, 3), (5, 7), (17, 5), (63, 47), (64, 48), (159, 119), (321, 241)]

    /// RGB24 and GRAY8 pictures into the frames the overlay and still writers encode (yuv420p, yuv444p, yuvj444p).
    @Test(arguments: sizes) func packedToFrameStaysInsideTheSource(width: Int, height: Int) throws {
        for (source, channels) in [(AV_PIX_FMT_RGB24, 3), (AV_PIX_FMT_GRAY8, 1)] {
            for target in [AV_PIX_FMT_YUV420P, AV_PIX_FMT_YUV444P, AV_PIX_FMT_YUVJ444P] {
                let buffer = try GuardedBuffer(count: width * height * channels)
                for i in 0..<buffer.count { buffer.bytes[i] = UInt8(truncatingIfNeeded: i * 7) }
                let scaler = Scaler()
                try scaler.configure(srcW: width, srcH: height, src: source, dstW: width, dstH: height, dst: target,
                                     path: "test")
                let frame = Frame()
                frame.ptr.pointee.width = Int32(width)
                frame.ptr.pointee.height = Int32(height)
                frame.ptr.pointee.format = target.rawValue
                #expect(av_frame_get_buffer(frame.ptr, 0) == 0)
                let rc = swift_sws_packed_to_frame(scaler.ctx, buffer.bytes, Int32(width * channels), Int32(height),
                                                   frame.ptr)
                #expect(rc == Int32(height), "\(width)×\(height) \(channels) channels → \(target)")
            }
        }
    }

    /// A packed resize reads its source and writes its destination only inside them, and equals the conversion
    /// ImageIO.resize does.
    @Test(arguments: sizes) func packedToPackedStaysInsideBothPictures(width: Int, height: Int) throws {
        let image = MediaFiles.pattern(3, width: width, height: height)
        for (w, h) in [(width * 2 + 1, height + 3), ((width + 1) / 2, (height + 1) / 2)] {
            let source = try GuardedBuffer(count: width * height * 3)
            for i in 0..<source.count { source.bytes[i] = image.pixels[i] }
            let target = try GuardedBuffer(count: w * h * 3)
            let scaler = Scaler()
            try scaler.configure(srcW: width, srcH: height, src: AV_PIX_FMT_RGB24, dstW: w, dstH: h,
                                 dst: AV_PIX_FMT_RGB24, path: "test")
            let rc = swift_sws_packed_to_packed(scaler.ctx, source.bytes, Int32(width * 3), Int32(height),
                                                target.bytes, Int32(w * 3), Int32(h))
            #expect(rc == Int32(h))
            let resized = try ImageIO.resize(image, width: w, height: h)
            #expect(Array(UnsafeBufferPointer(start: target.bytes, count: target.count)) == resized.pixels)
        }
    }
}

/// `count` bytes that end exactly where an inaccessible page begins: reading or writing one byte past them crashes.
final class GuardedBuffer {
    let bytes: UnsafeMutablePointer<UInt8>
    let count: Int
    private let base: UnsafeMutableRawPointer
    private let length: Int

    init(count: Int) throws {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let dataPages = (count + page - 1) / page
        length = (dataPages + 1) * page
        guard let map = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
              map != MAP_FAILED else { throw VideoError(.invalidArgument, path: "mmap", "cannot map \(length) bytes") }
        base = map
        guard mprotect(map + dataPages * page, page, PROT_NONE) == 0 else {
            munmap(map, length)
            throw VideoError(.invalidArgument, path: "mprotect", "cannot protect the guard page")
        }
        self.count = count
        bytes = (map + dataPages * page - count).assumingMemoryBound(to: UInt8.self)
    }

    deinit { munmap(base, length) }
}
