import Foundation
import Testing

@testable import TSDB

// Tests for the native-histogram chunk decoders (encodings 2 and 3), the varbit codings and
// the Go-compatible `description`. The real fixture (fixtures/native-histograms) was written
// by Prometheus 2.42 from the histograms listed in its expected.json; see
// scripts/make-native-histogram-fixture.sh.

// MARK: - Fixture access

private struct RawChunk {
    let offset: Int
    let encoding: UInt8
    let data: [UInt8]
}

private enum NHFixture {
    static let dir = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("fixtures/native-histograms")

    static func blockDir() throws -> URL {
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path)
        let blocks = names.filter {
            FileManager.default.fileExists(atPath: dir.appendingPathComponent($0).appendingPathComponent("meta.json").path)
        }
        try #require(blocks.count == 1, "expected one block in \(dir.path), found \(blocks)")
        return dir.appendingPathComponent(blocks[0])
    }

    /// Every chunk of chunks/000001, read sequentially: `uvarint len | enc | data | crc32c`.
    static func chunks() throws -> [RawChunk] {
        let bytes = [UInt8](try Data(contentsOf: blockDir().appendingPathComponent("chunks/000001")))
        try #require(bytes.count >= 8)
        #expect(Array(bytes[0..<4]) == [0x85, 0xBD, 0x40, 0xDD])
        var pos = 8
        var out: [RawChunk] = []
        while pos < bytes.count {
            let start = pos
            var len = 0
            var shift = 0
            while true {
                try #require(pos < bytes.count)
                let b = bytes[pos]
                pos += 1
                len |= Int(b & 0x7f) << shift
                if b < 0x80 { break }
                shift += 7
            }
            try #require(pos + 1 + len + 4 <= bytes.count, "chunk at \(start) overruns the file")
            let enc = bytes[pos]
            let data = Array(bytes[(pos + 1)..<(pos + 1 + len)])
            let crc = bytes[(pos + 1 + len)..<(pos + 5 + len)].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            #expect(CRC32C.checksum(bytes[pos..<(pos + 1 + len)]) == crc, "CRC of chunk at \(start)")
            out.append(RawChunk(offset: start, encoding: enc, data: data))
            pos += 1 + len + 4
        }
        return out
    }

    static func json(_ name: String) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent(name)))
    }

    /// expected.json, read with `JSONDecoder` (its number parsing is exact; the floats in the
    /// file are Python `repr`s, i.e. shortest round-trip strings).
    static func expected() throws -> [ExpectedSeries] {
        let data = try Data(contentsOf: dir.appendingPathComponent("expected.json"))
        return try JSONDecoder().decode(ExpectedFile.self, from: data).series
    }
}

private struct ExpectedFile: Decodable {
    let base: Int64
    let series: [ExpectedSeries]
}

private struct ExpectedSeries: Decodable {
    let labels: [String: String]
    let samples: [ExpectedSample]
    let reset_at: Int64?
    let schema_change_at: Int64?

    var name: String { labels["__name__"] ?? "" }
}

private struct ExpectedSample: Decodable {
    let t: Int64
    let kind: String
    let stale: Bool
    let schema: Int32
    let zero_threshold: Double
    let zero_count: Double
    let count: Double
    let sum: Double?
    let positive_spans: [[Int64]]
    let negative_spans: [[Int64]]
    let positive_buckets: [Double]
    let negative_buckets: [Double]
    let sent_hint: String

    var isFloat: Bool { kind == "float" }

    static func spans(_ s: [[Int64]]) -> [HistogramSpan] {
        s.map { HistogramSpan(offset: Int32($0[0]), length: UInt32($0[1])) }
    }

    func histogram(hint: HistogramCounterResetHint) -> Histogram {
        if stale { return Histogram(sum: Double(bitPattern: staleNaNBits)) }
        return Histogram(
            counterResetHint: hint, schema: schema, zeroThreshold: zero_threshold,
            zeroCount: UInt64(zero_count), count: UInt64(count), sum: sum ?? .nan,
            positiveSpans: Self.spans(positive_spans), negativeSpans: Self.spans(negative_spans),
            positiveBuckets: positive_buckets.map { Int64($0) }, negativeBuckets: negative_buckets.map { Int64($0) })
    }

    func floatHistogram(hint: HistogramCounterResetHint) -> FloatHistogram {
        if stale { return FloatHistogram(sum: Double(bitPattern: staleNaNBits)) }
        return FloatHistogram(
            counterResetHint: hint, schema: schema, zeroThreshold: zero_threshold,
            zeroCount: zero_count, count: count, sum: sum ?? .nan,
            positiveSpans: Self.spans(positive_spans), negativeSpans: Self.spans(negative_spans),
            positiveBuckets: positive_buckets, negativeBuckets: negative_buckets)
    }
}

/// A decoded chunk of the fixture.
private struct DecodedChunk {
    let offset: Int
    let encoding: UInt8
    let header: HistogramCounterResetHint
    let timestamps: [Int64]
    let histograms: [Histogram]  // encoding 2
    let floatHistograms: [FloatHistogram]  // encoding 3
}

