import Foundation
import Testing
import TestSupport
@testable import BlockOps
@testable import TSDB

/// `wal rebuild` on the real Prometheus 2.42 WAL in fixtures/wal: the rebuilt blocks must
/// dump, through promtool itself, exactly what promtool printed for the original data
/// directory (which it reads by replaying the WAL).
@Suite("WAL rebuild: blocks from a crashed Prometheus' WAL, promtool as the oracle")
struct WALRebuildTests {
    static func oracle() throws -> String {
        let packed = try ByteStorage.map(path: Fixtures.fixtures + "/wal/promtool-dump.txt.zst")
        let text = try packed.withBytes(0..<packed.count) { (p) throws(TSDBError) in try WALDecompress.zstd(p, origin: 0) }
        return String(decoding: text, as: UTF8.self)
    }

    static func rebuild(_ flavour: String, labels: [String: String] = ["cluster": "rx", "receive_replica": "0"]) throws -> (String, WALRebuilder.Result) {
        let head = try Head.replay(directory: Fixtures.fixtures + "/wal/" + flavour)
        let out = try Fixtures.tempDir("walrebuild")
        var o = WALRebuilder.Options()
        o.labels = labels
        return (out, try WALRebuilder.rebuild(head, into: out, options: o))
    }

    @Test("snappy and zstd WALs rebuild into blocks whose promtool dump is the original's", arguments: ["snappy", "zstd"])
    func promtoolOracle(_ flavour: String) async throws {
        let (out, r) = try Self.rebuild(flavour)
        defer { Fixtures.cleanup(out) }
        try #require(!r.blocks.isEmpty)
        #expect(try Promtool.dump(r.blocks.map { out + "/\($0.ulid)" }) == Self.oracle())
        for m in r.blocks {
            #expect(m.minTime % 7_200_000 == 0 && m.maxTime - m.minTime == 7_200_000, "blocks are aligned 2h windows")
            #expect(m.thanos?.source == "receive")
            #expect(m.thanos?.labels == ["cluster": "rx", "receive_replica": "0"])
            #expect(m.compaction.sources == [m.ulid])
            #expect(await BlockVerifier(deep: true).verify(directory: out + "/\(m.ulid)").isEmpty)
        }
        _ = try Promtool.run(["tsdb", "analyze", out])
    }

    @Test("native histograms survive too: blockyard's dump of the blocks equals the replayed head's")
    func histograms() throws {
        let head = try Head.replay(directory: Fixtures.fixtures + "/wal/snappy")
        var want: [UInt8] = []
        try head.dump(style: .allSamples) { want += $0 }
        let (out, r) = try Self.rebuild("snappy")
        defer { Fixtures.cleanup(out) }
        let sink = OutputSink(collecting: ())
        try Dumper(blocks: try r.blocks.map { try Block(directory: out + "/\($0.ulid)") }, options: DumpOptions(), out: sink).run()
        try sink.flush()
        let got = sink.text
        #expect(got.contains("{count:"), "the fixture has native histograms")
        #expect(got == String(decoding: want, as: UTF8.self))
    }

    @Test("histogram chunks: encoder round trip, layout and reset cuts")
    func histogramEncoder() throws {
        let spans = [HistogramSpan(offset: 0, length: 2)]
        func h(_ c: UInt64, _ b: [Int64], _ spans: [HistogramSpan] = [HistogramSpan(offset: 0, length: 2)]) -> Histogram {
            Histogram(counterResetHint: .unknown, schema: 1, zeroThreshold: 0.001, zeroCount: 1, count: c, sum: Double(c) * 1.5,
                      positiveSpans: spans, negativeSpans: [], positiveBuckets: b, negativeBuckets: [], customValues: [])
        }
        let samples: [(timestamp: Int64, histogram: Histogram)] = [(1000, h(5, [2, 1])), (2000, h(7, [3, 0])), (3000, Histogram(sum: Double(bitPattern: staleNaNBits))), (4000, h(9, [4, -1]))]
        let bytes = try HistogramEncoder.encode(samples, header: .notCounterReset)
        let back = try bytes.withUnsafeBytes { try HistogramIterator.decodeAll($0) }
        #expect(back.map(\.timestamp) == samples.map(\.timestamp))
        for (a, b) in zip(back, samples) {
            #expect(a.histogram.count == b.histogram.count && a.histogram.sum.bitPattern == b.histogram.sum.bitPattern)
            if !b.histogram.isStale { #expect(a.histogram.positiveBuckets == b.histogram.positiveBuckets && a.histogram.positiveSpans == spans) }
        }
        #expect(HistogramEncoder.cut(h(5, [2, 1]), h(7, [3, 0])) == (false, false))
        #expect(HistogramEncoder.cut(h(7, [3, 0]), h(2, [1, 0])) == (true, true))
        #expect(HistogramEncoder.cut(h(5, [2, 1]), h(6, [2, 1, 1], [HistogramSpan(offset: 0, length: 3)])).cut)
        #expect(throws: TSDBError.self) {
            _ = try HistogramEncoder.encode([(1, h(5, [2, 1])), (2, h(6, [2, 1, 1], [HistogramSpan(offset: 0, length: 3)]))], header: .unknown)
        }
    }

    @Test("the command reports damage and still writes what it recovered (exit 1)")
    func damagedCommand() async throws {
        let binary = BlockyardBinary.path
        try #require(FileManager.default.isExecutableFile(atPath: binary), "build blockyard first: \(binary)")
        let work = try Fixtures.tempDir("walcmd")
        defer { Fixtures.cleanup(work) }
        try FileManager.default.copyItem(atPath: Fixtures.fixtures + "/wal/snappy", toPath: work + "/data")
        // Flip a byte in the middle of a segment: one record is lost, the rest recovered.
        let seg = work + "/data/wal/00000003"
        var d = try Data(contentsOf: URL(fileURLWithPath: seg))
        d[d.count / 2] ^= 0x5A
        try d.write(to: URL(fileURLWithPath: seg))
        let (status, out, err) = try Run.run(binary, ["wal", "rebuild", work + "/data", "--out", work + "/out", "--label", "cluster=x"])
        #expect(status == 1, "\(err)")
        #expect(err.contains("00000003") && err.lowercased().contains("skipped"), "\(err)")
        #expect(out.contains("wrote 1 block(s)"), "\(out)")
        let dirs = try Block.directories(at: work + "/out")
        #expect(dirs.count == 1)
        #expect(await BlockVerifier().verify(directory: dirs[0]).isEmpty)
        let (clean, _, _) = try Run.run(binary, ["wal", "rebuild", Fixtures.fixtures + "/wal/snappy", "--out", work + "/clean"])
        #expect(clean == 0)
    }
}
