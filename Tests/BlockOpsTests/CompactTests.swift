import Foundation
import Logging
import ObjectStore
import Testing
import TestSupport
import TSDB
@testable import BlockOps

/// Compacting real blocks, with promtool as the oracle: `promtool tsdb dump` of a set of
/// blocks (its querier merges overlapping blocks one sample per timestamp and applies
/// tombstones) must equal the dump of the block blockyard makes from them.
@Suite("Compactor: real blocks merged, promtool as the oracle")
struct CompactTests {
    static let t0: Int64 = 1_672_531_200  // 2023-01-01T00:00:00Z, a 2h boundary

    /// OpenMetrics text: gauges and counters for `hosts` hosts every `step` seconds over
    /// `span` seconds, timestamps shifted by `jitter` seconds; `extra` labels on every series.
    static func openMetrics(hosts: Int = 5, step: Double = 15, span: Double = 5400, jitter: Double = 0,
                            extra: String = "", seed: UInt64 = 1) -> String {
        var rng = SeededRandom(seed: seed)
        var out = "# TYPE load gauge\n"
        var lines: [String] = []
        var t = 0.0
        var counters = [Double](repeating: 0, count: hosts)
        while t < span {
            for h in 0..<hosts {
                let ts = Double(t0) + t + jitter
                let v = Double(rng.next() % 1000) / 10
                lines.append("load{host=\"h\(h)\"\(extra)} \(v) \(String(format: "%.3f", ts))")
                counters[h] += Double(rng.next() % 50)
            }
            t += step
        }
        out += lines.sorted { a, b in a.split(separator: " ")[0] < b.split(separator: " ")[0] }.joined(separator: "\n") + "\n"
        out += "# TYPE requests counter\n"
        lines = []
        t = 0
        counters = [Double](repeating: 0, count: hosts)
        while t < span {
            for h in 0..<hosts {
                counters[h] += Double(rng.next() % 50)
                lines.append("requests_total{host=\"h\(h)\"\(extra)} \(counters[h]) \(String(format: "%.3f", Double(t0) + t + jitter))")
            }
            t += step
        }
        out += lines.sorted { a, b in a.split(separator: " ")[0] < b.split(separator: " ")[0] }.joined(separator: "\n") + "\n# EOF\n"
        return out
    }

    static func compact(_ dirs: [String], _ options: CompactOptions = CompactOptions()) throws -> (String, CompactResult) {
        let out = try Fixtures.tempDir("compact-out")
        let blocks = try dirs.map { try Block(directory: $0) }
        let r = try #require(try Compactor.compact(blocks, into: out, options: options))
        return (out, r)
    }

    @Test("horizontal: fixture blocks merge into one that dumps like the originals", arguments: Fixtures.blockSets)
    func horizontal(_ set: String) async throws {
        let dirs = try Block.directories(at: set)
        let (out, r) = try Self.compact(dirs)
        defer { Fixtures.cleanup(out) }
        #expect(try Promtool.dump([r.directory]) == Promtool.dump(dirs))
        let inputs = try dirs.map { try Block(directory: $0) }
        #expect(r.meta.minTime == inputs.map(\.meta.minTime).min())
        #expect(r.meta.maxTime == inputs.map(\.meta.maxTime).max())
        #expect(r.meta.compaction.level == 2)
        #expect(r.meta.compaction.sources == inputs.map(\.meta.ulid).sorted())
        #expect(r.meta.compaction.parents.map(\.ulid) == inputs.map(\.meta.ulid))
        #expect(r.meta.stats.numSamples == inputs.reduce(0) { $0 + $1.meta.stats.numSamples })
        #expect(r.chunksReencoded == 0, "non-overlapping chunks must be copied as bytes")
        #expect(await BlockVerifier().verify(directory: r.directory).isEmpty)
        _ = try Promtool.run(["tsdb", "analyze", out])
    }

    @Test("vertical, chain: two jittered replicas merge one sample per timestamp, as promtool's querier does")
    func verticalChain() async throws {
        let a = try Promtool.createBlocks(openMetrics: Self.openMetrics(seed: 1), tag: "ra")
        let b = try Promtool.createBlocks(openMetrics: Self.openMetrics(jitter: 0.4, seed: 2), tag: "rb")
        defer { Fixtures.cleanup(a.dir); Fixtures.cleanup(b.dir) }
        let inputs = a.blocks + b.blocks
        let (out, r) = try Self.compact(inputs)
        defer { Fixtures.cleanup(out) }
        #expect(try Promtool.dump([r.directory]) == Promtool.dump(inputs))
        #expect(r.chunksReencoded > 0 && r.seriesMerged == 10)
        #expect(await BlockVerifier().verify(directory: r.directory).isEmpty)
        // Re-encoded chunks hold at most 120 samples.
        let block = try Block(directory: r.directory)
        var l: [LabelRef] = [], c: [ChunkMeta] = []
        for ref in try block.index.allPostings() {
            try block.index.series(ref, labels: &l, chunks: &c)
            for m in c {
                let n = try block.chunks.chunk(m.ref).withData { Int($0[0]) << 8 | Int($0[1]) }
                #expect(n <= 121)
            }
        }
    }