private func decode(_ c: RawChunk) throws -> DecodedChunk {
    try c.data.withUnsafeBytes { buf in
        var ts: [Int64] = []
        var hs: [Histogram] = []
        var fhs: [FloatHistogram] = []
        let header: HistogramCounterResetHint
        if c.encoding == 2 {
            var it = try HistogramIterator(buf, origin: c.offset)
            header = it.counterResetHeader
            while try it.next() {
                ts.append(it.timestamp)
                hs.append(it.histogram)
            }
            #expect(hs.count == it.count)
        } else {
            var it = try FloatHistogramIterator(buf, origin: c.offset)
            header = it.counterResetHeader
            while try it.next() {
                ts.append(it.timestamp)
                fhs.append(it.histogram)
            }
            #expect(fhs.count == it.count)
        }
        return DecodedChunk(offset: c.offset, encoding: c.encoding, header: header, timestamps: ts,
                            histograms: hs, floatHistograms: fhs)
    }
}

/// Go's per-sample hint: gauge in gauge chunks, otherwise unknown for the first sample of a
/// chunk and notCounterReset after it.
private func goHint(_ header: HistogramCounterResetHint, _ i: Int) -> HistogramCounterResetHint {
    header == .gauge ? .gauge : (i == 0 ? .unknown : .notCounterReset)
}

// MARK: - Real fixture

@Suite("HistogramChunk real fixture")
struct HistogramChunkFixtureTests {
    @Test func decodesEveryChunkAsSent() throws {
        let chunks = try NHFixture.chunks().filter { $0.encoding == 2 || $0.encoding == 3 }
        let expected = try NHFixture.expected()
        #expect(chunks.contains { $0.encoding == 2 })
        #expect(chunks.contains { $0.encoding == 3 })

        var byTime: [Int64: (series: String, sample: ExpectedSample)] = [:]
        for s in expected {
            for x in s.samples { byTime[x.t] = (s.name, x) }
        }
        var seen = Set<Int64>()
        var chunkStarts: [Int64: DecodedChunk] = [:]
        for c in chunks {
            let d = try decode(c)
            try #require(!d.timestamps.isEmpty)
            chunkStarts[d.timestamps[0]] = d
            let series = byTime[d.timestamps[0]]?.series
            for (i, t) in d.timestamps.enumerated() {
                let e = try #require(byTime[t], "decoded timestamp \(t) was never sent")
                #expect(e.series == series, "chunk at \(c.offset) mixes series")
                #expect(seen.insert(t).inserted, "timestamp \(t) decoded twice")
                let hint = goHint(d.header, i)
                if c.encoding == 2 {
                    #expect(!e.sample.isFloat)
                    #expect(d.histograms[i] == e.sample.histogram(hint: hint), "\(e.series) t=\(t)")
                    #expect(d.histograms[i].isStale == e.sample.stale)
                } else {
                    #expect(e.sample.isFloat)
                    #expect(d.floatHistograms[i] == e.sample.floatHistogram(hint: hint), "\(e.series) t=\(t)")
                }
            }
        }
        #expect(seen.count == byTime.count, "every sent histogram is in the block")

        // Chunk boundaries and counter-reset headers that Prometheus must have produced.
        for s in expected {
            if let at = s.reset_at {
                let c = try #require(chunkStarts[at], "a chunk starts at the counter reset")
                #expect(c.header == .counterReset)
            }
            if let at = s.schema_change_at {
                let c = try #require(chunkStarts[at], "a chunk starts at the schema change")
                #expect(c.histograms.first?.schema == 2)
            }
            if s.name == "nh_gauge" {
                let c = try #require(chunkStarts[s.samples[0].t])
                #expect(c.header == .gauge)
                #expect(c.histograms.allSatisfy { $0.counterResetHint == .gauge })
            }
            if let first = chunkStarts[s.samples[0].t] {
                #expect(first.header == (s.name == "nh_gauge" ? .gauge : .unknown), "\(s.name)")
            }
        }
    }

