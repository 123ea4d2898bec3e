// The job endpoints of SegmentServer: POST /v1/jobs (the upload, its checks, the queue), GET /v1/jobs/{id},
// its results (masks.json, overlay.mp4 with HTTP ranges, overlay.png, masks.zip), its server-sent events, and
// DELETE. Every client mistake is a 4xx {"error": …} naming the value and the fix.
import Foundation
import Hummingbird
import ImageModel
import Pipeline
import Tensor
import Video

extension SegmentServer {
    /// Runs `body` on a thread of its own (a file probe or a blocking wait), off the server's tasks.
    func offload<T>(_ body: @escaping () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(with: Result { try body() }) }
        }
    }

    /// Routes /v1/jobs and /v1/jobs/{id}[/…]; nil when the path is none of them.
    func respondJobs(_ request: Request, context: BasicRequestContext) async throws -> Response? {
        let path = request.uri.path
        let method = request.method
        if path == "/v1/jobs" || path == "/v1/jobs/" {
            guard method == .post else {
                throw APIError(.methodNotAllowed, "\(method.rawValue) /v1/jobs: submit a job with POST (multipart/form-data)")
            }
            return try await submit(request)
        }
        guard path.hasPrefix("/v1/jobs/") else { return nil }
        let rest = path.dropFirst("/v1/jobs/".count).split(separator: "/", omittingEmptySubsequences: false)
        guard rest.count <= 2, let first = rest.first, JobStore.isValidID(first), let job = jobs.job(String(first)) else {
            throw APIError(.notFound, "no job \(rest.first.map { String($0.prefix(80)) } ?? ""): job ids are 32 lowercase hex "
                + "digits, as POST /v1/jobs returned; results expire after \(Int(options.ttl)) s")
        }
        let part = rest.count == 2 ? String(rest[1]) : ""
        switch (method, part) {
        case (.get, ""): return JSONBody.response(.ok, job.snapshot())
        case (.delete, ""): return try await delete(job)
        case (.get, "events"): return events(job)
        case (.get, "masks.json"), (.get, "masks.zip"), (.get, "overlay.mp4"), (.get, "overlay.png"),
             (.head, "masks.json"), (.head, "masks.zip"), (.head, "overlay.mp4"), (.head, "overlay.png"):
            return try await result(job, name: part, request: request, context: context)
        default:
            throw APIError(.notFound, "no such endpoint: \(method.rawValue) \(path); a job has GET, DELETE, /events, "
                + "/masks.json, /overlay.mp4 (or /overlay.png), /masks.zip")
        }
    }

    // MARK: Submission

    /// POST /v1/jobs.
    func submit(_ request: Request) async throws -> Response {
        let boundary = try Upload.boundary(contentType: request.headers[.contentType])
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > options.maxUploadBytes {
            throw APIError(.contentTooLarge, "the upload has \(length) bytes, more than the server's limit of "
                + "\(options.maxUploadBytes >> 20) MiB (--max-upload-mb): send a shorter or smaller clip", headers: [.connection: "close"])
        }
        if jobs.isFull { throw queueFull() }
        let id = JobStore.newID()
        let folder = jobs.workDir + "/" + id
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: false,
                                                    attributes: [.posixPermissions: 0o700])
        } catch {
            throw APIError(.internalServerError, "the server cannot create a job folder in its work folder: check --work-dir")
        }
        do {
            let form = try await Upload.receive(request.body, boundary: boundary, filePath: folder + "/upload.part",
                                                limit: options.maxUploadBytes,
                                                counted: { [metrics] in metrics.uploadedBytes.increment(by: Int64($0)) })
            let input = try await prepare(form, folder: folder)
            let job = Job(id: id, folder: folder, input: input)
            guard jobs.enqueue(job) else { throw queueFull() }
            var response = JSONBody.response(.accepted, ["id": id, "status": "queued"])
            response.headers[.location] = "/v1/jobs/\(id)"
            return response
        } catch {
            try? FileManager.default.removeItem(atPath: folder)
            throw error
        }
    }

    func queueFull() -> APIError {
        metrics.refused.increment()
        return APIError(.tooManyRequests, "the queue is full (\(options.queue) jobs waiting, --queue): try again in a few seconds",
                        headers: [.retryAfter: "5"])
    }

    /// Checks a received form and the file: the request's settings, the sentences' words, the media and its frames.
    func prepare(_ form: UploadedForm, folder: String) async throws -> JobInput {
        guard form.fileParts > 0 else {
            throw APIError(.badRequest, "no file: add the clip or image as the form field file (curl -F file=@clip.mp4)")
        }
        guard form.fileParts == 1 else { throw APIError(.badRequest, "\(form.fileParts) file fields: send exactly one file") }
        guard form.fileBytes > 0 else { throw APIError(.badRequest, "the file is empty: send a video or an image") }
        let texts = form.values("text")
        guard !texts.isEmpty else {
            throw APIError(.badRequest, "no text: add at least one sentence as the form field text (curl -F text=\"the man jumping\")")
        }
        var request = SegmentRequest(sentences: texts)
        request.optionPrefix = ""
        for text in texts {
            let words = Vocabulary.tokenize(text).filter { $0.contains { $0.isLetter || $0.isNumber } }.count
            if words > SegmentServer.maxSentenceWords {
                throw APIError(.badRequest, "a text has \(words) words, more than \(SegmentServer.maxSentenceWords) (the model reads the "
                    + "first \(served.model.config.numSteps)): send one short sentence per text field")
            }
        }
        if texts.count > SegmentServer.maxSentences {
            throw APIError(.badRequest, "\(texts.count) texts, more than \(SegmentServer.maxSentences): send fewer sentences per job")
        }
        func single(_ name: String) throws -> String? {
            let v = form.values(name)
            guard v.count <= 1 else { throw APIError(.badRequest, "the field \(name) is given \(v.count) times: give it once") }
            return v.first?.trimmingCharacters(in: .whitespaces)
        }
        func integer(_ name: String) throws -> Int? {
            guard let text = try single(name), !text.isEmpty else { return nil }
            guard let v = Int(text), v >= 1 else { throw APIError(.badRequest, "\(name) \"\(text.prefix(40))\" is not a whole number ≥ 1") }
            return v
        }
        request.start = try integer("start")
        request.end = try integer("end")
        request.every = try integer("every")
        if let text = try single("threshold"), !text.isEmpty {
            guard let v = Float(text), v.isFinite else {
                throw APIError(.badRequest, "threshold \"\(text.prefix(40))\" is not a number: give a probability in (0, 1), e.g. 0.5")
            }
            request.threshold = v
        }
        if let text = try single("crf"), !text.isEmpty {
            switch text.lowercased() {
            case "true", "1", "on", "yes": request.crf = true
            case "false", "0", "off", "no": request.crf = false
            default: throw APIError(.badRequest, "crf \"\(text.prefix(40))\" is neither true nor false")
            }
        }
        if let text = try single("precision"), !text.isEmpty {
            guard let choice = PrecisionChoice(rawValue: text.lowercased()) else {
                throw APIError(.badRequest, "precision \"\(text.prefix(40))\" is none of fp32, bf16, auto")
            }
            let loaded = served.model.precision
            let wanted = try? choice.resolve()
            guard wanted == loaded else {
                throw APIError(.badRequest, "precision \(text) differs from the server's \(loaded.rawValue) (the model is loaded once): "
                    + "leave precision out, send \(loaded.rawValue), or start the server with --precision \(choice.rawValue)")
            }
        }
        if let problem = request.problem() { throw APIError(.badRequest, problem) }
        let encoded: [EncodedSentence]
        do {
            encoded = try request.encode(vocabulary: served.vocabulary, steps: served.model.config.numSteps, allowUnknown: false,
                                         fix: "use words of the model's vocabulary")
        } catch let error as PipelineError {
            throw APIError(.badRequest, error.description)
        }
        // The file: named by its content, never by the client's name.
        let ext = Upload.sniffExtension(path: folder + "/upload.part")
        let path = folder + "/input." + ext
        guard rename(folder + "/upload.part", path) == 0 else {
            throw APIError(.internalServerError, "the server cannot rename the upload in its work folder: check --work-dir")
        }
        let source = Upload.safeBaseName(form.fileName)
        let maxFrames = options.maxFrames
        return try await offload { () throws -> JobInput in
            if SegmentRequest.isStillImage(path: path) {
                do { _ = try ImageIO.read(path: path, upright: true) } catch {
                    throw APIError(.unprocessableContent, "the file \(source) cannot be read as an image (\(Upload.describe(error, path: path, as: source))): send a video or an image")
                }
                return JobInput(path: path, source: source, isImage: true, targets: [1], frameCount: 1, request: request, encoded: encoded)
            }
            let frameCount: Int
            do {
                let reader = try VideoReader(path: path, options: .init(autorotate: true))
                frameCount = reader.info.frameCount
            } catch {
                throw APIError(.unprocessableContent, "the file \(source) cannot be read as a video or an image (\(Upload.describe(error, path: path, as: source))): send a file "
                    + "FFmpeg reads (mp4, webm, mov, png, jpg, …)")
            }
            let targets: [Int]
            do { targets = try request.selectFrames(frameCount: frameCount, input: source) } catch let error as PipelineError {
                throw APIError(.badRequest, error.description)
            }
            if let maxFrames, targets.count > maxFrames {
                throw APIError(.badRequest, "the job would segment \(targets.count) frames, more than the server's limit of \(maxFrames) "
                    + "(--max-frames): send a shorter clip, or narrow it with start, end or every")
            }
            return JobInput(path: path, source: source, isImage: false, targets: targets, frameCount: frameCount, request: request,
                            encoded: encoded)
        }
    }

    // MARK: Results, events, deletion

    /// A result file of a finished job; 409 while it is not done.
    func result(_ job: Job, name: String, request: Request, context: BasicRequestContext) async throws -> Response {
        let status = job.status
        guard status == .done else {
            throw APIError(.conflict, "job \(job.id) is \(status.rawValue), not done: its results exist once its status is done"
                + (status.isTerminal ? " (it will not be)" : "; follow /v1/jobs/\(job.id)/events"))
        }
        let isImage = job.input.isImage
        if (name == "overlay.mp4" && isImage) || (name == "overlay.png" && !isImage) {
            throw APIError(.notFound, "job \(job.id) segmented \(isImage ? "an image" : "a video"): its overlay is "
                + (isImage ? "overlay.png" : "overlay.mp4"))
        }
        let path = JobRunner.outputFolder(job) + "/" + name
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw APIError(.notFound, "job \(job.id)'s \(name) is gone (the job expired or was deleted)")
        }
        let size = Int(info.st_size)
        let type: String
        switch name {
        case "masks.json": type = "application/json"
        case "masks.zip": type = "application/zip"
        case "overlay.mp4": type = "video/mp4"
        default: type = "image/png"
        }
        var headers: HTTPFields = [.contentType: type, .acceptRanges: "bytes", .cacheControl: "no-store"]
        if name == "masks.zip" { headers[.contentDisposition] = "attachment; filename=\"masks-\(job.id.prefix(8)).zip\"" }
        var range = size > 0 ? 0...(size - 1) : nil
        var status200 = HTTPResponse.Status.ok
        if let header = request.headers[.range], size > 0 {
            guard let wanted = SegmentServer.byteRange(header, size: size) else {
                headers[.contentRange] = "bytes */\(size)"
                throw APIError(.rangeNotSatisfiable, "Range \(header.prefix(60)) is outside the file's \(size) bytes", headers: headers)
            }
            range = wanted
            status200 = .partialContent
            headers[.contentRange] = "bytes \(wanted.lowerBound)-\(wanted.upperBound)/\(size)"
        }
        headers[.contentLength] = String(range.map { $0.count } ?? 0)
        if request.method == .head || range == nil { return Response(status: status200, headers: headers, body: .init()) }
        let body = try await FileIO().loadFile(path: path, range: range!, context: context)
        return Response(status: status200, headers: headers, body: body)
    }

    /// The single byte range of a Range header ("bytes=a-b", "bytes=a-", "bytes=-n") within `size` bytes, or nil.
    static func byteRange(_ header: String, size: Int) -> ClosedRange<Int>? {
        let h = header.trimmingCharacters(in: .whitespaces)
        guard h.lowercased().hasPrefix("bytes="), !h.contains(",") else { return nil }
        let spec = h.dropFirst(6).split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
            .map { $0.trimmingCharacters(in: .whitespaces) }
        guard spec.count == 2 else { return nil }
        if spec[0].isEmpty {
            guard let n = Int(spec[1]), n > 0 else { return nil }
            return max(0, size - n)...(size - 1)
        }
        guard let a = Int(spec[0]), a >= 0, a < size else { return nil }
        if spec[1].isEmpty { return a...(size - 1) }
        guard let b = Int(spec[1]), b >= a else { return nil }
        return a...min(b, size - 1)
    }

    /// DELETE /v1/jobs/{id}: cancels the job, waits (up to a minute) for a running one to stop, and removes
    /// its files; answers its final status.
    func delete(_ job: Job) async throws -> Response {
        let changes = job.changes()
        _ = jobs.delete(job.id)
        if !job.status.isTerminal {
            let deadline = ContinuousClock.now + .seconds(60)
            for await _ in changes where job.status.isTerminal || ContinuousClock.now > deadline { break }
        }
        return JSONBody.response(.ok, job.snapshot())
    }

    /// GET /v1/jobs/{id}/events: `data: <status JSON>` at each status change and at progress changes (at most
    /// ~4 a second), and a `: keep-alive` comment after `keepAliveInterval` without one (a job waiting in the
    /// queue), so proxies keep the stream open; the stream ends after a terminal status.
    func events(_ job: Job) -> Response {
        let body = ResponseBody { writer in
            let changes = job.changes()
            var iterator = changes.makeAsyncIterator()
            var last: JobSnapshot?
            var lastSent = ContinuousClock.now - .seconds(1)
            while true {
                let snapshot = job.snapshot()
                if snapshot != last {
                    let sinceLast = ContinuousClock.now - lastSent
                    if snapshot.status == last?.status && sinceLast < .milliseconds(250) {
                        try? await Task.sleep(for: .milliseconds(250) - sinceLast)
                        continue   // the newest state is sent after the pause
                    }
                    var event = Data("data: ".utf8)
                    event.append(JSONBody.data(snapshot))
                    event.append(Data("\n\n".utf8))
                    try await writer.write(ByteBuffer(bytes: event))
                    last = snapshot
                    lastSent = ContinuousClock.now
                } else if ContinuousClock.now - lastSent >= SegmentServer.keepAliveInterval {
                    try await writer.write(ByteBuffer(string: ": keep-alive\n\n"))
                    lastSent = ContinuousClock.now
                }
                if snapshot.status.isTerminal { break }
                guard await iterator.next() != nil else { break }
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"], body: body)
    }
}

extension SegmentServer {
    /// Longest silence on an event stream: then a `: keep-alive` comment is sent (CMPC_VIDEO_SSE_KEEPALIVE
    /// seconds, for tests; default 15, under common proxies' idle timeouts).
    static let keepAliveInterval: Duration = {
        let env = ProcessInfo.processInfo.environment["CMPC_VIDEO_SSE_KEEPALIVE"].flatMap(Double.init)
        return .milliseconds(Int((env.map { max(0.05, $0) } ?? 15) * 1000))
    }()

    /// Most words in one text field.
    static let maxSentenceWords = 200
    /// Most text fields in one job.
    static let maxSentences = 32
}