    @Test("vertical, penalty: replica labels inside series are dropped and HA replicas deduplicated")
    func verticalPenalty() async throws {
        let a = try Promtool.createBlocks(openMetrics: Self.openMetrics(extra: ",replica=\"a\"", seed: 1), tag: "pa")
        let b = try Promtool.createBlocks(openMetrics: Self.openMetrics(jitter: 0.4, extra: ",replica=\"b\"", seed: 2), tag: "pb")
        defer { Fixtures.cleanup(a.dir); Fixtures.cleanup(b.dir) }
        var o = CompactOptions()
        o.function = .penalty
        o.dropLabels = ["replica"]
        let (out, r) = try Self.compact(a.blocks + b.blocks, o)
        defer { Fixtures.cleanup(out) }
        let block = try Block(directory: r.directory)
        #expect(r.meta.stats.numSeries == 10)
        #expect(!block.index.labelNames.contains("replica"))
        // One replica's cadence: as many samples as one replica has, 15 s apart.
        let one = try Block(directory: a.blocks[0])
        #expect(r.meta.stats.numSamples == one.meta.stats.numSamples)
        var l: [LabelRef] = [], c: [ChunkMeta] = []
        for ref in try block.index.allPostings() {
            try block.index.series(ref, labels: &l, chunks: &c)
            var ts: [Int64] = [], vs: [Double] = []
            for m in c { try block.chunks.chunk(m.ref).withData { try XORIterator.decodeAll($0, timestamps: &ts, values: &vs) } }
            for i in ts.indices.dropFirst() { #expect(ts[i] - ts[i - 1] >= 14_000) }
        }
        #expect(await BlockVerifier().verify(directory: r.directory).isEmpty)
        // With chain instead, both replicas' samples are kept.
        var chain = o
        chain.function = .chain
        let (out2, r2) = try Self.compact(a.blocks + b.blocks, chain)
        defer { Fixtures.cleanup(out2) }
        #expect(r2.meta.stats.numSamples == 2 * one.meta.stats.numSamples)
    }

    @Test("the same block twice: every chunk is a 1:1 duplicate and is dropped")
    func duplicateBlock() throws {
        let dir = try #require(try Block.directories(at: Fixtures.blockSets[0]).first)
        let copy = try Fixtures.copyBlocks([dir])
        defer { Fixtures.cleanup(copy) }
        let (out, r) = try Self.compact([dir, copy + "/" + (dir as NSString).lastPathComponent])
        defer { Fixtures.cleanup(out) }
        let original = try Block(directory: dir)
        #expect(r.duplicateChunksDropped == Int(original.meta.stats.numChunks))
        #expect(r.meta.stats == original.meta.stats || r.meta.stats.numSamples == original.meta.stats.numSamples)
        #expect(try Promtool.dump([r.directory]) == Promtool.dump([dir]))
    }

    @Test("tombstones are applied: deleted samples are gone, the rest re-encoded")
    func tombstones() throws {
        let dir = try #require(try Block.directories(at: Fixtures.blockSets.first { $0.hasSuffix("values") }!).first)
        let work = try Fixtures.copyBlocks([dir])
        defer { Fixtures.cleanup(work) }
        let copy = work + "/" + (dir as NSString).lastPathComponent
        let b = try Block(directory: copy)
        let refs = try b.index.allPostings()
        var ts = Tombstones()
        ts.add(Tombstone(series: refs[0], minTime: b.meta.minTime + 600_000, maxTime: b.meta.minTime + 1_800_000))
        ts.add(Tombstone(series: refs[2], minTime: .min, maxTime: .max))
        try Data(ts.serialized()).write(to: URL(fileURLWithPath: copy + "/tombstones"))
        let (out, r) = try Self.compact([copy])
        defer { Fixtures.cleanup(out) }
        #expect(try Promtool.dump([r.directory]) == Promtool.dump([copy]))
        #expect(r.meta.stats.numSeries == b.meta.stats.numSeries - 1)
    }

    @Test("an input chunk outside its block is refused, naming block and series, and nothing is left")
    func refusesBrokenInput() throws {
        let src = try #require(try Block.directories(at: Fixtures.blockSets.first { $0.hasSuffix("values") }!).first)
        let work = try Fixtures.copyBlocks([src])
        defer { Fixtures.cleanup(work) }
        let copy = work + "/" + (src as NSString).lastPathComponent
        // Shrink the block's range in meta.json so its last chunks fall outside it.
        var meta = try Block(directory: copy).meta
        meta.maxTime = meta.minTime + 60_000
        try meta.serialized().write(toFile: copy + "/meta.json", atomically: true, encoding: .utf8)
        let out = try Fixtures.tempDir("broken-out")
        defer { Fixtures.cleanup(out) }
        #expect {
            _ = try Compactor.compact([try Block(directory: copy)], into: out, options: CompactOptions())
        } throws: { e in
            let d = "\(e)"
            return e is CompactionInputError && d.contains(meta.ulid.description) && d.contains("series {") && d.contains("outside")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: out).isEmpty)
    }
}

