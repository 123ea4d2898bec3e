// `cmpc-video bench crf`: DenseCRF.refine on a 320×320 synthetic scene (CMPC's input size), in
// milliseconds of wall time (best of the repeats) on all cores and on one, with the least process CPU time
// of a repeat beside it (steadier than wall time on a shared machine). Tools/reference/
// make_densecrf_fixtures.py times pydensecrf on the same scene (its `scene` is this file's `syntheticScene`).
import ArgumentParser
import Evaluation
import Foundation
import Tensor

struct BenchCRF: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crf", abstract: "Dense-CRF post-processing time on a 320×320 image.")
    @OptionGroup var options: BenchOptions

    @Option(name: .long, help: "Image side in pixels.")
    var size: Int = 320

    func run() async throws {
        try options.start()
        let scene = syntheticScene(width: size, height: size, seed: 7)
        var foreground = 0
        for (name, threads) in [("crf-\(size)", Engine.workers), ("crf-\(size)-1thread", 1)] {
            var cpu = Double.infinity
            let t = try bestTime(repeats: options.repeats) {
                let c0 = clock()
                let (labels, _) = try DenseCRF.refine(probabilities: scene.probabilities, rgb: scene.rgb, width: size,
                                                      height: size, threads: threads)
                cpu = min(cpu, Double(clock() - c0) / Double(CLOCKS_PER_SEC))
                foreground = labels.reduce(0) { $0 + Int($1) }
            }
            emit([("case", name), ("seconds", t), ("milliseconds", t * 1000), ("cpu_milliseconds", cpu * 1000),
                  ("threads", min(threads, 2)), ("foreground", foreground)], json: options.json)
        }
    }
}

/// A synthetic image (background ramp, an ellipse object, a distractor box, ±20 noise) and a noisy
/// probability map of a shifted, enlarged ellipse: rgb H·W·3, probabilities H·W.
func syntheticScene(width: Int, height: Int, seed: UInt64) -> (probabilities: [Float], rgb: [UInt8]) {
    func splitmix(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    func noise(_ index: Int, _ salt: UInt64) -> Double {
        let base = (seed &* 1_000_003 &+ salt) &* 0x632B_E59B_D9B4_E019
        return Double(splitmix(UInt64(index) &+ base) >> 40) / Double(1 << 24)
    }
    let w = Double(width), h = Double(height)
    let (cx, cy, rx, ry) = (0.45 * w, 0.5 * h, 0.28 * w, 0.33 * h)
    var rgb = [UInt8](repeating: 0, count: width * height * 3)
    var probabilities = [Float](repeating: 0, count: width * height)
    for yi in 0..<height {
        for xi in 0..<width {
            let (x, y) = (Double(xi), Double(yi))
            let i = yi * width + xi
            var colour = [40 + 120 * x / w, 90, 160 - 100 * y / h]
            if x >= 0.65 * w, x < 0.9 * w, y >= 0.15 * h, y < 0.55 * h { colour = [70, 180, 90] }
            if ((x - cx) / rx) * ((x - cx) / rx) + ((y - cy) / ry) * ((y - cy) / ry) <= 1 { colour = [200, 60, 50] }
            for c in 0..<3 {
                let v = colour[c] + (noise(i, UInt64(c)) - 0.5) * 40
                rgb[3 * i + c] = UInt8((min(max(v, 0), 255) + 0.5).rounded(.down))
            }
            let sx = (x - cx - 0.04 * w) / (1.1 * rx), sy = (y - cy) / (1.1 * ry)
            let logit = 3 * (1 - (sx * sx + sy * sy)) + (noise(i, 3) - 0.5) * 6
            probabilities[i] = Float(1 / (1 + exp(-logit)))
        }
    }
    return (probabilities, rgb)
}
