import Foundation
import Testing
@testable import Checkpoint
import Tensor

/// Paths of the fixtures made by Tools/reference/make_checkpoint_fixtures.py.
enum CheckpointFixtures {
    static var folder: URL {
        Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.appendingPathComponent("checkpoints")
    }

    static func url(_ relative: String) -> URL { folder.appendingPathComponent(relative) }

    /// (name, dtype, shape) lines of expected.txt, in creation order.
    static func expected() throws -> [(name: String, dtype: DType, shape: [Int])] {
        let text = try String(contentsOf: url("expected.txt"), encoding: .utf8)
        return try text.split(separator: "\n").filter { !$0.hasPrefix("#") }.map { line in
            let parts = line.split(separator: " ")
            let dtype = try #require(DType(rawValue: String(parts[1])))
            let shape = parts.count > 2 ? parts[2].split(separator: ",").map { Int($0)! } : []
            return (String(parts[0]), dtype, shape)
        }
    }

    /// A fresh empty temporary folder.
    static func temporaryFolder() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cmpc-ckpt-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    /// One small array of every dtype, with awkward values (negative, extremes, NaN bits).
    static func arraysOfEveryDType() throws -> [(name: String, array: TypedArray)] {
        var rng = SplitMix64(seed: 7)
        return try DType.allCases.map { dtype in
            let shape = [2, 3]
            var bytes = (0 ..< 6 * dtype.size).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            if dtype == .bool { bytes = bytes.map { $0 & 1 } }
            return ("arrays/\(dtype.rawValue)", try TypedArray(dtype: dtype, shape: shape, bytes: bytes))
        }
    }
}

@Suite struct CheckpointNumPyTests {
    @Test func readsEveryDTypeNumpyWrote() throws {
        // base = arange(-6, 6).reshape(3, 4); uint: abs(base); float: base / 4.
        let base = (-6 ..< 6).map { $0 }
        for (file, dtype) in [("float16", DType.float16), ("float32", .float32), ("float64", .float64), ("int8", .int8),
                              ("int16", .int16), ("int32", .int32), ("int64", .int64), ("uint8", .uint8), ("uint16", .uint16),
                              ("uint32", .uint32), ("uint64", .uint64), ("bool", .bool)] {
            let a = try NumPy.readNPY(CheckpointFixtures.url("npy/\(file).npy"))
            #expect(a.dtype == dtype, "\(file)")
            #expect(a.shape == [3, 4], "\(file)")
            let expected: [Float] = base.map { v in
                if dtype.isFloatingPoint { return Float(v) / 4 }
                if dtype == .bool { return v == 0 ? 0 : 1 }
                if file.hasPrefix("uint") { return Float(abs(v)) }
                return Float(v)
            }
            #expect(try a.floats() == expected, "\(file)")
        }
        #expect(try NumPy.readNPY(CheckpointFixtures.url("npy/int64.npy")).int64s() == base.map(Int64.init))
        #expect(try NumPy.readNPY(CheckpointFixtures.url("npy/int32.npy")).int32s() == base.map(Int32.init))
    }

    @Test func readsHeaderVariantsAndOrders() throws {
        let scalar = try NumPy.readNPY(CheckpointFixtures.url("npy/scalar.npy"))
        #expect(scalar.shape == [] && scalar.dtype == .float32)
        #expect(try scalar.tensor().scalar == 2.5)
        // np.asfortranarray(arange(24).reshape(2, 3, 4)) comes back in C order.
        let fortran = try NumPy.readNPY(CheckpointFixtures.url("npy/fortran.npy"))
        #expect(fortran.shape == [2, 3, 4])
        #expect(try fortran.floats() == (0 ..< 24).map(Float.init))
        let big = try NumPy.readNPY(CheckpointFixtures.url("npy/bigendian.npy"))
        #expect(big.dtype == .float32 && big.shape == [2, 3])
        #expect(try big.floats() == [0, 1, 2, 3, 4, 5])
        for v in ["v2", "v3"] {
            let a = try NumPy.readNPY(CheckpointFixtures.url("npy/\(v).npy"))
            #expect(a.shape == [3, 2] && a.dtype == .int32)
            #expect(try a.int32s() == [0, 1, 2, 3, 4, 5])
        }
    }

    @Test(arguments: ["values.npz", "values_compressed.npz"])
    func readsNPZInFileOrder(file: String) throws {
        let arrays = try NumPy.readNPZ(CheckpointFixtures.url(file))
        let expected = try CheckpointFixtures.expected()
        #expect(arrays.map(\.name) == expected.map(\.name))
        for (a, e) in zip(arrays, expected) {
            #expect(a.array.dtype == e.dtype, "\(e.name)")
            #expect(a.array.shape == e.shape, "\(e.name)")
        }
        let step = try #require(arrays.first { $0.name == "global_step" })
        #expect(try step.array.int64s() == [700])
        let big = try #require(arrays.first { $0.name == "counts/int64_matrix" })
        #expect(try big.array.int64s() == [1, -2, 3, 1 << 40, -(1 << 62), 7])
    }