    /// Bucket bounds, boundary rules and counts against what Prometheus' own query API
    /// reported for the same data (Go's `getBound`).
    @Test func bucketsMatchPrometheusQueryAPI() throws {
        let api = try #require(try NHFixture.json("api-query.json") as? [String: Any])
        // t (ms) → API buckets [[rule, lower, upper, count]].
        var apiBuckets: [Int64: [[Any]]] = [:]
        var apiCounts: [Int64: (String, String)] = [:]
        for (_, v) in api {
            for series in try #require(v as? [[String: Any]]) {
                for pair in try #require(series["histograms"] as? [[Any]]) {
                    let ts = try #require(pair[0] as? NSNumber).doubleValue
                    let h = try #require(pair[1] as? [String: Any])
                    let t = Int64((ts * 1000).rounded())
                    apiBuckets[t] = (h["buckets"] as? [[Any]]) ?? []
                    apiCounts[t] = (h["count"] as? String ?? "", h["sum"] as? String ?? "")
                }
            }
        }
        var compared = 0
        var exact = 0
        var oneUlp = 0
        for c in try NHFixture.chunks() where c.encoding == 2 || c.encoding == 3 {
            let d = try decode(c)
            for (i, t) in d.timestamps.enumerated() {
                let fh = c.encoding == 2 ? d.histograms[i].toFloat() : d.floatHistograms[i]
                if fh.isStale {
                    #expect(apiBuckets[t] == nil, "stale markers are not query results")
                    continue
                }
                let want = try #require(apiBuckets[t], "API has t=\(t)")
                let got = fh.nonEmptyBuckets()
                try #require(got.count == want.count, "t=\(t): \(fh) vs \(want)")
                #expect(Double(apiCounts[t]!.0) == fh.count)
                #expect(Double(apiCounts[t]!.1) == fh.sum)
                for (g, w) in zip(got, want) {
                    let rule = try #require(w[0] as? NSNumber).intValue
                    let strings = w.dropFirst().compactMap { $0 as? String }.compactMap(Double.init)
                    try #require(strings.count == 3)
                    let (lower, upper, count) = (strings[0], strings[1], strings[2])
                    let goRule = g.lowerInclusive ? (g.upperInclusive ? 3 : 1) : (g.upperInclusive ? 0 : 2)
                    #expect(rule == goRule)
                    #expect(count == g.count)
                    // The API (Go's AllBucketIterator, unlike String()) clamps the buckets next
                    // to the zero bucket to the zero threshold.
                    var (gl, gu) = (g.lower, g.upper)
                    if g.index != 0 || !(g.lower == -fh.zeroThreshold && g.upper == fh.zeroThreshold) {
                        if gl >= 0 && gl < fh.zeroThreshold { gl = fh.zeroThreshold }
                        if gu <= 0 && gu > -fh.zeroThreshold { gu = -fh.zeroThreshold }
                    }
                    for (a, b) in [(gl, lower), (gu, upper)] {
                        compared += 1
                        if a == b {
                            exact += 1
                        } else {
                            // Only fractional powers of two (schema > 0) may differ, by one ulp
                            // (Go's precomputed table; see histogramBucketBound).
                            #expect(fh.schema > 0 && (a.nextUp == b || a.nextDown == b), "t=\(t) bound \(a) vs Go \(b)")
                            oneUlp += 1
                        }
                    }
                }
            }
        }
        #expect(compared > 0)
        print("bucket bounds vs Prometheus 2.42 API: \(compared) compared, \(exact) identical, \(oneUlp) one ulp apart")
    }

    /// Every prefix of every real chunk must throw or yield a prefix of the real samples.
    @Test func truncatedChunksNeverCrash() throws {
        for c in try NHFixture.chunks() where c.encoding == 2 || c.encoding == 3 {
            let full = try decode(c)
            for n in 0..<c.data.count {
                let prefix = Array(c.data[0..<n])
                var got: [Int64] = []
                var threw = false
                prefix.withUnsafeBytes { buf in
                    do throws(TSDBError) {
                        if c.encoding == 2 {
                            var it = try HistogramIterator(buf)
                            while try it.next() {
                                #expect(it.histogram == full.histograms[got.count])
                                got.append(it.timestamp)
                            }
                        } else {
                            var it = try FloatHistogramIterator(buf)
                            while try it.next() {
                                #expect(it.histogram == full.floatHistograms[got.count])
                                got.append(it.timestamp)
                            }
                        }
                    } catch {
                        threw = true
                        #expect(error.kind == .truncated || error.kind == .corrupt)
                    }
                }
                #expect(got == Array(full.timestamps.prefix(got.count)))
                if !threw {
                    // Only trailing padding may be cut without losing a sample.
                    #expect(got.count == full.timestamps.count, "prefix \(n) of chunk at \(c.offset)")
                }
            }
        }
    }

    /// Flipping a single bit must never crash (it may throw or decode garbage).
    @Test func bitFlipsNeverCrash() throws {
        var threw = 0
        var decoded = 0
        for c in try NHFixture.chunks() where c.encoding == 2 || c.encoding == 3 {
            // Every bit of the header, layout and first samples; every 5th bit after that
            // (keeps the debug-build run to a few seconds).
            for bit in 0..<(c.data.count * 8) where bit < 512 || bit % 5 == 0 {
                var data = c.data
                data[bit / 8] ^= 0x80 >> UInt8(bit % 8)
                data.withUnsafeBytes { buf in
                    do {
                        if c.encoding == 2 {
                            var it = try HistogramIterator(buf)
                            while try it.next() { _ = it.histogram.description }
                        } else {
                            var it = try FloatHistogramIterator(buf)
                            while try it.next() { _ = it.histogram.description }
                        }
                        decoded += 1
                    } catch {
                        threw += 1
                    }
                }
            }
        }
        #expect(threw > 0 && decoded > 0)
    }
}

// MARK: - A bit writer following the upstream encoders, for hand-assembled chunks

private struct BitWriter {
    var bytes: [UInt8] = []
    var count = 0  // bits written

    mutating func bit(_ b: Bool) {
        if count % 8 == 0 { bytes.append(0) }
        if b { bytes[bytes.count - 1] |= 0x80 >> UInt8(count % 8) }
        count += 1
    }

    /// The low `n` bits of `v`, most significant first.
    mutating func bits(_ v: UInt64, _ n: Int) {
        for i in stride(from: n - 1, through: 0, by: -1) { bit((v >> UInt64(i)) & 1 == 1) }
    }

    /// Bits given as a string of 0/1 (spaces ignored).
    mutating func literal(_ s: String) {
        for ch in s where ch != " " { bit(ch == "1") }
    }

    mutating func byte(_ b: UInt8) { bits(UInt64(b), 8) }

    static let buckets = [3, 6, 9, 12, 18, 25, 56]

    mutating func varbitInt(_ v: Int64) {
        if v == 0 { bit(false); return }
        for (i, n) in BitWriter.buckets.enumerated() {
            let hi = Int64(1) << Int64(n - 1)
            if v >= -hi + 1 && v <= hi {
                bits((1 << UInt64(i + 2)) - 2, i + 2)  // i+1 ones and a zero
                bits(UInt64(bitPattern: v) & ((1 << UInt64(n)) - 1), n)
                return
            }
        }
        bits(0xff, 8)
        bits(UInt64(bitPattern: v), 64)
    }

