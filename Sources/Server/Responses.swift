// The server's answers: JSON bodies (sorted keys, so they read the same every time), the JSON error every
// client mistake gets ({"error": "…"} naming the value and the fix), and the page files embedded in the binary.
import Foundation
import Hummingbird

/// A client's (4xx) or the server's (5xx) mistake, answered as `{"error": message}` with `status`.
struct APIError: Error, HTTPResponseError {
    let status: HTTPResponse.Status
    let message: String
    var headers: HTTPFields = [:]

    init(_ status: HTTPResponse.Status, _ message: String, headers: HTTPFields = [:]) {
        self.status = status
        self.message = message
        self.headers = headers
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        response()
    }

    /// The JSON answer.
    func response() -> Response {
        JSONBody.response(status, ["error": message], headers: headers)
    }
}

/// JSON responses.
enum JSONBody {
    /// `value` as compact JSON with sorted keys.
    static func data(_ value: some Encodable) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Every value the server encodes is a plain struct or dictionary of strings and numbers.
        return (try? encoder.encode(value)) ?? Data(#"{"error": "internal: a response could not be encoded"}"#.utf8)
    }

    /// A response with `value` as its JSON body.
    static func response(_ status: HTTPResponse.Status, _ value: some Encodable, headers: HTTPFields = [:]) -> Response {
        var fields = headers
        fields[.contentType] = "application/json; charset=utf-8"
        fields[.cacheControl] = "no-store"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: data(value))))
    }
}

/// The page (Sources/Server/Page), embedded in the binary by SwiftPM's `embedInCode`.
enum PageFiles {
    /// The file served at `path` with its content type, or nil.
    static func file(_ path: String) -> (bytes: [UInt8], type: String)? {
        switch path {
        case "/", "/index.html": return (PackageResources.index_html, "text/html; charset=utf-8")
        case "/app.js": return (PackageResources.app_js, "text/javascript; charset=utf-8")
        case "/style.css": return (PackageResources.style_css, "text/css; charset=utf-8")
        default: return nil
        }
    }

    static func response(_ path: String) -> Response? {
        guard let (bytes, type) = file(path) else { return nil }
        return Response(status: .ok, headers: [.contentType: type, .cacheControl: "no-cache"],
                        body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}
