// A job end to end: submit data/sample.mp4, follow its events, fetch masks.json / overlay.mp4 (with a Range) /
// masks.zip, and compare masks.json with `segment`'s bytes for the same input, sentences and options — also with
// two workers running jobs at once. An image job, DELETE removing the job's folder, and keep-alive comments on a waiting job's events.
import Checkpoint
import Foundation
import Synchronization
import Testing

/// Submits `file` (read from `path`, sent under `name`) with `texts` and extra fields.
func submit(_ server: ServedProcess, path: String = samplePath, name: String = "sample.mp4", texts: [String],
            fields: [(String, String)] = [], headers: [(String, String)] = []) throws -> HTTPResult {
    var form = Multipart()
    form.file("file", filename: name, try Data(contentsOf: URL(fileURLWithPath: path)), type: "video/mp4")
    for t in texts { form.field("text", t) }
    for (k, v) in fields { form.field(k, v) }
    return try server.request("POST", "/v1/jobs", headers: [("Content-Type", form.contentType)] + headers, body: form.finished)
}

/// Polls a job until it is no longer queued or running (at most 5 minutes); returns its status JSON.
func waitForEnd(_ server: ServedProcess, _ id: String, headers: [(String, String)] = [],
                sourceLocation: SourceLocation = #_sourceLocation) throws -> [String: Any] {
    let deadline = Date().addingTimeInterval(300)
    while Date() < deadline {
        let r = try server.get("/v1/jobs/\(id)", headers: headers)
        try #require(r.status == 200, "\(r)", sourceLocation: sourceLocation)
        let status = r.json["status"] as? String
        if status != "queued" && status != "running" { return r.json }
        usleep(50_000)
    }
    throw ToolError("job \(id) did not end within 5 minutes")
}

/// Runs `cmpc-video segment` on a copy of data/sample.mp4 named sample.mp4 in `folder` and returns its masks.json.
func segmentMasksJSON(_ arguments: [String], in folder: TemporaryFolder) throws -> Data {
    let clip = folder.path("sample.mp4")
    if !FileManager.default.fileExists(atPath: clip) { try FileManager.default.copyItem(atPath: samplePath, toPath: clip) }
    let out = "segment-\(UUID().uuidString)"
    try runToolSucceeding(["segment", "sample.mp4"] + arguments + ["--out", out, "--quiet", "--threads", "1"], in: folder,
                          environment: ["CMPC_VIDEO_DATA": projectRoot.appendingPathComponent("data").path])
    return try Data(contentsOf: URL(fileURLWithPath: folder.path(out + "/masks.json")))
}

@Suite struct ServeJobTests {
    let sentences = ["the red square jumping", "the triangle going to the right"]

