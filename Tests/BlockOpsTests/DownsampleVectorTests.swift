import Foundation
import Testing
import TestSupport
@testable import BlockOps
@testable import TSDB

/// The published test vectors of Thanos' `pkg/compact/downsample` (downsample_test.go),
/// ported as tables: inputs encoded as chunks, run through the series downsampler (decode,
/// aggregate, encode), outputs decoded and compared sample by sample.
@Suite("Downsample: Thanos test vectors")
struct DownsampleVectorTests {
    typealias S = (Int64, Double)
    typealias Aggregates = [AggregateChunk.Kind: [S]]
    static let stale = Double(bitPattern: staleNaNBits)

    // MARK: Helpers

    static func xor(_ samples: [S]) -> [UInt8] {
        var e = XOREncoder()
        for (t, v) in samples { e.append(t, v) }
        return e.bytes()
    }

    static func rawChunk(_ samples: [S]) -> SeriesChunk {
        SeriesChunk(minTime: samples.first!.0, maxTime: samples.last!.0, encoding: .xor, payload: xor(samples))
    }

    /// An aggregate chunk as Thanos' `encodeTestAggrSeries` builds it: its range spans every
    /// sample of every aggregate.
    static func aggrChunk(_ a: Aggregates) -> SeriesChunk {
        let all = a.values.flatMap { $0 }
        let parts = AggregateChunk.Kind.allCases.map { k in a[k].map { AggregateChunk.Part(.xor, xor($0)) } }
        return SeriesChunk(minTime: all.map(\.0).min() ?? .max, maxTime: all.map(\.0).max() ?? .min,
                           encoding: .thanosAggregate, payload: AggregateChunk.encode(parts))
    }

    /// The float aggregates of output chunks, read back as Thanos' tests read them (through
    /// its expansion, which drops stale markers and samples going back in time).
    static func decode(_ chunks: [DownsampledChunk]) throws -> [Aggregates] {
        try chunks.map { c in
            guard case .encoded(let enc, let bytes) = c.chunk.payload, enc == .thanosAggregate else {
                Issue.record("not an aggregate chunk")
                return [:]
            }
            return try bytes.withUnsafeBytes { p in
                let a = try AggregateChunk(p)
                var out: Aggregates = [:]
                for (kind, e) in a.present where e.encoding == .xor {
                    var buf = FloatSeriesBuffer()
                    try buf.expandXOR(UnsafeRawBufferPointer(rebasing: p[e.range]), origin: 0)
                    out[kind] = Array(zip(buf.t, buf.v))
                }
                return out
            }
        }
    }

