import Foundation
import Testing
@testable import Datasets

@Suite struct HDF5Tests {
    @Test func readsH5pyWrittenA2DFiles() throws {
        let one = try HDF5File.read(try fixture("a2d_one.h5"), dataset: "reMask")
        #expect(one.shape == [6, 4])
        let two = try HDF5File.read(try fixture("a2d_two.h5"), dataset: "reMask")
        #expect(two.shape == [2, 5, 3])
        #expect(try HDF5File.read(try fixture("a2d_two.h5"), dataset: "instance").values == [2, 5])
        #expect(try HDF5File.read(try fixture("a2d_one.h5"), dataset: "reBBox").shape == [4, 1])
        #expect(Set(try HDF5File.rootNames(try fixture("a2d_two.h5"))) == ["instance", "reMask", "reBBox"])
    }

    @Test func writerMatchesH5pyWrittenFiles() throws {
        let tmp = try TemporaryFolder()
        for name in ["a2d_one.h5", "a2d_two.h5"] {
            let out = tmp.sub(name)
            let w = try HDF5Writer(path: out)
            for (dataset, type) in [("instance", HDF5ElementType.float64), ("reMask", .uint8), ("reBBox", .float64)] {
                let a = try HDF5File.read(try fixture(name), dataset: dataset)
                try w.write(dataset, shape: a.shape, values: a.values, as: type)
            }
            try w.close()
            for dataset in ["instance", "reMask", "reBBox"] {
                #expect(try HDF5File.read(out, dataset: dataset) == HDF5File.read(try fixture(name), dataset: dataset))
            }
            let written = try A2DSentences.readAnnotation(path: out)
            let reference = try A2DSentences.readAnnotation(path: try fixture(name))
            #expect(written.instances == reference.instances)
            #expect(written.masks == reference.masks)
        }
        // Only the renamed files remain: no temporary files left behind.
        #expect(try FileManager.default.contentsOfDirectory(atPath: tmp.path).sorted() == ["a2d_one.h5", "a2d_two.h5"])
    }

    @Test func writerRejectsValuesThatDoNotFitTheShape() throws {
        let tmp = try TemporaryFolder()
        let w = try HDF5Writer(path: tmp.sub("x.h5"))
        expectDatasetError(["x.h5", "reMask", "5 values for shape [2, 3]"]) {
            try w.write("reMask", shape: [2, 3], values: [1, 2, 3, 4, 5])
        }
    }

    @Test func badFilesGiveErrorsNamingTheFile() throws {
        let tmp = try TemporaryFolder()
        let data = try Data(contentsOf: URL(fileURLWithPath: try fixture("a2d_two.h5")))
        let truncated = try tmp.write("truncated.h5", data.prefix(data.count / 2))
        expectDatasetError(["truncated.h5"]) { _ = try HDF5File.read(truncated, dataset: "reMask") }
        let text = try tmp.write("text.h5", "not hdf5")
        expectDatasetError(["text.h5", "not an HDF5 file"]) { _ = try HDF5File.read(text, dataset: "reMask") }
        expectDatasetError(["nowhere.h5", "not found"]) { _ = try HDF5File.read(tmp.sub("nowhere.h5"), dataset: "x") }
        expectDatasetError(["a2d_one.h5", "no dataset 'masks'"]) { _ = try HDF5File.read(try fixture("a2d_one.h5"), dataset: "masks") }
    }
}

