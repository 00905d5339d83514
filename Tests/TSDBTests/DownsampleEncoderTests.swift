import Foundation
import Testing
import TestSupport
@testable import TSDB

/// The encoders downsampling writes with: varbit integers, float-histogram chunks
/// (encoding 3) and Thanos aggregate chunks (0xFF). Each is checked against the reader,
/// and the float-histogram encoder against the chunks Prometheus 2.42 wrote for the
/// native-histogram fixture.
@Suite("Downsample encoders: varbit, float histogram, aggregate")
struct DownsampleEncoderTests {
    @Test("varbit writers round-trip through the readers at every width boundary")
    func varbitRoundTrip() throws {
        var ints: [Int64] = [0, .min, .max, -1, 1]
        for w in [3, 6, 9, 12, 18, 25, 56] {
            let half = Int64(1) << (w - 1)
            ints += [half, half + 1, -(half - 1), -half, half - 1]
        }
        var uints: [UInt64] = [0, .max, 1]
        for w in [3, 6, 9, 12, 18, 25, 56] { uints += [(1 << w) - 1, 1 << w] }
        var b = BitWriter()
        for v in ints { b.writeVarbitInt(v) }
        for v in uints { b.writeVarbitUint(v) }
        let bytes = b.finish()
        try bytes.withUnsafeBytes { p in
            var r = BitReader(p)
            for v in ints {
                let got = try r.readVarbitInt()
                #expect(got == v)
            }
            for v in uints {
                let got = try r.readVarbitUint()
                #expect(got == v)
            }
        }
    }

    @Test("varbit widths are the shortest Prometheus allows")
    func varbitWidths() {
        // (value, bits written): prefix + payload.
        let cases: [(Int64, Int)] = [(0, 1), (4, 5), (-3, 5), (5, 9), (-4, 9), (32, 9), (33, 13), (2048, 17),
                                     (2049, 24), (16_777_216, 32), (16_777_217, 64), (1 << 55, 64), ((1 << 55) + 1, 72)]
        for (v, n) in cases {
            var b = BitWriter()
            b.writeVarbitInt(v)
            #expect(b.bitCount == n, "\(v)")
        }
    }

    /// Every encoding-3 chunk of the fixture with its decoded samples and header.
    static func fixtureFloatChunks() throws -> [(bytes: [UInt8], samples: [(timestamp: Int64, histogram: FloatHistogram)], header: HistogramCounterResetHint)] {
        let dir = try #require(try Block.directories(at: Fixtures.fixtures + "/native-histograms").first)
        let b = try Block(directory: dir)
        var out: [(bytes: [UInt8], samples: [(timestamp: Int64, histogram: FloatHistogram)], header: HistogramCounterResetHint)] = []
        var l: [LabelRef] = [], c: [ChunkMeta] = []
        for ref in try b.index.allPostings() {
            try b.index.series(ref, labels: &l, chunks: &c)
            for m in c {
                let raw = try b.chunks.chunk(m.ref)
                guard raw.encoding == .floatHistogram else { continue }
                let bytes = raw.withData { Array($0) }
                let header = try bytes.withUnsafeBytes { p in try FloatHistogramIterator(p).counterResetHeader }
                let samples = try bytes.withUnsafeBytes { p in try FloatHistogramIterator.decodeAll(p) }
                out.append((bytes, samples, header))
            }
        }
        return out
    }

    @Test("re-encoding Prometheus 2.42's float-histogram chunks gives their bytes")
    func reencodesPrometheusChunks() throws {
        let chunks = try Self.fixtureFloatChunks()
        try #require(!chunks.isEmpty, "the fixture has float-histogram chunks")
        for c in chunks {
            let ours = try FloatHistogramEncoder.encode(c.samples, header: c.header)
            #expect(ours == c.bytes, "chunk of \(c.samples.count) samples starting at \(c.samples.first?.timestamp ?? 0)")
        }
    }

    static func histogram(_ i: Int, spans: [HistogramSpan], hint: HistogramCounterResetHint = .unknown) -> FloatHistogram {
        let n = spans.reduce(0) { $0 + Int($1.length) }
        return FloatHistogram(counterResetHint: hint, schema: 1, zeroThreshold: 0.001, zeroCount: Double(2 + i),
                              count: Double(12 + 9 * i), sum: 18.4 * Double(i + 1),
                              positiveSpans: spans, negativeSpans: [HistogramSpan(offset: 0, length: 2)],
                              positiveBuckets: (0..<n).map { Double(i + $0 + 1) }, negativeBuckets: [Double(i), 0.5])
    }

    @Test("samples with different layouts are written on the union of their buckets")
    func unionLayout() throws {
        let a = [HistogramSpan(offset: 0, length: 2), HistogramSpan(offset: 1, length: 2)]  // 0,1,3,4
        let b = [HistogramSpan(offset: 1, length: 3)]                                      // 1,2,3
        let c = [HistogramSpan(offset: -2, length: 1)]                                     // -2
        let samples: [(timestamp: Int64, histogram: FloatHistogram)] = [
            (1000, Self.histogram(0, spans: a)), (16_000, Self.histogram(1, spans: b)), (31_000, Self.histogram(2, spans: c)),
        ]
        let bytes = try FloatHistogramEncoder.encode(samples, header: .notCounterReset)
        let got = try bytes.withUnsafeBytes { p in try FloatHistogramIterator.decodeAll(p) }
        #expect(got.map(\.timestamp) == [1000, 16_000, 31_000])
        let union = [HistogramSpan(offset: -2, length: 1), HistogramSpan(offset: 1, length: 5)]  // -2, 0...4
        for (k, (_, h)) in got.enumerated() {
            #expect(h.positiveSpans == union)
            // The values per bucket index are the sample's, 0 where it has no bucket.
            var want: [Int32: Double] = [:]
            var idx: [Int32] = []
            bucketIndexes(samples[k].histogram.positiveSpans) { idx.append($0) }
            for (i, v) in zip(idx, samples[k].histogram.positiveBuckets) { want[i] = v }
            var have: [Int32] = []
            bucketIndexes(union) { have.append($0) }
            #expect(zip(have, h.positiveBuckets).allSatisfy { want[$0.0, default: 0] == $0.1 }, "sample \(k)")
            #expect(h.count == samples[k].histogram.count && h.sum == samples[k].histogram.sum && h.zeroCount == samples[k].histogram.zeroCount)
            #expect(h.negativeBuckets == samples[k].histogram.negativeBuckets)
            #expect(h.counterResetHint == (k == 0 ? .unknown : .notCounterReset))
        }
    }

