import Foundation
import Testing
import TestSupport
@testable import BlockOps
@testable import TSDB

/// Native-histogram downsampling against Thanos' test vectors (`TestDownsampleNativeHistograms`,
/// `TestDownSampleNativeHistogram`, `TestDownsampleMixedChunkTypes`), and the histogram
/// arithmetic it rests on.
@Suite("Downsample: native histograms")
struct DownsampleHistogramTests {
    typealias H = FloatHistogram

    /// Prometheus' `tsdbutil.GenerateTestFloatHistogram(i)`.
    static func gen(_ i: Int, hint: HistogramCounterResetHint = .unknown) -> H {
        let x = Double(i)
        let buckets = [x + 1, x + 2, x + 1, x + 1]
        let spans = [HistogramSpan(offset: 0, length: 2), HistogramSpan(offset: 1, length: 2)]
        return H(counterResetHint: hint, schema: 1, zeroThreshold: 0.001, zeroCount: 2 + x, count: 12 + 9 * x, sum: 18.4 * (x + 1),
                 positiveSpans: spans, negativeSpans: spans, positiveBuckets: buckets, negativeBuckets: buckets)
    }

    /// `GenerateTestFloatHistograms(n)` for each n in turn: hint unknown on each run's first.
    static func gens(_ runs: Int...) -> [H] {
        runs.flatMap { n in (0..<n).map { gen($0, hint: $0 == 0 ? .unknown : .notCounterReset) } }
    }

    /// The element-wise sum of generated histograms (what Thanos' expectations add up with
    /// Add), computed directly from the generator's formulas.
    static func total(_ idx: [Int], hint: HistogramCounterResetHint) -> H {
        var h = gen(0, hint: hint)
        let n = Double(idx.count), s = Double(idx.reduce(0, +))
        h.count = 12 * n + 9 * s
        h.zeroCount = 2 * n + s
        h.sum = 18.4 * (s + n)
        h.positiveBuckets = [s + n, s + 2 * n, s + n, s + n]
        h.negativeBuckets = h.positiveBuckets
        return h
    }

    static func close(_ a: Double, _ b: Double) -> Bool { abs(a - b) <= 1e-9 }

    /// Equal up to 1e-9 in every count (Thanos compares with `EquateApprox(0, 1e-9)`), exact
    /// in layout and hint.
    static func close(_ a: H, _ b: H) -> Bool {
        a.counterResetHint == b.counterResetHint && a.schema == b.schema && a.zeroThreshold == b.zeroThreshold
            && a.positiveSpans == b.positiveSpans && a.negativeSpans == b.negativeSpans
            && close(a.count, b.count) && close(a.sum, b.sum) && close(a.zeroCount, b.zeroCount)
            && a.positiveBuckets.count == b.positiveBuckets.count && zip(a.positiveBuckets, b.positiveBuckets).allSatisfy(close)
            && a.negativeBuckets.count == b.negativeBuckets.count && zip(a.negativeBuckets, b.negativeBuckets).allSatisfy(close)
    }

    /// Raw float-histogram chunks, a new chunk at every counter reset (Thanos'
    /// `chunksFromHistogramSamples`).
    static func chunks(_ samples: [(Int64, H)]) throws -> [SeriesChunk] {
        var runs: [[(timestamp: Int64, histogram: H)]] = []
        for (k, s) in samples.enumerated() {
            if k == 0 || s.1.detectReset(after: samples[k - 1].1) { runs.append([]) }
            runs[runs.count - 1].append((s.0, s.1))
        }
        return try runs.map { r in
            SeriesChunk(minTime: r.first!.timestamp, maxTime: r.last!.timestamp, encoding: .floatHistogram,
                        payload: try FloatHistogramEncoder.encode(r, header: .notCounterReset))
        }
    }