@Suite struct MATFileTests {
    func expected(_ name: String) throws -> (dims: [Int], values: [Double]) {
        let all = try #require(try jsonFixture("mat_expected.json") as? [String: Any])
        let e = try #require(all[name] as? [String: Any])
        return (try #require(e["dims"] as? [Int]), try #require(e["values"] as? [Double]))
    }

    @Test(arguments: ["mask_v5.mat", "mask_v5z.mat", "mask_v73.mat"])
    func partMaskMatchesScipy(file: String) throws {
        let a = try MATFile.read(try fixture(file), variable: "part_mask")
        let e = try expected("part_mask")
        #expect(a.dims == e.dims)
        #expect(a.values == e.values)
        #expect(try MATFile.dimensions(try fixture(file), variable: "part_mask") == e.dims)
    }

    @Test(arguments: ["mask_v5.mat", "mask_v5z.mat"])
    func otherClassesOfAVersion5File(file: String) throws {
        let seg = try MATFile.read(try fixture(file), variable: "segimg_t")
        let e = try expected("segimg_t")
        #expect(seg.dims == e.dims && seg.values == e.values && seg.className == "double")
        let flags = try MATFile.read(try fixture(file), variable: "flags")
        #expect(flags.className == "logical" && flags.values == [1, 0, 1] && flags.dims == [1, 3])
        #expect(try MATFile.read(try fixture(file), variable: "part_mask").className == "uint8")
        expectDatasetError([file, "'name'", "char"]) { _ = try MATFile.read(try fixture(file), variable: "name") }
        expectDatasetError([file, "no variable 'missing'"]) { _ = try MATFile.read(try fixture(file), variable: "missing") }
        #expect(Set(try MATFile.variableNames(try fixture(file))) == ["part_mask", "segimg_t", "flags", "name"])
    }

    @Test func truncatedAndForeignFilesAreErrors() throws {
        expectDatasetError(["truncated_v5z.mat"]) { _ = try MATFile.read(try fixture("truncated_v5z.mat"), variable: "segimg_t") }
        let tmp = try TemporaryFolder()
        let raw = try Data(contentsOf: URL(fileURLWithPath: try fixture("mask_v5.mat")))
        for cut in [100, 200, raw.count - 8] {
            let p = try tmp.write("cut\(cut).mat", raw.prefix(cut))
            expectDatasetError(["cut\(cut).mat"]) { _ = try MATFile.read(p, variable: "flags") }
        }
        var v4 = Data([0, 0, 0, 0])
        v4.append(Data(count: 200))
        let p4 = try tmp.write("v4.mat", v4)
        expectDatasetError(["v4.mat", "level 5"]) { _ = try MATFile.read(p4, variable: "x") }
        // A compressed element whose zlib stream is corrupt.
        var z = [UInt8](try Data(contentsOf: URL(fileURLWithPath: try fixture("mask_v5z.mat"))))
        for i in 150..<min(z.count, 200) { z[i] ^= 0x5A }
        let pz = try tmp.write("corrupt.mat", Data(z))
        expectDatasetError(["corrupt.mat"]) { _ = try MATFile.read(pz, variable: "part_mask") }
    }

    @Test func absurdDimensionsAreRejected() throws {
        // Patch the first dimension of the uncompressed part_mask to 2^30.
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: try fixture("mask_v5.mat"))))
        // Layout after the 128-byte header: tag (8), flags element (16), dims tag (8), dims…
        let dimsAt = 128 + 8 + 16 + 8
        bytes[dimsAt + 3] = 0x40
        let tmp = try TemporaryFolder()
        let p = try tmp.write("absurd.mat", Data(bytes))
        expectDatasetError(["absurd.mat"]) { _ = try MATFile.read(p, variable: "part_mask") }
    }
}

@Suite struct PickleTests {
    /// Converts a pickled value to the JSON the generator wrote for the same list.
    func json(_ v: PickleValue) -> Any {
        switch v {
        case .none: return NSNull()
        case .bool(let b): return b
        case .int(let i): return i
        case .float(let d): return d
        case .string(let s): return s
        case .bytes(let b): return b
        case .list(let a), .tuple(let a): return a.map(json)
        case .dict(let entries):
            var d: [String: Any] = [:]
            for e in entries { d[e.key.stringValue ?? "\(e.key)"] = json(e.value) }
            return d
        }
    }

    @Test(arguments: ["refs_p2.p", "refs_p4.p", "refs_p0.p"])
    func refsMatchWhatPythonPickled(file: String) throws {
        let value = try Pickle.load(try fixture(file))
        let got = try JSONSerialization.data(withJSONObject: json(value), options: [.sortedKeys])
        let want = try JSONSerialization.data(withJSONObject: try jsonFixture("refs_expected.json"), options: [.sortedKeys])
        #expect(String(decoding: got, as: UTF8.self) == String(decoding: want, as: UTF8.self))
        let refs = try #require(value.arrayValue)
        #expect(refs.count == 5)
        #expect(refs[1]["sentences"]?.arrayValue?.first?["sent"] == .string("café chair"))
        #expect(refs[4]["sentences"]?.arrayValue?.last?["score"] == .float(-3.0e10))
    }

    @Test(arguments: [("forbidden_global.p", "GLOBAL"), ("forbidden_stack_global.p", "STACK_GLOBAL")])
    func forbiddenOpcodesAreRejected(file: String, opcode: String) throws {
        do {
            _ = try Pickle.load(try fixture(file))
            Issue.record("\(file) was accepted")
        } catch let DatasetError.forbiddenOpcode(f, op, _) {
            #expect(f.hasSuffix(file))
            #expect(op == opcode)
        }
    }

    @Test func everyOtherObjectBuildingOpcodeIsRejected() throws {
        // REDUCE, BUILD, INST, OBJ, NEWOBJ, NEWOBJ_EX, EXT1, PERSID, BINPERSID, EMPTY_SET, FROZENSET, BYTEARRAY8.
        for (op, name) in [(0x52, "REDUCE"), (0x62, "BUILD"), (0x69, "INST"), (0x6F, "OBJ"), (0x81, "NEWOBJ"),
                           (0x92, "NEWOBJ_EX"), (0x82, "EXT1"), (0x50, "PERSID"), (0x51, "BINPERSID"),
                           (0x8F, "EMPTY_SET"), (0x91, "FROZENSET"), (0x96, "BYTEARRAY8")] as [(UInt8, String)] {
            do {
                _ = try Pickle.parse([0x80, 0x04, 0x4E, op, 0x2E], file: "x.p")
                Issue.record("\(name) accepted")
            } catch let DatasetError.forbiddenOpcode(_, got, offset) {
                #expect(got == name)
                #expect(offset == 3)
            }
        }
    }

