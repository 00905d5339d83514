import Foundation
import Testing
import TestSupport
@testable import TSDB

/// The WAL that Debian's Prometheus 2.42 wrote (fixtures/wal, scripts/make-wal-fixture.sh),
/// replayed and compared with what `promtool tsdb dump` printed for the same directory.
@Suite("WAL fixture from Prometheus 2.42")
struct WALFixtureTests {
    @Test("the replayed head prints exactly what promtool tsdb dump printed")
    func matchesPromtool() throws {
        let head = try Head.replay(directory: WALFixture.snappy)
        let mine = try WALFixture.dump(head, style: .promtool242)
        let oracle = try WALFixture.oracle()
        #expect(oracle.count > 100_000)
        if mine != oracle {
            let a = mine.split(separator: "\n", omittingEmptySubsequences: false)
            let b = oracle.split(separator: "\n", omittingEmptySubsequences: false)
            let k = (0..<min(a.count, b.count)).first { a[$0] != b[$0] } ?? min(a.count, b.count)
            Issue.record("first difference at line \(k + 1): ours \(k < a.count ? String(a[k]) : "<end>") | promtool \(k < b.count ? String(b[k]) : "<end>") (\(a.count) vs \(b.count) lines)")
        }
        #expect(head.report.wal.damage.isEmpty, "\(head.report.lines)")
    }

    @Test("the fixture has what it is meant to exercise")
    func coverage() throws {
        let head = try Head.replay(directory: WALFixture.snappy)
        let r = head.report
        #expect(r.wal.checkpoint?.hasSuffix("checkpoint.00000001") == true)
        #expect(r.wal.files.count >= 3)
        // Prometheus 2.42 compresses every record it can with snappy (wal-compression defaults to true).
        #expect(r.wal.compression[.snappy, default: 0] > 1000)
        #expect(r.wal.compression[.zstd, default: 0] == 0)
        #expect(r.wal.records[.series, default: 0] > 0)
        #expect(r.wal.records[.tombstones, default: 0] > 0)
        #expect(r.wal.records[.histogramSamples, default: 0] > 0)
        #expect(r.wal.records[.floatHistogramSamples, default: 0] > 0)
        #expect(r.wal.records[.exemplars, default: 0] > 0)
        #expect(r.headChunks.chunks > 0)
        #expect(r.coveredByHeadChunks > 0)
        #expect(r.tombstones > 0)
        #expect(r.histogramSamples > 0 && r.floatHistogramSamples > 0)
        // Segment 2 was cut short by kill -9 in the middle of a page; the last one too.
        let two = try ByteStorage.map(path: WALFixture.snappy + "/wal/00000002")
        #expect(two.count % WALFormat.pageSize != 0)
        // One record of the fixture spans a page boundary.
        let (records, _) = try WALFixture.records(WALFixture.snappy + "/wal")
        #expect(records.count > 1000)
        for line in r.lines { print(line) }
    }

    @Test("the zstd re-encoding (Prometheus >= 2.46 framing) gives the same head")
    func zstdCopy() throws {
        let snappy = try Head.replay(directory: WALFixture.snappy)
        let zstd = try Head.replay(directory: WALFixture.zstd)
        #expect(zstd.report.wal.compression[.zstd, default: 0] > 1000)
        #expect(zstd.report.wal.compression[.snappy, default: 0] == 0)
        #expect(zstd.report.wal.damage.isEmpty, "\(zstd.report.lines)")
        #expect(try WALFixture.dump(zstd, style: .promtool242) == WALFixture.oracle())
        #expect(try WALFixture.dump(zstd, style: .allSamples) == WALFixture.dump(snappy, style: .allSamples))
        let (a, _) = try WALFixture.records(WALFixture.snappy + "/wal")
        let (b, _) = try WALFixture.records(WALFixture.zstd + "/wal")
        #expect(a.map(\.record) == b.map(\.record))
    }