    mutating func varbitUint(_ v: UInt64) {
        if v == 0 { bit(false); return }
        for (i, n) in BitWriter.buckets.enumerated() where v < (UInt64(1) << UInt64(n)) {
            bits((1 << UInt64(i + 2)) - 2, i + 2)
            bits(v, n)
            return
        }
        bits(0xff, 8)
        bits(v, 64)
    }

    /// Go `xorWrite`; `leading` starts at 0xff ("no window yet").
    mutating func xor(_ v: Double, _ prev: Double, _ leading: inout UInt8, _ trailing: inout UInt8) {
        let delta = v.bitPattern ^ prev.bitPattern
        if delta == 0 { bit(false); return }
        bit(true)
        var newL = UInt8(delta.leadingZeroBitCount)
        let newT = UInt8(delta.trailingZeroBitCount)
        if newL >= 32 { newL = 31 }
        if leading != 0xff && newL >= leading && newT >= trailing {
            bit(false)
            bits(delta >> UInt64(trailing), 64 - Int(leading) - Int(trailing))
            return
        }
        leading = newL
        trailing = newT
        bit(true)
        bits(UInt64(newL), 5)
        let sig = 64 - Int(newL) - Int(newT)
        bits(UInt64(sig == 64 ? 0 : sig), 6)
        bits(delta >> UInt64(newT), sig)
    }

    mutating func zeroThreshold(_ z: Double) {
        if z == 0 { byte(0); return }
        let e = z.exponent  // z = 1.f × 2^e = 0.5 × 2^(e+1)
        if z.significand == 1 && e + 1 >= -242 && e + 1 <= 11 {
            byte(UInt8(e + 1 + 243))
        } else {
            byte(255)
            bits(z.bitPattern, 64)
        }
    }

    mutating func spans(_ s: [HistogramSpan]) {
        varbitUint(UInt64(s.count))
        for x in s {
            varbitUint(UInt64(x.length))
            varbitInt(Int64(x.offset))
        }
    }

    mutating func layout(schema: Int32, zeroThreshold z: Double, positive: [HistogramSpan], negative: [HistogramSpan], custom: [Double]) {
        zeroThreshold(z)
        varbitInt(Int64(schema))
        spans(positive)
        spans(negative)
        if schema == -53 {
            varbitUint(UInt64(custom.count))
            for b in custom {
                let m = b * 1000
                if m >= 0 && m <= 33_554_430 && (m.rounded() / 1000) == b {
                    varbitUint(UInt64(m.rounded()) + 1)
                } else {
                    bit(false)
                    bits(b.bitPattern, 64)
                }
            }
        }
    }

    static func header(count: Int, flags: UInt8) -> [UInt8] {
        [UInt8(count >> 8), UInt8(count & 0xff), flags]
    }
}

/// Encodes float histograms like Go's FloatHistogramAppender (no recoding: every sample must
/// have the layout of the first, or be stale).
private func encodeFloatChunk(_ samples: [(Int64, FloatHistogram)], flags: UInt8 = 0) -> [UInt8] {
    var w = BitWriter()
    let first = samples[0].1
    w.layout(schema: first.schema, zeroThreshold: first.zeroThreshold, positive: first.positiveSpans,
             negative: first.negativeSpans, custom: first.customValues)
    var t: Int64 = 0
    var tDelta: Int64 = 0
    var prev = first
    var lead = [UInt8](repeating: 0xff, count: 3 + first.positiveBuckets.count + first.negativeBuckets.count)
    var trail = [UInt8](repeating: 0, count: lead.count)
    for (n, (ts, h)) in samples.enumerated() {
        if n == 0 {
            w.varbitInt(ts)
            w.bits(h.count.bitPattern, 64)
            w.bits(h.zeroCount.bitPattern, 64)
            w.bits(h.sum.bitPattern, 64)
            for b in h.positiveBuckets + h.negativeBuckets { w.bits(b.bitPattern, 64) }
        } else {
            let d = ts - t
            w.varbitInt(d - tDelta)
            tDelta = d
            let stale = h.sum.bitPattern == staleNaNBits
            let cur = stale ? FloatHistogram(sum: h.sum) : h
            w.xor(cur.count, prev.count, &lead[0], &trail[0])
            w.xor(cur.zeroCount, prev.zeroCount, &lead[1], &trail[1])
            w.xor(cur.sum, prev.sum, &lead[2], &trail[2])
            if !stale {
                for (i, (a, b)) in zip(h.positiveBuckets + h.negativeBuckets, prev.positiveBuckets + prev.negativeBuckets).enumerated() {
                    w.xor(a, b, &lead[3 + i], &trail[3 + i])
                }
            }
            prev = stale ? FloatHistogram(sum: h.sum, positiveBuckets: prev.positiveBuckets, negativeBuckets: prev.negativeBuckets) : cur
        }
        t = ts
    }
    return BitWriter.header(count: samples.count, flags: flags) + w.bytes
}

