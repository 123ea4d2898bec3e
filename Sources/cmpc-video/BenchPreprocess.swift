// `cmpc-video bench preprocess`: seconds to prepare one frame (resize_and_pad to 320×320, BGR minus the mean)
// from a 4K frame and a 16000×16000 still, each mode against the former implementation measured in the same
// run: every input value converted to float planes, then (antialias) a Gaussian blur of the whole image
// with σ = (scale − 1)/2 on one thread — input × σ. At 16000² the former blur took minutes, so it is run
// only at 4K; at 16000² the reference is the former code without its blur (a lower bound of its time).
import ArgumentParser
import Foundation
import Pipeline
import Tensor

struct BenchPreprocess: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "preprocess", abstract: "Seconds to prepare a 4K frame and a 16000×16000 still, against the former code.")
    @OptionGroup var options: BenchOptions

    func run() async throws {
        if let threads = options.threads { try Engine.configure(workers: threads) }
        for (name, width, height) in [("4k", 3840, 2160), ("16000", 16_000, 16_000)] {
            var pixels = [UInt8](repeating: 0, count: width * height * 3)
            pixels.withUnsafeMutableBufferPointer { p in
                for y in 0..<height {
                    for x in 0..<width {
                        let i = (y * width + x) * 3
                        p[i] = UInt8(truncatingIfNeeded: x &* 7 &+ y)
                        p[i + 1] = UInt8(truncatingIfNeeded: (x ^ y) &* 3)
                        p[i + 2] = UInt8(truncatingIfNeeded: x / 64 &+ y / 64)
                    }
                }
            }
            let former = name == "4k"
            let reference = try bestTime(repeats: former ? 1 : options.repeats) {
                _ = FormerPreprocess.prepare(rgb: pixels, width: width, height: height, H: 320, W: 320, blur: former)
            }
            emit([("case", "\(name)-former" + (former ? "-antialias" : "-without-blur")), ("seconds", reference),
                  ("width", width), ("height", height), ("speedup", 1.0)], json: options.json)
            for mode in ResizeMode.allCases {
                let t = try bestTime(repeats: options.repeats) {
                    _ = try Preprocess.prepare(rgb: pixels, width: width, height: height, H: 320, W: 320, resize: mode)
                }
                emit([("case", "\(name)-\(mode.rawValue)"), ("seconds", t), ("width", width), ("height", height),
                      ("threads", Engine.workers), ("speedup", reference / t)], json: options.json)
            }
        }
    }
}

/// The implementation before issue 15, kept as the benchmark's reference: float planes of the whole input,
/// a whole-image Gaussian blur (when `blur`), then bilinear sampling with 'reflect' borders, on one thread.
enum FormerPreprocess {
    static func prepare(rgb: [UInt8], width: Int, height: Int, H: Int, W: Int, blur: Bool) -> [UInt8] {
        let g = Preprocess.padGeometry(width: width, height: height, H: H, W: W)
        var padded = [UInt8](repeating: 0, count: H * W * 3)
        for ch in 0..<3 {
            let plane = (0..<(width * height)).map { Float(rgb[$0 * 3 + ch]) / 255 }
            let r = resize(plane, width: width, height: height, toWidth: g.resizedWidth, toHeight: g.resizedHeight, blur: blur)
            for y in 0..<g.resizedHeight {
                for x in 0..<g.resizedWidth {
                    padded[((y + g.padTop) * W + x + g.padLeft) * 3 + ch] =
                        UInt8(max(0, min(255, (r[y * g.resizedWidth + x] * 255).rounded(.toNearestOrEven))))
                }
            }
        }
        return padded
    }

    static func resize(_ plane: [Float], width: Int, height: Int, toWidth: Int, toHeight: Int, blur: Bool) -> [Float] {
        var src = plane
        let sy = Double(height) / Double(toHeight), sx = Double(width) / Double(toWidth)
        if blur && (sy > 1 || sx > 1) {
            src = gaussianBlur(src, width: width, height: height, sigmaY: max(0, (sy - 1) / 2), sigmaX: max(0, (sx - 1) / 2))
        }
        func reflect(_ i: Int, _ n: Int) -> Int {
            if n == 1 { return 0 }
            let period = 2 * (n - 1)
            var k = i % period
            if k < 0 { k += period }
            return k < n ? k : period - k
        }
        var out = [Float](repeating: 0, count: toWidth * toHeight)
        for y in 0..<toHeight {
            let fy = (Double(y) + 0.5) * sy - 0.5
            let y0 = Int(fy.rounded(.down)), wy = Float(fy - Double(y0))
            let ya = reflect(y0, height), yb = reflect(y0 + 1, height)
            for x in 0..<toWidth {
                let fx = (Double(x) + 0.5) * sx - 0.5
                let x0 = Int(fx.rounded(.down)), wx = Float(fx - Double(x0))
                let xa = reflect(x0, width), xb = reflect(x0 + 1, width)
                let top = src[ya * width + xa] * (1 - wx) + src[ya * width + xb] * wx
                let bottom = src[yb * width + xa] * (1 - wx) + src[yb * width + xb] * wx
                out[y * toWidth + x] = top * (1 - wy) + bottom * wy
            }
        }
        return out
    }

    static func gaussianBlur(_ plane: [Float], width: Int, height: Int, sigmaY: Double, sigmaX: Double) -> [Float] {
        func kernel(_ sigma: Double) -> [Float] { Preprocess.gaussianKernel(sigma).map(Float.init) }
        func reflectHalf(_ i: Int, _ n: Int) -> Int {
            var k = i
            while k < 0 || k >= n { k = k < 0 ? -k - 1 : 2 * n - k - 1 }
            return k
        }
        let kx = kernel(sigmaX), ky = kernel(sigmaY)
        let rx = kx.count / 2, ry = ky.count / 2
        let taps = kx.count
        var columns = [Int](repeating: 0, count: width * taps)
        for x in 0..<width { for i in 0..<taps { columns[x * taps + i] = reflectHalf(x + i - rx, width) } }
        var tmp = [Float](repeating: 0, count: plane.count)
        for y in 0..<height {
            let row = y * width
            for x in 0..<width {
                var s: Float = 0
                for i in 0..<taps { s += kx[i] * plane[row + columns[x * taps + i]] }
                tmp[row + x] = s
            }
        }
        var out = [Float](repeating: 0, count: plane.count)
        out.withUnsafeMutableBufferPointer { o in
            tmp.withUnsafeBufferPointer { t in
                for y in 0..<height {
                    let row = y * width
                    for (i, k) in ky.enumerated() {
                        let source = reflectHalf(y + i - ry, height) * width
                        for x in 0..<width { o[row + x] += k * t[source + x] }
                    }
                }
            }
        }
        return out
    }
}