    /// The exporter (scripts/wal-fixture/exporter.py) derives every field of its histograms
    /// from the seconds since it started, which the sum gives back; so each decoded histogram,
    /// from WAL records and from head chunks alike, can be checked field by field.
    static func expected(_ name: String, sum: Double) -> (Histogram?, FloatHistogram?) {
        switch name {
        case "fixture_native_seconds":
            let age = Int64(((sum - 0.5) / 1.25).rounded())
            let nb = 2 + min(age / 30, 6)
            let pos = (0..<nb).map { age + 3 * $0 + 1 }
            let zero = UInt64(age / 2)
            let spans = nb > 2 ? [HistogramSpan(offset: 0, length: 2), HistogramSpan(offset: 1, length: UInt32(nb - 2))] : [HistogramSpan(offset: 0, length: 2)]
            return (Histogram(counterResetHint: .unknown, schema: 3, zeroThreshold: 0.001, zeroCount: zero,
                              count: UInt64(pos.reduce(0, +)) + zero, sum: sum, positiveSpans: spans,
                              positiveBuckets: zip(pos, [0] + pos).map { $0 - $1 }), nil)
        case "fixture_gauge_native":
            let wave = Int64(((sum + 2.25) / 0.5).rounded())
            let pos = [wave, 20 - wave, 3]
            let neg = [wave / 2 + 1]
            return (Histogram(counterResetHint: .gauge, schema: 0, zeroThreshold: 0.01, zeroCount: 1,
                              count: UInt64(pos.reduce(0, +) + neg[0] + 1), sum: sum,
                              positiveSpans: [HistogramSpan(offset: -1, length: 3)], negativeSpans: [HistogramSpan(offset: 0, length: 1)],
                              positiveBuckets: zip(pos, [0] + pos).map { $0 - $1 }, negativeBuckets: neg), nil)
        case "fixture_float_native":
            let age = ((sum - 0.01) / 0.1).rounded()
            let pos = [age * 0.5 + 0.25, age * 0.125 + 1.5]
            return (nil, FloatHistogram(counterResetHint: .unknown, schema: 1, zeroThreshold: 0.001, zeroCount: 0.5,
                                        count: pos[0] + pos[1] + 0.5, sum: sum,
                                        positiveSpans: [HistogramSpan(offset: 2, length: 2)], positiveBuckets: pos))
        default:
            return (nil, nil)
        }
    }

    @Test("every histogram field decoded from WAL records and head chunks is what the exporter served")
    func histogramsAsServed() throws {
        let (records, _) = try WALFixture.records(WALFixture.snappy + "/wal")
        var names: [UInt64: String] = [:]
        var checked = 0
        for r in records {
            switch r.record {
            case .series(let list): for s in list { names[s.ref] = s.labels["__name__"] }
            case .histogramSamples(let list):
                for s in list {
                    let (want, _) = Self.expected(names[s.ref] ?? "", sum: s.histogram.sum)
                    #expect(s.histogram == want, "\(names[s.ref] ?? "?") at \(s.t)")
                    checked += 1
                }
            case .floatHistogramSamples(let list):
                for s in list {
                    let (_, want) = Self.expected(names[s.ref] ?? "", sum: s.histogram.sum)
                    #expect(s.histogram == want, "\(names[s.ref] ?? "?") at \(s.t)")
                    checked += 1
                }
            default: break
            }
        }
        #expect(checked > 300)
        // The head chunks hold the earlier samples of the same series. A chunk keeps one span
        // layout for all its samples (Prometheus recodes it when buckets appear, inserting
        // empty ones), so these are compared by their non-empty buckets, as printed.
        let (chunks, _) = try HeadChunkFiles.read(directory: WALFixture.snappy + "/chunks_head")
        var seen: [(ref: UInt64, t: Int64, text: String, layout: [Double])] = []
        for (ref, list) in chunks {
            for c in list where c.encoding == .histogram || c.encoding == .floatHistogram {
                try c.withData { (data) throws(TSDBError) in
                    if c.encoding == .histogram {
                        var it = try HistogramIterator(data)
                        while try it.next() {
                            let h = it.histogram
                            seen.append((ref, it.timestamp, h.description, [Double(h.schema), h.zeroThreshold, Double(h.zeroCount), h.sum]))
                        }
                    } else {
                        var it = try FloatHistogramIterator(data)
                        while try it.next() {
                            let h = it.histogram
                            seen.append((ref, it.timestamp, h.description, [Double(h.schema), h.zeroThreshold, h.zeroCount, h.sum]))
                        }
                    }
                }
            }
        }
        var fromChunks = 0
        for s in seen {
            let sum = s.layout[3]
            let (ih, fh) = Self.expected(names[s.ref] ?? "", sum: sum)
            let want = ih.map { ($0.description, [Double($0.schema), $0.zeroThreshold, Double($0.zeroCount), sum]) }
                ?? fh.map { ($0.description, [Double($0.schema), $0.zeroThreshold, $0.zeroCount, sum]) }
            #expect(want?.0 == s.text && want?.1 == s.layout, "chunk of \(names[s.ref] ?? "?") at \(s.t)")
            fromChunks += 1
        }
        #expect(fromChunks > 100)
    }

