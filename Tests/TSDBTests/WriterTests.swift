import Foundation
import Testing
import TestSupport
@testable import TSDB

/// The block writer against Prometheus 2.42's own output: copying a promtool-made block
/// series by series (same symbols, chunks copied as bytes) must reproduce its index and
/// chunk files byte for byte, and XOR re-encoding must reproduce promtool's chunks.
@Suite("Block writer: index, chunks, XOR encoder, meta.json")
struct WriterTests {
    /// Rewrites `block` into `parent` with the writer; chunks are copied or re-encoded.
    static func copy(_ block: Block, into parent: String, reencode: Bool = false, segmentSize: Int = ChunkWriter.defaultSegmentSize) throws -> BlockMeta {
        let (symbols, maps) = SymbolSet.merging([block.index])
        let w = try BlockWriter(parent: parent, ulid: ULID(milliseconds: 1_700_000_000_000), symbols: symbols, segmentSize: segmentSize)
        var l: [LabelRef] = [], c: [ChunkMeta] = [], mapped: [LabelRef] = []
        for ref in try block.index.allPostings() {
            try block.index.series(ref, labels: &l, chunks: &c)
            #expect(maps[0].map(l, into: &mapped))
            var out: [OutputChunk] = []
            for m in c {
                let raw = try block.chunks.chunk(m.ref)
                if reencode && raw.encoding == .xor {
                    var ts: [Int64] = [], vs: [Double] = []
                    try raw.withData { try XORIterator.decodeAll($0, timestamps: &ts, values: &vs) }
                    var e = XOREncoder()
                    for (t, v) in zip(ts, vs) { e.append(t, v) }
                    out.append(OutputChunk(minTime: m.minTime, maxTime: m.maxTime, payload: .encoded(.xor, e.bytes())))
                } else {
                    out.append(OutputChunk(minTime: m.minTime, maxTime: m.maxTime, payload: .record(raw)))
                }
            }
            try w.add(labels: mapped, chunks: out)
        }
        var meta = block.meta
        meta.document = .object([])
        return try w.commit(meta)
    }

