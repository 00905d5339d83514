import Foundation
import Testing
import TestSupport
@testable import BlockOps
@testable import TSDB

/// Whole blocks: every fixture block (promtool and Prometheus made) downsampled to 5m and
/// the result to 1h, checked against a straightforward reference computed from the raw
/// samples; the output read by blockyard's verifier, its dump and promtool; and the
/// refusals (overlapping chunks, tombstones, resolutions).
@Suite("Downsample: blocks")
struct DownsampleBlockTests {
    typealias S = (Int64, Double)

    /// A series' samples per aggregate across its chunks, in chunk order.
    struct Aggregated {
        var count: [S] = []
        var sum: [S] = []
        var min: [S] = []
        var max: [S] = []
        /// Per chunk: the counter sub-chunk's samples (first raw, windows, trailing raw).
        var counterChunks: [[S]] = []
        var histogramCounts: [[Double]] = []
        var histogramSumCounts: [S] = []
    }

    static func aggregated(_ block: Block, _ metas: [ChunkMeta]) throws -> Aggregated {
        var a = Aggregated()
        for m in metas {
            let raw = try block.chunks.chunk(m.ref)
            #expect(raw.encoding == .thanosAggregate)
            try raw.withData { p in
                let agg = try AggregateChunk(p)
                for (kind, e) in agg.present {
                    let sub = UnsafeRawBufferPointer(rebasing: p[e.range])
                    if e.encoding == .floatHistogram {
                        let hs = try FloatHistogramIterator.decodeAll(sub)
                        if kind == .counter { a.histogramCounts.append(hs.map(\.histogram.count)) }
                        if kind == .sum { a.histogramSumCounts += hs.map { ($0.timestamp, $0.histogram.count) } }
                        continue
                    }
                    var ts: [Int64] = [], vs: [Double] = []
                    try XORIterator.decodeAll(sub, timestamps: &ts, values: &vs)
                    let s = Array(zip(ts, vs))
                    switch kind {
                    case .count: a.count += s
                    case .sum: a.sum += s
                    case .min: a.min += s
                    case .max: a.max += s
                    case .counter: a.counterChunks.append(s)
                    }
                }
            }
        }
        return a
    }

    /// The raw float samples Thanos downsamples: no stale markers, no NaN, nothing going
    /// back in time within a chunk.
    static func rawFloats(_ block: Block, _ metas: [ChunkMeta]) throws -> [S] {
        var out: [S] = []
        for m in metas {
            let raw = try block.chunks.chunk(m.ref)
            guard raw.encoding == .xor else { continue }
            var ts: [Int64] = [], vs: [Double] = []
            try raw.withData { try XORIterator.decodeAll($0, timestamps: &ts, values: &vs) }
            var last: Int64 = 0
            for (t, v) in zip(ts, vs) where v.bitPattern != staleNaNBits && t >= last {
                last = t
                if !v.isNaN { out.append((t, v)) }
            }
        }
        return out
    }

    static func close(_ a: Double, _ b: Double) -> Bool {
        if a == b || (a.isNaN && b.isNaN) { return true }
        return abs(a - b) <= 1e-9 * max(abs(a), abs(b))
    }

    /// A reset-corrected counter over values: a drop counts as a restart from 0.
    static func counter(_ values: [Double]) -> Double {
        guard var total = values.first else { return .nan }
        var last = total
        for v in values.dropFirst() {
            total += v < last ? v : v - last
            last = v
        }
        return total
    }

    /// Counter values with resets applied across chunks, as Thanos Query reads them.
    static func applied(_ chunks: [[S]]) -> [S] {
        var a = CounterResetsApplier()
        return chunks.flatMap { $0 }.compactMap { a.feed($0.0, $0.1) }
    }

    static func downsampled(_ dir: String, to resolution: Int64, in parent: String) throws -> Block {
        let r = try BlockDownsampler.downsample(try Block(directory: dir), to: resolution, parent: parent)
        return try Block(directory: r.directory)
    }

    static let fixtureBlocks = Fixtures.allBlocks

