// Zip archives as NumPy's .npz uses them: a bounds-checked reader and a small writer.
//
// Format (PKWARE APPNOTE 6.3), little-endian:
//   local header   "PK\3\4" ver:u16 flags:u16 method:u16 time:u16 date:u16 crc32:u32
//                  csize:u32 usize:u32 nameLen:u16 extraLen:u16 name extra, then the member's data
//   central entry  "PK\1\2" made:u16 ver:u16 flags:u16 method:u16 time:u16 date:u16 crc32:u32
//                  csize:u32 usize:u32 nameLen:u16 extraLen:u16 commentLen:u16 disk:u16
//                  intAttr:u16 extAttr:u32 localOffset:u32 name extra comment
//   end record     "PK\5\6" disk:u16 cdDisk:u16 entriesHere:u16 entries:u16 cdSize:u32
//                  cdOffset:u32 commentLen:u16 comment   (found by scanning back from the end)
//   ZIP64          a 0xFFFF/0xFFFFFFFF field is replaced by the "PK\6\6" end record (located by
//                  the "PK\6\7" locator just before "PK\5\6") and by extra field 0x0001, which
//                  holds, in order, those of usize, csize, localOffset that are 0xFFFFFFFF.
// NumPy writes members with `force_zip64=True`, so local headers carry a ZIP64 extra while the
// central directory usually does not. The reader trusts the central directory for sizes and
// uses the local header only to find where the data starts. Methods: 0 stored, 8 deflated
// (raw deflate through zlib). Every member's CRC-32 is checked.

import CZlib
import Foundation

/// One member of a zip archive, as listed by its central directory.
struct ZipMember {
    var name: String
    var method: UInt16
    var flags: UInt16
    var crc32: UInt32
    var compressedSize: Int
    var uncompressedSize: Int
    var localHeaderOffset: Int
}

/// Reads the members of a zip archive held by a `ByteSource`.
struct ZipReader {
    let source: ByteSource
    let members: [ZipMember]

    var file: String { source.name }