    static func bytes(_ path: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: path))) }

    @Test("a copied promtool block has the same index and chunk bytes", arguments: Fixtures.blockSets.flatMap { (try? Block.directories(at: $0)) ?? [] })
    func byteIdenticalCopy(_ dir: String) throws {
        let block = try Block(directory: dir)
        let t = try Fixtures.tempDir("writer")
        defer { Fixtures.cleanup(t) }
        let meta = try Self.copy(block, into: t)
        let out = t + "/\(meta.ulid)"
        #expect(try Self.bytes(out + "/index") == Self.bytes(dir + "/index"))
        #expect(try Self.bytes(out + "/chunks/000001") == Self.bytes(dir + "/chunks/000001"))
        #expect(try Self.bytes(out + "/tombstones") == [0x01, 0x30, 0xBA, 0x30, 0x01, 0, 0, 0, 0])
        #expect(meta.stats == block.meta.stats || (meta.stats.numSamples == block.meta.stats.numSamples
            && meta.stats.numSeries == block.meta.stats.numSeries && meta.stats.numChunks == block.meta.stats.numChunks))
        #expect(!FileManager.default.fileExists(atPath: out + ".tmp-for-creation"))
    }

    @Test("XOR re-encoding reproduces promtool's chunk payloads (2.42 may add one spare zero byte)")
    func xorReencodesPromtoolChunks() throws {
        var checked = 0
        for dir in Fixtures.allBlocks {
            let b = try Block(directory: dir)
            var l: [LabelRef] = [], c: [ChunkMeta] = []
            for ref in try b.index.allPostings() {
                try b.index.series(ref, labels: &l, chunks: &c)
                for m in c {
                    let raw = try b.chunks.chunk(m.ref)
                    guard raw.encoding == .xor else { continue }
                    let theirs = raw.withData { Array($0) }
                    var ts: [Int64] = [], vs: [Double] = []
                    try raw.withData { try XORIterator.decodeAll($0, timestamps: &ts, values: &vs) }
                    var e = XOREncoder()
                    for (t, v) in zip(ts, vs) { e.append(t, v) }
                    let ours = e.bytes()
                    let same = ours == theirs || (ours + [0] == theirs)
                    #expect(same, "chunk \(m.ref) of \(dir)")
                    checked += 1
                }
            }
        }
        #expect(checked > 1000)
    }

    @Test("XOR encoder round-trips edge values and every delta-of-delta width")
    func xorRoundTrip() throws {
        var rng = SeededRandom(seed: 42)
        var t: Int64 = -5_000
        var samples: [(Int64, Double)] = []
        let steps: [Int64] = [1, 1, 8192, 8193, -8191, 65536, 65537, 524288, 524289, 1 << 40, 15_000, 15_000]
        let values: [Double] = [0, -0.0, .nan, .infinity, -.infinity, .greatestFiniteMagnitude, .leastNonzeroMagnitude, 1, 1, 1e21, -3.5]
        for i in 0..<600 {
            t += max(1, steps[i % steps.count] + Int64(i % 3))
            let v = i % 7 == 0 ? values[i % values.count] : Double(bitPattern: rng.next())
            samples.append((t, v))
        }
        var e = XOREncoder()
        for (t, v) in samples { e.append(t, v) }
        var ts: [Int64] = [], vs: [Double] = []
        try e.bytes().withUnsafeBytes { try XORIterator.decodeAll($0, timestamps: &ts, values: &vs) }
        #expect(ts == samples.map(\.0))
        #expect(vs.map(\.bitPattern) == samples.map(\.1.bitPattern))
        #expect(e.minTime == samples.first!.0 && e.maxTime == samples.last!.0)
    }

    @Test("promtool reads re-encoded blocks: dump equals the original's")
    func promtoolReadsRewrittenBlock() throws {
        guard Promtool.available else { return }
        for set in Fixtures.blockSets {
            let t = try Fixtures.tempDir("writer-pt")
            defer { Fixtures.cleanup(t) }
            var dirs: [String] = []
            for dir in try Block.directories(at: set) {
                let m = try Self.copy(try Block(directory: dir), into: t, reencode: true)
                dirs.append(t + "/\(m.ulid)")
            }
            let want = try Promtool.dump(try Block.directories(at: set))
            let got = try Promtool.dump(dirs)
            #expect(got == want, "\(set)")
            _ = try Promtool.run(["tsdb", "analyze", t])
        }
    }

    @Test("small segments: chunks spread over several files and still read back")
    func segmentCuts() throws {
        let dir = try #require(Fixtures.blockSets.first { $0.hasSuffix("bulk") }.flatMap { try Block.directories(at: $0).first })
        let block = try Block(directory: dir)
        let t = try Fixtures.tempDir("writer-seg")
        defer { Fixtures.cleanup(t) }
        let meta = try Self.copy(block, into: t, segmentSize: 64 << 10)
        let copy = try Block(directory: t + "/\(meta.ulid)")
        #expect(copy.chunks.segments.count > 3)
        for s in copy.chunks.segments { #expect(s.count <= 64 << 10) }
        let want = try Promtool.dump([dir])
        #expect(try Promtool.dump([t + "/\(meta.ulid)"]) == want)
    }

    @Test("the writer refuses what would make a broken index")
    func refusals() throws {
        let t = try Fixtures.tempDir("writer-bad")
        defer { Fixtures.cleanup(t) }
        let symbols = SymbolSet(["a", "b", "job", "x"])
        let job = try #require(symbols.ref(of: "job")), a = try #require(symbols.ref(of: "a")), b = try #require(symbols.ref(of: "b"))
        var e = XOREncoder()
        e.append(10, 1)
        let chunk = OutputChunk(minTime: 10, maxTime: 10, payload: .encoded(.xor, e.bytes()))
        let w = try BlockWriter(parent: t, ulid: ULID(milliseconds: 1), symbols: symbols)
        try w.add(labels: [LabelRef(name: job, value: b)], chunks: [chunk])
        #expect(throws: TSDBError.self) { try w.add(labels: [LabelRef(name: job, value: a)], chunks: [chunk]) }  // out of order
        #expect(throws: TSDBError.self) { try w.add(labels: [LabelRef(name: job, value: b)], chunks: [chunk]) }  // duplicate
        #expect(throws: TSDBError.self) { try w.add(labels: [], chunks: [chunk]) }
        #expect(throws: TSDBError.self) {
            try w.add(labels: [LabelRef(name: job, value: 99)], chunks: [chunk])
        }
        w.discard()
        #expect(try FileManager.default.contentsOfDirectory(atPath: t).isEmpty)
    }

    @Test("tombstones serialise and parse back")
    func tombstonesRoundTrip() throws {
        var ts = Tombstones()
        ts.add(Tombstone(series: 5, minTime: -10, maxTime: 20))
        ts.add(Tombstone(series: 1, minTime: 100, maxTime: 200))
        ts.add(Tombstone(series: 5, minTime: 30, maxTime: 40))
        let bytes = ts.serialized()
        let back = try bytes.withUnsafeBytes { try Tombstones(bytes: $0) }
        #expect(back == ts)
    }
}
