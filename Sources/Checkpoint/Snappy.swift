// Snappy decompression (raw block format, as LevelDB tables use it for compression type 1).
//
// Format (google/snappy format_description.txt): varint32 uncompressed length, then elements,
// each starting with a tag byte whose low two bits give its kind:
//   00 literal   length-1 = tag >> 2 when < 60; 60…63: the next 1…4 bytes (LE) hold length-1;
//                then that many bytes, copied as they are
//   01 copy      length = 4 + ((tag >> 2) & 7), offset = (tag >> 5) << 8 | next byte   (11-bit)
//   10 copy      length = 1 + (tag >> 2), offset = next 2 bytes LE
//   11 copy      length = 1 + (tag >> 2), offset = next 4 bytes LE
// A copy repeats `length` bytes starting `offset` bytes back in the output (they may overlap
// the bytes being written). Every length and offset is checked against the input, the output
// produced so far and the declared length.

enum Snappy {
    /// Largest output per input byte a valid stream can reach (a 3-byte copy of 64 bytes).
    static let maximumExpansion = 22

    /// Decompresses a raw Snappy block; `file` and `what` name it in errors.
    static func decompress(_ input: ArraySlice<UInt8>, file: String, what: String) throws -> [UInt8] {
        func fail(_ p: String) -> CheckpointError { CheckpointError(file: file, problem: "\(what): Snappy data corrupt: \(p)") }
        let bytes = Array(input)
        var r = ByteReader(bytes, file: file)
        let length = try r.varintInt("\(what): Snappy length", maxBytes: 5)
        guard length <= bytes.count * maximumExpansion + 64 else {
            throw fail("declares \(length) bytes from \(bytes.count), more than Snappy can expand to")
        }
        var out = [UInt8](repeating: 0, count: length)
        var produced = 0
        try out.withUnsafeMutableBufferPointer { o in
            try bytes.withUnsafeBufferPointer { src in
                var i = r.position
                let n = src.count
                while i < n {
                    let tag = src[i]
                    i += 1
                    var len: Int
                    var offset: Int
                    switch tag & 3 {
                    case 0:
                        len = Int(tag >> 2)
                        if len >= 60 {
                            let extra = len - 59
                            guard i + extra <= n else { throw fail("truncated literal length") }
                            len = 0
                            for k in 0 ..< extra { len |= Int(src[i + k]) << (8 * k) }
                            i += extra
                        }
                        len += 1
                        guard len <= n - i else { throw fail("literal of \(len) bytes runs past the input") }
                        guard len <= length - produced else { throw fail("literal overflows the declared length") }
                        for k in 0 ..< len { o[produced + k] = src[i + k] }
                        i += len
                        produced += len
                        continue
                    case 1:
                        guard i < n else { throw fail("truncated copy") }
                        len = 4 + Int((tag >> 2) & 7)
                        offset = Int(tag >> 5) << 8 | Int(src[i])
                        i += 1
                    case 2:
                        guard i + 2 <= n else { throw fail("truncated copy") }
                        len = 1 + Int(tag >> 2)
                        offset = Int(src[i]) | Int(src[i + 1]) << 8
                        i += 2
                    default:
                        guard i + 4 <= n else { throw fail("truncated copy") }
                        len = 1 + Int(tag >> 2)
                        offset = Int(src[i]) | Int(src[i + 1]) << 8 | Int(src[i + 2]) << 16 | Int(src[i + 3]) << 24
                        i += 4
                    }
                    guard offset > 0, offset <= produced else { throw fail("copy offset \(offset) at output position \(produced)") }
                    guard len <= length - produced else { throw fail("copy overflows the declared length") }
                    for k in 0 ..< len { o[produced + k] = o[produced + k - offset] }
                    produced += len
                }
            }
        }
        guard produced == length else { throw fail("produced \(produced) bytes, \(length) declared") }
        return out
    }
}
