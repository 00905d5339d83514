import Foundation
import Testing
import TestSupport
@testable import TSDB

/// The replay rules of Prometheus 2.42's head (`Head.Init`, `loadWAL`, `processWALSamples`,
/// `appendPreprocessor`), each on a hand-made WAL.
@Suite("Head replay rules")
struct WALHeadReplayTests {
    static func replay(_ segments: [[[UInt8]]], first: Int = 0, checkpoint: (Int, [[UInt8]])? = nil,
                       options: HeadReplayOptions = HeadReplayOptions()) throws -> (Head, [HeadSeries]) {
        let dir = try WALBytes.dataDir(segments: segments, first: first, checkpoint: checkpoint)
        defer { Fixtures.cleanup(dir) }
        let head = try Head.replay(directory: dir, options: options)
        var it = head.allSeries()
        var out: [HeadSeries] = []
        while let s = try it.next() { out.append(s) }
        return (head, out)
    }

    static let a = WALBytes.series([(1, [("__name__", "a")])])
    static let b = WALBytes.series([(2, [("__name__", "b")])])
    static func s(_ ref: UInt64, _ t: Int64, _ v: Double) -> [UInt8] { WALBytes.samples([(ref: ref, t: t, v: v)]) }

    @Test("duplicates and out-of-order samples are dropped; samples of unknown series too")
    func inOrderOnly() throws {
        let (head, series) = try Self.replay([[Self.a, Self.s(1, 10, 1), Self.s(1, 10, 99), Self.s(1, 5, 2), Self.s(1, 20, 3),
                                              Self.s(7, 30, 4), Self.b, Self.s(2, 1, 5)]])
        #expect(series.map(\.labels.description) == [#"{__name__="a"}"#, #"{__name__="b"}"#])
        #expect(series[0].floatSamples.map(\.t) == [10, 20] && series[0].floatSamples.map(\.v) == [1, 3])
        #expect(head.report.duplicates == 1 && head.report.outOfOrder == 1 && head.report.unknownSeriesRefs == 1)
        // Samples before their series record are unknown too.
        let (h2, s2) = try Self.replay([[Self.s(1, 5, 1), Self.a, Self.s(1, 6, 2)]])
        #expect(s2[0].floatSamples.map(\.t) == [6] && h2.report.unknownSeriesRefs == 1)
        #expect(head.minTime == 1 && head.maxTime == 20)
    }

    @Test("a repeated series record maps its reference onto the series and resets it")
    func repeatedSeries() throws {
        // Ref 5 has the labels of ref 1: its samples go to the same series; what ref 1 had
        // replayed is dropped, as Prometheus' resetSeriesWithMMappedChunks does.
        let again = WALBytes.series([(5, [("__name__", "a")])])
        let (head, series) = try Self.replay([[Self.a, Self.s(1, 10, 1), Self.s(1, 20, 2), again, Self.s(5, 15, 3), Self.s(1, 25, 4)]])
        #expect(series.count == 1)
        #expect(series[0].ref == 1 && series[0].floatSamples.map(\.t) == [15, 25])
        #expect(head.report.repeatedSeries == 1 && head.report.droppedByRepeatedSeries == 2)
    }

    @Test("kinds interleave in runs; tombstones delete closed intervals of known series")
    func runsAndTombstones() throws {
        let h = Histogram(schema: 0, zeroThreshold: 0, zeroCount: 1, count: 1, sum: 1)
        let fh = FloatHistogram(schema: 0, zeroCount: 2, count: 2, sum: 2)
        let (head, series) = try Self.replay([[
            Self.a, Self.s(1, 10, 1), WALBytes.histograms([(ref: 1, t: 20, h: h), (ref: 1, t: 30, h: h)]),
            WALBytes.floatHistograms([(ref: 1, t: 40, h: fh)]), Self.s(1, 50, 5), Self.s(1, 60, 6),
            WALBytes.tombstones([(ref: 1, mint: 30, maxt: 50), (ref: 9, mint: 0, maxt: 100)]),
        ]])
        let runs = series[0].runs
        #expect(runs == [.floats(timestamps: [10], values: [1]), .histograms(timestamps: [20], values: [h]),
                         .floats(timestamps: [60], values: [6])])
        #expect(head.report.tombstones == 1 && head.report.tombstonesDropped == 1)
        var dump: [UInt8] = []
        try head.dump(style: .promtool242) { dump += $0 }
        // promtool 2.42 stops a series at its first histogram.
        #expect(String(decoding: dump, as: UTF8.self) == "{__name__=\"a\"} 1 10\n")
    }

    @Test("the checkpoint is read first, then the segments after it; older segments are ignored")
    func checkpointOrder() throws {
        let (head, series) = try Self.replay(
            [[Self.s(1, 1, 100)], [Self.s(1, 30, 3)], [Self.s(1, 40, 4)]], first: 2,
            checkpoint: (2, [Self.a, Self.s(1, 20, 2)]))
        #expect(series[0].floatSamples.map(\.t) == [20, 30, 40])
        #expect(head.report.wal.ignored.count == 1 && head.report.wal.ignored[0].hasSuffix("wal/00000002"))
        #expect(head.report.wal.files.first?.contains("checkpoint.00000002") == true)
    }

    @Test("missing segment numbers are reported; reading goes on")
    func gap() throws {
        let dir = try WALBytes.dataDir(segments: [[Self.a, Self.s(1, 1, 1)], [Self.s(1, 2, 2)], [Self.s(1, 3, 3)]])
        defer { Fixtures.cleanup(dir) }
        try FileManager.default.removeItem(atPath: dir + "/wal/00000001")
        let head = try Head.replay(directory: dir)
        #expect(head.report.wal.missingSegments == [1])
        #expect(head.report.lines.contains { $0.contains("missing WAL segments: 00000001") })
        var it = head.allSeries()
        #expect(try it.next()?.floatSamples.map(\.t) == [1, 3])
    }

    @Test("minValidTime drops older samples and tombstones, as for a directory that has blocks")
    func minValidTime() throws {
        var o = HeadReplayOptions()
        o.minValidTime = 15
        let (head, series) = try Self.replay([[Self.a, Self.s(1, 10, 1), Self.s(1, 20, 2),
                                               WALBytes.tombstones([(ref: 1, mint: 0, maxt: 12)])]], options: o)
        #expect(series[0].floatSamples.map(\.t) == [20])
        #expect(head.report.belowMinValidTime == 1 && head.report.tombstonesDropped == 1)
    }

    @Test("ranges select samples [mint, maxt); block windows are aligned")
    func ranges() throws {
        let hour: Int64 = 3_600_000
        let (head, _) = try Self.replay([[Self.a, Self.s(1, 2 * hour - 1, 1), Self.s(1, 2 * hour, 2), Self.s(1, 5 * hour, 3)]])
        #expect(head.blockRanges() == [0..<(2 * hour), (2 * hour)..<(4 * hour), (4 * hour)..<(6 * hour)])
        var it = head.series(in: (2 * hour)..<(4 * hour))
        #expect(try it.next()?.floatSamples.map(\.v) == [2])
        var empty = head.series(in: (3 * hour)..<(4 * hour))
        #expect(try empty.next() == nil)
        let (neg, _) = try Self.replay([[Self.a, Self.s(1, -1, 1)]])
        #expect(neg.blockRanges() == [(-2 * hour)..<0])
    }
}

