#if canImport(Glibc)
import Glibc
#endif
import TSDB

/// What `promtool tsdb analyze` reports for a block, computed by walking every series in
/// parallel (the all-postings list is split into ranges, one task each).
public struct AnalyzeReport: Sendable {
    public struct Entry: Sendable, Equatable {
        public var metric: UInt64
        public var key: String
    }
    public var blockID: ULID
    public var durationMillis: Int64
    public var series: UInt64
    public var labelNames: Int
    public var uniqueLabelPairs: Int
    public var labelPairEntries: Int
    /// Section title and its entries, highest first (ties by key), cut at the limit.
    public var sections: [(title: String, entries: [Entry])]

    /// The text promtool 2.42 prints (ties among equal metrics are ordered by key here;
    /// promtool's order for ties is random).
    public var text: String {
        var s = "Block ID: \(blockID)\n"
        s += "Duration: \(goDuration(millis: durationMillis))\n"
        s += "Series: \(series)\n"
        s += "Label names: \(labelNames)\n"
        s += "Postings (unique label pairs): \(uniqueLabelPairs)\n"
        s += "Postings entries (total label pairs): \(labelPairEntries)\n"
        for (title, entries) in sections {
            s += "\n\(title):\n"
            for e in entries { s += "\(e.metric) \(e.key)\n" }
        }
        return s
    }
}

public enum Analyzer {
    /// Per-task tallies keyed by symbol refs (name << 32 | value), merged at the end.
    struct Tally {
        var pairUncovered: [UInt64: UInt64] = [:]
        var pairCount: [UInt64: UInt64] = [:]
        var nameUncovered: [UInt32: UInt64] = [:]
        var entries = 0

        mutating func merge(_ o: Tally) {
            pairUncovered.merge(o.pairUncovered, uniquingKeysWith: &+)
            pairCount.merge(o.pairCount, uniquingKeysWith: &+)
            nameUncovered.merge(o.nameUncovered, uniquingKeysWith: &+)
            entries += o.entries
        }
    }

    public static func analyze(_ block: Block, limit: Int, parallelism: Int = 0) async throws -> AnalyzeReport {
        let ix = block.index
        let meta = block.meta
        let span = UInt64(bitPattern: meta.maxTime &- meta.minTime)
        let all = try ix.allPostings()
        let workers = parallelism > 0 ? parallelism : max(1, activeProcessorCount())
        let pieces = min(max(1, all.count / 4096), workers * 4)
        let step = (all.count + pieces - 1) / max(pieces, 1)

        let tally = try await withThrowingTaskGroup(of: Tally.self) { group in
            var next = 0
            var inFlight = 0
            var total = Tally()
            func add(_ start: Int) {
                let range = start..<min(start + step, all.count)
                group.addTask {
                    var t = Tally()
                    var labels: [LabelRef] = []
                    var chunks: [ChunkMeta] = []
                    for i in range {
                        try ix.series(all[i], labels: &labels, chunks: &chunks)
                        guard let first = chunks.first, let last = chunks.last else {
                            throw TSDBError(.corrupt, file: ix.name, section: "series \(all[i])", offset: ix.seriesOffset(all[i]),
                                            "series has no chunks")
                        }
                        // Wrapping like Go's uint64 arithmetic for chunks outside the block.
                        let uncovered = span &- UInt64(bitPattern: last.maxTime &- first.minTime)
                        for l in labels {
                            let key = UInt64(l.name) << 32 | UInt64(l.value)
                            t.pairUncovered[key, default: 0] &+= uncovered
                            t.pairCount[key, default: 0] &+= 1
                            t.nameUncovered[l.name, default: 0] &+= uncovered
                        }
                        t.entries += labels.count
                    }
                    return t
                }
            }
            while next < all.count && inFlight < workers {
                add(next); next += step; inFlight += 1
            }
            while let t = try await group.next() {
                total.merge(t)
                if next < all.count { add(next); next += step }
            }
            return total
        }

        let spanF = Double(Int64(bitPattern: span))
        func ratio(_ m: UInt64) -> UInt64 {
            let v = Double(m) / spanF
            return v.isFinite && v >= 0 && v < 1.8e19 ? UInt64(v) : 0
        }
        func pairKey(_ k: UInt64) throws -> String {
            try ix.symbol(UInt32(k >> 32)) + "=" + ix.symbol(UInt32(truncatingIfNeeded: k))
        }

        var sections: [(String, [AnalyzeReport.Entry])] = []
        sections.append(("Label pairs most involved in churning",
                         try top(tally.pairUncovered.map { ($0.key, ratio($0.value)) }, limit, pairKey)))
        sections.append(("Label names most involved in churning",
                         try top(tally.nameUncovered.map { ($0.key, ratio($0.value)) }, limit) { try ix.symbol($0) }))
        sections.append(("Most common label pairs",
                         try top(tally.pairCount.map { ($0.key, $0.value) }, limit, pairKey)))

        let names = ix.labelNames
        let stats = names.map { ix.labelValueStats($0) }
        sections.append(("Label names with highest cumulative label value length",
                         top(names.indices.map { ($0, UInt64(stats[$0].bytes)) }, limit) { names[$0] }))
        sections.append(("Highest cardinality labels",
                         top(names.indices.map { ($0, UInt64(stats[$0].count)) }, limit) { names[$0] }))
        var metricCounts: [(String, UInt64)] = []
        for v in try ix.labelValues("__name__") {
            metricCounts.append((v, UInt64(try ix.postings(name: "__name__", value: v).count)))
        }
        sections.append(("Highest cardinality metric names",
                         top(metricCounts.indices.map { ($0, metricCounts[$0].1) }, limit) { metricCounts[$0].0 }))

        return AnalyzeReport(
            blockID: meta.ulid, durationMillis: meta.maxTime &- meta.minTime, series: meta.stats.numSeries,
            labelNames: names.count, uniqueLabelPairs: tally.pairCount.count, labelPairEntries: tally.entries,
            sections: sections)
    }

    /// The `limit` largest by metric; ties broken by key so output is deterministic. Keys
    /// are turned into strings only for the candidates that can make the cut.
    static func top<K>(_ items: [(K, UInt64)], _ limit: Int, _ name: (K) throws -> String) rethrows -> [AnalyzeReport.Entry] {
        guard limit > 0, !items.isEmpty else { return [] }
        let sorted = items.sorted { $0.1 > $1.1 }
        let cut = sorted[min(limit, sorted.count) - 1].1
        var cands: [AnalyzeReport.Entry] = []
        for (k, m) in sorted {
            if m < cut { break }
            cands.append(AnalyzeReport.Entry(metric: m, key: try name(k)))
        }
        cands.sort { $0.metric != $1.metric ? $0.metric > $1.metric : byteLess($0.key, $1.key) }
        return Array(cands.prefix(limit))
    }
}

func activeProcessorCount() -> Int {
    #if canImport(Glibc)
    return Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
    #else
    return 2
    #endif
}
