import Foundation
import Testing
@testable import Checkpoint
import Tensor

/// Seeded mutation fuzzing of the three parsers: every mutated input must either parse or
/// throw a `CheckpointError`; a crash (or any other error type) fails the suite.
///
/// Mutations: bit flips, interesting byte values, truncation, inserted garbage, deleted and
/// duplicated ranges, overwritten 32/64-bit fields with extreme values, and varint bombs
/// (runs of 0xff continuation bytes). Because block and member CRCs stop most mutations early,
/// the TF fuzzer also re-seals the CRC of every block it changed in place, so the block,
/// Snappy and protobuf parsers see the mutated bytes.
struct Mutator {
    var rng: SplitMix64

    mutating func below(_ n: Int) -> Int { n <= 0 ? 0 : Int(rng.next() % UInt64(n)) }

    /// A mutated copy of `seed` and whether its length (and so every offset) is unchanged.
    mutating func mutate(_ seed: [UInt8]) -> (bytes: [UInt8], inPlace: Bool) {
        var b = seed
        let rounds = 1 + below(3)
        var inPlace = true
        for _ in 0 ..< rounds {
            let p = below(b.count)
            switch below(9) {
            case 0, 1:
                if !b.isEmpty { b[p] ^= UInt8(1) << UInt8(below(8)) }
            case 2:
                if !b.isEmpty { b[p] = [0, 0xff, 0x7f, 0x80, 1, 0x20][below(6)] }
            case 3:
                b = Array(b[0 ..< below(b.count + 1)]); inPlace = false
            case 4:
                let garbage = (0 ..< 1 + below(64)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
                b.insert(contentsOf: garbage, at: p); inPlace = false
            case 5:
                let n = min(b.count - p, 1 + below(32))
                if n > 0 { b.removeSubrange(p ..< p + n) }
                inPlace = false
            case 6:
                let n = min(b.count - p, 1 + below(32))
                if n > 0 { b.insert(contentsOf: Array(b[p ..< p + n]), at: p) }
                inPlace = false
            case 7:
                let width = below(2) == 0 ? 4 : 8
                if p + width <= b.count {
                    let v: UInt64 = [UInt64.max, 0x7fff_ffff, 0xffff_ffff, 0x8000_0000_0000_0000, 1 << 34, 0][below(6)]
                    for k in 0 ..< width { b[p + k] = UInt8(truncatingIfNeeded: v >> UInt64(8 * k)) }
                }
            default:
                let n = 5 + below(12)
                if p + n <= b.count {
                    for k in 0 ..< n { b[p + k] = 0xff }
                } else {
                    b.insert(contentsOf: [UInt8](repeating: 0xff, count: n), at: p); inPlace = false
                }
            }
        }
        return (b, inPlace)
    }
}

/// Tallies of one fuzz run.
struct FuzzTally: CustomStringConvertible {
    var inputs = 0, parsed = 0, rejected = 0
    var description: String { "\(inputs) inputs: \(parsed) parsed, \(rejected) rejected with CheckpointError" }

    mutating func run(_ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) {
        inputs += 1
        do {
            try body()
            parsed += 1
        } catch is CheckpointError {
            rejected += 1
        } catch {
            Issue.record("unexpected error type: \(error)", sourceLocation: sourceLocation)
        }
    }
}

@Suite struct CheckpointFuzzTests {
    /// Inputs per parser are multiplied by CMPC_FUZZ_SCALE (default 1) for longer runs by hand.
    static let scale = max(1, Int(ProcessInfo.processInfo.environment["CMPC_FUZZ_SCALE"] ?? "") ?? 1)

