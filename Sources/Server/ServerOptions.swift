// What `cmpc-video serve` is started with: the listening address, the limits, the token and the work folder
// (ServerOptions), and the model it shares between jobs (ServedModel).
import Foundation
import ImageModel
import Pipeline
import VideoModel

/// The settings of a server: address, limits, token, work folder and how long results are kept.
public struct ServerOptions: Sendable {
    /// The address to bind ("127.0.0.1" by default; any other needs a token).
    public var host = "127.0.0.1"
    /// The port; 0 binds a free one.
    public var port = 8080
    /// Jobs run at the same time (each on its own thread, sharing the model).
    public var workers = 1
    /// Jobs waiting to run at most; one more is refused with 429.
    public var queue = 8
    /// The largest upload in bytes (the whole multipart body).
    public var maxUploadBytes = 512 << 20
    /// The most frames a job may segment; nil for no limit.
    public var maxFrames: Int?
    /// The bearer token every /v1/ request needs; nil for none (loopback only).
    public var token: String?
    /// Where job folders live; nil for a fresh private folder under $TMPDIR, removed at exit.
    public var workDir: String?
    /// Seconds a finished job's results are kept before its folder is deleted.
    public var ttl: Double = 3600
    /// Seconds a connection may stay silent before (or between) requests; then it is closed, so clients that
    /// open connections and send nothing (or a request head a byte at a time) cannot hold them.
    public var idleTimeout: Double = 60

    /// Options with every default.
    public init() {}

    /// Whether `host` is a loopback address (the only kind allowed without a token).
    public var isLoopback: Bool { ServerOptions.isLoopback(host) }

    /// Whether `host` names the loopback interface: 127.0.0.0/8, ::1 or localhost.
    public static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host == "[::1]" || host.hasPrefix("127.")
    }

    /// Why these options cannot start a server (a usage error naming the option and the fix), or nil.
    public func problem() -> String? {
        if !isLoopback && (token ?? "").isEmpty {
            return "--host \(host) is not a loopback address: give --token T so only clients that know T can use the "
                + "API (or bind --host 127.0.0.1)"
        }
        if let token, token.isEmpty { return "--token is empty: give a secret, e.g. --token $(openssl rand -hex 16)" }
        if !(0...65535).contains(port) { return "--port must be in 0…65535 (0 picks a free port), got \(port)" }
        if !(1...64).contains(workers) { return "--workers must be in 1…64, got \(workers)" }
        if !(1...10_000).contains(queue) { return "--queue must be in 1…10000, got \(queue)" }
        if maxUploadBytes < 1 { return "--max-upload-mb must be at least 1" }
        if let maxFrames, maxFrames < 1 { return "--max-frames must be at least 1, got \(maxFrames)" }
        if !(ttl >= 1) { return "--ttl must be at least 1 second, got \(ttl)" }
        if !(idleTimeout >= 0.1 && idleTimeout <= 86_400) {
            return "--idle-timeout must be in 0.1…86400 seconds, got \(idleTimeout)"
        }
        return nil
    }
}

/// The model a server loads once and shares between its jobs, with what /v1/info reports of it.
public struct ServedModel: @unchecked Sendable {
    /// The network and its parameters, at the precision jobs run at.
    public var model: CMPCModel
    /// The vocabulary sentences are encoded with.
    public var vocabulary: Vocabulary
    /// The checkpoint's file name (never its path).
    public var name: String
    /// The tool's version.
    public var version: String
    /// How frames are resized into the network input (segment's --resize).
    public var resize: ResizeMode = .original

    /// A model to serve; `checkpoint` is reduced to its file name.
    public init(model: CMPCModel, vocabulary: Vocabulary, checkpoint: String, version: String) {
        self.model = model
        self.vocabulary = vocabulary
        name = (checkpoint as NSString).lastPathComponent
        self.version = version
    }
}
