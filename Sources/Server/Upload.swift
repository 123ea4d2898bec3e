// Upload: a multipart/form-data body read as it arrives (MultipartStream): the one `file` part
// goes straight to disk, the other fields are kept (each a few KiB at most), and the byte count is checked as
// it grows, so a body over the limit is refused with 413 without holding it. Also: the boundary from
// Content-Type, a client file name reduced to a safe base name, and the file's extension from its content.
import Foundation
import Hummingbird

/// The fields and the file of one submission.
struct UploadedForm {
    /// Every non-file field, in order.
    var fields: [(name: String, value: String)] = []
    /// The client's name of the file (as sent; never used for a file), and its size on disk.
    var fileName: String?
    var fileBytes = 0
    /// How many `file` parts came.
    var fileParts = 0

    func values(_ name: String) -> [String] { fields.filter { $0.name == name }.map(\.value) }
}

enum Upload {
    /// Largest non-file field kept (a sentence is a few hundred bytes).
    static let maxFieldBytes = 64 << 10
    /// Most parts in one form.
    static let maxParts = 256

    /// The boundary of a multipart/form-data Content-Type; 415 for another type, 400 without a boundary.
    static func boundary(contentType: String?) throws -> String {
        guard let contentType else {
            throw APIError(.unsupportedMediaType, "no Content-Type: send the job as multipart/form-data (curl -F file=@clip.mp4 -F text=…)")
        }
        let parts = contentType.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
        guard parts.first?.lowercased() == "multipart/form-data" else {
            throw APIError(.unsupportedMediaType, "Content-Type \(parts.first ?? "") is not multipart/form-data: send the job as a form "
                + "(curl -F file=@clip.mp4 -F text=\"the man jumping\")")
        }
        for p in parts.dropFirst() {
            let kv = p.split(separator: "=", maxSplits: 1)
            if kv.count == 2, kv[0].trimmingCharacters(in: .whitespaces).lowercased() == "boundary" {
                var b = kv[1].trimmingCharacters(in: .whitespaces)
                if b.hasPrefix("\""), b.hasSuffix("\""), b.count >= 2 { b = String(b.dropFirst().dropLast()) }
                if !b.isEmpty, b.utf8.count <= 200 { return b }
            }
        }
        throw APIError(.badRequest, "the multipart/form-data Content-Type has no boundary=…: let the client build the form (curl -F)")
    }

    /// Reads `body` into `filePath` (the file part) and the fields. Throws 413 past `limit` bytes, 400 for a
    /// malformed body.
    static func receive(_ body: RequestBody, boundary: String, filePath: String, limit: Int,
                        counted: (Int) -> Void) async throws -> UploadedForm {
        var parser = MultipartStream(boundary: boundary)
        var form = UploadedForm()
        var name: String?
        var field = [UInt8]()
        var fieldTooLong = false, inFile = false
        var parts = 0
        // File bytes waiting to be written: written a MiB at a time.
        var pending = [UInt8]()
        pending.reserveCapacity(1 << 20)
        guard FileManager.default.createFile(atPath: filePath, contents: nil, attributes: [.posixPermissions: 0o600]),
              let handle = FileHandle(forWritingAtPath: filePath) else {
            throw APIError(.internalServerError, "the server cannot write its work folder: check --work-dir's space and permissions")
        }
        defer { try? handle.close() }
        func flush() throws {
            guard !pending.isEmpty else { return }
            do { try handle.write(contentsOf: pending) } catch {
                throw APIError(.init(code: 507), "the server could not store the upload (\(error)): try later or a smaller file")
            }
            pending.removeAll(keepingCapacity: true)
        }
        func part(_ headers: [String: String]) throws {
            parts += 1
            guard parts <= maxParts else {
                throw APIError(.badRequest, "the form has more than \(maxParts) parts: send one file and a few text fields")
            }
            let disposition = parseDisposition(headers["content-disposition"] ?? "")
            guard let partName = disposition.name else {
                throw APIError(.badRequest, "a form part has no Content-Disposition name: each part needs form-data; name=\"…\"")
            }
            name = partName
            field = []
            fieldTooLong = false
            inFile = partName == "file"
            if inFile {
                form.fileParts += 1
                if form.fileParts == 1 { form.fileName = disposition.filename }
            }
        }
        func bytes(_ piece: UnsafeRawBufferPointer) throws {
            if inFile {
                guard form.fileParts == 1 else { return }
                pending.append(contentsOf: piece)
                form.fileBytes += piece.count
                if pending.count >= 1 << 20 { try flush() }
            } else if field.count + piece.count > maxFieldBytes {
                fieldTooLong = true
            } else {
                field.append(contentsOf: piece)
            }
        }
        func partEnd() throws {
            defer { inFile = false; name = nil }
            if inFile { try flush(); return }
            guard let name else { return }
            if fieldTooLong {
                throw APIError(.badRequest, "the form field \(name) is longer than \(maxFieldBytes >> 10) KiB: send shorter text")
            }
            guard let value = String(bytes: field, encoding: .utf8) else {
                throw APIError(.badRequest, "the form field \(name) is not UTF-8 text: send it as UTF-8")
            }
            form.fields.append((name, value))
        }
        var total = 0
        do {
            for try await buffer in body {
                total += buffer.readableBytes
                counted(buffer.readableBytes)
                if total > limit {
                    throw APIError(.contentTooLarge, "the upload is larger than the server's limit of \(limit >> 20) MiB "
                        + "(--max-upload-mb): send a shorter or smaller clip", headers: [.connection: "close"])
                }
                do {
                    try buffer.withUnsafeReadableBytes { try parser.feed($0, part: part, body: bytes, partEnd: partEnd) }
                } catch let error as MultipartError {
                    throw APIError(.badRequest, "malformed multipart/form-data body (\(error)): let the client build the form (curl -F, FormData)")
                }
            }
        } catch let error as APIError {
            throw error
        } catch {
            throw APIError(.badRequest, "the upload was cut off (\(error)): send it again")
        }
        guard parser.isComplete else {
            throw APIError(.badRequest, "malformed multipart/form-data body (\(parts == 0 ? "no part" : "no closing boundary")): "
                + "let the client build the form (curl -F, FormData)")
        }
        return form
    }