    @Test("headers, stale markers, custom buckets and zero thresholds round-trip")
    func roundTrips() throws {
        let spans = [HistogramSpan(offset: 0, length: 2)]
        var samples: [(timestamp: Int64, histogram: FloatHistogram)] = (0..<130).map { i in
            (Int64(i) * 15_000 + Int64(i % 4), Self.histogram(i, spans: spans, hint: .gauge))
        }
        samples.append((2_000_000, FloatHistogram(sum: Double(bitPattern: staleNaNBits))))
        let gauge = try FloatHistogramEncoder.encode(samples, header: .gauge)
        let got = try gauge.withUnsafeBytes { p in try FloatHistogramIterator.decodeAll(p) }
        #expect(got.count == samples.count)
        for (g, s) in zip(got, samples) {
            #expect(g.timestamp == s.timestamp)
            #expect(g.histogram == s.histogram)
        }

        let bounds: [Double] = [0.1, 0.25, 1, 2.5, 1e9, -3, 33_554.43]
        var nhcb: [(timestamp: Int64, histogram: FloatHistogram)] = []
        for i in 0..<5 {
            let v = Double(i)
            let h = FloatHistogram(
                counterResetHint: i == 0 ? .unknown : .notCounterReset, schema: histogramCustomBucketsSchema,
                count: v * 3, sum: v, positiveSpans: [HistogramSpan(offset: 0, length: 3)],
                positiveBuckets: [v, v, v], customValues: bounds)
            nhcb.append((Int64(i) * 60_000, h))
        }
        let nb = try FloatHistogramEncoder.encode(nhcb, header: .notCounterReset)
        let ng = try nb.withUnsafeBytes { p in try FloatHistogramIterator.decodeAll(p) }
        #expect(ng.map { $0.histogram } == nhcb.map { $0.histogram })

        for z: Double in [0, 0.001, 1.0 / 1024, 1024, 2048, 0x1p-243, 0x1p-244, 1e-300] {
            var h = Self.histogram(0, spans: spans)
            h.zeroThreshold = z
            let bytes = try FloatHistogramEncoder.encode([(0, h)], header: .notCounterReset)
            let back = try bytes.withUnsafeBytes { p in try FloatHistogramIterator.decodeAll(p) }
            #expect(back.first?.histogram.zeroThreshold == z, "\(z)")
        }
    }

    @Test("samples that cannot share a chunk are refused")
    func refusesMixedChunks() {
        var other = Self.histogram(1, spans: [HistogramSpan(offset: 0, length: 1)])
        other.schema = 2
        #expect(throws: TSDBError.self) {
            _ = try FloatHistogramEncoder.encode([(0, Self.histogram(0, spans: [])), (1, other)], header: .unknown)
        }
        #expect(throws: TSDBError.self) {
            _ = try FloatHistogramEncoder.encode([(0, FloatHistogram(sum: Double(bitPattern: staleNaNBits))), (1, other)], header: .unknown)
        }
    }

    @Test("aggregate chunks: Thanos' entry layout, read back by AggregateChunk")
    func aggregateLayout() throws {
        var count = XOREncoder(), counter = XOREncoder()
        count.append(299_999, 20)
        counter.append(5_791, 461_968)
        counter.append(299_999, 465_870)
        let parts: [AggregateChunk.Part?] = [AggregateChunk.Part(.xor, count.bytes()), nil, nil, nil, AggregateChunk.Part(.xor, counter.bytes())]
        let bytes = AggregateChunk.encode(parts)
        // uvarint len | 0x01 | payload for count, three absent entries, then the counter.
        let c = count.bytes(), k = counter.bytes()
        #expect(bytes == [UInt8(c.count), 1] + c + [0, 0, 0] + [UInt8(k.count), 1] + k)
        try bytes.withUnsafeBytes { p in
            let a = try AggregateChunk(p)
            #expect(a.present.map(\.0) == [.count, .counter])
            #expect(Array(p[a[.counter]!.range]) == k)
        }
    }

    @Test("encoding straight from XOR encoders gives the bytes of the encoders' payloads")
    func aggregateFromEncoders() {
        var rng = SeededRandom(seed: 7)
        for n in [0, 1, 2, 3, 7, 8, 9, 64, 200] {
            var encoders: [XOREncoder?] = []
            for k in 0..<5 {
                if k == 2 && n % 2 == 1 { encoders.append(nil); continue }
                var e = XOREncoder()
                var t: Int64 = 1_700_000_000_000
                for _ in 0..<n {
                    t += 300_000 + Int64(rng.next() % 3)
                    e.append(t, k == 0 ? 20 : Double(bitPattern: rng.next() >> UInt64(k)))
                }
                encoders.append(e)
            }
            let viaParts = AggregateChunk.encode(encoders.map { $0.map { AggregateChunk.Part(.xor, $0.bytes()) } })
            #expect(AggregateChunk.encode(xor: encoders) == viaParts, "\(n) samples")
        }
    }
}
