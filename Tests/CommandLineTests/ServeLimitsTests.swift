// The server under bad input and its limits: each bad request of issue 19's list gets its 4xx JSON error and
// /healthz stays 200 after all of them; 413 before the body is read (and while it streams); 429 with
// Retry-After when the queue is full; 401 without or with a wrong token; TTL expiry; SIGTERM leaving nothing;
// Expect: 100-continue answered within the limit only; silent connections closed after --idle-timeout.
import Foundation
import Testing

/// Expects a 4xx JSON {"error": …} answer with `status`.
func expectError(_ r: HTTPResult, _ status: Int, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(r.status == status, "\(what): \(r)", sourceLocation: sourceLocation)
    #expect(r.headers["content-type"]?.hasPrefix("application/json") == true, "\(what): \(r)", sourceLocation: sourceLocation)
    #expect((r.json["error"] as? String)?.isEmpty == false, "\(what): \(r)", sourceLocation: sourceLocation)
}

@Suite struct ServeLimitsTests {
    @Test func badRequestsGetJSONErrorsAndTheServerStaysUp() throws {
        let folder = try TemporaryFolder()
        let work = folder.path("work")
        let server = try ServedProcess(["--work-dir", work, "--max-upload-mb", "1", "--max-frames", "20"], in: folder)
        let text = "the red square jumping"
        func post(_ form: Multipart, contentType: String? = nil) throws -> HTTPResult {
            try server.request("POST", "/v1/jobs", headers: [("Content-Type", contentType ?? form.contentType)], body: form.finished)
        }
        func upload(_ data: Data, name: String = "clip.mp4", texts: [String] = ["the red square jumping"],
                    fields: [(String, String)] = []) throws -> HTTPResult {
            var form = Multipart()
            form.file("file", filename: name, data)
            for t in texts { form.field("text", t) }
            for (k, v) in fields { form.field(k, v) }
            return try post(form)
        }
        let sample = try Data(contentsOf: URL(fileURLWithPath: samplePath))
        var random = SystemRandomNumberGenerator()
        let noise = Data((0..<20_000).map { _ in UInt8.random(in: 0...255, using: &random) })

        expectError(try upload(Data()), 400, "an empty file")
        // A truncated mp4 and random bytes: refused at submission (422), or a job that fails with an error.
        for (data, what) in [(sample.prefix(sample.count / 3), "a truncated mp4"), (noise, "random bytes")] {
            let r = try upload(Data(data))
            if r.status == 202 {
                let status = try waitForEnd(server, try #require(r.json["id"] as? String))
                #expect(status["status"] as? String == "failed", "\(what): \(status)")
                #expect((status["error"] as? String)?.isEmpty == false, "\(what): \(status)")
                #expect(!(status["error"] as? String ?? "").contains(work), "\(what): \(status)")
            } else {
                expectError(r, 422, what)
                #expect(!(r.json["error"] as? String ?? "").contains(work), "\(what): \(r)")
            }
        }
        var noText = Multipart()
        noText.file("file", filename: "clip.mp4", sample)
        expectError(try post(noText), 400, "no text")
        expectError(try upload(sample, texts: ["  , . "]), 400, "an empty text")
        expectError(try upload(sample, texts: [Array(repeating: "square", count: 5000).joined(separator: " ")]), 400,
                    "a 5,000-word text")
        var noFile = Multipart()
        noFile.field("text", text)
        expectError(try post(noFile), 400, "no file")
        expectError(try upload(sample, fields: [("threshold", "2")]), 400, "a threshold outside (0, 1)")
        expectError(try upload(sample, fields: [("every", "zero")]), 400, "a word for every")
        expectError(try upload(sample, fields: [("end", "99")]), 400, "an end past the clip")
        expectError(try upload(sample), 400, "more frames than --max-frames")
        expectError(try upload(sample, texts: ["zyxw qqqq"]), 400, "only unknown words")
        expectError(try upload(sample, fields: [("end", "4"), ("precision", "fp16")]), 400, "an unknown precision")
        // Oversized: refused on its Content-Length before any of the body is sent.
        let huge = try server.request("POST", "/v1/jobs", headers: [("Content-Type", "multipart/form-data; boundary=x")],
                                      body: Data(), contentLength: 3 << 20)
        expectError(huge, 413, "an oversized upload")
        // Oversized without a Content-Length (chunked): refused once the count passes the limit.
        let chunk = Data(repeating: 0x61, count: 256 << 10)
        var chunked = Data()
        for _ in 0..<8 { chunked += Data(String(chunk.count, radix: 16).utf8) + Data("\r\n".utf8) + chunk + Data("\r\n".utf8) }
        chunked += Data("0\r\n\r\n".utf8)
        expectError(try server.request("POST", "/v1/jobs", headers: [("Content-Type", "multipart/form-data; boundary=x"),
                                                                      ("Transfer-Encoding", "chunked")],
                                       body: chunked), 413, "an oversized chunked upload")
        expectError(try server.get("/v1/jobs/0123456789abcdef0123456789abcdef"), 404, "an unknown job id")
        expectError(try server.get("/v1/jobs/..%2F..%2Fetc%2Fpasswd"), 404, "an id with ../")
        expectError(try server.get("/v1/jobs/../../etc/passwd"), 404, "a path with ../")
        expectError(try server.get("/v1/jobs/0123456789ABCDEF0123456789ABCDEF/masks.json"), 404, "an upper-case id")
        var broken = Multipart()
        broken.file("file", filename: "clip.mp4", sample)
        expectError(try server.request("POST", "/v1/jobs", headers: [("Content-Type", broken.contentType)],
                                       body: broken.body.prefix(5000)), 400, "malformed multipart (no closing boundary)")
        expectError(try server.request("POST", "/v1/jobs", headers: [("Content-Type", "multipart/form-data; boundary=zz")],
                                       body: Data("this is not a form".utf8)), 400, "malformed multipart (no part)")
        expectError(try server.request("POST", "/v1/jobs", headers: [("Content-Type", "multipart/form-data")],
                                       body: Data("x".utf8)), 400, "multipart without a boundary")
        expectError(try server.request("POST", "/v1/jobs", headers: [("Content-Type", "application/json")],
                                       body: Data(#"{"text": "x"}"#.utf8)), 415, "a wrong content type")
        expectError(try server.request("POST", "/v1/jobs", body: Data("x".utf8)), 415, "no content type")
        #expect(try server.get("/healthz").status == 200)
        // No refused request left a folder behind (a failed job keeps none either).
        let left = (try? FileManager.default.contentsOfDirectory(atPath: work)) ?? []
        #expect(left.isEmpty, "\(left)")
        #expect(server.stop() == 0)
    }

    /// A truncated mp4 whose index comes first opens (its frames are counted) but its decoding breaks off: the
    /// job ends failed with the decoder's reason, its folder is gone, and the server goes on.
    @Test func aFailingJobLeavesTheServerUp() throws {
        let folder = try TemporaryFolder()
        let work = folder.path("work")
        let faststart = folder.path("faststart.mp4")
        let ffmpeg = Process()
        ffmpeg.executableURL = URL(fileURLWithPath: "/usr/bin/ffmpeg")
        ffmpeg.arguments = ["-v", "error", "-y", "-i", samplePath, "-c", "copy", "-movflags", "+faststart", faststart]
        try ffmpeg.run()
        ffmpeg.waitUntilExit()
        try #require(ffmpeg.terminationStatus == 0)
        let truncated = folder.path("truncated.mp4")
        try Data(try Data(contentsOf: URL(fileURLWithPath: faststart)).prefix(20_000)).write(to: URL(fileURLWithPath: truncated))
        let server = try ServedProcess(["--work-dir", work], in: folder)
        let r = try submit(server, path: truncated, name: "truncated.mp4", texts: ["the red square jumping"])
        let id = try #require(r.json["id"] as? String, "\(r)")
        let status = try waitForEnd(server, id)
        #expect(status["status"] as? String == "failed", "\(status)")
        let error = status["error"] as? String ?? ""
        #expect(error.contains("truncated.mp4") && !error.contains(work), "\(error)")
        #expect(status["outputs"] == nil)
        #expect(!FileManager.default.fileExists(atPath: work + "/" + id))
        expectError(try server.get("/v1/jobs/\(id)/masks.json"), 409, "the result of a failed job")
        #expect(try server.get("/metrics").text.contains("cmpc_jobs_finished_total{status=\"failed\"} 1"))
        // The next job runs as usual.
        let next = try submit(server, texts: ["the red square jumping"], fields: [("end", "3")])
        #expect(try waitForEnd(server, try #require(next.json["id"] as? String))["status"] as? String == "done")
        #expect(try server.get("/healthz").status == 200)
    }

    @Test func tokenIsRequiredUnderV1() throws {
        let folder = try TemporaryFolder()
        // Bound to every interface (so /metrics needs the token too); the test connects on loopback.
        let server = try ServedProcess(["--token", "s3cret", "--host", "0.0.0.0"], in: folder)
        for headers in [[], [("Authorization", "Bearer wrong")], [("Authorization", "Basic czNjcmV0")]] {
            let r = try server.get("/v1/info", headers: headers)
            expectError(r, 401, "token \(headers)")
            #expect(r.headers["www-authenticate"] == "Bearer")
        }
        expectError(try server.get("/v1/jobs/0123456789abcdef0123456789abcdef"), 401, "a job without the token")
        expectError(try server.get("/v1/info?access_token=nope"), 401, "a wrong query token")
        #expect(try server.get("/v1/info", headers: [("Authorization", "Bearer s3cret")]).json["token_required"] as? Bool == true)
        #expect(try server.get("/v1/info?access_token=s3cret").status == 200)
        #expect(try server.get("/healthz").status == 200)
        #expect(try server.get("/").status == 200)
        expectError(try server.get("/metrics"), 401, "metrics without the token off loopback")
        #expect(try server.get("/metrics", headers: [("Authorization", "Bearer s3cret")]).status == 200)
    }

    @Test func nonLoopbackHostWithoutTokenIsAUsageError() throws {
        let process = Process()
        process.executableURL = toolURL
        process.arguments = ["serve", "--host", "0.0.0.0", "--port", "0"]
        let err = Pipe()
        process.standardError = err
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let message = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 64)
        #expect(message.contains("--token"), "\(message)")
    }

    @Test func fullQueueAnswers429AndDeleteCancelsARunningJob() throws {
        let folder = try TemporaryFolder()
        let work = folder.path("work")
        let long = try longClip(in: folder)
        let server = try ServedProcess(["--queue", "1", "--workers", "1", "--work-dir", work], in: folder)
        // One job runs, one waits, the next is refused.
        let running = try submit(server, path: long, texts: ["the red square jumping"])
        let first = try #require(running.json["id"] as? String, "\(running)")
        try #require(try waitUntilRunning(server, first))
        let waiting = try submit(server, texts: ["the red square jumping"])
        #expect(waiting.status == 202, "\(waiting)")
        let second = try #require(waiting.json["id"] as? String)
        let r = try submit(server, texts: ["the red square jumping"])
        expectError(r, 429, "a full queue")
        #expect(Int(r.headers["retry-after"] ?? "") ?? 0 >= 1, "\(r)")
        #expect(try server.get("/metrics").text.contains("cmpc_jobs_refused_total 1"))
        // DELETE of the running job: it stops after its current frame, answers cancelled, and leaves no folder;
        // the waiting one is cancelled without running.
        let deleted = try server.request("DELETE", "/v1/jobs/\(first)")
        #expect(deleted.status == 200)
        #expect(deleted.json["status"] as? String == "cancelled", "\(deleted)")
        #expect((deleted.json["frames_done"] as? Int ?? 0) < 256, "\(deleted)")
        #expect(!FileManager.default.fileExists(atPath: work + "/" + first))
        let second_ = try server.request("DELETE", "/v1/jobs/\(second)")
        #expect(["cancelled", "done"].contains(second_.json["status"] as? String ?? ""), "\(second_)")
        #expect(!FileManager.default.fileExists(atPath: work + "/" + second))
        expectError(try server.get("/v1/jobs/\(first)"), 404, "a deleted job")
        #expect(try server.get("/healthz").status == 200)
    }

    @Test func resultsExpireAfterTheTTL() throws {
        let folder = try TemporaryFolder()
        let work = folder.path("work")
        let server = try ServedProcess(["--work-dir", work, "--ttl", "1"], in: folder)
        let r = try submit(server, texts: ["the red square jumping"], fields: [("end", "2")])
        let id = try #require(r.json["id"] as? String, "\(r)")
        #expect(try waitForEnd(server, id)["status"] as? String == "done")
        let deadline = Date().addingTimeInterval(20)
        while FileManager.default.fileExists(atPath: work + "/" + id) && Date() < deadline { usleep(100_000) }
        #expect(!FileManager.default.fileExists(atPath: work + "/" + id))
        expectError(try server.get("/v1/jobs/\(id)"), 404, "an expired job")
        #expect(try server.get("/metrics").text.contains("cmpc_jobs_expired_total 1"))
    }

    @Test func sigtermCancelsJobsAndRemovesTheWorkFolder() throws {
        let folder = try TemporaryFolder()
        let tmp = folder.path("tmp")
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        let server = try ServedProcess([], in: folder, environment: ["TMPDIR": tmp])
        let made = try FileManager.default.contentsOfDirectory(atPath: tmp)
        #expect(made.count == 1 && made[0].hasPrefix("cmpc-serve-"), "\(made)")
        let attributes = try FileManager.default.attributesOfItem(atPath: tmp + "/" + made[0])
        #expect((attributes[.posixPermissions] as? Int) == 0o700)
        let long = try longClip(in: folder)
        let running = try submit(server, path: long, texts: ["the red square jumping"])
        try #require(try waitUntilRunning(server, try #require(running.json["id"] as? String)))
        #expect(try submit(server, texts: ["the red square jumping"]).status == 202)
        // Stopped while a job runs and another waits: exit 0, the work folder gone.
        #expect(server.stop() == 0, "\(server.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: tmp).isEmpty)
    }

    @Test func expectContinueIsAnsweredUnlessTheBodyIsTooLarge() throws {
        let folder = try TemporaryFolder()
        let server = try ServedProcess(["--max-upload-mb", "1"], in: folder)
        let head = { (length: Int) in
            "POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                + "Content-Length: \(length)\r\nExpect: 100-continue\r\n\r\n"
        }
        // A body within the limit: the interim 100 comes before any byte of it is sent.
        #expect(try firstStatusLine(port: server.port, sending: head(1000)) == "HTTP/1.1 100 Continue")
        // One over the limit: no 100, the 413 at once, so the client never sends it.
        #expect(try firstStatusLine(port: server.port, sending: head(2 << 20)).hasPrefix("HTTP/1.1 413"))
        #expect(try server.get("/healthz").status == 200)
    }

    @Test func aSilentConnectionIsClosedAfterTheIdleTimeout() throws {
        let folder = try TemporaryFolder()
        let server = try ServedProcess(["--idle-timeout", "0.5"], in: folder)
        // Nothing, or half a request head: the server closes the connection (recv gives 0) instead of holding it.
        for text in ["", "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"] {
            let fd = try connectLoopback(port: server.port, timeout: 20)
            defer { close(fd) }
            if !text.isEmpty { _ = Array(text.utf8).withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } }
            let start = Date()
            var buffer = [UInt8](repeating: 0, count: 256)
            let n = recv(fd, &buffer, buffer.count, 0)
            #expect(n == 0, "the connection was not closed (\(n) bytes, errno \(errno)) after \(Date().timeIntervalSince(start)) s")
        }
        #expect(try server.get("/healthz").status == 200)
    }
}

/// Sends `text` (a request head, no body) on a new connection and returns the first status line the server
/// answers within 20 s ("" when none).
func firstStatusLine(port: Int, sending text: String) throws -> String {
    let fd = try connectLoopback(port: port, timeout: 20)
    defer { close(fd) }
    let bytes = Array(text.utf8)
    guard send(fd, bytes, bytes.count, Int32(MSG_NOSIGNAL)) == bytes.count else { throw ToolError("send failed") }
    var received: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while String(decoding: received, as: UTF8.self).range(of: "\r\n") == nil {
        let n = recv(fd, &buffer, buffer.count, 0)
        if n <= 0 { break }
        received += buffer[0..<n]
    }
    let answer = String(decoding: received, as: UTF8.self)
    return answer.components(separatedBy: "\r\n").first ?? ""
}