    init(_ source: ByteSource) throws {
        self.source = source
        let file = source.name
        func fail(_ p: String) -> CheckpointError { CheckpointError(file: file, problem: p) }

        // End of central directory record: the last "PK\5\6" within the final 22 + 65535 bytes.
        let size = source.count
        guard size >= 22 else { throw fail("not a zip archive (\(size) bytes, too short); is it really an .npz file?") }
        let tailLength = min(size, 22 + 65535)
        let tail = try source.read(at: size - tailLength, count: tailLength)
        var eocd = -1
        var i = tail.count - 22
        while i >= 0 {
            if tail[i] == 0x50 && tail[i + 1] == 0x4b && tail[i + 2] == 5 && tail[i + 3] == 6 { eocd = i; break }
            i -= 1
        }
        guard eocd >= 0 else { throw fail("no zip end-of-central-directory record; the file is not a zip/.npz archive or is truncated") }
        var r = ByteReader(tail, file: file, start: eocd + 4)
        let disk = try r.u16(), cdDisk = try r.u16()
        _ = try r.u16()
        var entryCount = Int(try r.u16())
        var cdSize = Int(try r.u32())
        var cdOffset = Int(try r.u32())
        guard disk == 0 || disk == 0xffff, cdDisk == 0 || cdDisk == 0xffff else {
            throw fail("multi-disk (spanned) zip archives are not supported")
        }
        let eocdAbsolute = size - tailLength + eocd
        if entryCount == 0xffff || cdSize == 0xffff_ffff || cdOffset == 0xffff_ffff {
            // ZIP64: the locator sits in the 20 bytes before the end record.
            guard eocdAbsolute >= 20 else { throw fail("ZIP64 end-of-central-directory locator missing") }
            var loc = ByteReader(try source.read(at: eocdAbsolute - 20, count: 20), file: file)
            guard try loc.u32() == 0x0706_4b50 else { throw fail("ZIP64 end-of-central-directory locator missing or corrupt") }
            _ = try loc.u32()
            let recordOffset = try loc.u64()
            guard recordOffset <= UInt64(size), Int(recordOffset) + 56 <= size else {
                throw fail("ZIP64 end-of-central-directory record offset \(recordOffset) is past the end of the file")
            }
            var z = ByteReader(try source.read(at: Int(recordOffset), count: 56), file: file)
            guard try z.u32() == 0x0606_4b50 else { throw fail("ZIP64 end-of-central-directory record missing or corrupt") }
            try z.skip(8 + 2 + 2 + 4 + 4 + 8, "ZIP64 record")
            let total = try z.u64(), size64 = try z.u64(), offset64 = try z.u64()
            guard total <= UInt64(size), size64 <= UInt64(size), offset64 <= UInt64(size) else {
                throw fail("ZIP64 end-of-central-directory record holds impossible values")
            }
            entryCount = Int(total); cdSize = Int(size64); cdOffset = Int(offset64)
        }
        try checkRange(cdOffset, cdSize, within: size, file: file, what: "zip central directory")
        guard entryCount <= cdSize / 46 else {
            throw fail("zip central directory claims \(entryCount) members in \(cdSize) bytes; the archive is corrupt")
        }
        let cd = try source.read(at: cdOffset, count: cdSize)
        var c = ByteReader(cd, file: file)
        var members: [ZipMember] = []
        members.reserveCapacity(entryCount)
        for index in 0 ..< entryCount {
            guard try c.u32("central directory entry") == 0x0201_4b50 else {
                throw fail("zip central directory entry \(index) has a bad signature; the archive is corrupt")
            }
            try c.skip(4, "central directory entry")
            let flags = try c.u16(), method = try c.u16()
            try c.skip(4, "central directory entry")
            let crc = try c.u32()
            var csize = UInt64(try c.u32()), usize = UInt64(try c.u32())
            let nameLength = Int(try c.u16()), extraLength = Int(try c.u16()), commentLength = Int(try c.u16())
            try c.skip(2 + 2 + 4, "central directory entry")
            var offset = UInt64(try c.u32())
            let nameBytes = try c.take(nameLength, "member name")
            var extra = ByteReader(Array(try c.take(extraLength, "extra field")), file: file)
            try c.skip(commentLength, "member comment")
            while extra.remaining >= 4 {
                let id = try extra.u16(), length = Int(try extra.u16())
                guard length <= extra.remaining else { break }
                if id == 1 {
                    var z = ByteReader(Array(try extra.take(length, "ZIP64 extra")), file: file)
                    if usize == 0xffff_ffff { usize = try z.u64("ZIP64 uncompressed size") }
                    if csize == 0xffff_ffff { csize = try z.u64("ZIP64 compressed size") }
                    if offset == 0xffff_ffff { offset = try z.u64("ZIP64 local header offset") }
                } else {
                    try extra.skip(length, "extra field")
                }
            }
            guard let name = String(bytes: nameBytes, encoding: .utf8) else {
                throw fail("zip member \(index) has a name that is not UTF-8")
            }
            guard csize <= UInt64(size), offset <= UInt64(size), usize <= UInt64(Int.max / 2) else {
                throw fail("zip member '\(name)' has impossible sizes or offset; the archive is corrupt")
            }
            members.append(ZipMember(
                name: name, method: method, flags: flags, crc32: crc, compressedSize: Int(csize),
                uncompressedSize: Int(usize), localHeaderOffset: Int(offset)))
        }
        self.members = members
    }

    /// Deflated members that expand more than this ratio…
    static let maxExpansionRatio = 200
    /// …and to more than this many bytes are refused: a zip bomb, not a checkpoint.
    static let maxExpandedBytes = 256 << 20

    /// Where `member`'s stored bytes start in the archive (after its local header).
    func dataStart(of member: ZipMember) throws -> Int {
        let file = source.name
        func fail(_ p: String) -> CheckpointError { CheckpointError(file: file, problem: "member '\(member.name)': \(p)") }
        guard member.flags & 1 == 0 else { throw fail("encrypted zip members are not supported") }
        var local = ByteReader(try source.read(at: member.localHeaderOffset, count: min(30, max(0, source.count - member.localHeaderOffset))), file: file)
        guard try local.u32("local header") == 0x0403_4b50 else { throw fail("bad local header signature; the archive is corrupt") }
        try local.skip(22, "local header")
        let nameLength = Int(try local.u16("local header")), extraLength = Int(try local.u16("local header"))
        let start = member.localHeaderOffset + 30 + nameLength + extraLength
        try checkRange(start, member.compressedSize, within: source.count, file: file, what: "member '\(member.name)' data")
        return start
    }

