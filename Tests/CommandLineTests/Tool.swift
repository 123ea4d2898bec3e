// Running the built `cmpc-video` as a subprocess: where it is, a run's exit status and output, a temporary folder
// per test (so tests run in parallel), and the tiny synthetic data set and model configuration the end-to-end
// tests share by value (each test makes its own copy).
import Foundation
import Testing

/// The `cmpc-video` executable SwiftPM built for this test target (which depends on it): it sits beside the test
/// bundle, as swift-argument-parser's own tests find their example tools.
let toolURL: URL = {
    #if os(macOS)
    for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
        return bundle.bundleURL.deletingLastPathComponent().appendingPathComponent("cmpc-video")
    }
    #endif
    return Bundle.main.bundleURL.appendingPathComponent("cmpc-video")
}()

/// The project's folder (for data/default), from this file's path: Tests/CommandLineTests/Tool.swift.
let projectRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

/// What one run of the tool did.
struct ToolRun: CustomStringConvertible {
    var arguments: [String]
    var status: Int32
    var stdout: String
    var stderr: String

    var description: String {
        "cmpc-video \(arguments.joined(separator: " ")) → exit \(status)\nstdout:\n\(stdout)\nstderr:\n\(stderr)"
    }
}

/// A folder under the system's temporary folder, removed when the value is released.
final class TemporaryFolder {
    let url: URL
    var path: String { url.path }

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("cmpc-cli-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: url) }

    /// The path of `name` inside the folder.
    func path(_ name: String) -> String { url.appendingPathComponent(name).path }
}

/// Runs `executable arguments…` in `folder` (its output goes to files there, so no pipe can fill up; standard
/// input is empty) with CMPC_VIDEO_DATA removed and `environment` added, and returns its status and output;
/// `shownAs` is the command line the result reports.
func runProcess(_ executable: String, _ arguments: [String], shownAs: [String], in folder: TemporaryFolder,
                environment extra: [String: String] = [:]) throws -> ToolRun {
    let outURL = folder.url.appendingPathComponent("stdout-\(UUID().uuidString).txt")
    let errURL = folder.url.appendingPathComponent("stderr-\(UUID().uuidString).txt")
    for url in [outURL, errURL] where !FileManager.default.createFile(atPath: url.path, contents: nil) {
        throw ToolError("cannot create \(url.path) for the tool's output")
    }
    defer {
        try? FileManager.default.removeItem(at: outURL)
        try? FileManager.default.removeItem(at: errURL)
    }
    let out = try FileHandle(forWritingTo: outURL)
    let err = try FileHandle(forWritingTo: errURL)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.currentDirectoryURL = folder.url
    var environment = ProcessInfo.processInfo.environment
    environment["CMPC_VIDEO_DATA"] = nil
    environment.merge(extra) { $1 }
    process.environment = environment
    process.standardOutput = out
    process.standardError = err
    process.standardInput = FileHandle.nullDevice
    try process.run()
    process.waitUntilExit()
    try out.close()
    try err.close()
    return ToolRun(arguments: shownAs, status: process.terminationStatus,
                   stdout: try String(contentsOf: outURL, encoding: .utf8),
                   stderr: try String(contentsOf: errURL, encoding: .utf8))
}

/// Runs `cmpc-video arguments…` in `folder` (runProcess). The child sees the environment without
/// CMPC_VIDEO_DATA, so the default model is looked up beside the executable, as for a user.
func runTool(_ arguments: [String], in folder: TemporaryFolder, environment extra: [String: String] = [:]) throws -> ToolRun {
    guard FileManager.default.isExecutableFile(atPath: toolURL.path) else {
        throw ToolError("\(toolURL.path) is missing: build the package's tests (swift build --build-tests) first")
    }
    return try runProcess(toolURL.path, arguments, shownAs: arguments, in: folder, environment: extra)
}

/// Runs the tool and records an issue (with its output) unless it exits 0.
@discardableResult
func runToolSucceeding(_ arguments: [String], in folder: TemporaryFolder, environment: [String: String] = [:],
                       sourceLocation: SourceLocation = #_sourceLocation) throws -> ToolRun {
    let run = try runTool(arguments, in: folder, environment: environment)
    try #require(run.status == 0, "\(run)", sourceLocation: sourceLocation)
    return run
}

/// A failure of the test scaffolding itself, with what to do about it.
struct ToolError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A tiny synthetic set in `folder`/synth: 2 clips of 12 frames at 64×48 (one train, one test), annotated at
/// frames 5 and 9, and one still image in the ReferIt layout under synth/referit.
@discardableResult
func makeSyntheticSet(in folder: TemporaryFolder, sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
    let root = folder.path("synth")
    try runToolSucceeding(["synth", "--out", root, "--videos", "2", "--images", "1", "--size", "64x48",
                           "--frames", "12", "--annotate-every", "4", "--test-fraction", "0.5", "--seed", "5",
                           "--quiet"], in: folder, sourceLocation: sourceLocation)
    return root
}

/// A video network small enough to train a step in well under a second (64×48 input, 8-wide embeddings,
/// one block per stage at 1/16 of ResNet's widths), with the synthetic vocabulary's 38 words.
let tinyConfigJSON = """
    {"model": "video", "H": 48, "W": 64, "v_emb_dim": 8, "rnn_size": 8, "mlp_dim": 8, "glove_dim": 8,
     "parse_dim": 8, "num_steps": 10, "vocab_size": 40, "width_divisor": 16, "depth": [1, 1, 1, 1]}
    """

/// Reads a JSON object file.
func readJSONObject(_ path: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> [String: Any] {
    let data = try Data(contentsOf: URL(fileURLWithPath: path))
    return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any], "\(path) is not a JSON object",
                        sourceLocation: sourceLocation)
}

/// The names in a folder, sorted (empty when it does not exist).
func listing(_ path: String) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted()
}