    static func same(_ a: [Aggregates], _ b: [Aggregates]) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { x, y in
            Set(x.keys) == Set(y.keys) && x.keys.allSatisfy { k in same(x[k]!, y[k]!) }
        }
    }

    static func same(_ a: [S], _ b: [S]) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { $0.0 == $1.0 && ($0.1 == $1.1 || $0.1.bitPattern == $1.1.bitPattern) }
    }

    static func run(raw: [[S]]? = nil, aggr: [Aggregates]? = nil, resolution: Int64) throws -> [DownsampledChunk] {
        let d = SeriesDownsampler(inputResolution: aggr == nil ? 0 : resolution - 1, resolution: resolution)
        return try d.downsample(raw.map { $0.map(rawChunk) } ?? aggr!.map(aggrChunk))
    }

    // MARK: TestDownsample

    struct Case: Sendable, CustomStringConvertible {
        var name: String
        var raw: [[S]]? = nil
        var aggr: [Aggregates]? = nil
        var resolution: Int64
        var expected: [Aggregates]? = nil
        var description: String { name }
    }

    static let singleAggregated: Aggregates = [
        .count: [(199, 5), (299, 1), (399, 10), (400, 3), (499, 10), (699, 0), (999, 100)],
        .sum: [(199, 5), (299, 1), (399, 10), (400, 3), (499, 10), (699, 0), (999, 100)],
        .min: [(199, 5), (299, 1), (399, 10), (400, -3), (499, 10), (699, 0), (999, 100)],
        .max: [(199, 5), (299, 1), (399, 10), (400, -3), (499, 10), (699, 0), (999, 100)],
        .counter: [(99, 100), (299, 150), (499, 210), (499, 10),  // chunk 1
                   (599, 20), (799, 50), (999, 120), (999, 50),   // chunk 2, no reset
                   (1099, 40), (1199, 80), (1299, 110)],          // chunk 3, reset
    ]
    static let singleAggregated500: Aggregates = [
        .count: [(499, 29), (999, 100)], .sum: [(499, 29), (999, 100)], .min: [(499, -3), (999, 0)],
        .max: [(499, 10), (999, 100)], .counter: [(99, 100), (499, 210), (999, 320), (1299, 430), (1299, 110)],
    ]

    static let fourChunks: Case = {
        var c = Case(name: "four 120-sample counter chunks at twice the resolution become one chunk", resolution: 2)
        var chunks: [Aggregates] = []
        for k in 0..<4 {
            var counter: [S] = []
            for i in 0..<120 { counter.append((Int64(120 * k + i), Double(120 * k + i))) }
            chunks.append([.counter: counter])
        }
        c.aggr = chunks
        var counter: [S] = [(0, 0)]
        for i in stride(from: 0, to: 480, by: 2) { counter.append((Int64(1 + i), Double(1 + i))) }
        counter.append((479, 479))
        c.expected = [[.counter: counter]]
        return c
    }()

    static let cases: [Case] = [
        Case(name: "single chunk",
             raw: [[(20, 1), (40, 2), (60, 3), (80, 1), (100, 2), (101, stale), (120, 5), (180, 10), (250, 1)]],
             resolution: 100,
             expected: [[
                 .count: [(99, 4), (199, 3), (250, 1)], .sum: [(99, 7), (199, 17), (250, 1)],
                 .min: [(99, 1), (199, 2), (250, 1)], .max: [(99, 3), (199, 10), (250, 1)],
                 .counter: [(20, 1), (99, 4), (199, 13), (250, 14), (250, 1)],
             ]]),
        Case(name: "three chunks",
             raw: [[(20, 1), (40, 2), (60, 3), (80, 1), (100, 2), (101, stale), (120, 5), (180, 10), (250, 2)],
                   [(260, 1), (300, 10), (340, 15), (380, 25), (420, 35)],
                   [(460, stale), (500, 10), (540, 3)]],
             resolution: 100,
             expected: [[
                 .count: [(99, 4), (199, 3), (299, 2), (399, 3), (499, 1), (540, 2)],
                 .sum: [(99, 7), (199, 17), (299, 3), (399, 50), (499, 35), (540, 13)],
                 .min: [(99, 1), (199, 2), (299, 1), (399, 10), (499, 35), (540, 3)],
                 .max: [(99, 3), (199, 10), (299, 2), (399, 25), (499, 35), (540, 10)],
                 .counter: [(20, 1), (99, 4), (199, 13), (299, 16), (399, 40), (499, 50), (540, 63), (540, 3)],
             ]]),
        Case(name: "realistic 15s interval raw chunks",
             raw: [ThanosRealisticData.rawChunk0, ThanosRealisticData.rawChunk1],
             resolution: DownsampleResolution.fiveMinutes,
             expected: [[
                 .count: ThanosRealisticData.count5m, .sum: ThanosRealisticData.sum5m, .min: ThanosRealisticData.min5m,
                 .max: ThanosRealisticData.max5m, .counter: ThanosRealisticData.counter5m,
             ]]),
        Case(name: "three chunks, the first one with NaN values only",
             raw: [[(20, .nan), (40, .nan), (60, .nan), (80, .nan), (100, .nan), (101, stale), (120, .nan), (180, .nan), (250, .nan)],
                   [(260, 1), (300, 10), (340, 15), (380, 25), (420, 35)],
                   [(460, stale), (500, 10), (540, 3)]],
             resolution: 100,
             expected: [[
                 .count: [(299, 1), (399, 3), (499, 1), (540, 2)], .sum: [(299, 1), (399, 50), (499, 35), (540, 13)],
                 .min: [(299, 1), (399, 10), (499, 35), (540, 3)], .max: [(299, 1), (399, 25), (499, 35), (540, 10)],
                 .counter: [(260, 1), (299, 1), (399, 25), (499, 35), (540, 48), (540, 3)],
             ]]),
        Case(name: "single aggregated chunks", aggr: [singleAggregated], resolution: 500, expected: [singleAggregated500]),
        Case(name: "downsampling already downsampled to the same resolution aggregated chunks",
             aggr: [singleAggregated500], resolution: 500, expected: [singleAggregated500]),
        Case(name: "two aggregated chunks",
             aggr: [singleAggregated, [
                 .count: [(1399, 10), (1400, 3), (1499, 10), (1699, 0), (1999, 100)],
                 .sum: [(1399, 10), (1400, 3), (1499, 10), (1699, 0), (1999, 100)],
                 .min: [(1399, 10), (1400, -3), (1499, 10), (1699, 0), (1999, 100)],
                 .max: [(1399, 10), (1400, -3), (1499, 10), (1699, 0), (1999, 100)],
                 .counter: [(1499, 210), (1499, 10), (1599, 20), (1799, 50), (1999, 120), (1999, 50), (2099, 40), (2199, 80), (2299, 110)],
             ]],
             resolution: 500,
             expected: [[
                 .count: [(499, 29), (999, 100), (1499, 23), (1999, 100)], .sum: [(499, 29), (999, 100), (1499, 23), (1999, 100)],
                 .min: [(499, -3), (999, 0), (1499, -3), (1999, 0)], .max: [(499, 10), (999, 100), (1499, 10), (1999, 100)],
                 .counter: [(99, 100), (499, 210), (999, 320), (1499, 530), (1999, 640), (2299, 750), (2299, 110)],
             ]]),
        Case(name: "realistic 5m downsampled chunks with counter resets to 1h",
             aggr: [[.count: ThanosRealisticData.count5m, .sum: ThanosRealisticData.sum5m, .min: ThanosRealisticData.min5m,
                     .max: ThanosRealisticData.max5m, .counter: ThanosRealisticData.counter5m]],
             resolution: DownsampleResolution.oneHour,
             expected: [[
                 .count: [(1587693590791, 236)], .sum: [(1587693590791, 8.0151286e+07)], .min: [(1587693590791, 75)],
                 .max: [(1587693590791, 496544)],
                 .counter: [(1587690005791, 461968), (1587693590791, 511500), (1587693590791, 14956)],
             ]]),
        fourChunks,
    ]

    @Test("TestDownsample cases", arguments: cases)
    func thanosCase(_ c: Case) throws {
        let got = try Self.decode(try Self.run(raw: c.raw, aggr: c.aggr, resolution: c.resolution))
        #expect(Self.same(got, c.expected!), "got \(got)")
    }

    @Test("overlapping chunks are refused (raw and aggregated)")
    func overlapRefused() throws {
        let first: [S] = [(20, 1), (40, 2), (60, 3), (80, 1), (100, 2), (101, Self.stale), (120, 5), (180, 10), (250, 2)]
        let raw: [[S]] = [first, first, [(260, 1), (300, 10)], [(460, Self.stale), (500, 10), (540, 3)]]
        let e = #expect(throws: TSDBError.self) { _ = try Self.run(raw: raw, resolution: 100) }
        #expect(e?.kind == .corrupt && e?.detail.contains("overlapping chunks") == true)
        let a: Aggregates = [.count: [(199, 5), (299, 1), (399, 10), (400, 3), (499, 10), (699, 0), (999, 100)]]
        #expect(throws: TSDBError.self) { _ = try Self.run(aggr: [a, a], resolution: 500) }
    }

    // MARK: TestDownsampleCounterBoundaryReset

    @Test("counter resets at chunk boundaries survive two rounds (Thanos #1568)")
    func counterBoundaryReset() throws {
        let raw: [S] = [(10, 1), (20, 3), (30, 5), (50, 1), (60, 8), (70, 10), (120, 1), (130, 18), (140, 20),
                        (160, 21), (170, 38), (180, 40)]
        // More chunks than samples: every batch holds one window.
        var outs: [AggregateOutput] = []
        raw.map(\.0).withUnsafeBufferPointer { t in
            raw.map(\.1).withUnsafeBufferPointer { v in
                RawFloatDownsampler.downsample(t: t, v: v, resolution: 50, chunks: raw.count + 1, into: &outs)
            }
        }
        #expect(outs.count == 4)
        let inputs = try outs.map { try AggregateInput($0) }
        #expect(Self.same(try Self.counterSamples(inputs), [(10, 1), (30, 5), (30, 5), (50, 1), (70, 10), (70, 10),
                                                             (120, 1), (140, 20), (140, 20), (160, 21), (180, 40), (180, 40)]))
        #expect(Self.same(try Self.counterIterated(inputs), [(10, 1), (30, 5), (50, 6), (70, 15), (120, 16), (140, 35), (160, 36), (180, 55)]))

        var buf = FloatSeriesBuffer()
        let second = try [inputs[0..<2], inputs[2..<4]].map { try AggregateInput(try AggregateFloatDownsampler.batch($0, resolution: 100, buffer: &buf)) }
        #expect(Self.same(try Self.counterSamples(second), [(10, 1), (70, 15), (70, 10), (120, 1), (180, 40), (180, 40)]))
        #expect(Self.same(try Self.counterIterated(second), [(10, 1), (70, 15), (120, 16), (180, 55)]))
    }

    static func counterSamples(_ chunks: [AggregateInput]) throws -> [S] {
        var out: [S] = []
        for c in chunks {
            _ = try c.withPart(.counter) { (_, p, _) throws(TSDBError) in
                var it = try XORIterator(p)
                while try it.next() { out.append((it.timestamp, it.value)) }
            }
        }
        return out
    }

    static func counterIterated(_ chunks: [AggregateInput]) throws -> [S] {
        var a = CounterResetsApplier()
        var out: [S] = []
        for (t, v) in try counterSamples(chunks) { if let s = a.feed(t, v) { out.append(s) } }
        return out
    }

    // MARK: TestApplyCounterResetsIterator, TestExpandChunkIterator

    @Test("the counter-reset iterator: stale markers, resets, trailing samples, overlapping chunks")
    func applyCounterResets() {
        func apply(_ chunks: [[S]]) -> [S] {
            var a = CounterResetsApplier()
            return chunks.flatMap { $0 }.compactMap { a.feed($0.0, $0.1) }
        }
        let withStale: [[S]] = [
            [(100, 10), (200, 20), (300, 10), (400, 20), (400, 5)],
            [(500, 10), (600, 20), (700, 30), (800, 40), (800, 10)],  // no reset, a trailing sample
            [(900, 5), (1000, 10), (1100, 15)],                        // a reset
            [(1200, 20), (1250, Self.stale), (1300, 40)],              // no trailing sample, no reset
            [(1400, 30), (1500, 30), (1600, 50)],                      // no trailing sample, a reset
        ]
        #expect(Self.same(apply(withStale), [(100, 10), (200, 20), (300, 30), (400, 40), (500, 45), (600, 55), (700, 65), (800, 75),
                                             (900, 80), (1000, 85), (1100, 90), (1200, 95), (1300, 115), (1400, 145), (1500, 145), (1600, 165)]))
        let real = [ThanosRealisticData.rawChunk0, ThanosRealisticData.rawChunk1]
        #expect(Self.same(apply(real), ThanosRealisticData.counterIterated))
        let repeated = Array(repeating: real[0], count: 3) + Array(repeating: real[1], count: 9)
        #expect(Self.same(apply(repeated), ThanosRealisticData.counterIterated))
        let after5m = apply([ThanosRealisticData.counter5m])
        #expect(Self.same(after5m, ThanosRealisticData.counter5m.dropLast().map { $0 }))
    }

    @Test("expansion drops stale markers and samples going back, keeps equal timestamps")
    func expansion() throws {
        let samples: [S] = [(100, 1), (200, 2), (200, 3), (201, 4), (200, 5), (300, 6), (400, Self.stale), (500, 5)]
        var buf = FloatSeriesBuffer()
        try Self.xor(samples).withUnsafeBytes { try buf.expandXOR($0, origin: 0) }
        #expect(Self.same(Array(zip(buf.t, buf.v)), [(100, 1), (200, 2), (200, 3), (201, 4), (300, 6), (500, 5)]))
    }

    // MARK: Aggregates mixed with plain chunks

    static let realistic5m: Aggregates = [
        .count: ThanosRealisticData.count5m, .sum: ThanosRealisticData.sum5m, .min: ThanosRealisticData.min5m,
        .max: ThanosRealisticData.max5m, .counter: ThanosRealisticData.counter5m,
    ]

    @Test("an empty XOR chunk in a 5m block is skipped")
    func emptyXORInAggregatedBlock() throws {
        let empty = SeriesChunk(minTime: .max, maxTime: .min, encoding: .xor, payload: Self.xor([]))
        let d = SeriesDownsampler(inputResolution: 300_000, resolution: 3_600_000)
        let got = try Self.decode(try d.downsample([Self.aggrChunk(Self.realistic5m), empty]))
        #expect(got.count == 1)
    }

    @Test("a non-empty XOR chunk in a 5m block is downsampled to 5m first (TestDownsampleAggrAndNonEmptyXORChunks)")
    func nonEmptyXORInAggregatedBlock() throws {
        let aggr: Aggregates = [
            .count: [(1587690299999, 20), (1587690599999, 20), (1587690899999, 20)],
            .sum: [(1587690299999, 9.276972e+06), (1587690599999, 9.359861e+06), (1587693590791, 255746)],
            .min: [(1587690299999, 461968), (1587690599999, 466070), (1587690899999, 470131), (1587691199999, 474913)],
            .max: [(1587690299999, 465870), (1587690599999, 469951), (1587690899999, 474726)],
            .counter: [(1587690005791, 461968), (1587690299999, 465870), (1587690599999, 469951)],
        ]
        let raw = SeriesChunk(minTime: .max, maxTime: .min, encoding: .xor, payload: Self.xor([(1587690005794, 42.5)]))
        let d = SeriesDownsampler(inputResolution: 300_000, resolution: 3_600_000)
        let got = try Self.decode(try d.downsample([Self.aggrChunk(aggr), raw]))
        let t: Int64 = 1587690005794
        let want: Aggregates = [
            .count: [(t, 20), (t, 20), (t, 21)],
            .sum: [(t, 9.276972e+06), (t, 9.359861e+06), (t, 255788.5)],
            .min: [(t, 461968), (t, 466070), (t, 470131), (t, 42.5)],
            .max: [(t, 465870), (t, 469951), (t, 474726)],
            .counter: [(1587690005791, 461968), (1587690599999, 469951), (1587690599999, 469951)],
        ]
        #expect(Self.same(got, [want]), "got \(got)")
    }

    // MARK: Window arithmetic

    @Test("window ends and the chunk-count heuristic")
    func windows() {
        #expect(DownsampleWindows.end(0, 100) == 99)
        #expect(DownsampleWindows.end(99, 100) == 99)
        #expect(DownsampleWindows.end(100, 100) == 199)
        #expect(DownsampleWindows.end(1587690005791, 300_000) == 1587690299999)
        // 2 h of 15 s samples at 5m: 24 windows, one chunk.
        #expect(DownsampleWindows.targetChunkCount(minTime: 0, maxTime: 7_200_000, inRes: 60_000, outRes: 300_000, count: 480) == 1)
        // 2 weeks of 15 s samples: 4032 windows, cut at 140.
        let two = Int64(14 * 86_400_000)
        #expect(DownsampleWindows.targetChunkCount(minTime: 0, maxTime: two, inRes: 60_000, outRes: 300_000, count: 80_640) == 29)
        // Half-empty range: half the windows expected.
        #expect(DownsampleWindows.targetChunkCount(minTime: 0, maxTime: two, inRes: 60_000, outRes: 300_000, count: 10_080) == 15)
        // A single sample, and nothing at all (NaN in Go): one chunk.
        #expect(DownsampleWindows.targetChunkCount(minTime: 5, maxTime: 5, inRes: 60_000, outRes: 300_000, count: 1) == 1)
        #expect(DownsampleWindows.targetChunkCount(minTime: 5, maxTime: 5, inRes: 300_000, outRes: 3_600_000, count: 0) == 1)
    }
}