    @Test func storedAndCompressedNPZHoldTheSameBytes() throws {
        let a = try NumPy.readNPZ(CheckpointFixtures.url("values.npz"))
        let b = try NumPy.readNPZ(CheckpointFixtures.url("values_compressed.npz"))
        #expect(a.count == b.count)
        for (x, y) in zip(a, b) { #expect(x.name == y.name && x.array == y.array) }
    }

    @Test(arguments: [false, true])
    func roundTripsEveryDTypeThroughNPZ(compressed: Bool) throws {
        let dir = try CheckpointFixtures.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let arrays = try CheckpointFixtures.arraysOfEveryDType().filter { $0.array.dtype != .bfloat16 }
            + [("empty", try TypedArray(dtype: .float32, shape: [0, 3], bytes: [])),
               ("scalar", TypedArray(float32: [], scalars: [1.5]))]
        let url = dir.appendingPathComponent("a.npz")
        try NumPy.writeNPZ(arrays, to: url, compressed: compressed)
        let back = try NumPy.readNPZ(url)
        #expect(back.map(\.name) == arrays.map(\.name))
        for (x, y) in zip(back, arrays) { #expect(x.array == y.array, "\(x.name)") }
        // No temporary files are left beside the result.
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["a.npz"])
    }

    @Test func roundTripsEveryDTypeThroughNPY() throws {
        let dir = try CheckpointFixtures.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        for (name, array) in try CheckpointFixtures.arraysOfEveryDType() {
            let url = dir.appendingPathComponent("x.npy")
            if array.dtype == .bfloat16 {
                #expect(throws: CheckpointError.self) { try NumPy.writeNPY(array, to: url) }
                continue
            }
            try NumPy.writeNPY(array, to: url)
            #expect(try NumPy.readNPY(url) == array, "\(name)")
            // Headers are padded so the data starts on a 64-byte boundary, as numpy does.
            let bytes = try Data(contentsOf: url)
            #expect((bytes.count - array.bytes.count) % 64 == 0)
        }
    }

    @Test(arguments: [false, true])
    func readsZIP64RecordsEverywhere(compressed: Bool) throws {
        // ZIP64 extras in local and central headers, and the ZIP64 end records, as zip writers
        // emit for archives over 4 GB.
        var writer = ZipWriter(file: "z64.npz", forceZip64: true)
        let arrays = try CheckpointFixtures.arraysOfEveryDType().filter { $0.array.dtype != .bfloat16 }
        for (name, array) in arrays { try writer.add(name: name + ".npy", data: NumPy.encodeNPY(array), compressed: compressed) }
        let bytes = writer.finish()
        #expect(bytes.count > 22 + 56 + 20)
        let back = try NumPy.readNPZ(MemorySource(bytes, name: "z64.npz"))
        #expect(back.map(\.name) == arrays.map(\.name))
        for (x, y) in zip(back, arrays) { #expect(x.array == y.array) }
    }

    @Test func truncatedNPYAndNPZThrowAtEveryLength() throws {
        let npy = [UInt8](try Data(contentsOf: CheckpointFixtures.url("npy/float64.npy")))
        for n in 0 ..< npy.count {
            #expect(throws: CheckpointError.self) { try NumPy.decodeNPY(Array(npy[0 ..< n]), file: "cut.npy") }
        }
        let npz = [UInt8](try Data(contentsOf: CheckpointFixtures.url("values_compressed.npz")))
        for n in stride(from: 0, to: npz.count, by: 97) {
            #expect(throws: CheckpointError.self) { try NumPy.readNPZ(MemorySource(Array(npz[0 ..< n]), name: "cut.npz")) }
        }
    }

    @Test func flippedMemberBytesFailTheCRC() throws {
        for file in ["values.npz", "values_compressed.npz"] {
            let npz = [UInt8](try Data(contentsOf: CheckpointFixtures.url(file)))
            let zip = try ZipReader(MemorySource(npz, name: file))
            let member = zip.members[3]
            let start = member.localHeaderOffset + 30 + member.name.utf8.count + 20
            for offset in stride(from: start, to: start + member.compressedSize, by: 7) {
                var bad = npz
                bad[offset] ^= 0x10
                #expect(throws: CheckpointError.self) { try NumPy.readNPZ(MemorySource(bad, name: file)) }
            }
        }
    }

    @Test func errorsNameTheFileAndProblem() throws {
        let missing = URL(fileURLWithPath: "/nonexistent/weights.npz")
        let error = try #require(throws: CheckpointError.self) { try NumPy.readNPZ(missing) }
        #expect(error.description.contains("/nonexistent/weights.npz"))
        #expect(error.description.contains("no such file"))
        let notNPY = try #require(throws: CheckpointError.self) { try NumPy.decodeNPY(Array("hello world".utf8), file: "x.npy") }
        #expect(notNPY.description.contains("x.npy") && notNPY.description.contains("magic"))
        var header = NumPy.magic + [1, 0]
        let text = Array("{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }\n".utf8)
        header.appendLE16(UInt16(text.count))
        let complex = try #require(throws: CheckpointError.self) { try NumPy.decodeNPY(header + text + [UInt8](repeating: 0, count: 8), file: "c.npy") }
        #expect(complex.problem.contains("<c8"))
        var absurd = NumPy.magic + [1, 0]
        let big = Array("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }\n".utf8)
        absurd.appendLE16(UInt16(big.count))
        let huge = try #require(throws: CheckpointError.self) { try NumPy.decodeNPY(absurd + big, file: "h.npy") }
        #expect(huge.problem.contains("absurd"))
    }

    /// A 1.1 MB .npz whose one member declares a [2^30] uint8 array (1 GiB): its deflate stream holds
    /// the .npy header and 4 KiB of zeros, then junk up to the declared compressed size.
    static func zipBomb() throws -> [UInt8] {
        var npy = NumPy.magic + [1, 0]
        var text = "{'descr': '|u1', 'fortran_order': False, 'shape': (1073741824,), }"
        while (10 + text.utf8.count + 1) % 64 != 0 { text += " " }
        text += "\n"
        npy.appendLE16(UInt16(text.utf8.count))
        npy += Array(text.utf8)
        let declared = npy.count + (1 << 30)
        var data = try deflateRaw(npy + [UInt8](repeating: 0, count: 4096), file: "bomb")
        data += [UInt8](repeating: 0xA5, count: 1_100_000 - data.count)
        let name = Array("bomb.npy".utf8)
        var zip: [UInt8] = []
        func header(_ signature: UInt32, central: Bool) {
            zip.appendLE32(signature)
            if central { zip.appendLE16(20) }
            zip.appendLE16(20); zip.appendLE16(0); zip.appendLE16(8)              // version, flags, deflated
            zip.appendLE32(0)                                                       // time, date
            zip.appendLE32(0x1234_5678)                                             // CRC (never reached)
            zip.appendLE32(UInt32(data.count)); zip.appendLE32(UInt32(declared))
            zip.appendLE16(UInt16(name.count)); zip.appendLE16(0)
            if central { zip.appendLE16(0); zip.appendLE16(0); zip.appendLE16(0); zip.appendLE32(0); zip.appendLE32(0) }
            zip += name
        }
        header(0x0403_4b50, central: false)
        zip += data
        let cdOffset = zip.count
        header(0x0201_4b50, central: true)
        let cdSize = zip.count - cdOffset
        zip.appendLE32(0x0605_4b50); zip.appendLE32(0); zip.appendLE16(1); zip.appendLE16(1)
        zip.appendLE32(UInt32(cdSize)); zip.appendLE32(UInt32(cdOffset)); zip.appendLE16(0)
        return zip
    }

    @Test func listingAZipBombReadsOnlyTheHeader() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("npz-bomb-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("bomb.npz")
        try Data(try Self.zipBomb()).write(to: url)
        // Listing (inspect) reads the header from the first inflated bytes: the data is never expanded.
        let listed = try CheckpointFile.list(url.path)
        #expect(listed.count == 1)
        #expect(listed.first?.name == "bomb" && listed.first?.dtype == .uint8 && listed.first?.shape == [1 << 30])
        // Reading it is refused before anything is allocated: 1 GiB from 1.1 MB is past the ratio cap.
        let error = try #require(throws: CheckpointError.self) { _ = try CheckpointFile.readAll(url.path) }
        #expect(error.description.contains("bomb.npz") && error.description.contains("bomb.npy"))
        #expect(error.description.contains("zip bomb") && error.description.contains("numpy.savez"))
    }

    @Test func listingChecksTheHeaderAgainstTheDeclaredSize() throws {
        // Every fixture lists the same as a full read; a member whose header disagrees with its size is corrupt.
        for file in ["values.npz", "values_compressed.npz"] {
            let full = try NumPy.readNPZ(CheckpointFixtures.url(file)).map { "\($0.name) \($0.array.dtype) \($0.array.shape)" }
            let listed = try CheckpointFile.list(CheckpointFixtures.url(file).path).map { "\($0.name) \($0.dtype) \($0.shape)" }
            #expect(listed == full)
        }
        var writer = ZipWriter(file: "short.npz")
        let encoded = try NumPy.encodeNPY(TypedArray(float32: [4], scalars: [1, 2, 3, 4]))
        try writer.add(name: "x.npy", data: Array(encoded.dropLast(4)), compressed: true)
        let error = try #require(throws: CheckpointError.self) { _ = try NumPy.listNPZ(MemorySource(writer.finish(), name: "short.npz")) }
        #expect(error.description.contains("short.npz[x.npy]") && error.description.contains("needs"))
    }
}