    @Test func videoJobMatchesSegmentByteForByte() throws {
        let folder = try TemporaryFolder()
        let work = folder.path("work")
        let server = try ServedProcess(["--work-dir", work], in: folder)
        let submitted = try submit(server, texts: sentences, fields: [("end", "12"), ("every", "2")])
        #expect(submitted.status == 202, "\(submitted)")
        let id = try #require(submitted.json["id"] as? String)
        #expect(id.count == 32 && id.allSatisfy { $0.isHexDigit && !$0.isUppercase })
        #expect(submitted.json["status"] as? String == "queued")
        #expect(submitted.headers["location"] == "/v1/jobs/\(id)")

        // The event stream ends after the terminal status, which is its last event.
        let events = try server.get("/v1/jobs/\(id)/events")
        #expect(events.status == 200)
        #expect(events.headers["content-type"]?.hasPrefix("text/event-stream") == true)
        let datas = events.text.components(separatedBy: "\n\n").filter { $0.hasPrefix("data: ") }
        let lastEvent = try #require(datas.last.flatMap {
            try JSONSerialization.jsonObject(with: Data($0.dropFirst(6).utf8)) as? [String: Any]
        }, "\(events.text)")
        #expect(lastEvent["status"] as? String == "done", "\(events.text)")

        let status = try waitForEnd(server, id)
        #expect(status["status"] as? String == "done", "\(status) \(server.stderr)")
        #expect(status["frames"] as? Int == 6)
        #expect(status["frames_done"] as? Int == 6)
        #expect(status["progress"] as? Double == 1)
        #expect(status["kind"] as? String == "video")
        #expect(status["sentences"] as? [String] == sentences)
        #expect((status["unknown_words"] as? [[String]])?.count == 2)
        #expect(status["error"] == nil)
        let outputs = try #require(status["outputs"] as? [String: String])
        #expect(outputs["overlay"] == "/v1/jobs/\(id)/overlay.mp4")

        let masks = try server.get("/v1/jobs/\(id)/masks.json")
        #expect(masks.status == 200)
        let expected = try segmentMasksJSON(sentences.flatMap { ["--text", $0] } + ["--end", "12", "--every", "2"], in: folder)
        #expect(masks.body == expected, "masks.json differs from segment's")

        let overlay = try server.get("/v1/jobs/\(id)/overlay.mp4")
        #expect(overlay.status == 200)
        #expect(overlay.headers["content-type"] == "video/mp4")
        #expect(overlay.body.count > 1000 && overlay.body[4..<8] == Data("ftyp".utf8))
        let part = try server.get("/v1/jobs/\(id)/overlay.mp4", headers: [("Range", "bytes=4-7")])
        #expect(part.status == 206, "\(part)")
        #expect(part.body == Data("ftyp".utf8))
        #expect(part.headers["content-range"] == "bytes 4-7/\(overlay.body.count)")
        let beyond = try server.get("/v1/jobs/\(id)/overlay.mp4", headers: [("Range", "bytes=\(overlay.body.count)-")])
        #expect(beyond.status == 416)

        let zip = try server.get("/v1/jobs/\(id)/masks.zip")
        #expect(zip.status == 200)
        let zipPath = folder.path("masks.zip")
        try zip.body.write(to: URL(fileURLWithPath: zipPath))
        let members = try ZipArchive.read(URL(fileURLWithPath: zipPath)).map(\.name)
        #expect(members.count == 12, "\(members)")
        #expect(members.contains("masks/0/00001.png") && members.contains("masks/1/00011.png"), "\(members)")
        #expect(try server.get("/v1/jobs/\(id)/overlay.png").status == 404)

        let metrics = try server.get("/metrics").text
        for line in ["cmpc_jobs_finished_total{status=\"done\"} 1", "cmpc_frames_segmented_total 6", "cmpc_queue_length 0",
                     "cmpc_uploaded_bytes_total "] {
            #expect(metrics.contains(line), "\(line) not in \(metrics)")
        }
        #expect(metrics.contains("cmpc_segment_seconds_total "))

        // DELETE: the final status, the folder gone, the id unknown.
        #expect(FileManager.default.fileExists(atPath: work + "/" + id))
        let deleted = try server.request("DELETE", "/v1/jobs/\(id)")
        #expect(deleted.status == 200)
        #expect(deleted.json["status"] as? String == "done")
        #expect(!FileManager.default.fileExists(atPath: work + "/" + id))
        #expect(try server.get("/v1/jobs/\(id)").status == 404)
        #expect(server.stop() == 0)
    }

    /// Two workers run two jobs at once; each masks.json equals segment's.
    @Test func concurrentJobsGiveSegmentsBytes() throws {
        let folder = try TemporaryFolder()
        let server = try ServedProcess(["--workers", "2"], in: folder)
        let a = try submit(server, texts: [sentences[0]], fields: [("end", "16")])
        let b = try submit(server, texts: [sentences[1]], fields: [("start", "5"), ("end", "20")])
        let ida = try #require(a.json["id"] as? String, "\(a)")
        let idb = try #require(b.json["id"] as? String, "\(b)")
        #expect(try waitForEnd(server, ida)["status"] as? String == "done")
        #expect(try waitForEnd(server, idb)["status"] as? String == "done")
        #expect(try server.get("/v1/jobs/\(ida)/masks.json").body
                == (try segmentMasksJSON([sentences[0], "--end", "16"], in: folder)))
        #expect(try server.get("/v1/jobs/\(idb)/masks.json").body
                == (try segmentMasksJSON([sentences[1], "--start", "5", "--end", "20"], in: folder)))
    }

    /// A still image: overlay.png, mask.png in masks.zip, masks.json as segment's.
    @Test func imageJob() throws {
        let folder = try TemporaryFolder()
        let png = folder.path("frame.png")
        let ffmpeg = Process()
        ffmpeg.executableURL = URL(fileURLWithPath: "/usr/bin/ffmpeg")
        ffmpeg.arguments = ["-v", "error", "-i", samplePath, "-frames:v", "1", png]
        try ffmpeg.run()
        ffmpeg.waitUntilExit()
        try #require(ffmpeg.terminationStatus == 0)
        let server = try ServedProcess([], in: folder)
        let r = try submit(server, path: png, name: "../../frame.png", texts: [sentences[0]])
        let id = try #require(r.json["id"] as? String, "\(r)")
        let status = try waitForEnd(server, id)
        #expect(status["status"] as? String == "done", "\(status)")
        #expect(status["kind"] as? String == "image")
        let overlay = try server.get("/v1/jobs/\(id)/overlay.png")
        #expect(overlay.status == 200)
        #expect(overlay.body.prefix(4) == Data([0x89, 0x50, 0x4E, 0x47]))
        let masks = try server.get("/v1/jobs/\(id)/masks.json")
        #expect((try JSONSerialization.jsonObject(with: masks.body) as? [String: Any])?["source"] as? String == "frame.png")
        let zipPath = folder.path("m.zip")
        try server.get("/v1/jobs/\(id)/masks.zip").body.write(to: URL(fileURLWithPath: zipPath))
        #expect(try ZipArchive.read(URL(fileURLWithPath: zipPath)).map(\.name) == ["mask.png"])
    }

    @Test func aQueuedJobsEventStreamSendsKeepAliveComments() throws {
        let folder = try TemporaryFolder()
        let long = try longClip(in: folder)
        let server = try ServedProcess(["--workers", "1"], in: folder, environment: ["CMPC_VIDEO_SSE_KEEPALIVE": "0.2"])
        let running = try #require(try submit(server, path: long, texts: ["the red square jumping"]).json["id"] as? String)
        try #require(try waitUntilRunning(server, running))
        let queued = try #require(try submit(server, texts: ["the red square jumping"]).json["id"] as? String)
        // The waiting job's stream: its first event, then only keep-alive comments until it is cancelled.
        let port = server.port
        let stream = Mutex<HTTPResult?>(nil)
        let reader = Thread {
            let r = try? HTTPResult.exchange(port: port, method: "GET", path: "/v1/jobs/\(queued)/events", headers: [], body: Data(),
                                             timeout: 60)
            stream.withLock { $0 = r }
        }
        reader.start()
        usleep(1_500_000)
        #expect(try server.request("DELETE", "/v1/jobs/\(queued)").status == 200)
        #expect(try server.request("DELETE", "/v1/jobs/\(running)").status == 200)
        let deadline = Date().addingTimeInterval(60)
        while stream.withLock({ $0 == nil }) && Date() < deadline { usleep(20_000) }
        let text = try #require(stream.withLock { $0 }).text
        let comments = text.components(separatedBy: "\n\n").filter { $0 == ": keep-alive" }
        #expect(comments.count >= 2, "\(text)")
        #expect(text.hasPrefix("data: "), "\(text)")
        #expect(text.contains("\"status\":\"cancelled\""), "\(text)")
    }
}