/// Repair and relabel modes of the compactor on deliberately broken copies of real blocks.
@Suite("Compactor: repair and relabel")
struct CompactRepairTests {
    static func dump(_ blocks: [Block], maxTime: Int64 = .max) throws -> String {
        var o = DumpOptions()
        o.maxTime = maxTime
        let out = OutputSink(collecting: ())
        try Dumper(blocks: blocks, options: o, out: out).run()
        try out.flush()
        return out.text
    }

    final class Log: @unchecked Sendable {
        let lock = NSLock()
        var events: [RepairEvent] = []
        func add(_ e: RepairEvent) { lock.withLock { events.append(e) } }
    }

    /// A copy of a `values` block whose index is rewritten: series order reversed, one series
    /// written twice, one with its label names out of order, one with its chunks reversed.
    static func broken() throws -> (work: String, dir: String, original: Block) {
        let src = try #require(try Block.directories(at: Fixtures.blockSets.first { $0.hasSuffix("values") }!).first)
        let work = try Fixtures.copyBlocks([src])
        let dir = work + "/" + (src as NSString).lastPathComponent
        let original = try Block(directory: src)
        var series: [([(String, String)], [ChunkMeta])] = []
        for ref in try original.index.allPostings() {
            let (labels, chunks) = try original.index.seriesLabels(ref)
            series.append((labels.map { ($0.name, $0.value) }, chunks))
        }
        series.reverse()
        series.append(series[0])
        series[1].0.reverse()
        let k = try #require(series.firstIndex { $0.1.count > 1 })
        series[k].1.reverse()
        try Data(IndexBuilder(series: series).build(.v2WithLabelIndices)).write(to: URL(fileURLWithPath: dir + "/index"))
        return (work, dir, original)
    }

    @Test("repair: re-sorted series and labels, duplicates merged, chunks put in order; nothing lost")
    func repairsStructure() async throws {
        let (work, dir, original) = try Self.broken()
        defer { Fixtures.cleanup(work) }
        #expect(await !BlockVerifier().verify(directory: dir).isEmpty, "the broken copy must be broken")
        var o = CompactOptions()
        o.repair = true
        let log = Log()
        o.log = { log.add($0) }
        let out = try Fixtures.tempDir("repair-out")
        defer { Fixtures.cleanup(out) }
        let r = try #require(try Compactor.compact([try Block(directory: dir)], into: out, options: o))
        #expect(await BlockVerifier().verify(directory: r.directory).isEmpty)
        #expect(try Self.dump([try Block(directory: r.directory)]) == Self.dump([original]))
        #expect(log.events.contains { $0.action == .mergedSeries })
        #expect(log.events.contains { $0.action == .droppedDuplicates || $0.action == .mergedSeries })
    }

    @Test("repair: chunks outside the block are trimmed to it, and the trim is logged")
    func repairsOutside() async throws {
        let src = try #require(try Block.directories(at: Fixtures.blockSets.first { $0.hasSuffix("values") }!).first)
        let work = try Fixtures.copyBlocks([src])
        defer { Fixtures.cleanup(work) }
        let dir = work + "/" + (src as NSString).lastPathComponent
        var meta = try Block(directory: dir).meta
        let cut = meta.minTime + 2_700_000  // inside the first chunk: it is trimmed, the later ones dropped
        meta.maxTime = cut
        try meta.serialized().write(toFile: dir + "/meta.json", atomically: true, encoding: .utf8)
        var o = CompactOptions()
        o.repair = true
        let log = Log()
        o.log = { log.add($0) }
        let out = try Fixtures.tempDir("repair-out2")
        defer { Fixtures.cleanup(out) }
        let r = try #require(try Compactor.compact([try Block(directory: dir)], into: out, options: o))
        #expect(await BlockVerifier().verify(directory: r.directory).isEmpty)
        #expect(try Self.dump([try Block(directory: r.directory)]) == Self.dump([try Block(directory: src)], maxTime: cut - 1))
        #expect(log.events.contains { $0.action == .trimmedChunk })
        #expect(log.events.contains { $0.action == .droppedChunk })
    }