    @Test("a live promtool run on a fresh copy agrees with the recorded oracle")
    func liveOracle() throws {
        guard Promtool.available else { return }
        let copy = try WALFixture.copy(WALFixture.snappy)
        defer { Fixtures.cleanup((copy as NSString).deletingLastPathComponent) }
        #expect(try Promtool.run(["tsdb", "dump", copy]) == WALFixture.oracle())
    }

    @Test("a damaged head chunk file is set aside as Prometheus does; promtool agrees")
    func damagedHeadChunks() throws {
        let copy = try WALFixture.copy(WALFixture.snappy)
        defer { Fixtures.cleanup((copy as NSString).deletingLastPathComponent) }
        let file = copy + "/chunks_head/000003"
        var bytes = try Array(Data(contentsOf: URL(fileURLWithPath: file)))
        bytes[bytes.count / 2] ^= 0x10
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        let head = try Head.replay(directory: copy)
        let d = try #require(head.report.headChunks.damage)
        #expect(d.file == file && d.error.kind == .checksum && d.filesDropped.count == 2, "\(d)")
        #expect(head.report.headChunks.chunks == 0)
        // Prometheus deletes the damaged file and those after it, then replays the WAL.
        let mine = try WALFixture.dump(head, style: .promtool242)
        #expect(mine != (try WALFixture.oracle()))
        if Promtool.available {
            let theirs = try Promtool.run(["tsdb", "dump", copy])
            #expect(mine == theirs)
        }
        var noChunks = HeadReplayOptions()
        noChunks.useHeadChunks = false
        let walOnly = try Head.replay(directory: WALFixture.snappy, options: noChunks)
        #expect(try WALFixture.dump(walOnly, style: .promtool242) == mine)
    }

    /// Single-fragment records of a fixture segment: (offset, length of the payload).
    static func fullRecords(_ path: String) throws -> [(offset: Int, length: Int)] {
        var sc = WALSegmentScanner(storage: try ByteStorage.map(path: path), file: path)
        var out: [(Int, Int)] = []
        while let e = sc.next() {
            if case .record(let r) = e, r.fragments == 1 { out.append((r.offset, r.endOffset - r.offset - 7)) }
        }
        return out
    }

    @Test("a torn tail anywhere in a record reads like the log cut before that record; promtool agrees")
    func tornTailOracle() throws {
        guard Promtool.available else { return }
        let recs = try Self.fullRecords(WALFixture.snappy + "/wal/00000004")
        let victim = recs[recs.count / 2]
        let torn = try WALFixture.copy(WALFixture.snappy)
        let clean = try WALFixture.copy(WALFixture.snappy)
        defer { Fixtures.cleanup((torn as NSString).deletingLastPathComponent); Fixtures.cleanup((clean as NSString).deletingLastPathComponent) }
        let seg = "/wal/00000004"
        let bytes = try Data(contentsOf: URL(fileURLWithPath: torn + seg))
        try bytes.prefix(victim.offset + 7 + victim.length / 2).write(to: URL(fileURLWithPath: torn + seg))
        try bytes.prefix(victim.offset).write(to: URL(fileURLWithPath: clean + seg))
        let head = try Head.replay(directory: torn)
        #expect(head.report.wal.damage.isEmpty)
        #expect(head.report.wal.tornTail?.offset == victim.offset)
        // promtool 2.42 refuses a torn record ("last record is torn"), but reads the clean cut.
        #expect(try WALFixture.dump(head, style: .promtool242) == Promtool.run(["tsdb", "dump", clean]))
    }