    /// The uncompressed, CRC-checked bytes of `member`.
    func data(of member: ZipMember) throws -> [UInt8] {
        let file = source.name
        func fail(_ p: String) -> CheckpointError { CheckpointError(file: file, problem: "member '\(member.name)': \(p)") }
        let start = try dataStart(of: member)
        let stored = try source.read(at: start, count: member.compressedSize)
        let bytes: [UInt8]
        switch member.method {
        case 0:
            guard member.compressedSize == member.uncompressedSize else {
                throw fail("stored member with compressed size \(member.compressedSize) ≠ size \(member.uncompressedSize)")
            }
            bytes = stored
        case 8:
            // Deflate cannot expand more than ~1032:1; a larger claim is a corrupt header, not a reason to allocate.
            guard member.uncompressedSize <= member.compressedSize * 1032 + 1024 else {
                throw fail("declared size \(member.uncompressedSize) is impossible for \(member.compressedSize) deflated bytes")
            }
            guard member.uncompressedSize <= Self.maxExpandedBytes
                    || member.uncompressedSize <= member.compressedSize * Self.maxExpansionRatio else {
                throw fail("\(member.compressedSize) deflated bytes would expand to \(member.uncompressedSize) "
                    + "(\(member.uncompressedSize / max(1, member.compressedSize)):1, over the \(Self.maxExpansionRatio):1 "
                    + "allowed above \(Self.maxExpandedBytes >> 20) MiB); refusing a likely zip bomb. "
                    + "If the archive is genuine, re-save it uncompressed (numpy.savez) or as .safetensors")
            }
            bytes = try inflateRaw(stored, expectedSize: member.uncompressedSize, file: file, what: "member '\(member.name)'")
        default:
            throw fail("compression method \(member.method) is not supported (only stored and deflated); re-save with numpy")
        }
        let crc = zlibCRC32(bytes)
        guard crc == member.crc32 else {
            throw fail(String(format: "CRC-32 mismatch (stored %08x, computed %08x); the archive is corrupt", member.crc32, crc))
        }
        return bytes
    }

    /// The first `count` uncompressed bytes of `member` (fewer if it is shorter), inflating only
    /// what they need: enough to read a .npy header without expanding the data. Not CRC-checked.
    func prefix(of member: ZipMember, count: Int) throws -> [UInt8] {
        let file = source.name
        func fail(_ p: String) -> CheckpointError { CheckpointError(file: file, problem: "member '\(member.name)': \(p)") }
        let start = try dataStart(of: member)
        let want = min(count, member.uncompressedSize)
        switch member.method {
        case 0:
            return try source.read(at: start, count: min(want, member.compressedSize))
        case 8:
            // Deflate's worst case (stored blocks) adds 5 bytes per 64 KiB; a dynamic block header is under 300.
            let input = try source.read(at: start, count: min(member.compressedSize, want + want / 1024 + 4096))
            return try inflatePrefix(input, count: want, file: file, what: "member '\(member.name)'")
        default:
            throw fail("compression method \(member.method) is not supported (only stored and deflated); re-save with numpy")
        }
    }
}

/// Inflates raw deflate data until `count` bytes come out (or the stream or input ends).
func inflatePrefix(_ input: [UInt8], count: Int, file: String, what: String) throws -> [UInt8] {
    var stream = z_stream()
    guard swift_inflateInit2(&stream, -15) == Z_OK else { throw CheckpointError(file: file, problem: "\(what): zlib inflateInit failed") }
    defer { inflateEnd(&stream) }
    var output = [UInt8](repeating: 0, count: max(1, count))
    let padded = input + [0]
    let (rc, produced): (Int32, Int) = padded.withUnsafeBufferPointer { inp in
        output.withUnsafeMutableBufferPointer { out in
            stream.next_in = UnsafeMutablePointer(mutating: inp.baseAddress!)
            stream.avail_in = uInt(input.count)
            stream.next_out = out.baseAddress!
            stream.avail_out = uInt(count)
            let rc = count == 0 ? Z_OK : inflate(&stream, Z_SYNC_FLUSH)
            return (rc, count - Int(stream.avail_out))
        }
    }
    guard rc == Z_OK || rc == Z_STREAM_END || rc == Z_BUF_ERROR else {
        throw CheckpointError(file: file, problem: "\(what): deflate data corrupt (zlib error \(rc))")
    }
    return Array(output[0 ..< produced])
}