    @Test("relabel: a label is removed, series that become equal merge, new values get symbols")
    func relabels() async throws {
        let set = try Block.directories(at: Fixtures.blockSets.first { $0.hasSuffix("bulk") }!)
        var o = CompactOptions()
        o.relabel = { labels in
            var pairs = labels.pairs.filter { $0.name != "instance" }
            pairs.append(Label(name: "rewritten", value: "yes"))
            return pairs.contains { $0.name == "__name__" && $0.value == "up" } ? nil : Labels(pairs)
        }
        let out = try Fixtures.tempDir("relabel-out")
        defer { Fixtures.cleanup(out) }
        let r = try #require(try Compactor.compact(try set.map { try Block(directory: $0) }, into: out, options: o))
        #expect(await BlockVerifier().verify(directory: r.directory).isEmpty)
        let b = try Block(directory: r.directory)
        #expect(!b.index.labelNames.contains("instance"))
        #expect(try b.index.labelValues("rewritten") == ["yes"])
        #expect(try b.index.postings(name: "__name__", value: "up").isEmpty)
        #expect(r.meta.stats.numSeries < UInt64(try Block(directory: set[0]).index.allPostings().count))
        _ = try Promtool.run(["tsdb", "analyze", out])
    }
}

/// The whole job on a bucket of two days of 2h blocks: compaction up to the 2d range, then
/// downsampling of the result, as Thanos' compactor runs them.
@Suite("Compaction job: compact, then downsample")
struct CompactJobTests {
    @Test("50h of 2h blocks: the first 48h become one 2d-range block and its 5m downsample; the raw data is unchanged")
    func compactThenDownsample() async throws {
        var lines: [String] = ["# TYPE temp gauge"]
        let t0 = CompactTests.t0
        for s in 0..<3 {
            for i in stride(from: 0, to: 50 * 3600, by: 60) { lines.append("temp{sensor=\"s\(s)\"} \(Double((i / 60 + s) % 97)) \(t0 + Int64(i))") }
        }
        let made = try Promtool.createBlocks(openMetrics: lines.joined(separator: "\n") + "\n# EOF\n", tag: "job50h")
        defer { Fixtures.cleanup(made.dir) }
        try #require(made.blocks.count == 25)
        // Head blocks span their whole 2h window (promtool's start at the first sample);
        // Thanos' planner only merges windows that such blocks fill.
        for b in made.blocks {
            var m = try Block(directory: b).meta
            m.minTime = m.minTime / 7_200_000 * 7_200_000
            m.maxTime = m.minTime + 7_200_000
            try m.serialized().write(toFile: b + "/meta.json", atomically: true, encoding: .utf8)
        }
        let bucketDir = try Fixtures.tempDir("job-bucket")
        defer { Fixtures.cleanup(bucketDir); Fixtures.cleanup(bucketDir + ".data") }
        let bucket = FilesystemBucket(directory: bucketDir)
        for b in made.blocks { _ = try await BlockTransfer.upload(blockDirectory: b, to: bucket, labels: ["cluster": "job"], source: "sidecar") }
        var policy = CompactionPolicy(now: Date().timeIntervalSince1970)
        policy.consistencyDelay = 0
        let job = BucketCompactor(bucket: bucket, catalog: BucketCatalog(bucket: bucket),
                                  options: BucketCompactorOptions(policy: policy, workDirectory: bucketDir + ".data"), logger: Logger(label: "t"))
        let summary = try await job.run()
        #expect(summary.skipped.isEmpty)
        #expect(summary.compactions.count == 7, "six 8h windows, then the 2d window")
        let (entries, _) = try await BucketCatalog(bucket: bucket).list()
        let live = entries.filter { !$0.markers.contains(.deletion) && $0.meta != nil }
        let raw = live.filter { $0.meta!.resolution == 0 }
        let five = live.filter { $0.meta!.resolution == 300_000 }
        #expect(raw.contains { $0.meta!.maxTime - $0.meta!.minTime == 48 * 3_600_000 })
        #expect(five.count == 1, "\(live.map { ($0.ulid, $0.meta!.resolution) })")
        #expect(summary.downsampling?.downsampled.count == 1)
        // The raw blocks still hold exactly the data promtool wrote.
        #expect(try Promtool.dump(raw.map { bucketDir + "/\($0.ulid)" }) == Promtool.dump(made.blocks))
        if let d = five.first {
            let big = try #require(raw.max { ($0.meta!.maxTime - $0.meta!.minTime) < ($1.meta!.maxTime - $1.meta!.minTime) })
            #expect(Set(d.meta!.compaction.sources) == Set(big.meta!.compaction.sources))
            #expect(await BlockVerifier().verify(directory: bucketDir + "/\(d.ulid)").isEmpty)
        }
    }
}
