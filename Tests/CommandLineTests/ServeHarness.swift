// The scaffolding of the `serve` tests: `cmpc-video serve --port 0` started as a child (ServedProcess, which reads
// the "serving on" line), a plain HTTP/1.1 client over a socket (so a test controls every byte it sends: bad
// headers, a truncated body, a huge Content-Length) and multipart bodies. The tool, the project folder and the
// temporary folders are Tool.swift's.
import Foundation
import Testing

let samplePath = projectRoot.appendingPathComponent("data/sample.mp4").path

/// `cmpc-video serve --port 0 …` running as a child; stopped with SIGTERM when released.
final class ServedProcess {
    let process = Process()
    let port: Int
    let url: String
    let stderrPath: String
    private let stdoutPath: String

    /// Starts the server with `arguments` (after `serve --port 0`) and waits for its "serving on" line.
    init(_ arguments: [String] = [], in folder: TemporaryFolder, environment extra: [String: String] = [:]) throws {
        guard FileManager.default.isExecutableFile(atPath: toolURL.path) else {
            throw ToolError("\(toolURL.path) is missing: build the tests (swift build --build-tests) first")
        }
        let id = UUID().uuidString
        stdoutPath = folder.path("serve-\(id).out")
        stderrPath = folder.path("serve-\(id).err")
        for path in [stdoutPath, stderrPath] where !FileManager.default.createFile(atPath: path, contents: nil) {
            throw ToolError("cannot create \(path)")
        }
        process.executableURL = toolURL
        process.arguments = ["serve", "--port", "0", "--threads", "1"] + arguments
        process.currentDirectoryURL = folder.url
        var environment = ProcessInfo.processInfo.environment
        environment["CMPC_VIDEO_DATA"] = projectRoot.appendingPathComponent("data").path
        environment.merge(extra) { $1 }
        process.environment = environment
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: stdoutPath))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: stderrPath))
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(120)
        var found: (Int, String)?
        let errPath = stderrPath
        func errors() -> String { (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "" }
        while found == nil {
            let text = (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? ""
            if let line = text.split(separator: "\n").first(where: { $0.hasPrefix("cmpc-video: serving on http://") }),
               let colon = line.lastIndex(of: ":"), let port = Int(line[line.index(after: colon)...]) {
                found = (port, String(line.dropFirst("cmpc-video: serving on ".count)))
                break
            }
            guard process.isRunning else {
                throw ToolError("serve exited with \(process.terminationStatus) before listening: \(errors())")
            }
            guard Date() < deadline else { throw ToolError("serve did not print its URL within 120 s: \(errors())") }
            usleep(20_000)
        }
        (port, url) = found!
    }

    var stdout: String { (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "" }
    var stderr: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }

    /// Sends SIGTERM and waits (up to 60 s) for the exit status.
    @discardableResult
    func stop() -> Int32 {
        if process.isRunning { kill(process.processIdentifier, SIGTERM) }
        let deadline = Date().addingTimeInterval(60)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
        return process.terminationStatus
    }

    deinit { stop() }

    /// A request to this server.
    func request(_ method: String, _ path: String, headers: [(String, String)] = [], body: Data = Data(),
                 contentLength: Int? = nil) throws -> HTTPResult {
        try HTTPResult.exchange(port: port, method: method, path: path, headers: headers, body: body, contentLength: contentLength)
    }

    func get(_ path: String, headers: [(String, String)] = []) throws -> HTTPResult {
        try request("GET", path, headers: headers)
    }
}

/// One HTTP response as received.
struct HTTPResult: CustomStringConvertible {
    var status: Int
    var headers: [String: String]   // lower-cased names
    var body: Data

    var text: String { String(decoding: body, as: UTF8.self) }
    var json: [String: Any] { ((try? JSONSerialization.jsonObject(with: body)) as? [String: Any]) ?? [:] }
    var description: String { "HTTP \(status) \(headers) \(text.prefix(600))" }

