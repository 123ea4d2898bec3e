// `cmpc-video serve`: the HTTP API and the page, with the model loaded once (Server.SegmentServer).
import ArgumentParser
import Foundation
import Server
import Tensor

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve a web page and an HTTP API that segment uploaded clips (docs/serve.md).",
        discussion: """
            Prints "cmpc-video: serving on http://HOST:PORT" on stdout once it listens. SIGTERM or Ctrl-C stops \
            it: running jobs are cancelled and every job folder is removed.
            """)

    @Option(help: "Address to bind. Any other than a loopback address needs --token.")
    var host = "127.0.0.1"

    @Option(help: "Port to listen on (0 picks a free one).")
    var port = 8080

    @OptionGroup var model: ModelOptions

    @Option(help: "Jobs run at the same time (they share the model).")
    var workers = 1

    @Option(help: "Jobs that may wait; a submission beyond that is answered 429.")
    var queue = 8

    @Option(help: "Largest upload in MiB; a larger one is answered 413.")
    var maxUploadMb = 512

    @Option(help: "Most frames a job may segment (default: no limit).")
    var maxFrames: Int?

    @Option(help: "Bearer token every /v1/ request must carry (required with a non-loopback --host).")
    var token: String?

    @Option(help: "Folder for the jobs' files (default: a fresh private folder under $TMPDIR, removed at exit).")
    var workDir: String?

    @Option(help: "Seconds a job's results are kept.")
    var ttl: Double = 3600

    @Option(help: "Seconds a connection may stay silent before or between requests before it is closed.")
    var idleTimeout: Double = 60

    var options: ServerOptions {
        var o = ServerOptions()
        o.host = host
        o.port = port
        o.workers = workers
        o.queue = queue
        o.maxUploadBytes = maxUploadMb > Int.max >> 21 ? Int.max : maxUploadMb << 20
        o.maxFrames = maxFrames
        o.token = token
        o.workDir = workDir
        o.ttl = ttl
        o.idleTimeout = idleTimeout
        return o
    }

    func validate() throws {
        if let problem = options.problem() { throw ValidationError(problem) }
    }

    func run() async throws {
        let loaded = try model.load(defaultPrecision: .auto)
        // Prepared weights and the engine's buffers exist before the first job: the memory the server starts
        // with is the one it returns to once jobs expire.
        try loaded.model.warmUp()
        let served = ServedModel(model: loaded.model, vocabulary: loaded.vocabulary,
                                 checkpoint: model.checkpoint ?? "default/model.safetensors",
                                 version: CMPCVideo.configuration.version)
        let server: SegmentServer
        do { server = try SegmentServer(options: options, model: served) } catch { throw UserError("\(error)") }
        do {
            try await server.run { url in
                print("cmpc-video: serving on \(url)")
                fflush(stdout)
            }
        } catch {
            throw UserError("cannot serve on \(host):\(port): \(error); choose another --port (0 picks a free one) or --host")
        }
    }
}
