// SegmentServer: the HTTP server of `cmpc-video serve` (Hummingbird 2). It binds, prints the one line
// scripts parse, answers every request through one dispatcher (`respond`), and on SIGTERM/SIGINT stops
// accepting, cancels the jobs, and removes every job folder before it returns.
import Foundation
import Hummingbird
import Logging
import Tensor
import ServiceLifecycle

/// A server that segments uploaded clips with one shared model.
public final class SegmentServer: @unchecked Sendable {
    /// The settings it was started with.
    public let options: ServerOptions
    /// The shared model.
    public let served: ServedModel
    /// The folder job folders live in.
    public let workDir: String
    /// Whether `workDir` was made by the server (and is removed as a whole at exit).
    let ownsWorkDir: Bool
    let logger: Logger
    let metrics = ServerMetrics()
    /// The jobs, their queue and workers.
    let jobs: JobStore

    /// A server with `options` (checked: `options.problem()` must be nil) serving `model`. Creates the work folder
    /// (mode 0700): the given one, or a fresh one under $TMPDIR.
    public init(options: ServerOptions, model: ServedModel) throws {
        if let problem = options.problem() { throw ServerError(problem) }
        self.options = options
        served = model
        if let dir = options.workDir {
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: dir, isDirectory: &isDir) {
                guard isDir.boolValue else { throw ServerError("--work-dir \(dir) is a file: give a folder (it is created if missing)") }
            } else {
                do {
                    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true,
                                                            attributes: [.posixPermissions: 0o700])
                } catch {
                    throw ServerError("--work-dir \(dir): cannot create it (\(error.localizedDescription)); give a folder you can write to")
                }
            }
            guard access(dir, W_OK | X_OK) == 0 else {
                throw ServerError("--work-dir \(dir) is not writable: give a folder you can write to")
            }
            workDir = URL(fileURLWithPath: dir).standardized.path
            ownsWorkDir = false
        } else {
            var template = Array((NSTemporaryDirectory() as NSString).appendingPathComponent("cmpc-serve-XXXXXX").utf8CString)
            guard let made = mkdtemp(&template) else {   // mkdtemp makes it 0700
                throw ServerError("cannot create a work folder under \(NSTemporaryDirectory()): \(String(cString: strerror(errno))); "
                    + "set TMPDIR to a writable folder or give --work-dir DIR")
            }
            workDir = String(cString: made)
            ownsWorkDir = true
        }
        var logger = Logger(label: "cmpc-video.serve", factory: { StreamLogHandler.standardError(label: $0) })
        logger.logLevel = .error
        self.logger = logger
        jobs = JobStore(workDir: workDir, capacity: options.queue, ttl: options.ttl, workers: options.workers,
                        runner: JobRunner(served: model, metrics: metrics), metrics: metrics)
    }

    /// Binds, calls `listening` with the server's URL once it accepts connections, and serves until SIGTERM or
    /// SIGINT; then stops accepting, and removes the job folders (and the work folder it made) before returning.
    public func run(listening: @escaping @Sendable (String) -> Void) async throws {
        let host = options.host
        let displayHost = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
        let bindHost = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        let app = Application(
            responder: CallbackResponder { [self] (request: Request, context: BasicRequestContext) in
                await respond(request, context: context)
            },
            server: .http1(configuration: .init(
                additionalChannelHandlers: [ExpectContinueHandler(maxBodyBytes: self.options.maxUploadBytes)],
                idleTimeout: .milliseconds(Int64(options.idleTimeout * 1000)))),
            configuration: .init(address: .hostname(bindHost, port: options.port), serverName: nil),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? 0
                JobStore.returnFreeMemory()   // the model's warm-up garbage: start from the idle baseline
                listening("http://\(displayHost):\(port)")
            },
            logger: logger)
        // Shut down in reverse order: the jobs first (cancelled, so event streams end), then the HTTP server.
        let group = ServiceGroup(configuration: .init(services: [app, JobService(server: self)],
                                                      gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        defer { removeWorkFolders() }
        try await group.run()
    }

    /// Removes every job folder (and the work folder when the server made it).
    func removeWorkFolders() {
        jobs.shutdown()
        if ownsWorkDir {
            try? FileManager.default.removeItem(atPath: workDir)
        }
    }

    // MARK: Dispatch

    /// The one place a request is answered: page files, health, then the token check for /v1/ and /metrics.
    func respond(_ request: Request, context: BasicRequestContext) async -> Response {
        let path = request.uri.path
        let method = request.method
        if method == .get || method == .head, let page = PageFiles.response(path) { return page }
        if path == "/healthz" { return JSONBody.response(.ok, ["status": "ok"]) }
        do {
            if path.hasPrefix("/v1/") || path == "/v1" || (path == "/metrics" && !options.isLoopback) {
                try authorize(request)
            }
            if let response = try await respondJobs(request, context: context) { return response }
            switch (method, path) {
            case (.get, "/v1/info"): return info()
            case (.get, "/metrics"):
                return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                                body: .init(byteBuffer: ByteBuffer(bytes: metrics.text())))
            default:
                throw APIError(.notFound, "no such endpoint: \(method.rawValue) \(path); see docs/serve.md for the API")
            }
        } catch let error as APIError {
            return error.response()
        } catch {
            return APIError(.internalServerError, "internal error: \(error)").response()
        }
    }

    /// Throws 401 unless the request carries the token (`Authorization: Bearer T` or `?access_token=T`) when one is set.
    func authorize(_ request: Request) throws {
        guard let token = options.token else { return }
        var given: String?
        if let header = request.headers[.authorization] {
            let parts = header.split(separator: " ", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == "bearer" { given = String(parts[1]) }
        }
        if given == nil, let query = request.uri.queryParameters["access_token"] {
            given = String(query).removingPercentEncoding ?? String(query)
        }
        guard let given, constantTimeEqual(given, token) else {
            throw APIError(.unauthorized, given == nil
                ? "this server needs its token: send Authorization: Bearer TOKEN (or ?access_token=TOKEN)"
                : "wrong token: send the token the server was started with (--token)",
                headers: [.wwwAuthenticate: "Bearer"])
        }
    }

    func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        var difference = UInt8(x.count == y.count ? 0 : 1)
        for i in 0..<max(x.count, y.count) { difference |= (i < x.count ? x[i] : 0) ^ (i < y.count ? y[i] : 0) }
        return difference == 0
    }

    /// GET /v1/info.
    func info() -> Response {
        struct Info: Encodable {
            let version, precision, isa, model: String
            let max_upload_mb: Int
            let max_frames: Int?
            let token_required: Bool
            let queue, workers: Int
            let ttl: Double
            func encode(to encoder: Encoder) throws {
                var c = encoder.container(keyedBy: Keys.self)
                try c.encode(version, forKey: .version); try c.encode(precision, forKey: .precision)
                try c.encode(isa, forKey: .isa); try c.encode(model, forKey: .model)
                try c.encode(max_upload_mb, forKey: .max_upload_mb); try c.encode(max_frames, forKey: .max_frames)
                try c.encode(token_required, forKey: .token_required); try c.encode(queue, forKey: .queue)
                try c.encode(workers, forKey: .workers); try c.encode(ttl, forKey: .ttl)
            }
            enum Keys: String, CodingKey { case version, precision, isa, model, max_upload_mb, max_frames, token_required, queue, workers, ttl }
        }
        return JSONBody.response(.ok, Info(
            version: served.version, precision: served.model.precision.rawValue, isa: OneDNN.isa, model: served.name,
            max_upload_mb: options.maxUploadBytes >> 20, max_frames: options.maxFrames, token_required: options.token != nil,
            queue: options.queue, workers: options.workers, ttl: options.ttl))
    }
}

/// A problem that stops the server from starting (a usage error), naming the option and the fix.
public struct ServerError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// The jobs' part of the server's life: expires results every second (or sooner for a short TTL), and wakes
/// the event streams of unfinished jobs every `keepAliveInterval`, until the server is asked to stop, then cancels every job and removes their folders, before the HTTP server stops.
struct JobService: Service {
    let server: SegmentServer

    func run() async throws {
        let store = server.jobs
        let interval = min(Duration.milliseconds(Int(min(1000, max(50, server.options.ttl * 250)))),
                           SegmentServer.keepAliveInterval)
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                var lastWake = ContinuousClock.now
                while !Task.isCancelled {
                    try? await Task.sleep(for: interval)
                    store.expire()
                    if ContinuousClock.now - lastWake >= SegmentServer.keepAliveInterval {
                        store.wakeUnfinished()
                        lastWake = ContinuousClock.now
                    }
                }
            }
            try? await gracefulShutdown()
            group.cancelAll()
        }
        _ = try? await server.offload { store.shutdown() }
    }
}