    @Test("raw to 5m: windows hold the raw samples, sums and bounds match, counters never decrease",
          arguments: fixtureBlocks)
    func rawTo5m(_ dir: String) async throws {
        let t = try Fixtures.tempDir("ds5m")
        defer { Fixtures.cleanup(t) }
        let input = try Block(directory: dir)
        let out = try Self.downsampled(dir, to: DownsampleResolution.fiveMinutes, in: t)
        let r = DownsampleResolution.fiveMinutes

        #expect(out.meta.resolution == r)
        #expect(out.meta.thanos?.source == "compactor")
        #expect(out.meta.compaction.sources == input.meta.compaction.sources)
        #expect(out.meta.minTime == input.meta.minTime && out.meta.maxTime == input.meta.maxTime)
        #expect(await BlockVerifier(deep: true).verify(directory: out.directory).isEmpty)

        var windowsTotal: UInt64 = 0
        var checkedSeries = 0
        var l: [LabelRef] = [], ci: [ChunkMeta] = [], co: [ChunkMeta] = []
        let outRefs = try out.index.allPostings()
        var k = 0
        for ref in try input.index.allPostings() {
            try input.index.series(ref, labels: &l, chunks: &ci)
            let name = try input.index.labels(l)
            let raw = try Self.rawFloats(input, ci)
            let histogram = ci.contains { $0.ref.rawValue >= 0 && (try? input.chunks.chunk($0.ref).encoding) != .xor }
            if raw.isEmpty && !histogram { continue }  // nothing but stale markers: no output series
            try #require(k < outRefs.count, "series \(name) missing from the output")
            try out.index.series(outRefs[k], labels: &l, chunks: &co)
            k += 1
            #expect(try out.index.labels(l) == name)
            let a = try Self.aggregated(out, co)
            windowsTotal += UInt64(a.count.count)
            if histogram {
                try checkHistograms(input, ci, a, name)
                checkedSeries += 1
                continue
            }
            checkedSeries += 1
            // Every window (previous output time, this one] holds exactly the raw samples the
            // aggregates say, within one aligned 5m window.
            #expect(a.count.map(\.0) == a.sum.map(\.0) && a.count.map(\.0) == a.min.map(\.0) && a.count.map(\.0) == a.max.map(\.0))
            var i = 0
            var countTotal = 0.0
            for (w, (at, c)) in a.count.enumerated() {
                var window: [Double] = []
                while i < raw.count && raw[i].0 <= at {
                    #expect(DownsampleWindows.end(raw[i].0, r) == DownsampleWindows.end(at, r), "\(name) sample \(raw[i].0) outside window \(at)")
                    window.append(raw[i].1)
                    i += 1
                }
                countTotal += c
                #expect(Double(window.count) == c, "\(name) window \(at)")
                #expect(window.reduce(0, +).bitPattern == a.sum[w].1.bitPattern || Self.close(window.reduce(0, +), a.sum[w].1), "\(name) sum at \(at)")
                let (mn, mx) = (a.min[w].1, a.max[w].1)
                #expect(window.allSatisfy { mn <= $0 && $0 <= mx }, "\(name) bounds at \(at)")
                #expect(window.contains(mn) || abs(mn) == .greatestFiniteMagnitude, "\(name) min at \(at)")
                #expect(window.contains(mx) || abs(mx) == .greatestFiniteMagnitude, "\(name) max at \(at)")
            }
            #expect(i == raw.count && Int(countTotal) == raw.count, "\(name): every raw sample in one window")

            // Counters: each chunk starts with its batch's first raw sample, ends with its
            // last raw value, and its last window holds the batch's reset-corrected counter.
            // For a counter (no negative values) the chunks, with resets applied across them
            // as Thanos Query applies them, never decrease and end at the raw series' counter.
            guard raw.allSatisfy({ $0.1.isFinite }) else { continue }
            for c in a.counterChunks {
                try #require(c.count >= 3, "\(name)")
                let batch = raw.filter { $0.0 >= c[0].0 && $0.0 <= c[c.count - 2].0 }
                #expect(batch.first?.1 == c[0].1 && batch.last?.1 == c[c.count - 1].1 && c[c.count - 1].0 == c[c.count - 2].0, "\(name)")
                #expect(Self.close(Self.counter(batch.map(\.1)), c[c.count - 2].1), "\(name): chunk counter \(c[c.count - 2].1)")
            }
            if raw.allSatisfy({ $0.1 >= 0 }) {
                let counter = Self.applied(a.counterChunks)
                for j in counter.indices.dropFirst() { #expect(counter[j].1 >= counter[j - 1].1, "\(name) counter at \(counter[j].0)") }
                #expect(Self.close(counter.last?.1 ?? .nan, Self.counter(raw.map(\.1))), "\(name)")
            }
        }
        #expect(k == outRefs.count)
        #expect(out.meta.stats.numSamples == windowsTotal)
        #expect(out.meta.stats.numSeries == UInt64(outRefs.count))
        #expect(checkedSeries > 0)
    }

    /// Native histograms: count windows add up to the raw samples, the summed observation
    /// counts to the raw ones, and counters never decrease within a chunk.
    func checkHistograms(_ input: Block, _ metas: [ChunkMeta], _ a: Aggregated, _ name: Labels) throws {
        var samples: [HistogramSample] = []
        for m in metas {
            let raw = try input.chunks.chunk(m.ref)
            try raw.withData { try expandHistograms(raw.encoding, $0, origin: 0, into: &samples) }
        }
        samples.removeAll { $0.histogram.sum.isNaN }
        #expect(Int(a.count.reduce(0) { $0 + $1.1 }) == samples.count, "\(name)")
        #expect(Self.close(a.histogramSumCounts.reduce(0) { $0 + $1.1 }, samples.reduce(0) { $0 + $1.histogram.count }), "\(name)")
        // A counter histogram's counter never decreases (a gauge histogram has none to speak of).
        guard samples.first?.histogram.counterResetHint != .gauge else { return }
        for c in a.histogramCounts { for j in c.indices.dropFirst() { #expect(c[j] >= c[j - 1], "\(name)") } }
    }

    @Test("5m to 1h: counts and sums add up, bounds hold, counters carry over", arguments: fixtureBlocks)
    func fiveMinutesTo1h(_ dir: String) async throws {
        let t = try Fixtures.tempDir("ds1h")
        defer { Fixtures.cleanup(t) }
        let five = try Self.downsampled(dir, to: DownsampleResolution.fiveMinutes, in: t)
        let hour = try Self.downsampled(five.directory, to: DownsampleResolution.oneHour, in: t)
        #expect(hour.meta.resolution == DownsampleResolution.oneHour)
        #expect(hour.meta.compaction.sources == five.meta.compaction.sources)
        #expect(await BlockVerifier(deep: true).verify(directory: hour.directory).isEmpty)
        let fiveRefs = try five.index.allPostings(), hourRefs = try hour.index.allPostings()
        #expect(fiveRefs.count == hourRefs.count)
        var l: [LabelRef] = [], c5: [ChunkMeta] = [], c1: [ChunkMeta] = []
        for (r5, r1) in zip(fiveRefs, hourRefs) {
            try five.index.series(r5, labels: &l, chunks: &c5)
            let name = try five.index.labels(l)
            try hour.index.series(r1, labels: &l, chunks: &c1)
            #expect(try hour.index.labels(l) == name)
            let a = try Self.aggregated(five, c5), b = try Self.aggregated(hour, c1)
            #expect(a.count.reduce(0) { $0 + $1.1 } == b.count.reduce(0) { $0 + $1.1 }, "\(name)")
            if !a.sum.isEmpty {
                #expect(Self.close(a.sum.reduce(0) { $0 + $1.1 }, b.sum.reduce(0) { $0 + $1.1 }), "\(name)")
                #expect(a.min.map(\.1).min() == b.min.map(\.1).min() && a.max.map(\.1).max() == b.max.map(\.1).max(), "\(name)")
                let ca = Self.applied(a.counterChunks), cb = Self.applied(b.counterChunks)
                if a.counterChunks.joined().allSatisfy({ $0.1.isFinite && $0.1 >= 0 }) {
                    for j in cb.indices.dropFirst() { #expect(cb[j].1 >= cb[j - 1].1, "\(name)") }
                    #expect(Self.close(ca.last?.1 ?? 0, cb.last?.1 ?? 0), "\(name)")
                    #expect(ca.first?.0 == cb.first?.0 && ca.first?.1 == cb.first?.1, "\(name)")
                }
            }
        }
    }

    @Test("the downsampled block's meta.json: resolution, source, kept sections, stats")
    func metaJSON() throws {
        let dir = try #require(try Block.directories(at: Fixtures.fixtures + "/demo-bucket").first)
        let t = try Fixtures.tempDir("dsmeta")
        defer { Fixtures.cleanup(t) }
        let input = try Block(directory: dir)
        let out = try Self.downsampled(dir, to: DownsampleResolution.fiveMinutes, in: t)
        let th = try #require(out.meta.thanos)
        #expect(th.labels == input.meta.thanos?.labels)
        #expect(th.resolution == 300_000 && th.source == "compactor")
        #expect(th.files.map(\.relPath) == ["chunks/000001", "index", "meta.json"])
        #expect(out.meta.compaction == input.meta.compaction)
        #expect(out.meta.stats.numChunks > 0 && out.meta.stats.numFloatSamples == nil)
        let text = try String(contentsOfFile: out.directory + "/meta.json", encoding: .utf8)
        #expect(text.contains("\"resolution\": 300000"))
    }

    // MARK: Readers of the output

    @Test("blockyard dump prints one line per aggregate with __aggr__")
    func dumpOfAggregates() throws {
        let dir = try #require(try Block.directories(at: Fixtures.fixtures + "/blocks/values").first)
        let t = try Fixtures.tempDir("dsdump")
        defer { Fixtures.cleanup(t) }
        let out = try Self.downsampled(dir, to: DownsampleResolution.fiveMinutes, in: t)
        let sink = OutputSink(collecting: ())
        var o = DumpOptions()
        o.matchers = try parseSelector("{__name__=~\".+\"}")
        try Dumper(blocks: [out], options: o, out: sink).run()
        let lines = sink.text.split(separator: "\n").map(String.init)
        var l: [LabelRef] = [], c: [ChunkMeta] = []
        var want: [String] = []
        for ref in try out.index.allPostings() {
            try out.index.series(ref, labels: &l, chunks: &c)
            let labels = try out.index.labels(l)
            let a = try Self.aggregated(out, c)
            let series: [(String, [S])] = [("count", a.count), ("sum", a.sum), ("min", a.min), ("max", a.max),
                                           ("counter", a.counterChunks.flatMap { $0 })]
            for (kind, samples) in series {
                var with = labels.map { ($0.name, $0.value) }
                with.append(("__aggr__", kind))
                with.sort { byteLess($0.0, $1.0) }
                let prefix = "{" + with.map { "\($0.0)=\(Self.quote($0.1))" }.joined(separator: ", ") + "} "
                for (ts, v) in samples { want.append(prefix + goFormatFloat(v) + " \(ts)") }
            }
        }
        #expect(lines == want)
    }

    static func quote(_ s: String) -> String {
        var out: [UInt8] = []
        var s = s
        s.withUTF8 { GoText.appendQuoted(UnsafeRawBufferPointer($0), to: &out) }
        return String(decoding: out, as: UTF8.self)
    }

    /// promtool 2.42 has no decoder for encoding 0xFF, but its index and meta.json
    /// readers take the block: `tsdb list` shows it with the stats blockyard wrote, and
    /// `tsdb analyze` reads its index as it reads the raw block's. (Its `tsdb dump` finds no
    /// sample it can decode and prints nothing, exiting 0; blockyard's dump is the reader
    /// for aggregates.)
    @Test("promtool lists and analyzes the downsampled block")
    func promtoolReadsOutput() throws {
        guard Promtool.available else { return }
        let dir = try #require(try Block.directories(at: Fixtures.fixtures + "/blocks/bulk").first)
        let t = try Fixtures.tempDir("dspt")
        defer { Fixtures.cleanup(t) }
        let out = try Self.downsampled(dir, to: DownsampleResolution.fiveMinutes, in: t)
        let list = try Promtool.run(["tsdb", "list", t]).split(separator: "\n").map(String.init)
        let row = try #require(list.first { $0.hasPrefix(out.ulid.description) }).split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        let st = out.meta.stats
        #expect(row[1] == "\(out.meta.minTime)" && row[2] == "\(out.meta.maxTime)")
        #expect(row[4] == "\(st.numSamples)" && row[5] == "\(st.numChunks)" && row[6] == "\(st.numSeries)")

        func summary(_ block: String) throws -> [String] {
            try Promtool.analyze(block, limit: 5).split(separator: "\n").filter { $0.hasPrefix("Series:") || $0.hasPrefix("Label names:") || $0.hasPrefix("Postings") }.map(String.init)
        }
        #expect(try summary(out.directory) == summary(dir))
        try FileManager.default.createDirectory(atPath: t + "/wal", withIntermediateDirectories: true)
        let (status, dumped, _) = try Run.run(Promtool.path, ["tsdb", "dump", t])
        #expect(status == 0 && dumped.isEmpty)
    }

    // MARK: Refusals

    /// A copy of the first demo-bucket block in `tmp`.
    static func demoBlockCopy(in tmp: String) throws -> String {
        let src = try #require(try Block.directories(at: Fixtures.fixtures + "/demo-bucket").first)
        let dir = tmp + "/" + (src as NSString).lastPathComponent
        try FileManager.default.copyItem(atPath: src, toPath: dir)
        return dir
    }

    /// A copy of a demo-bucket block whose index is rewritten by `change`.
    static func rewrittenBlock(in tmp: String, _ change: (inout [([(String, String)], [ChunkMeta])]) -> Void) throws -> String {
        let dir = try demoBlockCopy(in: tmp)
        let b = try Block(directory: dir)
        var series: [([(String, String)], [ChunkMeta])] = []
        for r in try b.index.allPostings() {
            let (l, c) = try b.index.seriesLabels(r)
            series.append((l.pairs.map { ($0.name, $0.value) }, c))
        }
        change(&series)
        try Data(IndexBuilder(series: series).build(.v2WithLabelIndices)).write(to: URL(fileURLWithPath: dir + "/index"))
        return dir
    }

    @Test("a raw block with overlapping chunks in a series is refused, naming block and series; nothing is left")
    func overlappingChunksRefused() throws {
        let t = try Fixtures.tempDir("dsoverlap")
        defer { Fixtures.cleanup(t) }
        var victim = ""
        let dir = try Self.rewrittenBlock(in: t) { series in
            victim = "{" + series[3].0.map { "\($0.0)=\"\($0.1)\"" }.joined(separator: ", ") + "}"
            series[3].1.insert(series[3].1[0], at: 1)
        }
        let out = t + "/out"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let e = #expect(throws: TSDBError.self) {
            _ = try BlockDownsampler.downsample(try Block(directory: dir), to: DownsampleResolution.fiveMinutes, parent: out)
        }
        let text = e?.description ?? ""
        #expect(text.contains(dir + "/index") && text.contains("series " + victim) && text.contains("overlapping chunks"), "\(text)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: out).isEmpty)
    }

    @Test("blocks with tombstones and impossible resolutions are refused")
    func otherRefusals() throws {
        let t = try Fixtures.tempDir("dsrefuse")
        defer { Fixtures.cleanup(t) }
        let dir = try Self.demoBlockCopy(in: t)
        #expect(throws: BlockOpsError.self) {
            _ = try BlockDownsampler.downsample(try Block(directory: dir), to: 600_000, parent: t)
        }
        let five = try Self.downsampled(dir, to: DownsampleResolution.fiveMinutes, in: t)
        #expect(throws: BlockOpsError.self) {
            _ = try BlockDownsampler.downsample(five, to: DownsampleResolution.fiveMinutes, parent: t)
        }
        var tomb = Tombstones()
        tomb.add(Tombstone(series: try Block(directory: dir).index.allPostings()[0], minTime: 0, maxTime: .max))
        try Data(tomb.serialized()).write(to: URL(fileURLWithPath: dir + "/tombstones"))
        let e = #expect(throws: BlockOpsError.self) {
            _ = try BlockDownsampler.downsample(try Block(directory: dir), to: DownsampleResolution.fiveMinutes, parent: t)
        }
        #expect("\(e.map { "\($0)" } ?? "")".contains("tombstones"))
    }

    @Test("a corrupt chunk is an error naming the series, the segment file and the chunk; nothing is left")
    func corruptChunkRefused() throws {
        let t = try Fixtures.tempDir("dscorrupt")
        defer { Fixtures.cleanup(t) }
        let dir = try Self.demoBlockCopy(in: t)
        let b = try Block(directory: dir)
        let (labels, metas) = try b.index.seriesLabels(try b.index.allPostings()[5])
        var seg = try Data(contentsOf: URL(fileURLWithPath: dir + "/chunks/000001"))
        seg[metas[0].ref.offset + 6] ^= 0x20
        try seg.write(to: URL(fileURLWithPath: dir + "/chunks/000001"))
        let out = t + "/out"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let e = #expect(throws: TSDBError.self) {
            _ = try BlockDownsampler.downsample(try Block(directory: dir), to: DownsampleResolution.fiveMinutes, parent: out)
        }
        #expect(e?.kind == .checksum)
        #expect(e?.section.contains("series \(labels)") == true && e?.file == dir + "/chunks/000001", "\(e.map { "\($0)" } ?? "")")
        #expect(try FileManager.default.contentsOfDirectory(atPath: out).isEmpty)
    }
}