    /// An error's message for the client, with the server's path of the file replaced by the client's name and
    /// any other path of the work folder cut to its last part (the client never sees the server's folders).
    static func describe(_ error: Error, path: String, as name: String) -> String {
        let folder = (path as NSString).deletingLastPathComponent
        return "\(error)".replacingOccurrences(of: path, with: name).replacingOccurrences(of: folder + "/", with: "")
    }

    /// `name` and `filename` of a Content-Disposition value (quoted or not).
    static func parseDisposition(_ value: String) -> (name: String?, filename: String?) {
        var name: String?, filename: String?
        var items: [String] = [], current = "", quoted = false, escaped = false
        for c in value {
            if escaped { current.append(c); escaped = false; continue }
            if c == "\\" && quoted { escaped = true; continue }
            if c == "\"" { quoted.toggle(); continue }
            if c == ";" && !quoted { items.append(current); current = ""; continue }
            current.append(c)
        }
        items.append(current)
        for item in items {
            let kv = item.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard kv.count == 2 else { continue }
            switch kv[0].lowercased() {
            case "name": name = kv[1]
            case "filename": filename = kv[1]
            default: break
            }
        }
        return (name, filename)
    }

    /// A client's file name reduced to a safe base name: the part after the last / or \, control characters
    /// dropped, no leading dots, at most 200 bytes; "upload" when nothing is left. Used only as a string.
    static func safeBaseName(_ name: String?) -> String {
        guard let name else { return "upload" }
        let last = name.split(whereSeparator: { $0 == "/" || $0 == "\\" }).last.map(String.init) ?? ""
        var cleaned = String(last.unicodeScalars.filter { !CharacterSet.controlCharacters.contains($0) }.map(Character.init))
        while cleaned.hasPrefix(".") { cleaned.removeFirst() }
        while cleaned.utf8.count > 200 { cleaned.removeLast() }
        cleaned = cleaned.trimmingCharacters(in: .whitespaces)
        return cleaned.isEmpty ? "upload" : cleaned
    }

    /// The extension the file's content suggests ("mp4", "mkv", "png", …), or "bin".
    static func sniffExtension(path: String) -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else { return "bin" }
        defer { try? handle.close() }
        let b = [UInt8]((try? handle.read(upToCount: 512)) ?? Data())
        func at(_ offset: Int, _ bytes: [UInt8]) -> Bool {
            b.count >= offset + bytes.count && Array(b[offset..<offset + bytes.count]) == bytes
        }
        if at(4, Array("ftyp".utf8)) { return at(8, Array("qt  ".utf8)) ? "mov" : "mp4" }
        if at(0, [0x1A, 0x45, 0xDF, 0xA3]) { return b.count > 40 && String(decoding: b.prefix(64), as: UTF8.self).contains("webm") ? "webm" : "mkv" }
        if at(0, Array("RIFF".utf8)) && at(8, Array("AVI ".utf8)) { return "avi" }
        if at(0, Array("RIFF".utf8)) && at(8, Array("WEBP".utf8)) { return "webp" }
        if at(0, [0x89, 0x50, 0x4E, 0x47]) { return "png" }
        if at(0, [0xFF, 0xD8, 0xFF]) { return "jpg" }
        if at(0, Array("GIF8".utf8)) { return "gif" }
        if at(0, Array("BM".utf8)) { return "bmp" }
        if at(0, [0x49, 0x49, 0x2A, 0x00]) || at(0, [0x4D, 0x4D, 0x00, 0x2A]) { return "tif" }
        if at(0, [0x00, 0x00, 0x01, 0xBA]) || at(0, [0x00, 0x00, 0x01, 0xB3]) { return "mpg" }
        if b.count > 188 && b[0] == 0x47 && b[188] == 0x47 { return "ts" }
        return "bin"
    }
}