    @Test func truncatedAndInconsistentPicklesAreErrors() throws {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: try fixture("refs_p2.p"))))
        for cut in [1, 10, bytes.count / 2, bytes.count - 1] {
            expectDatasetError(["refs.p", "pickle"]) { _ = try Pickle.parse(Array(bytes.prefix(cut)), file: "refs.p") }
        }
        expectDatasetError(["memo GET"]) { _ = try Pickle.parse([0x80, 0x02, 0x68, 0x07, 0x2E]) }
        expectDatasetError(["stack underflow"]) { _ = try Pickle.parse([0x80, 0x02, 0x61, 0x2E]) }
        expectDatasetError(["runs past the end"]) { _ = try Pickle.parse([0x58, 0xFF, 0xFF, 0xFF, 0x7F, 0x2E]) }
        // A list that contains itself: EMPTY_LIST, BINPUT 0, BINGET 0, APPEND, STOP.
        expectDatasetError(["contains itself"]) { _ = try Pickle.parse([0x80, 0x02, 0x5D, 0x71, 0x00, 0x68, 0x00, 0x61, 0x2E]) }
    }

    @Test func deepNestingIsRejectedWhileParsingAndFreedWithoutRecursion() throws {
        // 60,000 nested lists built bottom-up (what refs(unc).p held): EMPTY_LIST × 60,000, APPEND × 59,999.
        let n = 60_000
        let bottomUp = [0x80, 0x02] + [UInt8](repeating: 0x5D, count: n) + [UInt8](repeating: 0x61, count: n - 1) + [0x2E]
        expectDatasetError(["nesting deeper than 2000", "refs.p"]) { _ = try Pickle.parse(bottomUp, file: "refs.p") }
        // The same depth built top-down through the memo, so heights recorded on the way are stale:
        // root = []; memo 0 = root; then n × (BINGET 0, EMPTY_LIST, BINPUT 0, APPEND, POP), STOP.
        var topDown: [UInt8] = [0x80, 0x02, 0x5D, 0x71, 0x00]
        for _ in 0..<n { topDown += [0x68, 0x00, 0x5D, 0x71, 0x00, 0x61, 0x30] }
        topDown.append(0x2E)
        expectDatasetError(["nesting deeper than 2000"]) { _ = try Pickle.parse(topDown, file: "refs.p") }
        // Nesting just under the limit still parses (and is freed) on a test thread.
        let ok = [0x80, 0x02] + [UInt8](repeating: 0x5D, count: 1999) + [UInt8](repeating: 0x61, count: 1998) + [0x2E]
        #expect(throws: Never.self) { _ = try Pickle.parse(ok) }
    }

    @Test func memoSharesContainersLikePython() throws {
        // [[], <same list>] then APPEND 1 to the inner list via the memo: both references see it.
        // EMPTY_LIST, EMPTY_LIST, BINPUT 0, APPEND, BINGET 0, BININT1 1, APPEND, POP, STOP
        let v = try Pickle.parse([0x80, 0x02, 0x5D, 0x5D, 0x71, 0x00, 0x61, 0x68, 0x00, 0x4B, 0x01, 0x61, 0x30, 0x2E])
        #expect(v == .list([.list([.int(1)])]))
    }
}

@Suite struct TextFormatTests {
    @Test func csvFollowsPythonsReader() {
        let rows = CSV.parse("a,\"b, with comma\",\"say \"\"hi\"\"\"\r\n\nx,1 (copy),y\nlast,\"multi\nline\"")
        #expect(rows.map(\.fields) == [["a", "b, with comma", "say \"hi\""], ["x", "1 (copy)", "y"], ["last", "multi\nline"]])
        #expect(rows.map(\.line) == [1, 3, 4])
    }

    @Test func referItQueriesKeepKeyOrderAndDecodeEscapes() throws {
        let d = Data(#"{"9_2": ["b \"q\" \u00e9 \ud83d\ude00"], "1_1": ["a", "c"]}"#.utf8)
        let pairs = try ReferIt.queries(d, file: "q.json")
        #expect(pairs.map(\.0) == ["9_2", "1_1"])
        #expect(pairs[0].1 == ["b \"q\" é 😀"])
        expectDatasetError(["q.json", "truncated"]) { _ = try ReferIt.queries(Data(#"{"a": ["#.utf8), file: "q.json") }
        expectDatasetError(["q.json", "not a list"]) { _ = try ReferIt.queries(Data(#"{"a": "b"}"#.utf8), file: "q.json") }
        expectDatasetError(["q.json", "not a string"]) { _ = try ReferIt.queries(Data(#"{"a": [1]}"#.utf8), file: "q.json") }
    }
}