/// Encodes integer histograms like Go's HistogramAppender (layout of the first sample).
private func encodeIntChunk(_ samples: [(Int64, Histogram)], flags: UInt8 = 0) -> [UInt8] {
    var w = BitWriter()
    let first = samples[0].1
    w.layout(schema: first.schema, zeroThreshold: first.zeroThreshold, positive: first.positiveSpans,
             negative: first.negativeSpans, custom: first.customValues)
    var t: Int64 = 0
    var tDelta: Int64 = 0
    var cnt: Int64 = 0, cntDelta: Int64 = 0, zc: Int64 = 0, zcDelta: Int64 = 0
    var buckets = first.positiveBuckets + first.negativeBuckets
    var bucketDeltas = [Int64](repeating: 0, count: buckets.count)
    var sum = 0.0
    var lead: UInt8 = 0xff, trail: UInt8 = 0
    for (n, (ts, h)) in samples.enumerated() {
        if n == 0 {
            w.varbitInt(ts)
            w.varbitUint(h.count)
            w.varbitUint(h.zeroCount)
            w.bits(h.sum.bitPattern, 64)
            for b in buckets { w.varbitInt(b) }
            cnt = Int64(h.count)
            zc = Int64(h.zeroCount)
        } else {
            let stale = h.isStale
            let d = ts - t
            w.varbitInt(d - tDelta)
            tDelta = d
            let c = Int64(h.count), z = Int64(h.zeroCount)
            w.varbitInt(stale ? 0 : (c - cnt) - cntDelta)
            w.varbitInt(stale ? 0 : (z - zc) - zcDelta)
            if !stale {
                cntDelta = c - cnt
                zcDelta = z - zc
                cnt = c
                zc = z
            }
            w.xor(h.sum, sum, &lead, &trail)
            if !stale {
                for (i, b) in (h.positiveBuckets + h.negativeBuckets).enumerated() {
                    let delta = b - buckets[i]
                    w.varbitInt(delta - bucketDeltas[i])
                    bucketDeltas[i] = delta
                    buckets[i] = b
                }
            }
        }
        sum = h.sum
        t = ts
    }
    return BitWriter.header(count: samples.count, flags: flags) + w.bytes
}

private func decodeFloat(_ bytes: [UInt8]) throws(TSDBError) -> [(Int64, FloatHistogram)] {
    var result: Result<[(Int64, FloatHistogram)], TSDBError> = .success([])
    bytes.withUnsafeBytes { buf in
        do throws(TSDBError) {
            result = .success(try FloatHistogramIterator.decodeAll(buf).map { ($0.timestamp, $0.histogram) })
        } catch {
            result = .failure(error)
        }
    }
    return try result.get()
}

private func decodeInt(_ bytes: [UInt8]) throws(TSDBError) -> [(Int64, Histogram)] {
    var result: Result<[(Int64, Histogram)], TSDBError> = .success([])
    bytes.withUnsafeBytes { buf in
        do throws(TSDBError) {
            result = .success(try HistogramIterator.decodeAll(buf).map { ($0.timestamp, $0.histogram) })
        } catch {
            result = .failure(error)
        }
    }
    return try result.get()
}

private func expectError(_ bytes: [UInt8], float: Bool = false, _ kind: TSDBError.Kind, sourceLocation: SourceLocation = #_sourceLocation) {
    do {
        if float { _ = try decodeFloat(bytes) } else { _ = try decodeInt(bytes) }
        Issue.record("expected a \(kind) error", sourceLocation: sourceLocation)
    } catch {
        #expect(error.kind == kind, "\(error)", sourceLocation: sourceLocation)
    }
}

// MARK: - Varbit