@Suite("Head chunk files")
struct HeadChunkFileTests {
    /// One head chunk file with the given entries (XOR chunks of one sample each).
    static func file(_ entries: [(ref: UInt64, t: Int64)]) -> [UInt8] {
        var b: [UInt8] = []
        WALBytes.be32(HeadChunkFiles.magic, &b)
        b += [1, 0, 0, 0]
        for e in entries {
            var entry: [UInt8] = []
            WALBytes.be64(e.ref, &entry)
            WALBytes.be64(UInt64(bitPattern: e.t), &entry)
            WALBytes.be64(UInt64(bitPattern: e.t), &entry)
            entry.append(1)
            // XOR chunk: count 1, varint t, 64 bits of 1.0.
            var data: [UInt8] = [0, 1]
            WALBytes.varint(e.t, &data)
            WALBytes.be64(1.0.bitPattern, &data)
            WALBytes.uvarint(UInt64(data.count), &entry)
            entry += data
            WALBytes.be32(CRC32C.checksum(entry), &entry)
            b += entry
        }
        return b + [UInt8](repeating: 0, count: 100)  // preallocated tail
    }

    @Test("chunks are read in file order; an out-of-sequence chunk sets its file and later ones aside")
    func sequence() throws {
        let dir = try Fixtures.tempDir("hc")
        defer { Fixtures.cleanup(dir) }
        try Data(Self.file([(1, 10), (2, 10), (1, 20)])).write(to: URL(fileURLWithPath: dir + "/000001"))
        try Data(Self.file([(1, 30), (1, 25)])).write(to: URL(fileURLWithPath: dir + "/000002"))
        try Data(Self.file([(2, 40)])).write(to: URL(fileURLWithPath: dir + "/000003"))
        try Data([0, 0, 0, 0, 0, 0, 0, 0]).write(to: URL(fileURLWithPath: dir + "/000004"))
        let (chunks, report) = try HeadChunkFiles.read(directory: dir)
        #expect(chunks[1]?.map(\.minTime) == [10, 20] && chunks[2]?.map(\.minTime) == [10])
        #expect(report.ignoredEmptyFile == dir + "/000004")
        let d = try #require(report.damage)
        #expect(d.file == dir + "/000002" && d.filesDropped == [dir + "/000002", dir + "/000003"], "\(d)")
        #expect(d.error.detail.contains("does not follow"))
        // Truncated inside an entry, and a stray byte in the zero tail: both damage with an offset.
        // (Cut to its first bytes, an entry whose series ref starts with zero bytes reads as the
        // end of the data, as upstream's all-zero check reads it.)
        let whole = Self.file([(1, 10), (2, 10)])
        var stray = whole
        stray[whole.count - 100 + 3] = 7
        for (what, bytes) in [("cut 13", Array(whole[0..<(whole.count - 113)])), ("cut 30", Array(whole[0..<(whole.count - 130)])), ("stray byte", stray)] {
            let cut = what
            try Data(bytes).write(to: URL(fileURLWithPath: dir + "/000001"))
            let (_, r) = try HeadChunkFiles.read(directory: dir)
            #expect(r.damage?.file == dir + "/000001" && (r.damage?.offset ?? -1) >= 8, "\(cut): \(String(describing: r.damage))")
        }
    }
}