/// CRC-32 (zip/gzip polynomial) through zlib.
func zlibCRC32(_ bytes: [UInt8]) -> UInt32 {
    bytes.withUnsafeBufferPointer { p -> UInt32 in
        var crc: uLong = crc32(0, nil, 0)
        var offset = 0
        while offset < p.count {
            let n = min(p.count - offset, 1 << 30)
            crc = crc32(crc, p.baseAddress! + offset, uInt(n))
            offset += n
        }
        return UInt32(truncatingIfNeeded: crc)
    }
}

/// Inflates raw deflate data that must expand to exactly `expectedSize` bytes.
func inflateRaw(_ input: [UInt8], expectedSize: Int, file: String, what: String) throws -> [UInt8] {
    func fail(_ p: String) -> CheckpointError { CheckpointError(file: file, problem: "\(what): \(p)") }
    var stream = z_stream()
    guard swift_inflateInit2(&stream, -15) == Z_OK else { throw fail("zlib inflateInit failed") }
    defer { inflateEnd(&stream) }
    // One spare output byte detects data that inflates to more than declared; one spare input
    // byte keeps the pointer valid when the input is empty (it is never offered to zlib).
    var output = [UInt8](repeating: 0, count: expectedSize + 1)
    let inputCount = input.count
    let padded = input + [0]
    let status: Int32 = padded.withUnsafeBufferPointer { inp in
        output.withUnsafeMutableBufferPointer { out in
            var consumed = 0, produced = 0
            var rc = Z_OK
            while true {
                let inChunk = min(inputCount - consumed, Int(UInt32.max))
                let outChunk = min(out.count - produced, Int(UInt32.max))
                stream.next_in = UnsafeMutablePointer(mutating: inp.baseAddress! + consumed)
                stream.avail_in = uInt(inChunk)
                stream.next_out = out.baseAddress! + produced
                stream.avail_out = uInt(outChunk)
                rc = inflate(&stream, Z_NO_FLUSH)
                let usedIn = inChunk - Int(stream.avail_in), madeOut = outChunk - Int(stream.avail_out)
                consumed += usedIn
                produced += madeOut
                if rc != Z_OK || produced >= out.count { break }
                if usedIn == 0 && madeOut == 0 { rc = Z_BUF_ERROR; break }
            }
            if rc == Z_STREAM_END && produced != expectedSize { return Z_DATA_ERROR }
            return rc
        }
    }
    guard status == Z_STREAM_END else {
        let why = status == Z_BUF_ERROR ? "deflate stream ends early (truncated)"
            : status == Z_DATA_ERROR || status == Z_OK ? "deflate data corrupt or not of the declared size \(expectedSize)"
            : "zlib error \(status)"
        throw fail(why)
    }
    output.removeLast()
    return output
}

/// Raw deflate (zlib level 6) of `input`.
func deflateRaw(_ input: [UInt8], file: String) throws -> [UInt8] {
    var stream = z_stream()
    guard swift_deflateInit2(&stream, 6, -15) == Z_OK else {
        throw CheckpointError(file: file, problem: "zlib deflateInit failed")
    }
    defer { deflateEnd(&stream) }
    let inputCount = input.count
    let padded = input + [0]
    var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, uLong(inputCount))) + 64)
    let (rc, produced): (Int32, Int) = padded.withUnsafeBufferPointer { inp in
        output.withUnsafeMutableBufferPointer { out in
            var consumed = 0, produced = 0
            var rc = Z_OK
            while rc == Z_OK {
                let inChunk = min(inputCount - consumed, Int(UInt32.max))
                let outChunk = min(out.count - produced, Int(UInt32.max))
                stream.next_in = UnsafeMutablePointer(mutating: inp.baseAddress! + consumed)
                stream.avail_in = uInt(inChunk)
                stream.next_out = out.baseAddress! + produced
                stream.avail_out = uInt(outChunk)
                let last = consumed + inChunk == inputCount
                rc = deflate(&stream, last ? Z_FINISH : Z_NO_FLUSH)
                consumed += inChunk - Int(stream.avail_in)
                produced += outChunk - Int(stream.avail_out)
                if rc == Z_BUF_ERROR || produced >= out.count { break }
            }
            return (rc, produced)
        }
    }
    guard rc == Z_STREAM_END else {
        throw CheckpointError(file: file, problem: "zlib deflate failed (\(rc))")
    }
    return Array(output[0 ..< produced])
}

/// Builds a zip archive in memory: members stored or deflated, ZIP64 records when over 4 GB.
struct ZipWriter {
    let file: String
    private(set) var bytes: [UInt8] = []
    private var central: [UInt8] = []
    private var count = 0
    /// Writes ZIP64 records even when nothing needs them (to test readers).
    let forceZip64: Bool