    /// Sends one request over a new connection (`Connection: close`) and reads the whole answer. `contentLength`
    /// overrides the header (a body shorter than it is sent as it is, then the write side is closed).
    static func exchange(port: Int, method: String, path: String, headers: [(String, String)], body: Data,
                     contentLength: Int? = nil, timeout: Double = 300) throws -> HTTPResult {
        let fd = try connectLoopback(port: port, timeout: timeout)
        defer { close(fd) }
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        if !headers.contains(where: { ["content-length", "transfer-encoding"].contains($0.0.lowercased()) }) && (method != "GET" || !body.isEmpty || contentLength != nil) {
            head += "Content-Length: \(contentLength ?? body.count)\r\n"
        }
        head += "\r\n"
        var out = Data(head.utf8)
        out.append(body)
        // A write may fail once the server has answered early (413) and closed: the answer is still read.
        var offset = 0
        while offset < out.count {
            let n = out.withUnsafeBytes { send(fd, $0.baseAddress! + offset, out.count - offset, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { break }
            offset += n
        }
        if contentLength != nil { shutdown(fd, Int32(SHUT_WR)) }
        var received = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            received.append(contentsOf: buffer[0..<n])
        }
        return try parse(received)
    }

    static func parse(_ data: Data) throws -> HTTPResult {
        guard let end = data.range(of: Data("\r\n\r\n".utf8)) else {
            throw ToolError("no complete HTTP head in \(data.count) bytes: \(String(decoding: data.prefix(200), as: UTF8.self))")
        }
        let lines = String(decoding: data[..<end.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
        let statusParts = lines[0].split(separator: " ")
        guard statusParts.count >= 2, let status = Int(statusParts[1]) else { throw ToolError("bad status line \(lines[0])") }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        var body = Data(data[end.upperBound...])
        if headers["transfer-encoding"]?.lowercased() == "chunked" {
            var decoded = Data()
            var rest = body[...]
            while let lineEnd = rest.range(of: Data("\r\n".utf8)) {
                let sizeText = String(decoding: rest[..<lineEnd.lowerBound], as: UTF8.self).split(separator: ";")[0]
                guard let size = Int(sizeText.trimmingCharacters(in: .whitespaces), radix: 16) else { break }
                if size == 0 { break }
                let start = lineEnd.upperBound
                guard rest.endIndex >= start + size else { decoded.append(rest[start...]); break }
                decoded.append(rest[start..<start + size])
                rest = rest[(start + size + 2)...]
            }
            body = decoded
        }
        return HTTPResult(status: status, headers: headers, body: body)
    }
}

/// A multipart/form-data body.
struct Multipart {
    let boundary = "cmpc-test-\(UUID().uuidString)"
    var body = Data()

    var contentType: String { "multipart/form-data; boundary=\(boundary)" }

    mutating func field(_ name: String, _ value: String) {
        body.append(Data("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"\r\n\r\n\(value)\r\n".utf8))
    }

    mutating func file(_ name: String, filename: String, _ data: Data, type: String = "application/octet-stream") {
        body.append(Data("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"; filename=\"\(filename)\"\r\nContent-Type: \(type)\r\n\r\n".utf8))
        body.append(data)
        body.append(Data("\r\n".utf8))
    }

    /// The body with its closing boundary.
    var finished: Data { body + Data("--\(boundary)--\r\n".utf8) }
}

/// data/sample.mp4 played `times` times in a row (32 × times frames), made by FFmpeg: a job long enough to be
/// caught running.
func longClip(in folder: TemporaryFolder, times: Int = 8) throws -> String {
    let path = folder.path("long.mp4")
    let arguments = ["-v", "error", "-y", "-stream_loop", String(times - 1), "-i", samplePath, "-c:v", "mpeg4", "-q:v", "3", path]
    let run = try runProcess("/usr/bin/ffmpeg", arguments, shownAs: ["ffmpeg"] + arguments, in: folder)
    guard run.status == 0 else { throw ToolError("ffmpeg could not make \(path): \(run.stderr)") }
    return path
}

/// Polls a job until it has segmented at least one frame (it is running); returns false if it ended first.
func waitUntilRunning(_ server: ServedProcess, _ id: String) throws -> Bool {
    let deadline = Date().addingTimeInterval(120)
    while Date() < deadline {
        let json = try server.get("/v1/jobs/\(id)").json
        if json["status"] as? String == "running", (json["frames_done"] as? Int ?? 0) >= 1 { return true }
        if json["status"] as? String != "queued" && json["status"] as? String != "running" { return false }
        usleep(20_000)
    }
    return false
}

/// A TCP connection to 127.0.0.1:`port` whose reads time out after `timeout` seconds (the caller closes it).
func connectLoopback(port: Int, timeout: Double) throws -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw ToolError("socket: \(String(cString: strerror(errno)))") }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else {
        let reason = String(cString: strerror(errno))
        close(fd)
        throw ToolError("connect to port \(port): \(reason)")
    }
    var tv = timeval(tv_sec: Int(timeout), tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    return fd
}
