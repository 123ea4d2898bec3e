// `cmpc-video bench decode FILE`: frames/s decoding a video to 8-bit RGB with Video.VideoReader, and the
// ratio to the ffmpeg command-line tool decoding the same file to rgb24 with the same thread count, in
// the same run. The two alternate (one warm-up each, then `--repeats` rounds, best wall time kept), so
// both see the same machine load; the CPU time each used (all threads; the tool's from its rusage) is
// reported beside, as a load-independent ratio.
import ArgumentParser
import Foundation
import Video

struct BenchDecode: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decode", abstract: "Frames/s decoding a video to RGB, against the ffmpeg tool.")
    @OptionGroup var options: BenchOptions

    @Argument(help: "The video to decode.")
    var file: String

    @Option(name: .long, help: "Decoder threads for both decoders (0: one per core; --threads sets the engine's workers).")
    var decoderThreads: Int = 0

    @Option(name: .long, help: "The ffmpeg executable to compare with.")
    var ffmpeg: String = "ffmpeg"

    func run() async throws {
        let n = decoderThreads > 0 ? decoderThreads : ProcessInfo.processInfo.activeProcessorCount
        let info = try VideoReader(path: file).info
        var frames = 0
        let ours = {
            let reader = try VideoReader(path: file, options: .init(threads: n))
            frames = 0
            while try reader.nextFrame() != nil { frames += 1 }
        }
        let arguments = ["-nostdin", "-v", "error", "-threads", String(n), "-i", file,
                         "-f", "rawvideo", "-pix_fmt", "rgb24", "-y", "/dev/null"]
        let theirs = { try runTool(ffmpeg, arguments) }
        var best = (ours: Measure(), theirs: Measure())
        for round in 0...max(1, options.repeats) {
            let a = try measure(children: false, ours)
            let b = try measure(children: true, theirs)
            if round > 0 {  // round 0 warms the page cache and the libraries
                best.ours = best.ours.better(a)
                best.theirs = best.theirs.better(b)
            }
        }
        let f = Double(frames)
        if !options.json {
            print("# \(file): \(info.width)×\(info.height) \(info.codec), \(frames) frames, \(n) decoder threads;"
                  + " ffmpeg \(arguments.joined(separator: " "))")
        }
        emit([("case", "decode-ffmpeg-tool"), ("seconds", best.theirs.wall), ("fps", f / best.theirs.wall),
              ("cpu_seconds", best.theirs.cpu), ("ratio", 1.0), ("cpu_ratio", 1.0)], json: options.json)
        emit([("case", "decode-video-reader"), ("seconds", best.ours.wall), ("fps", f / best.ours.wall),
              ("cpu_seconds", best.ours.cpu), ("ratio", best.theirs.wall / best.ours.wall),
              ("cpu_ratio", best.theirs.cpu / best.ours.cpu)], json: options.json)
    }

    /// Wall and CPU seconds of one run.
    struct Measure {
        var wall = Double.infinity
        var cpu = Double.infinity
        func better(_ other: Measure) -> Measure { Measure(wall: min(wall, other.wall), cpu: min(cpu, other.cpu)) }
    }

    private func cpuSeconds(children: Bool) -> Double {
        var usage = rusage()
        getrusage(children ? RUSAGE_CHILDREN.rawValue : RUSAGE_SELF.rawValue, &usage)
        let user = Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
        let system = Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
        return user + system
    }

    private func measure(children: Bool, _ body: () throws -> Void) throws -> Measure {
        let c0 = cpuSeconds(children: children)
        let t0 = DispatchTime.now().uptimeNanoseconds
        try body()
        let t1 = DispatchTime.now().uptimeNanoseconds
        return Measure(wall: Double(t1 - t0) / 1e9, cpu: cpuSeconds(children: children) - c0)
    }

    /// Runs a tool to completion; throws with its exit status when it fails.
    private func runTool(_ tool: String, _ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [tool] + arguments
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw ValidationError("\(tool) \(arguments.joined(separator: " ")) exited with \(process.terminationStatus)")
        }
    }
}