    init(file: String, forceZip64: Bool = false) {
        self.file = file
        self.forceZip64 = forceZip64
    }

    /// Appends a member named `name` holding `data`.
    mutating func add(name: String, data: [UInt8], compressed: Bool) throws {
        let nameBytes = Array(name.utf8)
        guard nameBytes.count < 0xffff else { throw CheckpointError(file: file, problem: "member name too long: \(name)") }
        let crc = zlibCRC32(data)
        let payload = compressed ? try deflateRaw(data, file: file) : data
        let offset = bytes.count
        let big = forceZip64 || payload.count >= 0xffff_ffff || data.count >= 0xffff_ffff || offset >= 0xffff_ffff
        let method: UInt16 = compressed ? 8 : 0
        let version: UInt16 = big ? 45 : 20

        // Local header; with ZIP64 both sizes live in the extra field.
        var zip64Local: [UInt8] = []
        if big {
            zip64Local.appendLE16(1); zip64Local.appendLE16(16)
            zip64Local.appendLE64(UInt64(data.count)); zip64Local.appendLE64(UInt64(payload.count))
        }
        bytes.appendLE32(0x0403_4b50)
        bytes.appendLE16(version); bytes.appendLE16(0x0800); bytes.appendLE16(method)
        bytes.appendLE16(0); bytes.appendLE16(0x21) // 1980-01-01 00:00
        bytes.appendLE32(crc)
        bytes.appendLE32(big ? 0xffff_ffff : UInt32(payload.count))
        bytes.appendLE32(big ? 0xffff_ffff : UInt32(data.count))
        bytes.appendLE16(UInt16(nameBytes.count)); bytes.appendLE16(UInt16(zip64Local.count))
        bytes += nameBytes
        bytes += zip64Local
        bytes += payload

        var zip64Central: [UInt8] = []
        if big {
            zip64Central.appendLE16(1); zip64Central.appendLE16(24)
            zip64Central.appendLE64(UInt64(data.count)); zip64Central.appendLE64(UInt64(payload.count))
            zip64Central.appendLE64(UInt64(offset))
        }
        central.appendLE32(0x0201_4b50)
        central.appendLE16(version); central.appendLE16(version); central.appendLE16(0x0800); central.appendLE16(method)
        central.appendLE16(0); central.appendLE16(0x21)
        central.appendLE32(crc)
        central.appendLE32(big ? 0xffff_ffff : UInt32(payload.count))
        central.appendLE32(big ? 0xffff_ffff : UInt32(data.count))
        central.appendLE16(UInt16(nameBytes.count)); central.appendLE16(UInt16(zip64Central.count)); central.appendLE16(0)
        central.appendLE16(0); central.appendLE16(0); central.appendLE32(0o100644 << 16)
        central.appendLE32(big ? 0xffff_ffff : UInt32(offset))
        central += nameBytes
        central += zip64Central
        count += 1
    }

    /// The finished archive: members, central directory, end records.
    mutating func finish() -> [UInt8] {
        let cdOffset = bytes.count
        bytes += central
        let cdSize = central.count
        let big = forceZip64 || cdOffset >= 0xffff_ffff || cdSize >= 0xffff_ffff || count >= 0xffff
        if big {
            let recordOffset = bytes.count
            bytes.appendLE32(0x0606_4b50); bytes.appendLE64(44)
            bytes.appendLE16(45); bytes.appendLE16(45); bytes.appendLE32(0); bytes.appendLE32(0)
            bytes.appendLE64(UInt64(count)); bytes.appendLE64(UInt64(count))
            bytes.appendLE64(UInt64(cdSize)); bytes.appendLE64(UInt64(cdOffset))
            bytes.appendLE32(0x0706_4b50); bytes.appendLE32(0); bytes.appendLE64(UInt64(recordOffset)); bytes.appendLE32(1)
        }
        bytes.appendLE32(0x0605_4b50)
        bytes.appendLE16(0); bytes.appendLE16(0)
        bytes.appendLE16(big ? 0xffff : UInt16(count)); bytes.appendLE16(big ? 0xffff : UInt16(count))
        bytes.appendLE32(big ? 0xffff_ffff : UInt32(cdSize))
        bytes.appendLE32(big ? 0xffff_ffff : UInt32(cdOffset))
        bytes.appendLE16(0)
        return bytes
    }
}
