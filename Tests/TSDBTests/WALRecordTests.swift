import Foundation
import Testing
import TestSupport
@testable import TSDB

/// Record payloads decoded field by field, and every cut-off record refused with an error.
@Suite("WAL records")
struct WALRecordTests {
    static let histogram = Histogram(
        counterResetHint: .notCounterReset, schema: -2, zeroThreshold: 1e-128, zeroCount: 3, count: 19, sum: -4.5,
        positiveSpans: [HistogramSpan(offset: -3, length: 2), HistogramSpan(offset: 5, length: 1)],
        negativeSpans: [HistogramSpan(offset: 0, length: 1)],
        positiveBuckets: [4, -1, 7], negativeBuckets: [2])
    static let floatHistogram = FloatHistogram(
        counterResetHint: .gauge, schema: 8, zeroThreshold: 0.5, zeroCount: 0.25, count: 7.75, sum: .infinity,
        positiveSpans: [HistogramSpan(offset: 1, length: 2)], negativeSpans: [],
        positiveBuckets: [1.5, 6], negativeBuckets: [])

    /// (record bytes, what they decode to)
    static var cases: [(String, [UInt8], WALRecord)] {
        [
            ("series", WALBytes.series([(7, [("__name__", "up"), ("job", "a\"b")]), (1 << 40, [])]),
             .series([WALSeries(ref: 7, labels: Labels([Label(name: "__name__", value: "up"), Label(name: "job", value: "a\"b")])),
                      WALSeries(ref: 1 << 40, labels: Labels([Label]()))])),
            ("samples", WALBytes.samples([(ref: 10, t: 1_700_000_000_000, v: 1.5), (ref: 3, t: 1_699_999_999_000, v: -.nan), (ref: 12, t: 1_700_000_015_000, v: 0)]),
             .samples([WALFloatSample(ref: 10, t: 1_700_000_000_000, value: 1.5), WALFloatSample(ref: 3, t: 1_699_999_999_000, value: -.nan),
                       WALFloatSample(ref: 12, t: 1_700_000_015_000, value: 0)])),
            ("empty samples", [2], .samples([])),
            ("tombstones", WALBytes.tombstones([(ref: 5, mint: .min, maxt: .max), (ref: 6, mint: -10, maxt: 20)]),
             .tombstones([WALTombstone(ref: 5, minTime: .min, maxTime: .max), WALTombstone(ref: 6, minTime: -10, maxTime: 20)])),
            ("histograms", WALBytes.histograms([(ref: 2, t: 1000, h: histogram), (ref: 4, t: 900, h: Histogram())]),
             .histogramSamples([WALHistogramSample(ref: 2, t: 1000, histogram: histogram), WALHistogramSample(ref: 4, t: 900, histogram: Histogram())])),
            ("float histograms", WALBytes.floatHistograms([(ref: 9, t: -5, h: floatHistogram)]),
             .floatHistogramSamples([WALFloatHistogramSample(ref: 9, t: -5, histogram: floatHistogram)])),
            ("exemplars", WALBytes.exemplars([(ref: 1, t: 5, v: 2, labels: [("trace_id", "abc")]), (ref: 2, t: 6, v: 3, labels: [])]),
             .exemplars(count: 2)),
            ("metadata", WALBytes.metadata([(ref: 1, type: 1, unit: "seconds", help: "How long."), (ref: 300, type: 2, unit: "", help: "")]),
             .metadata(count: 2)),
            ("mmap markers", [5] + [UInt8](repeating: 0, count: 15) + [1], .mmapMarkers(count: 1)),
        ]
    }

    @Test("each record type decodes to its fields", arguments: 0..<9)
    func decodes(_ k: Int) throws {
        let (name, bytes, want) = Self.cases[k]
        let got = try bytes.withUnsafeBytes { try WALRecordDecoder.decode($0) }
        #expect(got == want, "\(name)")
    }

    @Test("every prefix of every record is refused with an offset, never read as something else", arguments: 0..<9)
    func truncated(_ k: Int) throws {
        let (name, bytes, want) = Self.cases[k]
        for n in 0..<bytes.count {
            do {
                let got = try Array(bytes[0..<n]).withUnsafeBytes { try WALRecordDecoder.decode($0, origin: 100) }
                // A prefix may end exactly between entries: then it holds the first entries.
                #expect(got.type == want.type && got.entryCount < want.entryCount, "\(name) prefix \(n) read as \(got)")
            } catch let e as TSDBError {
                #expect(e.offset >= 100 && e.offset <= 100 + n, "\(name) prefix \(n): \(e)")
            }
        }
    }

    @Test("impossible values are errors", arguments: [
        ("label count beyond the record", [1, 0, 0, 0, 0, 0, 0, 0, 1, 0xFF, 0x7F] as [UInt8]),
        ("histogram hint 9", WALBytes.histograms([(ref: 1, t: 1, h: Histogram())]).enumerated().map { $0.offset == 19 ? 9 : $0.element }),
        ("unknown type", [99, 1, 2]),
        ("empty record", []),
        ("trailing half entry", WALBytes.tombstones([(ref: 1, mint: 1, maxt: 2)]) + [0, 0]),
    ])
    func refused(_ name: String, _ bytes: [UInt8]) {
        #expect(throws: TSDBError.self, "\(name)") { try bytes.withUnsafeBytes { try WALRecordDecoder.decode($0) } }
    }

    @Test("compressed payloads: snappy and zstd round trip; damaged ones are errors")
    func compression() throws {
        // A real snappy record and a real zstd record from the fixtures.
        for (dir, kind) in [(WALFixture.snappy, WALCompression.snappy), (WALFixture.zstd, .zstd)] {
            let path = dir + "/wal/00000004"
            var s = WALSegmentScanner(storage: try ByteStorage.map(path: path), file: path)
            var raw: WALRawRecord?
            while let e = s.next() { if case .record(let r) = e, r.compression == kind, r.fragments == 1 { raw = r; break } }
            let r = try #require(raw)
            _ = try WALReader.decode(r)
            let stored = try r.withBytes { Array($0) }
            for n in [1, stored.count / 2, stored.count - 1] {
                let cut = Array(stored[0..<n])
                #expect(throws: TSDBError.self, "\(kind) cut to \(n)") {
                    let out = try cut.withUnsafeBytes { p in kind == .snappy ? try WALDecompress.snappy(p, origin: 0) : try WALDecompress.zstd(p, origin: 0) }
                    _ = try out.withUnsafeBytes { try WALRecordDecoder.decode($0) }
                }
            }
            var flipped = stored
            flipped[0] ^= 0xFF
            #expect(throws: TSDBError.self, "\(kind) damaged") {
                let out = try flipped.withUnsafeBytes { p in kind == .snappy ? try WALDecompress.snappy(p, origin: 0) : try WALDecompress.zstd(p, origin: 0) }
                _ = try out.withUnsafeBytes { try WALRecordDecoder.decode($0) }
            }
        }
    }
}