@Suite("Varbit")
struct VarbitTests {
    @Test func signedRoundTripAtBucketBoundaries() throws {
        var values: [Int64] = [0, 1, -1, Int64.min, Int64.max, Int64.min + 1, Int64.max - 1]
        for n in [3, 6, 9, 12, 18, 25, 56] {
            let hi = Int64(1) << Int64(n - 1)
            values += [hi, hi + 1, -hi + 1, -hi, hi - 1, -hi + 2]
        }
        var w = BitWriter()
        for v in values { w.varbitInt(v) }
        try w.bytes.withUnsafeBytes { buf throws in
            var r = BitReader(buf)
            for v in values { #expect(try r.readVarbitInt() == v) }
        }
    }

    @Test func unsignedRoundTripAtBucketBoundaries() throws {
        var values: [UInt64] = [0, 1, UInt64.max, UInt64.max - 1]
        for n in [3, 6, 9, 12, 18, 25, 56] {
            let hi = UInt64(1) << UInt64(n)
            values += [hi - 1, hi, hi + 1]
        }
        var w = BitWriter()
        for v in values { w.varbitUint(v) }
        try w.bytes.withUnsafeBytes { buf throws in
            var r = BitReader(buf)
            for v in values { #expect(try r.readVarbitUint() == v) }
        }
    }

    /// The asymmetric sign convention: in n bits, 2^(n-1) is positive and 2^(n-1)+1 is
    /// -(2^(n-1)-1).
    @Test func explicitBitPatterns() throws {
        var w = BitWriter()
        w.literal("0")  // 0
        w.literal("10 100")  // 4
        w.literal("10 101")  // -3
        w.literal("10 111")  // -1
        w.literal("110 100000")  // 32
        w.literal("110 100001")  // -31
        w.literal("11111110")
        w.bits(1 << 55, 56)  // 2^55
        w.literal("11111111")
        w.bits(UInt64(bitPattern: Int64.min), 64)
        w.literal("10 111")  // unsigned 7
        w.literal("11111110")
        w.bits((1 << 56) - 1, 56)  // unsigned 2^56-1
        try w.bytes.withUnsafeBytes { buf throws in
            var r = BitReader(buf)
            try #expect(r.readVarbitInt() == 0)
            try #expect(r.readVarbitInt() == 4)
            try #expect(r.readVarbitInt() == -3)
            try #expect(r.readVarbitInt() == -1)
            try #expect(r.readVarbitInt() == 32)
            try #expect(r.readVarbitInt() == -31)
            try #expect(r.readVarbitInt() == 1 << 55)
            try #expect(r.readVarbitInt() == Int64.min)
            try #expect(r.readVarbitUint() == 7)
            try #expect(r.readVarbitUint() == (1 << 56) - 1)
        }
    }

    @Test func truncatedVarbitThrows() {
        var w = BitWriter()
        w.literal("1110 1")  // 9-bit payload cut short
        w.bytes.withUnsafeBytes { buf in
            var r = BitReader(UnsafeRawBufferPointer(rebasing: buf[0..<1]))
            #expect(throws: TSDBError.self) { try r.readVarbitInt() }
        }
    }
}

// MARK: - Hand-assembled chunks

@Suite("HistogramChunk hand-assembled")
struct HistogramChunkSyntheticTests {
    /// A two-sample float histogram chunk written bit by bit from the format description.
    @Test func floatHistogramFromLiteralBits() throws {
        var w = BitWriter()
        w.byte(116)  // zero threshold 2^-128
        w.literal("0")  // schema 0
        w.literal("10 001")  // 1 positive span
        w.literal("10 010")  // length 2
        w.literal("10 001")  // offset 1
        w.literal("0")  // 0 negative spans
        w.literal("110 000101")  // t0 = 5 (9-bit bucket to exercise the width)
        w.bits((3.0).bitPattern, 64)  // count
        w.bits((0.0).bitPattern, 64)  // zero count
        w.bits((1.5).bitPattern, 64)  // sum
        w.bits((1.0).bitPattern, 64)  // bucket idx 1
        w.bits((2.0).bitPattern, 64)  // bucket idx 2
        // Sample 1: t dod 1000 → t = 1005.
        w.literal("11110")
        w.bits(1000, 12)
        // count 3 → 4: delta 0x4008000000000000 ^ 0x4010000000000000 = 0x0018000000000000:
        // 11 leading zeros, 51 trailing, 2 significant bits.
        w.literal("11")
        w.bits(11, 5)
        w.bits(2, 6)
        w.bits(0b11, 2)
        w.literal("0")  // zero count unchanged
        w.literal("0")  // sum unchanged
        w.literal("0")  // bucket 1 unchanged
        // bucket 2: 2 → 3: 0x4000000000000000 ^ 0x4008000000000000 = 0x0008000000000000.
        // Reader windows start at 0/0, so the "reuse" control reads all 64 bits.
        w.literal("10")
        w.bits(0x0008_0000_0000_0000, 64)
        let chunk = BitWriter.header(count: 2, flags: 0b0100_0000) + w.bytes + [0]  // spare byte
        let got = try decodeFloat(chunk)
        try #require(got.count == 2)
        #expect(got[0].0 == 5)
        #expect(got[1].0 == 1005)
        let spans = [HistogramSpan(offset: 1, length: 2)]
        #expect(got[0].1 == FloatHistogram(
            counterResetHint: .unknown, schema: 0, zeroThreshold: 0x1p-128, count: 3, sum: 1.5,
            positiveSpans: spans, positiveBuckets: [1, 2]))
        #expect(got[1].1 == FloatHistogram(
            counterResetHint: .notCounterReset, schema: 0, zeroThreshold: 0x1p-128, count: 4, sum: 1.5,
            positiveSpans: spans, positiveBuckets: [1, 3]))
        #expect(got[1].1.description == "{count:4, sum:1.5, (1,2]:1, (2,4]:3}")
        let header = try chunk.withUnsafeBytes { buf throws in try FloatHistogramIterator(buf).counterResetHeader }
        #expect(header == .notCounterReset)
    }

    @Test func floatHistogramRoundTripWithStaleEnd() throws {
        var samples: [(Int64, FloatHistogram)] = []
        for i in 0..<20 {
            let d = Double(i)
            samples.append((1_700_000_000_000 + Int64(i) * 15_000 + Int64(i % 3), FloatHistogram(
                schema: -1, zeroThreshold: 0.001, zeroCount: d * 0.5, count: 10 + d * 3.25, sum: d * -1.7,
                positiveSpans: [HistogramSpan(offset: -2, length: 2), HistogramSpan(offset: 3, length: 1)],
                negativeSpans: [HistogramSpan(offset: 0, length: 2)],
                positiveBuckets: [d, d * 0.1, 1e300], negativeBuckets: [.pi * d, 0])))
        }
        samples.append((1_700_000_300_000, FloatHistogram(sum: Double(bitPattern: staleNaNBits))))
        samples.append((1_700_000_315_000, FloatHistogram(sum: Double(bitPattern: staleNaNBits))))
        let gauge = encodeFloatChunk(samples, flags: 0b1100_0000)
        let got = try decodeFloat(gauge)
        try #require(got.count == samples.count)
        for (i, (g, e)) in zip(got, samples).enumerated() {
            #expect(g.0 == e.0)
            var want = e.1
            if !want.isStale { want.counterResetHint = .gauge }
            #expect(g.1 == want, "sample \(i)")
        }
        #expect(got[20].1.isStale && got[21].1.isStale)
    }

    @Test func integerCustomBucketsRoundTrip() throws {
        let bounds = [-1, 0.0001, 0.5, 1, 2.5, 33554.43, 1e9]
        var samples: [(Int64, Histogram)] = []
        for i in 0..<12 {
            let k = Int64(i)
            samples.append((Int64(i) * 60_000 - 120_000, Histogram(
                schema: -53, count: UInt64(6 * k + 3), sum: Double(i) * 2.5,
                positiveSpans: [HistogramSpan(offset: 0, length: 3), HistogramSpan(offset: 2, length: 2)],
                positiveBuckets: [k, 1, -1, k + 2, -k], customValues: bounds)))
        }
        let chunk = encodeIntChunk(samples, flags: 0b1000_0000)
        let got = try decodeInt(chunk)
        try #require(got.count == samples.count)
        for (i, (g, e)) in zip(got, samples).enumerated() {
            var want = e.1
            want.counterResetHint = i == 0 ? .unknown : .notCounterReset
            #expect(g.0 == e.0)
            #expect(g.1 == want, "sample \(i)")
        }
        #expect(got[0].1.customValues.map(\.bitPattern) == bounds.map(\.bitPattern))
        // Bucket counts at t0: [0, 1, 0, 2, 2] at indexes 0, 1, 2, 5, 6; bucket i is
        // (bounds[i-1], bounds[i]], the first one closed at -Inf.
        #expect(got[0].1.description == "{count:3, sum:0, (-1,0.0001]:1, (2.5,33554.43]:2, (33554.43,1e+09]:2}")
        #expect(got[1].1.description == "{count:9, sum:2.5, [-Inf,-1]:1, (-1,0.0001]:2, (0.0001,0.5]:1, (2.5,33554.43]:4, (33554.43,1e+09]:3}")
        let header = try chunk.withUnsafeBytes { buf throws in try HistogramIterator(buf).counterResetHeader }
        #expect(header == .counterReset)
    }

    @Test func integerStaleSkipsBucketFields() throws {
        let base = Histogram(
            schema: 1, zeroThreshold: 0, zeroCount: 2, count: 9, sum: 4,
            positiveSpans: [HistogramSpan(offset: 0, length: 2)], negativeSpans: [HistogramSpan(offset: 1, length: 1)],
            positiveBuckets: [3, -1], negativeBuckets: [2])
        var second = base
        second.count = 12
        second.positiveBuckets = [4, 0]
        second.sum = 7
        let stale = Histogram(sum: Double(bitPattern: staleNaNBits))
        let chunk = encodeIntChunk([(1000, base), (2000, second), (3000, stale), (4000, stale)])
        let got = try decodeInt(chunk)
        try #require(got.count == 4)
        #expect(got.map(\.0) == [1000, 2000, 3000, 4000])
        #expect(got[1].1.positiveBuckets == [4, 0])
        #expect(got[2].1 == stale && got[3].1 == stale)
        #expect(got[2].1.description == "{count:0, sum:NaN}")
        // Go's zero bucket with a zero threshold of 0 prints as [-0,0]. (Go itself prints
        // 2^±0.5 one ulp lower: 0.7071067811865475 and 1.414213562373095; see
        // histogramBucketBound.)
        #expect(got[0].1.description == "{count:9, sum:4, [-1.4142135623730951,-1):2, [-0,0]:2, (0.7071067811865476,1]:3, (1,1.4142135623730951]:2}")
    }

    @Test func zeroThresholdEncodings() throws {
        for z in [0.0, 0x1p-128, 0x1p10, 0x1p-243, 0.001, 0x1p11, 3.0] {
            let h = Histogram(schema: 0, zeroThreshold: z, zeroCount: 1, count: 1, sum: 0)
            let got = try decodeInt(encodeIntChunk([(0, h)]))
            #expect(got.first?.1.zeroThreshold == z)
        }
        // Byte 116 is the default 2^-128; 255 is followed by a float64.
        var w = BitWriter()
        w.byte(116)
        w.literal("0 0 0")  // schema 0, no spans
        w.literal("0 0 0")  // t, count, zero count
        w.bits(0, 64)  // sum
        #expect(try decodeInt(BitWriter.header(count: 1, flags: 0) + w.bytes).first?.1.zeroThreshold == 0x1p-128)
    }

    @Test func corruptLayoutsThrowWithoutAllocating() {
        // 2^60 positive spans.
        var w = BitWriter()
        w.byte(0)
        w.literal("0")
        w.literal("11111111")
        w.bits(1 << 60, 64)
        expectError(BitWriter.header(count: 1, flags: 0) + w.bytes + [UInt8](repeating: 0, count: 32), .corrupt)
        expectError(BitWriter.header(count: 1, flags: 0) + w.bytes, float: true, .corrupt)

        // One span of 2^32-1 buckets: more buckets than bits.
        w = BitWriter()
        w.byte(0)
        w.literal("0")
        w.varbitUint(1)
        w.varbitUint(UInt64(UInt32.max))
        w.varbitInt(0)
        w.varbitUint(0)
        expectError(BitWriter.header(count: 1, flags: 0) + w.bytes + [UInt8](repeating: 0, count: 64), .corrupt)

        // Span length beyond UInt32.
        w = BitWriter()
        w.byte(0)
        w.literal("0")
        w.varbitUint(1)
        w.varbitUint(1 << 40)
        w.varbitInt(0)
        expectError(BitWriter.header(count: 1, flags: 0) + w.bytes + [UInt8](repeating: 0, count: 16), .corrupt)

        // 2^50 custom bounds.
        w = BitWriter()
        w.byte(0)
        w.varbitInt(-53)
        w.varbitUint(0)
        w.varbitUint(0)
        w.varbitUint(1 << 50)
        expectError(BitWriter.header(count: 1, flags: 0) + w.bytes + [UInt8](repeating: 0, count: 16), .corrupt)

        // Unknown schema.
        w = BitWriter()
        w.byte(0)
        w.varbitInt(60)
        expectError(BitWriter.header(count: 1, flags: 0) + w.bytes + [0, 0, 0, 0], .unsupported)

        // No room for the header.
        expectError([0, 1], .truncated)
        expectError([0], float: true, .truncated)
    }

    @Test func errorsAreSticky() throws {
        let h = Histogram(schema: 0, count: 1, sum: 1, positiveSpans: [HistogramSpan(offset: 0, length: 1)], positiveBuckets: [1])
        let chunk = Array(encodeIntChunk([(0, h), (10, h), (20, h)]).prefix(6))
        try chunk.withUnsafeBytes { buf in
            var it = try HistogramIterator(buf)
            var failures = 0
            for _ in 0..<5 {
                do { _ = try it.next() } catch { failures += 1 }
            }
            #expect(failures >= 2)
        }
    }

    @Test func emptyChunkHasNoSamples() throws {
        try [UInt8]([0, 0, 0]).withUnsafeBytes { buf in
            var it = try HistogramIterator(buf)
            #expect(try it.next() == false)
            var f = try FloatHistogramIterator(buf)
            #expect(try f.next() == false)
        }
    }
}

