// `cmpc-video bench image-model` and `bench video-model`: the full-size networks' speed against the
// engine's sgemm rate measured in the same run, and their peak resident memory.
//
// GFLOP/s counts the GEMM work (2·m·n·k of every sgemm the run makes — convolutions and matrix
// products, which are nearly all of it); ratio = that rate / the sgemm peak. Peak memory is the
// process's maximum resident set (getrusage); the whole-video cases run in child processes so each
// reports its own peak.
import ArgumentParser
import Foundation
import ImageModel
import JSON
import Pipeline
import Tensor
import Video
import VideoModel

/// Peak resident memory of this process so far, MiB: VmHWM of /proc/self/status (the high-water mark of
/// this program's own memory; getrusage's ru_maxrss survives execve, so a child started by a large parent
/// would report the parent's peak), else getrusage.
func peakResidentMiB() -> Double {
    if let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
       let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
       let kilobytes = Double(line.split(separator: " ").dropFirst().first(where: { !$0.isEmpty }) ?? "") {
        return kilobytes / 1024
    }
    var usage = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
    return Double(usage.ru_maxrss) / 1024   // kilobytes on Linux
}

/// Times `body` (best of `repeats` after a warm-up) and the sgemm FLOPs of one run.
func timedGEMM(repeats: Int, _ body: () throws -> Void) throws -> (seconds: Double, flops: Double) {
    let before = BLAS.flopCount
    try body()
    let flops = Double(BLAS.flopCount - before)
    var best = Double.infinity
    for _ in 0..<max(1, repeats) {
        let t0 = DispatchTime.now().uptimeNanoseconds
        try body()
        best = min(best, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
    }
    return (best, flops)
}

/// A configuration from --config, else the original's full size.
func benchConfig(_ path: String?, kind: ModelKind) throws -> ModelConfig {
    var c = try path.map { try ModelConfig.load(URL(fileURLWithPath: $0)) } ?? ModelConfig()
    c.model = kind
    try c.validate()
    return c
}

struct BenchImageModel: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "image-model",
        abstract: "One forward of the full-size image network and of its backbone, against the sgemm peak.")
    @OptionGroup var options: BenchOptions
    @Option(help: "Model configuration (default: the original's sizes, 320², ResNet-101).")
    var config: String?

    @Flag(help: "Also time one forward block by block (wall time, sgemm GFLOP and rate of each paper block; nested blocks count in both).")
    var blocks = false

    func run() async throws {
        try options.start()
        let repeats = max(1, min(options.repeats, 3))
        let peak = try sgemmPeak(repeats: options.repeats)
        emit([("case", "sgemm-peak"), ("gflops", peak), ("core", BLAS.coreName), ("threads", Engine.workers)],
             json: options.json)
        let c = try benchConfig(config, kind: .image)
        let model = try CMPCModel(config: c, seed: 1)
        guard case let .image(net) = model.network else { return }
        var rng = SplitMix64(seed: 2)
        let image = Tensor.uniform(shape: [1, c.H, c.W, 3], lo: -120, hi: 130, using: &rng)
        let words: [Int32] = Array(repeating: 0, count: max(0, c.numSteps - 7)) + [4, 5, 6, 7, 8, 9, 10].prefix(c.numSteps)
        let backbone = try timedGEMM(repeats: repeats) { _ = try net.backbone(image, model.parameters) }
        emitModelRow("backbone", backbone, peak: peak)
        // The same backbone with every fp32 convolution on im2col + OpenBLAS: speedup = its seconds over
        // the default's (CMPC_VIDEO_FP32_CONV's rule sends the 3×3 and 7×7 convolutions to oneDNN).
        let openblas = try Engine.withFP32Convolution(.openblas) {
            try timedGEMM(repeats: repeats) { _ = try net.backbone(image, model.parameters) }
        }
        emit([("case", "backbone-fp32-openblas"), ("seconds", openblas.seconds),
              ("gflops", openblas.flops / openblas.seconds / 1e9), ("ratio", openblas.flops / openblas.seconds / 1e9 / peak),
              ("speedup", openblas.seconds / backbone.seconds), ("fp32_conv", Engine.fp32Convolution.rawValue)],
             json: options.json)
        let full = try timedGEMM(repeats: repeats) { _ = try net(image: image, words: words, model.parameters) }
        emitModelRow("image-network", full, peak: peak)
        emit([("case", "peak-memory"), ("peak_mib", peakResidentMiB()),
              ("prepared_weights_mib", Double(model.parameters.prepared.weightBytes(of: .fp32)) / 1_048_576)],
             json: options.json)
        if try options.includesBF16() {
            // The same network in bf16 (weights prepared by the warm-up run); ratio against the bf16
            // product's rate, speedup = the fp32 row's seconds over this row's.
            let bf = try bf16Peak(repeats: options.repeats)
            emit([("case", "bf16-peak"), ("gflops", bf.gflops), ("isa", OneDNN.isa), ("implementation", bf.implementation),
                  ("onednn", OneDNN.version), ("threads", Engine.workers)], json: options.json)
            try Engine.withPrecision(.bf16) {
                let b16 = try timedGEMM(repeats: repeats) { _ = try net.backbone(image, model.parameters) }
                emitBF16Row("backbone-bf16", b16.seconds, reference: backbone, peak: bf.gflops)
                let f16 = try timedGEMM(repeats: repeats) { _ = try net(image: image, words: words, model.parameters) }
                emitBF16Row("image-network-bf16", f16.seconds, reference: full, peak: bf.gflops)
            }
            // How far bf16 moves the output (seeded random weights and image): information, no bound.
            let a = try net(image: image, words: words, model.parameters).sigm().scalars
            let b = try Engine.withPrecision(.bf16) { try net(image: image, words: words, model.parameters) }.sigm().scalars
            let diff = zip(a, b).map { Swift.abs($0 - $1) }
            emit([("case", "bf16-sigm-difference"), ("max_abs", Double(diff.max() ?? 0)),
                  ("mean_abs", Double(diff.reduce(0, +)) / Double(max(diff.count, 1)))], json: options.json)
            emit([("case", "peak-memory-bf16"), ("peak_mib", peakResidentMiB()),
                  ("prepared_weights_mib", Double(model.parameters.prepared.weightBytes(of: .bf16)) / 1_048_576)],
                 json: options.json)
        } else if options.precision != .fp32 {
            emit([("case", "bf16-peak"), ("skipped", OneDNN.unavailableReason(.bf16) ?? "")], json: options.json)
        }
        if blocks {
            Profiler.reset()
            Profiler.enabled = true
            let t0 = DispatchTime.now().uptimeNanoseconds
            _ = try net(image: image, words: words, model.parameters)
            let total = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            Profiler.enabled = false
            for (name, e) in Profiler.entries {
                let gflops = e.seconds > 0 ? Double(e.flops) / e.seconds / 1e9 : 0
                emit([("case", "block"), ("block", name), ("calls", e.calls), ("seconds", e.seconds),
                      ("share", e.seconds / total), ("gflop", Double(e.flops) / 1e9), ("gflops", gflops),
                      ("ratio", gflops / peak)], json: options.json)
            }
        }
    }

    /// A bf16 row: the fp32 row's work at this row's time; speedup = fp32 seconds / these.
    func emitBF16Row(_ name: String, _ seconds: Double, reference r: (seconds: Double, flops: Double), peak: Double) {
        let gflops = r.flops / seconds / 1e9
        emit([("case", name), ("seconds", seconds), ("gflops", gflops), ("ratio", gflops / peak),
              ("speedup", r.seconds / seconds)], json: options.json)
    }

    func emitModelRow(_ name: String, _ r: (seconds: Double, flops: Double), peak: Double) {
        let gflops = r.flops / r.seconds / 1e9
        emit([("case", name), ("seconds", r.seconds), ("gflops", gflops), ("ratio", gflops / peak),
              ("gflop", r.flops / 1e9)], json: options.json)
    }
}

