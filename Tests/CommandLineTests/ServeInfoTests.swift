// The server starts, prints its URL, and answers /healthz, /v1/info and the page files.
import Foundation
import Testing

@Suite struct ServeInfoTests {
    @Test func servesHealthInfoAndPage() throws {
        let folder = try TemporaryFolder()
        let server = try ServedProcess(["--max-frames", "40", "--queue", "3"], in: folder)
        #expect(server.stdout == "cmpc-video: serving on http://127.0.0.1:\(server.port)\n")
        let health = try server.get("/healthz")
        #expect(health.status == 200)
        #expect(health.json["status"] as? String == "ok")
        let info = try server.get("/v1/info")
        #expect(info.status == 200, "\(info)")
        #expect(info.headers["content-type"]?.hasPrefix("application/json") == true)
        let json = info.json
        #expect(json["model"] as? String == "default/model.safetensors" || json["model"] as? String == "model.safetensors")
        #expect(json["max_frames"] as? Int == 40)
        #expect(json["queue"] as? Int == 3)
        #expect(json["workers"] as? Int == 1)
        #expect(json["token_required"] as? Bool == false)
        #expect(json["max_upload_mb"] as? Int == 512)
        #expect(["fp32", "bf16"].contains(json["precision"] as? String ?? ""))
        for (path, type, file) in [("/", "text/html; charset=utf-8", "index.html"),
                                   ("/app.js", "text/javascript", "app.js"), ("/style.css", "text/css", "style.css")] {
            let page = try server.get(path)
            #expect(page.status == 200, "\(path): \(page)")
            #expect(page.headers["content-type"]?.hasPrefix(type) == true, "\(path): \(page.headers)")
            let onDisk = try Data(contentsOf: projectRoot.appendingPathComponent("Sources/Server/Page/\(file)"))
            #expect(page.body == onDisk, "\(path) is not Sources/Server/Page/\(file)")
        }
        let missing = try server.get("/v1/nothing")
        #expect(missing.status == 404)
        #expect(missing.json["error"] is String)
        #expect(server.stop() == 0)
    }
}