// MARK: - Values and formatting

@Suite("Histogram values")
struct HistogramValueTests {
    @Test func goFloatFormatting() {
        let cases: [(Double, String)] = [
            (0, "0"), (-0.0, "-0"), (1, "1"), (-2.5, "-2.5"), (0.5, "0.5"), (100, "100"),
            (123456, "123456"), (1e6, "1e+06"), (1234567, "1.234567e+06"), (1e21, "1e+21"),
            (0.0001, "0.0001"), (0.000123, "0.000123"), (1e-5, "1e-05"), (1.5e-7, "1.5e-07"),
            (0x1p-128, "2.938735877055719e-39"), (.greatestFiniteMagnitude, "1.7976931348623157e+308"),
            (.leastNonzeroMagnitude, "5e-324"), (.infinity, "+Inf"), (-.infinity, "-Inf"), (.nan, "NaN"),
            (0.1, "0.1"), (1.0 / 3, "0.3333333333333333"), (999999, "999999"), (-3.1415, "-3.1415"),
            (1e100, "1e+100"), (12.5e-3, "0.0125"),
        ]
        for (v, s) in cases { #expect(goFormatFloat(v) == s, "\(v)") }
    }

    @Test func histogramDescriptionLikeGo() {
        let empty = Histogram()
        #expect(empty.description == "{count:0, sum:0}")
        let h = Histogram(
            schema: 0, zeroThreshold: 0.001, zeroCount: 5, count: 20, sum: -2.25,
            positiveSpans: [HistogramSpan(offset: -1, length: 3), HistogramSpan(offset: 0, length: 0), HistogramSpan(offset: 2, length: 1)],
            negativeSpans: [HistogramSpan(offset: 1, length: 2)],
            positiveBuckets: [2, -2, 3, 1], negativeBuckets: [4, -1])
        // Positive idx -1, 0, 1, 4 with counts 2, 0, 3, 4; negative idx 1, 2 with 4, 3.
        #expect(h.description == "{count:20, sum:-2.25, [-4,-2):3, [-2,-1):4, [-0.001,0.001]:5, (0.25,0.5]:2, (1,2]:3, (8,16]:4}")
        #expect(h.toFloat().description == h.description)
        // Negative schema: idx 1 at schema -2 is (1, 16], idx 2 is (16, 256].
        let coarse = Histogram(schema: -2, count: 1, positiveSpans: [HistogramSpan(offset: 1, length: 2)], positiveBuckets: [1, 0])
        #expect(coarse.description == "{count:1, sum:0, (1,16]:1, (16,256]:1}")
        // The last finite bucket ends at MaxFloat64 (schema 0, idx 1024).
        let top = Histogram(schema: 0, count: 1, positiveSpans: [HistogramSpan(offset: 1024, length: 2)], positiveBuckets: [1, 0])
        #expect(top.description == "{count:1, sum:0, (8.98846567431158e+307,1.7976931348623157e+308]:1, (1.7976931348623157e+308,+Inf]:1}")
    }

    @Test func toFloatAccumulatesDeltas() {
        let h = Histogram(
            counterResetHint: .gauge, schema: 3, zeroThreshold: 0.5, zeroCount: 1, count: 10, sum: 3,
            positiveSpans: [HistogramSpan(offset: 0, length: 3)], negativeSpans: [HistogramSpan(offset: 2, length: 2)],
            positiveBuckets: [1, 2, -3], negativeBuckets: [2, 0])
        let f = h.toFloat()
        #expect(f == FloatHistogram(
            counterResetHint: .gauge, schema: 3, zeroThreshold: 0.5, zeroCount: 1, count: 10, sum: 3,
            positiveSpans: h.positiveSpans, negativeSpans: h.negativeSpans,
            positiveBuckets: [1, 3, 0], negativeBuckets: [2, 2]))
        let custom = Histogram(schema: -53, zeroThreshold: 1, zeroCount: 1, count: 2,
                               negativeSpans: [HistogramSpan(offset: 0, length: 1)], negativeBuckets: [1], customValues: [1, 2])
        let cf = custom.toFloat()
        #expect(cf.zeroCount == 0 && cf.zeroThreshold == 0 && cf.negativeSpans.isEmpty && cf.customValues == [1, 2])
    }

    @Test func staleEquality() {
        let a = Histogram(sum: Double(bitPattern: staleNaNBits))
        #expect(a == a)
        #expect(a != Histogram(sum: .nan))
        #expect(FloatHistogram(sum: .nan) == FloatHistogram(sum: .nan))
    }
}