    static func fixture(_ path: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: CheckpointFixtures.url(path))) }

    /// Block handles (offset, size) of a table: every data block, the metaindex and the index.
    static func blockHandles(_ index: [UInt8]) throws -> [(Int, Int)] {
        var footer = ByteReader(index, file: "f", start: index.count - 48)
        let meta = (try footer.varintInt("m"), try footer.varintInt("m"))
        let idx = (try footer.varintInt("i"), try footer.varintInt("i"))
        var handles = [meta, idx]
        let table = Table(bytes: index, file: "f")
        try Table.entries(try table.block(offset: idx.0, size: idx.1, what: "index"), file: "f", what: "index") { _, v in
            var h = ByteReader(Array(v), file: "f")
            handles.append((try h.varintInt("o"), try h.varintInt("s")))
        }
        return handles
    }

    /// Recomputes the masked CRC of each block (bytes and compression byte) in place.
    static func resealCRCs(_ b: inout [UInt8], handles: [(Int, Int)]) {
        for (offset, size) in handles where offset + size + 5 <= b.count {
            let crc = CRC32C.mask(CRC32C.checksum(Array(b[offset ... offset + size])))
            for k in 0 ..< 4 { b[offset + size + 1 + k] = UInt8(truncatingIfNeeded: crc >> UInt32(8 * k)) }
        }
    }

    @Test func tensorFlowBundleSurvivesMutatedInputs() throws {
        var m = Mutator(rng: SplitMix64(seed: 0x7f_2020))
        var tally = FuzzTally()
        let seeds = try ["tf_blocks", "tf_snappy", "tf"].map { folder in
            (index: try Self.fixture("\(folder)/model.ckpt-700.index"), data: try Self.fixture("\(folder)/model.ckpt-700.data-00000-of-00001"))
        }
        let sharded = (index: try Self.fixture("tf_sharded/model.ckpt.index"),
                       data: [try Self.fixture("tf_sharded/model.ckpt.data-00000-of-00002"), try Self.fixture("tf_sharded/model.ckpt.data-00001-of-00002")])
        let handles = try seeds.map { try Self.blockHandles($0.index) }
        let shardedHandles = try Self.blockHandles(sharded.index)
        for round in 0 ..< 8000 * Self.scale {
            let pick = round % 4
            let seedIndex = pick < 3 ? seeds[pick].index : sharded.index
            var data = pick < 3 ? [seeds[pick].data] : sharded.data
            var (index, inPlace) = m.mutate(seedIndex)
            // Half the in-place mutations get valid CRCs, so parsing goes past the checksums.
            if inPlace && round % 2 == 0 { Self.resealCRCs(&index, handles: pick < 3 ? handles[pick] : shardedHandles) }
            if round % 5 == 0 { data[0] = m.mutate(data[0]).bytes }
            tally.run {
                let ckpt = try BundleBuilder.open(index, data: data)
                for e in ckpt.entries { _ = try? ckpt.read(e.name) }
            }
        }
        print("TF bundle fuzz: \(tally)")
        #expect(tally.inputs == 8000 * Self.scale)
        #expect(tally.rejected > 1000 && tally.parsed > 50)
    }

    @Test func safetensorsSurvivesMutatedInputs() throws {
        var m = Mutator(rng: SplitMix64(seed: 0x5afe))
        var tally = FuzzTally()
        let seeds = [try Self.fixture("values.safetensors"),
                     try Safetensors.encode(CheckpointFixtures.arraysOfEveryDType().map { ($0.name, $0.array) }, metadata: ["k": "v"])]
        for round in 0 ..< 5000 * Self.scale {
            let input = m.mutate(seeds[round % 2]).bytes
            tally.run { _ = try Safetensors.read(MemorySource(input, name: "fuzz.safetensors")) }
        }
        print("safetensors fuzz: \(tally)")
        #expect(tally.inputs == 5000 * Self.scale)
        #expect(tally.rejected > 500 && tally.parsed > 50)
    }

    @Test func numpySurvivesMutatedInputs() throws {
        var m = Mutator(rng: SplitMix64(seed: 0x2024))
        var npzTally = FuzzTally(), npyTally = FuzzTally()
        var small = ZipWriter(file: "seed")
        var smallCompressed = ZipWriter(file: "seed")
        for (name, array) in try CheckpointFixtures.arraysOfEveryDType() where array.dtype != .bfloat16 {
            try small.add(name: name + ".npy", data: NumPy.encodeNPY(array), compressed: false)
            try smallCompressed.add(name: name + ".npy", data: NumPy.encodeNPY(array), compressed: true)
        }
        let npzSeeds = [small.finish(), smallCompressed.finish(), try Self.fixture("values_compressed.npz")]
        for round in 0 ..< 4000 * Self.scale {
            let input = m.mutate(npzSeeds[round % 3]).bytes
            npzTally.run { _ = try NumPy.readNPZ(MemorySource(input, name: "fuzz.npz")) }
        }
        let npySeeds = try ["float16", "float64", "bool", "uint64", "fortran", "bigendian", "v2", "v3", "scalar"].map { try Self.fixture("npy/\($0).npy") }
        for round in 0 ..< 5000 * Self.scale {
            let input = m.mutate(npySeeds[round % npySeeds.count]).bytes
            npyTally.run { _ = try NumPy.decodeNPY(input, file: "fuzz.npy").floats() }
        }
        print("npz fuzz: \(npzTally); npy fuzz: \(npyTally)")
        #expect(npzTally.inputs == 4000 * Self.scale && npyTally.inputs == 5000 * Self.scale)
        #expect(npzTally.rejected > 500 && npyTally.rejected > 500 && npyTally.parsed > 50)
    }
}
