// SHA-256 of files and bytes through FFmpeg's libavutil (av_sha): what identifies a checkpoint or a vocabulary in
// an evaluation log's provenance record. Files are streamed in 1 MiB blocks, never read whole.
import CFFmpeg
import Foundation

/// SHA-256 digests as lower-case hex strings.
public enum ContentHash {
    /// The SHA-256 of `files`' bytes read one after the other (one file, or a TensorFlow bundle's index and
    /// data shards); errors name the file.
    ///
    ///     try ContentHash.sha256(files: ["model.safetensors"])   // "9f86d0…"
    public static func sha256(files: [String]) throws -> String {
        let hasher = try SHA256()
        var block = [UInt8](repeating: 0, count: 1 << 20)
        for path in files {
            guard let file = fopen(path, "rb") else {
                throw VideoError(errno == ENOENT ? .missingFile : .damaged, path: path, "cannot read: \(String(cString: strerror(errno)))")
            }
            defer { fclose(file) }
            while true {
                let n = block.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, file) }
                if n > 0 { block.withUnsafeBufferPointer { hasher.update($0.baseAddress!, n) } }
                if n < block.count {
                    if ferror(file) != 0 {
                        throw VideoError(.damaged, path: path, "read error: \(String(cString: strerror(errno)))")
                    }
                    break
                }
            }
        }
        return hasher.finish()
    }

    /// The SHA-256 of `bytes`.
    public static func sha256(_ bytes: [UInt8]) throws -> String {
        let hasher = try SHA256()
        bytes.withUnsafeBufferPointer { if let base = $0.baseAddress { hasher.update(base, $0.count) } }
        return hasher.finish()
    }

    /// One av_sha context (SHA-256), freed on deinit.
    private final class SHA256 {
        let context: OpaquePointer

        init() throws {
            guard let c = av_sha_alloc(), av_sha_init(c, 256) == 0 else {
                throw VideoError(.invalidArgument, path: "", "av_sha_alloc/av_sha_init(256) failed (out of memory?)")
            }
            context = c
        }

        func update(_ bytes: UnsafePointer<UInt8>, _ count: Int) { av_sha_update(context, bytes, count) }

        func finish() -> String {
            var digest = [UInt8](repeating: 0, count: 32)
            av_sha_final(context, &digest)
            return digest.map { String(format: "%02x", $0) }.joined()
        }

        deinit { av_free(UnsafeMutableRawPointer(context)) }
    }
}