    struct Decoded {
        var count: [(Int64, Double)] = []
        var sum: [(Int64, H)] = []
        var counter: [(Int64, H)] = []
        var floatCounter: [(Int64, Double)] = []
        var floatSum: [(Int64, Double)] = []
        var present: [AggregateChunk.Kind] = []
    }

    static func decode(_ c: DownsampledChunk) throws -> Decoded {
        guard case .encoded(_, let bytes) = c.chunk.payload else { return Decoded() }
        return try bytes.withUnsafeBytes { p in
            var d = Decoded()
            let a = try AggregateChunk(p)
            d.present = a.present.map(\.0)
            for (kind, e) in a.present {
                let sub = UnsafeRawBufferPointer(rebasing: p[e.range])
                if e.encoding == .floatHistogram {
                    let hs = try FloatHistogramIterator.decodeAll(sub).map { ($0.timestamp, $0.histogram) }
                    if kind == .sum { d.sum = hs } else if kind == .counter { d.counter = hs }
                } else {
                    var ts: [Int64] = [], vs: [Double] = []
                    try XORIterator.decodeAll(sub, timestamps: &ts, values: &vs)
                    switch kind {
                    case .count: d.count = Array(zip(ts, vs))
                    case .counter: d.floatCounter = Array(zip(ts, vs))
                    case .sum: d.floatSum = Array(zip(ts, vs))
                    default: break
                    }
                }
            }
            return d
        }
    }