    @Test("a flipped byte loses one record and nothing else; promtool agrees when that record is blanked")
    func flippedByteOracle() throws {
        guard Promtool.available else { return }
        let seg = "/wal/00000003"
        let recs = try Self.fullRecords(WALFixture.snappy + seg)
        let victim = recs[recs.count / 3]
        let damaged = try WALFixture.copy(WALFixture.snappy)
        let blanked = try WALFixture.copy(WALFixture.snappy)
        defer { Fixtures.cleanup((damaged as NSString).deletingLastPathComponent); Fixtures.cleanup((blanked as NSString).deletingLastPathComponent) }
        var bytes = try Array(Data(contentsOf: URL(fileURLWithPath: damaged + seg)))
        var flipped = bytes
        flipped[victim.offset + 7 + victim.length / 2] ^= 0x01
        try Data(flipped).write(to: URL(fileURLWithPath: damaged + seg))
        // Blanked: the same fragment holding an uncompressed record of a type 2.42 ignores.
        let payload = [UInt8(200)] + [UInt8](repeating: 0, count: victim.length - 1)
        bytes[victim.offset] = 1
        let crc = CRC32C.checksum(payload)
        for k in 0..<4 { bytes[victim.offset + 3 + k] = UInt8(truncatingIfNeeded: crc >> (24 - 8 * k)) }
        bytes.replaceSubrange((victim.offset + 7)..<(victim.offset + 7 + victim.length), with: payload)
        try Data(bytes).write(to: URL(fileURLWithPath: blanked + seg))

        let head = try Head.replay(directory: damaged)
        let d = try #require(head.report.wal.damage.first)
        #expect(head.report.wal.damage.count == 1)
        #expect(d.file == damaged + seg && d.offset == victim.offset && d.error.kind == .checksum && d.recordsLost == 1, "\(d)")
        #expect(try WALFixture.dump(head, style: .promtool242) == Promtool.run(["tsdb", "dump", blanked]))
        // Our reader reports the blanked record as an unknown type instead of skipping it silently.
        let other = try Head.replay(directory: blanked)
        #expect(other.report.wal.damage.map(\.error.kind) == [.unsupported])
    }

    @Test("series in a 2 h window hold exactly that window's samples, in label order")
    func rangeWalk() throws {
        let head = try Head.replay(directory: WALFixture.snappy)
        let (lo, hi) = (try #require(head.minTime), try #require(head.maxTime))
        let windows = head.blockRanges()
        #expect(windows.first!.lowerBound <= lo && windows.last!.upperBound > hi)
        #expect(windows.allSatisfy { $0.lowerBound % (2 * 3600 * 1000) == 0 && $0.count == 2 * 3600 * 1000 })
        // Cutting the head at a minute boundary inside it: the two halves add up to the whole.
        let cut = (lo + hi) / 2 / 60_000 * 60_000
        var total = 0, halves = 0
        var it = head.allSeries()
        var previous: Labels?
        while let s = try it.next() {
            total += s.sampleCount
            if let p = previous { #expect(Labels.compare(p, s.labels) < 0) }
            previous = s.labels
        }
        for r in [Int64.min..<cut, cut..<Int64.max] {
            var part = head.series(in: r)
            while let s = try part.next() {
                #expect(r.contains(s.minTime) && r.contains(s.maxTime))
                halves += s.sampleCount
            }
        }
        #expect(total == halves && total > 10_000)
    }
}