/// The cases of `bench video-model`: one clip from scratch, and whole-video segmentation of a 10 s and a 60 s clip.
enum VideoBenchCase: String, ExpressibleByArgument, CaseIterable {
    case clip
    case whole10s = "whole-10s"
    case whole60s = "whole-60s"
}

struct BenchVideoModel: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "video-model",
        abstract: "One clip of the full-size video network, and whole-video segmentation of a 10 s and a 60 s clip.",
        discussion: """
            Rows {"case": "clip" | "whole-10s" | "whole-60s", "seconds", "frames_per_second", "peak_mib", "speedup"}; \
            speedup = whole-video frames/s over the rate of one clip per frame from scratch. With native bf16 \
            (see --precision), clip-bf16 and whole-10s-bf16 rows follow, their speedup being the fp32 row's seconds \
            over theirs, and a bf16-peak row (a 2048³ bf16 product through oneDNN). The clips are 320 pixels \
            high, made with the project's VideoWriter at --frame-rate (default 2, so the 60 s clip has 120 frames).
            """)
    @OptionGroup var options: BenchOptions
    @Option(help: "Model configuration (default: the original's sizes).")
    var config: String?
    @Option(help: "Frame rate of the generated clips.")
    var frameRate: Int = 2
    @Option(help: "Run only one case; used for the child processes.")
    var only: VideoBenchCase?
    @Option(help: "Seconds per clip for the clip case's timing repeats.")
    var clipSeconds: Double?
    @Option(help: "The precision of an --only case (child processes).")
    var childPrecision: Precision = .fp32
    @Option(help: "An --only bf16 case's fp32 seconds, for its speedup (child processes).")
    var referenceSeconds: Double?

    func run() async throws {
        try options.start()
        let c = try benchConfig(config, kind: .video)
        switch only {
        case .whole10s?: try runWhole(seconds: 10, config: c, clipSeconds: clipSeconds)
        case .whole60s?: try runWhole(seconds: 60, config: c, clipSeconds: clipSeconds)
        case .clip?, nil:
            let bf16 = try options.includesBF16()
            let peak = try sgemmPeak(repeats: options.repeats)
            emit([("case", "sgemm-peak"), ("gflops", peak), ("core", BLAS.coreName), ("threads", Engine.workers)],
                 json: options.json)
            let clip = try clipTime(config: c, precision: .fp32)
            let gflops = clip.flops / clip.seconds / 1e9
            emit([("case", "clip"), ("seconds", clip.seconds), ("frames_per_second", 1 / clip.seconds),
                  ("gflops", gflops), ("ratio", gflops / peak), ("peak_mib", peakResidentMiB())], json: options.json)
            if bf16 {
                let bfPeak = try bf16Peak(repeats: options.repeats)
                emit([("case", "bf16-peak"), ("gflops", bfPeak.gflops), ("isa", OneDNN.isa),
                      ("implementation", bfPeak.implementation), ("threads", Engine.workers)], json: options.json)
                let b = try clipTime(config: c, precision: .bf16)
                let rate = clip.flops / b.seconds / 1e9
                emit([("case", "clip-bf16"), ("seconds", b.seconds), ("frames_per_second", 1 / b.seconds),
                      ("gflops", rate), ("ratio", rate / bfPeak.gflops), ("speedup", clip.seconds / b.seconds),
                      ("peak_mib", peakResidentMiB())], json: options.json)
            }
            guard only == nil else { return }
            // Each whole-video case in its own process (its own peak memory); bf16 for the 10 s clip.
            var fp32Seconds: [VideoBenchCase: Double] = [:]
            for name in [VideoBenchCase.whole10s, .whole60s] {
                for precision in (bf16 && name == .whole10s ? [Precision.fp32, .bf16] : [.fp32]) {
                    var args = ["bench", "video-model", "--only", name.rawValue, "--frame-rate", String(frameRate),
                                "--clip-seconds", String(clip.seconds), "--child-precision", precision.rawValue, "--json"]
                    if let config { args += ["--config", config] }
                    if let threads = options.threads { args += ["--threads", String(threads)] }
                    if precision == .bf16, let reference = fp32Seconds[name] { args += ["--reference-seconds", String(reference)] }
                    let row = try runChild(args, name: name.rawValue)
                    if precision == .fp32 { fp32Seconds[name] = row.first { $0.0 == "seconds" }?.1 as? Double }
                    emit(row, json: options.json)
                }
            }
        }
    }

    /// Runs `cmpc-video ARGS` (a JSON row on stdout) and returns its row.
    func runChild(_ args: [String], name: String) throws -> [(String, Any)] {
        let child = Process()
        child.executableURL = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        child.arguments = args
        let pipe = Pipe()
        child.standardOutput = pipe
        try child.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        child.waitUntilExit()
        guard child.terminationStatus == 0 else { throw UserError("bench video-model --only \(name) failed") }
        let line = String(decoding: data, as: UTF8.self).split(separator: "\n").last.map(String.init) ?? ""
        guard let members = try JSONValue.parse(Array(line.utf8), file: "bench video-model --only \(name)").members else {
            throw UserError("bench video-model --only \(name) printed no row")
        }
        return members.map { key, value -> (String, Any) in
            switch value {
            case .int(let i): (key, i)
            case .string(let s): (key, s)
            default: (key, value.double ?? 0)
            }
        }
    }

    func clipTime(config c: ModelConfig, precision: Precision) throws -> (seconds: Double, flops: Double) {
        var model = try CMPCModel(config: c, seed: 1)
        model.precision = precision
        var rng = SplitMix64(seed: 2)
        let clip = Tensor.uniform(shape: [5, c.H, c.W, 3], lo: -120, hi: 130, using: &rng)
        let words = benchWords(c)
        if precision == .bf16 { _ = try model.forward(input: clip, words: words) }   // weights prepared once
        return try timedGEMM(repeats: 1) { _ = try model.forward(input: clip, words: words) }
    }

    func runWhole(seconds: Int, config c: ModelConfig, clipSeconds: Double?) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cmpc-bench-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("clip-\(seconds)s.mp4").path
        let (width, height) = (427, 320)
        let writer = try VideoWriter(path: path, width: width, height: height, frameRate: FrameRate(frameRate))
        for i in 0..<(seconds * frameRate) { try writer.append(benchFrame(i, width: width, height: height)) }
        try writer.finish()
        var model = try CMPCModel(config: c, seed: 1)
        if childPrecision == .bf16 { try model.prepareForBF16Inference() }   // as segment does
        let reader = try VideoReader(path: path)
        let n = reader.info.frameCount
        let segmenter = try VideoSegmenter(model: model, sentences: [benchWords(c)])
        let t0 = DispatchTime.now().uptimeNanoseconds
        try segmenter.run(frameCount: n, targets: Array(1...n), nextFrame: { try reader.nextFrame() }, emit: { _ in })
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        let fps = Double(n) / elapsed
        let suffix = childPrecision == .bf16 ? "-bf16" : ""
        var fields: [(String, Any)] = [("case", "whole-\(seconds)s" + suffix), ("seconds", elapsed), ("frames", n),
                                       ("frames_per_second", fps), ("peak_mib", peakResidentMiB()),
                                       ("backbone_passes", segmenter.backbonePasses)]
        if childPrecision == .bf16 {
            // bf16 rows: speedup over the fp32 row of the same case.
            if let referenceSeconds { fields.append(("speedup", referenceSeconds / elapsed)) }
        } else if let clipSeconds {
            fields.append(("speedup", fps * clipSeconds))
        }
        emit(fields, json: options.json)
    }
}

func benchWords(_ c: ModelConfig) -> [Int32] {
    let sentence: [Int32] = [4, 5, 6, 7, 8, 9, 10].map { Int32(Int($0) % max(5, c.vocabSize - 1)) }
    let kept = Array(sentence.prefix(c.numSteps))
    return Array(repeating: 0, count: c.numSteps - kept.count) + kept
}

/// A moving pattern, so consecutive frames differ.
func benchFrame(_ i: Int, width: Int, height: Int) -> RGBImage {
    var px = [UInt8](repeating: 0, count: width * height * 3)
    let cx = (i * 7) % width, cy = height / 2
    for y in 0..<height {
        for x in 0..<width {
            let o = (y * width + x) * 3
            let inside = (x - cx) * (x - cx) + (y - cy) * (y - cy) < 40 * 40
            px[o] = inside ? 220 : UInt8((x + i) & 0x7f)
            px[o + 1] = inside ? 40 : UInt8((y * 2) & 0xff)
            px[o + 2] = UInt8((x ^ y) & 0x3f)
        }
    }
    return try! RGBImage(width: width, height: height, pixels: px)
}