    @Test("30 samples with two counter resets, 30 s apart: 5m, then 1h")
    func countersWithResets() throws {
        let hs = Self.gens(15, 5, 10)
        let samples = hs.enumerated().map { (Int64($0.offset) * 30_000, $0.element) }
        let raw = try Self.chunks(samples)
        #expect(raw.count == 3)
        let five = try SeriesDownsampler(inputResolution: 0, resolution: 300_000).downsample(raw)
        try #require(five.count == 1)
        let d = try Self.decode(five[0])
        #expect(d.present == [.count, .sum, .counter])
        #expect(d.count.map(\.0) == [299_999, 599_999, 870_000] && d.count.map(\.1) == [10, 10, 10])
        // Counters since the start with the resets applied: run ends plus the current value.
        let counters = [Self.total([9], hint: .unknown), Self.total([14, 4], hint: .notCounterReset),
                        Self.total([14, 4, 9], hint: .notCounterReset)]
        #expect(d.counter.map(\.0) == [299_999, 599_999, 870_000])
        for (got, want) in zip(d.counter.map(\.1), counters) { #expect(Self.close(got, want), "\(got) vs \(want)") }
        let sums = [Self.total(Array(0..<10), hint: .gauge), Self.total(Array(10..<15) + Array(0..<5), hint: .gauge),
                    Self.total(Array(0..<10), hint: .gauge)]
        for (got, want) in zip(d.sum.map(\.1), sums) { #expect(Self.close(got, want), "\(got) vs \(want)") }

        let input = SeriesChunk(minTime: five[0].chunk.minTime, maxTime: five[0].chunk.maxTime, encoding: .thanosAggregate,
                                payload: try Self.payload(five[0]))
        let hour = try SeriesDownsampler(inputResolution: 300_000, resolution: 3_600_000).downsample([input])
        try #require(hour.count == 1)
        let h = try Self.decode(hour[0])
        #expect(h.count.map(\.0) == [870_000] && h.count.map(\.1) == [30])
        #expect(h.counter.count == 1 && Self.close(h.counter[0].1, Self.total([14, 4, 9], hint: .unknown)))
        #expect(h.sum.count == 1 && Self.close(h.sum[0].1, Self.total(Array(0..<15) + Array(0..<5) + Array(0..<10), hint: .gauge)))
    }

    static func payload(_ c: DownsampledChunk) throws -> [UInt8] {
        guard case .encoded(_, let b) = c.chunk.payload else { throw BlockOpsError.invalid("not encoded") }
        return b
    }

    @Test("identical histograms a minute apart: exact window sums at 5m and 1h (TestDownsampleNativeHistograms)")
    func identicalHistograms() throws {
        let fh = H(schema: 3, zeroThreshold: 2.938735877055719e-39, count: 2, sum: 0.000551209,
                   positiveSpans: [HistogramSpan(offset: -97, length: 1), HistogramSpan(offset: 4, length: 1)],
                   positiveBuckets: [1, 1])
        var samples: [(timestamp: Int64, histogram: H)] = [(1688526018213, fh)]
        var t: Int64 = 1688526018213 + 60_000
        while t < 1688562258213 {
            samples.append((t, fh))
            t += 60_000
        }
        let raw = SeriesChunk(minTime: samples.first!.timestamp, maxTime: samples.last!.timestamp, encoding: .floatHistogram,
                              payload: try FloatHistogramEncoder.encode(samples, header: .notCounterReset))
        let five = try SeriesDownsampler(inputResolution: 0, resolution: 300_000).downsample([raw])
        try #require(five.count == 1)
        let d = try Self.decode(five[0])
        #expect(d.present == [.count, .sum, .counter])
        #expect(d.count.count == 121)
        #expect(d.count.enumerated().allSatisfy { $0.element.1 == ($0.offset == 120 ? 4 : 5) })
        #expect(d.counter.count == 1 + samples.count / 5)
        for (i, (_, c)) in d.counter.enumerated() {
            var want = fh
            want.counterResetHint = i == 0 ? .unknown : .notCounterReset
            #expect(c == want, "counter \(i)")
        }
        // Thanos compares these sums exactly: the same additions in the same order.
        var sum5m = fh
        sum5m.counterResetHint = .gauge
        sum5m.count = 10
        sum5m.sum = 0.002756045
        sum5m.positiveBuckets = [5, 5]
        var last5m = sum5m
        last5m.count = 8
        last5m.sum = 0.002204836
        last5m.positiveBuckets = [4, 4]
        for (i, (_, s)) in d.sum.enumerated() { #expect(s == (i == 120 ? last5m : sum5m), "5m sum \(i): \(s)") }

        let input = SeriesChunk(minTime: five[0].chunk.minTime, maxTime: five[0].chunk.maxTime, encoding: .thanosAggregate,
                                payload: try Self.payload(five[0]))
        let hour = try SeriesDownsampler(inputResolution: 300_000, resolution: 3_600_000).downsample([input])
        let sums = try hour.flatMap { try Self.decode($0).sum.map(\.1) }
        #expect(sums.count == 11)
        var sum1h = sum5m
        sum1h.count = 120
        sum1h.sum = 0.03307253999999999
        sum1h.positiveBuckets = [60, 60]
        for (i, s) in sums.enumerated() { #expect(s == (i == 10 ? last5m : sum1h), "1h sum \(i): \(s)") }
        #expect(try hour.allSatisfy { try Self.decode($0).present == [.count, .sum, .counter] })
    }

    @Test("a series that turns from histograms to floats (TestDownsampleMixedChunkTypes)")
    func mixedChunkTypes() throws {
        let hs = Self.gens(20)
        var ts: Int64 = 0
        var hSamples: [(timestamp: Int64, histogram: H)] = []
        for h in hs { ts += 15_000; hSamples.append((ts, h)) }
        var fSamples: [(Int64, Double)] = []
        for i in 0..<20 { ts += 15_000; fSamples.append((ts, Double(i))) }
        var xor = XOREncoder()
        for (t, v) in fSamples { xor.append(t, v) }
        let raw = [
            SeriesChunk(minTime: 15_000, maxTime: 300_000, encoding: .floatHistogram,
                        payload: try FloatHistogramEncoder.encode(hSamples, header: .notCounterReset)),
            SeriesChunk(minTime: 315_000, maxTime: 600_000, encoding: .xor, payload: xor.bytes()),
        ]
        let five = try SeriesDownsampler(inputResolution: 0, resolution: 300_000).downsample(raw)
        try #require(five.count == 2)
        let a = try Self.decode(five[0]), b = try Self.decode(five[1])
        #expect(a.count.map(\.0) == [299_999, 300_000] && a.count.map(\.1) == [19, 1])
        #expect(a.counter.count == 2 && Self.close(a.counter[0].1, Self.gen(18))
                && Self.close(a.counter[1].1, Self.gen(19, hint: .notCounterReset)))
        #expect(a.sum.count == 2 && Self.close(a.sum[0].1, Self.total(Array(0..<19), hint: .gauge))
                && Self.close(a.sum[1].1, Self.gen(19, hint: .gauge)))
        #expect(b.count.map(\.0) == [599_999, 600_000] && b.count.map(\.1) == [19, 1])
        #expect(b.floatCounter.map(\.0) == [315_000, 599_999, 600_000, 600_000] && b.floatCounter.map(\.1) == [0, 18, 19, 19])
        #expect(b.floatSum.map(\.1) == [171, 19])

        let inputs = try five.map { SeriesChunk(minTime: $0.chunk.minTime, maxTime: $0.chunk.maxTime, encoding: .thanosAggregate,
                                                payload: try Self.payload($0)) }
        let hour = try SeriesDownsampler(inputResolution: 300_000, resolution: 3_600_000).downsample(inputs)
        try #require(hour.count == 2)
        let x = try Self.decode(hour[0]), y = try Self.decode(hour[1])
        #expect(x.count.map(\.0) == [300_000] && x.count.map(\.1) == [20])
        #expect(x.counter.count == 1 && Self.close(x.counter[0].1, Self.gen(19)))
        #expect(x.sum.count == 1 && Self.close(x.sum[0].1, Self.total(Array(0..<20), hint: .gauge)))
        #expect(y.count.map(\.1) == [20] && y.floatSum.map(\.1) == [190])
        #expect(y.floatCounter.map(\.0) == [315_000, 600_000, 600_000] && y.floatCounter.map(\.1) == [0, 19, 19])
    }

    @Test("a series that turns from histograms to floats and back is downsampled in runs")
    func floatThenHistogram() throws {
        let fh = Self.gen(3)
        var hs: [(timestamp: Int64, histogram: H)] = []
        for i in 0..<52 { hs.append((1688526018213 + Int64(i) * 60_000, fh)) }
        var xor = XOREncoder()
        for i in 52..<600 { xor.append(1688526018213 + Int64(i) * 60_000, 3.14) }
        let raw = [
            SeriesChunk(minTime: hs.first!.timestamp, maxTime: hs.last!.timestamp, encoding: .floatHistogram,
                        payload: try FloatHistogramEncoder.encode(hs, header: .notCounterReset)),
            SeriesChunk(minTime: xor.minTime, maxTime: xor.maxTime, encoding: .xor, payload: xor.bytes()),
        ]
        let five = try SeriesDownsampler(inputResolution: 0, resolution: 300_000).downsample(raw)
        #expect(try five.map { try Self.decode($0).present } == [[.count, .sum, .counter], [.count, .sum, .min, .max, .counter]])
        let inputs = try five.map { SeriesChunk(minTime: $0.chunk.minTime, maxTime: $0.chunk.maxTime, encoding: .thanosAggregate,
                                                payload: try Self.payload($0)) }
        let hour = try SeriesDownsampler(inputResolution: 300_000, resolution: 3_600_000).downsample(inputs)
        #expect(hour.count == 2)
    }

    // MARK: Histogram arithmetic

    @Test("adding histograms of different schemas and zero thresholds")
    func addition() throws {
        // Schema 1 buckets 0,1 (upper bounds 1, √2) and 3,4; schema 0 bucket 1 (upper bound 2).
        var a = H(schema: 1, zeroThreshold: 0.001, zeroCount: 1, count: 10, sum: 5,
                  positiveSpans: [HistogramSpan(offset: 0, length: 2), HistogramSpan(offset: 1, length: 2)], positiveBuckets: [1, 2, 3, 4])
        let b = H(schema: 0, zeroThreshold: 0.001, zeroCount: 2, count: 3, sum: 1,
                  positiveSpans: [HistogramSpan(offset: 1, length: 1)], positiveBuckets: [3])
        try a.add(b)
        // a lowered to schema 0: buckets 0 (1), 1 (2+... idx 1 and 2 of schema 1 -> 1), 2 (3,4).
        #expect(a.schema == 0)
        #expect(a.positiveSpans == [HistogramSpan(offset: 0, length: 3)])
        #expect(a.positiveBuckets == [1, 5, 7])
        #expect(a.count == 13 && a.zeroCount == 3 && a.sum == 6)

        // A wider zero bucket swallows the other's low buckets.
        var c = H(schema: 0, zeroThreshold: 2, zeroCount: 1, count: 5, sum: 0,
                  positiveSpans: [HistogramSpan(offset: 2, length: 1)], positiveBuckets: [4])
        let d = H(schema: 0, zeroThreshold: 0.5, zeroCount: 1, count: 4, sum: 0,
                  positiveSpans: [HistogramSpan(offset: 0, length: 3)], positiveBuckets: [1, 1, 1])
        try c.add(d)
        #expect(c.zeroThreshold == 2 && c.zeroCount == 4)  // d's buckets (0.5,1] and (1,2] join the zero bucket
        #expect(c.positiveSpans == [HistogramSpan(offset: 2, length: 1)] && c.positiveBuckets == [5])

        // A bucket between two spans extends the one before it (Prometheus' layout).
        var e = H(schema: 0, count: 2, positiveSpans: [HistogramSpan(offset: 0, length: 1), HistogramSpan(offset: 1, length: 1)],
                  positiveBuckets: [1, 1])
        try e.add(H(schema: 0, count: 1, positiveSpans: [HistogramSpan(offset: 1, length: 1)], positiveBuckets: [1]))
        #expect(e.positiveSpans == [HistogramSpan(offset: 0, length: 2), HistogramSpan(offset: 0, length: 1)])
        #expect(e.positiveBuckets == [1, 1, 1])

        var custom = H(schema: histogramCustomBucketsSchema, count: 1, positiveSpans: [HistogramSpan(offset: 0, length: 1)],
                       positiveBuckets: [1], customValues: [1, 2])
        #expect(throws: HistogramMathError.self) {
            try custom.add(H(schema: histogramCustomBucketsSchema, count: 1, positiveSpans: [HistogramSpan(offset: 0, length: 1)],
                             positiveBuckets: [1], customValues: [1, 3]))
        }
        #expect(throws: HistogramMathError.self) { try custom.add(Self.gen(1)) }
    }

    @Test("counter-reset detection follows Prometheus' rules", arguments: [
        ("hint says reset", H(counterResetHint: .counterReset, count: 10), H(count: 1), true),
        ("hint says no reset", H(counterResetHint: .notCounterReset, count: 1), H(count: 10), false),
        ("count went down", H(count: 1), H(count: 10), true),
        ("same", gen(3), gen(3), false),
        ("grew", gen(4), gen(3), false),
        ("bucket went down", { var h = gen(4); h.positiveBuckets[2] = 0; return h }(), gen(3), true),
        ("populated bucket disappeared", { var h = gen(4); h.positiveSpans = [HistogramSpan(offset: 0, length: 2)]; h.positiveBuckets = [5, 6]; return h }(), gen(3), true),
        ("higher schema", { var h = gen(4); h.schema = 2; return h }(), gen(3), true),
        ("smaller zero threshold", { var h = gen(4); h.zeroThreshold = 0.0001; return h }(), gen(3), true),
    ] as [(String, H, H, Bool)])
    func resets(_ name: String, _ cur: H, _ prev: H, _ want: Bool) {
        #expect(cur.detectReset(after: prev) == want, "\(name)")
    }
}
