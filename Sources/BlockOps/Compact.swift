import Foundation
import TSDB

/// How blocks are merged into one (the part of `CompactionPolicy` that matters per block).
public struct CompactOptions: Sendable {
    public var function: MergeFunction = .chain
    /// Label names removed from every series (replica labels), so replicas' series merge.
    public var dropLabels: [String] = []
    /// Samples per re-encoded chunk (Prometheus cuts at 120).
    public var samplesPerChunk = 120
    public var segmentSize = ChunkWriter.defaultSegmentSize
    /// The Thanos section of the result (labels, resolution, source); nil for a plain
    /// Prometheus block.
    public var thanos: ThanosMeta? = nil
    /// Rewrites every series' label set (relabelling, a leaked label removed); nil drops the
    /// series. Series are re-sorted by their new label sets, and series that end up equal
    /// are merged.
    public var relabel: (@Sendable (Labels) -> Labels?)? = nil
    /// Repair broken input instead of refusing it: series are re-sorted (label names too),
    /// chunks whose checksum fails or that do not decode are dropped, samples outside the
    /// block's [minTime, maxTime) are trimmed, and overlapping chunks of a series merged.
    /// Every change is reported to `log`.
    public var repair = false
    /// Samples to delete from a series, given its output labels (after relabelling): closed
    /// intervals in ms, as Thanos' deletion requests give them (`Int64.min...Int64.max`
    /// deletes the series). Chunks inside an interval are dropped without decoding; the
    /// others are cut, as tombstones are.
    public var deletions: (@Sendable (Labels) -> [ClosedRange<Int64>])? = nil
    /// Where the result's meta.json starts from, instead of a new compaction's (level + 1,
    /// the inputs as parents): its time range, compaction and Thanos sections and unknown
    /// fields are kept (a repair or rewrite of one block); ULID, stats and the Thanos files
    /// list are filled in.
    public var template: BlockMeta? = nil
    /// Receives every change a repair, relabel or deletion makes.
    public var log: (@Sendable (RepairEvent) -> Void)? = nil
    public init() {}
}

/// One change a repair or rewrite made, for its change log.
public struct RepairEvent: Sendable, CustomStringConvertible {
    public enum Action: String, Sendable, CaseIterable {
        case droppedChunk = "dropped-chunk"
        case trimmedChunk = "trimmed-chunk"
        case fixedChunk = "fixed-chunk"
        case reorderedChunks = "re-sorted-chunks"
        case mergedOverlaps = "merged-overlapping-chunks"
        case droppedDuplicates = "dropped-duplicate-chunks"
        case mergedSeries = "merged-duplicate-series"
        case reorderedSeries = "re-sorted-series"
        case sortedLabels = "sorted-labels"
        case droppedSeries = "dropped-series"
        case deletedSamples = "deleted-samples"
        case relabelled
        case unreadableSeries = "unreadable-series"
        case recomputedStats = "recomputed-stats"
        case recomputedFiles = "recomputed-files"
    }
    public var action: Action
    /// The series (label set) changed, or what else was (`meta.json`, `index`).
    public var series: String
    public var detail: String
    /// Whether samples were lost (dropped or cut off), as opposed to moved, merged or
    /// deduplicated.
    public var lost: Bool
    /// The time ranges deleted from the series (deletions, tombstones, dropped series).
    public var intervals: [ClosedRange<Int64>]

    public init(action: Action, series: String, detail: String, lost: Bool = false, intervals: [ClosedRange<Int64>] = []) {
        self.action = action
        self.series = series
        self.detail = detail
        self.lost = lost
        self.intervals = intervals
    }

    public var description: String { "\(action.rawValue) \(series): \(detail)" }
}

/// What one compaction did.
public struct CompactResult: Sendable {
    public var meta: BlockMeta
    public var directory: String
    public var chunksCopied = 0
    public var chunksReencoded = 0
    public var duplicateChunksDropped = 0
    public var seriesMerged = 0
}

/// A block that cannot take part in a compaction, named with the series at fault.
public struct CompactionInputError: Error, CustomStringConvertible, Sendable {
    public var block: String
    public var series: String?
    public var detail: String
    public var description: String {
        "block \(block)" + (series.map { " series \($0)" } ?? "") + ": " + detail
    }
}

/// One input block walked series by series in the order of the output's label sets.
final class MergeCursor {
    let block: CompactInput
    /// Chunk bytes of a streamed input, in the walk's order.
    private var feed: ChunkFeed?
    let name: String
    let input: Int
    /// From the block's symbol references to the output's (not needed when every series is
    /// relabelled: its new labels are looked up in the output's symbols).
    let mapping: SymbolMapping?
    let drop: Set<UInt32>
    /// Series refs in output order.
    let order: [SeriesRef]
    var position = 0
    /// The current series: labels as references into the output symbols, chunk metas.
    var labels: [LabelRef] = []
    var chunks: [ChunkMeta] = []
    var ref: SeriesRef = 0
    private var scratch: [LabelRef] = []
    /// Walking in index order: what lies behind the walk in the index and the chunk
    /// segments can be handed back to the kernel.
    private let inIndexOrder: Bool
    private var releasedSegment = 0
    private var releasedOffset = 0

    /// With a relabel (or a repair), each series' new labels, precomputed in output order.
    private let relabelled: [[LabelRef]]?

    init(block: CompactInput, name: String, input: Int, mapping: SymbolMapping?, drop: Set<UInt32>, dropNames: [String],
         labeller: SeriesLabeller? = nil, symbols: SymbolSet? = nil, tolerant: Bool = false, log: ((RepairEvent) -> Void)? = nil,
         streamOptions: SeriesStream.Options = .remote) throws {
        self.block = block
        self.name = name
        self.input = input
        self.mapping = mapping
        self.drop = drop
        let refs = try block.index.allPostings()
        if let labeller, let symbols {
            // Every series' new label set as references into the output symbols, sorted.
            var keyed: [(SeriesRef, [LabelRef])] = []
            keyed.reserveCapacity(refs.count)
            for r in refs {
                let labels: Labels
                let chunks: [ChunkMeta]
                do { (labels, chunks) = try block.index.seriesLabels(r) } catch {
                    guard tolerant else { throw error }
                    log?(RepairEvent(action: .unreadableSeries, series: "series \(r)",
                                     detail: "\(error.description); dropped with its chunks", lost: true))
                    continue
                }
                guard let t = labeller.apply(labels, chunks: chunks, log: log), let m = symbols.refs(t) else { continue }
                keyed.append((r, m))
            }
            if tolerant, let log {
                let unordered = zip(keyed, keyed.dropFirst()).filter { compareLabelRefs($0.1, $1.1) > 0 }.count
                if unordered > 0 {
                    log(RepairEvent(action: .reorderedSeries, series: "index",
                                    detail: "\(unordered) series did not sort after the one before them; all series re-sorted by label set"))
                }
            }
            keyed.sort { compareLabelRefs($0.1, $1.1) < 0 }
            order = keyed.map(\.0)
            relabelled = keyed.map(\.1)
            inIndexOrder = false
        } else if dropNames.contains(where: { block.index.labelNames.contains($0) }), let mapping {
            // Removing labels that this block's series carry can change their order: then the
            // series are sorted by their new label sets (label references only; chunks are read
            // later, in that order).
            var keyed: [(SeriesRef, [LabelRef])] = []
            keyed.reserveCapacity(refs.count)
            var l: [LabelRef] = [], c: [ChunkMeta] = [], m: [LabelRef] = []
            for r in refs {
                try block.index.series(r, labels: &l, chunks: &c)
                guard mapping.map(l, into: &m) else { throw Self.badSymbols(name) }
                keyed.append((r, m.filter { !drop.contains($0.name) }))
            }
            keyed.sort { compareLabelRefs($0.1, $1.1) < 0 }
            order = keyed.map(\.0)
            relabelled = nil
            inIndexOrder = false
        } else {
            order = refs
            relabelled = nil
            inIndexOrder = true
        }
        if case .streamed(let b) = block {
            feed = try ChunkFeed(b, order: order, options: streamOptions)
        }
    }

    /// The bytes of chunk `ref` of the current series.
    func chunk(_ ref: ChunkRef) throws(TSDBError) -> RawChunk {
        switch block {
        case .local(let b): return try b.chunks.chunk(ref)
        case .streamed: return try feed!.chunk(ref)
        }
    }

    static func badSymbols(_ name: String) -> CompactionInputError {
        CompactionInputError(block: name, series: nil, detail: "a series references a symbol outside the symbol table")
    }

    var done: Bool { position >= order.count }

    /// Loads the series at `position`.
    func load() throws {
        ref = order[position]
        try block.index.series(ref, labels: &scratch, chunks: &chunks)
        try feed?.advance(to: ref)
        if let relabelled {
            labels = relabelled[position]
            return
        }
        guard let mapping, mapping.map(scratch, into: &labels) else { throw Self.badSymbols(name) }
        if !drop.isEmpty { labels.removeAll { drop.contains($0.name) } }
    }

    func advance() throws {
        position += 1
        if !done { try load() }
        if inIndexOrder && position % 1024 == 0 { releaseBehind() }
    }

    /// Memory-mapped pages the walk has passed (series entries, chunks before the current
    /// series' first chunk) are released, so resident memory does not grow with the block.
    private func releaseBehind() {
        guard !done, let first = chunks.first?.ref, case .local(let b) = block else { return }
        let segs = b.chunks.segments
        while releasedSegment < min(first.segment, segs.count) {
            segs[releasedSegment].releasePages(0..<segs[releasedSegment].count)
            releasedSegment += 1
            releasedOffset = 0
        }
        if first.segment < segs.count, first.offset > releasedOffset {
            segs[first.segment].releasePages(releasedOffset..<first.offset)
            releasedOffset = first.offset
        }
        let ix = block.index
        ix.storage.releasePages(ix.seriesRange.lowerBound..<ix.seriesOffset(ref))
    }
}

/// Compacts blocks into one new block: a streaming k-way merge of their series in label
/// order. Chunks that overlap nothing are copied as bytes; overlapping chunks are merged
/// (`MergeFunction`) and re-encoded; tombstones are applied. Inputs are checked as they
/// are read: a chunk outside its block's range or chunks out of order inside one block's
/// series fail the compaction with the block and series named (`blockyard repair` fixes
/// those), and nothing is left behind.
public enum Compactor {
    public static func compact(_ blocks: [Block], names: [String]? = nil, into parent: String,
                               options: CompactOptions, ulid: ULID = ULID(milliseconds: UInt64(Date().timeIntervalSince1970 * 1000))) throws -> CompactResult?
    {
        try compact(inputs: blocks.map { .local($0) }, names: names, into: parent, options: options, ulid: ulid)
    }

    /// The same over inputs that may be streamed from a bucket. With streamed inputs this
    /// waits for their reads, so call it off the cooperative pool (`offPool`).
    public static func compact(inputs blocks: [CompactInput], names: [String]? = nil, into parent: String,
                               options: CompactOptions, ulid: ULID = ULID(milliseconds: UInt64(Date().timeIntervalSince1970 * 1000))) throws -> CompactResult?
    {
        precondition(!blocks.isEmpty, "nothing to compact")
        let names = names ?? blocks.map { $0.meta.ulid.description }
        let log = options.log
        // A repair re-sorts label names and series; a relabel may bring new strings and
        // leave old ones unused. Then the output's symbols are exactly the strings of the
        // output's label sets (so a purged label's values leave the index too), and the
        // input symbol tables are not trusted to be in order.
        let labeller = SeriesLabeller(options)
        let symbols: SymbolSet
        var maps: [SymbolMapping]? = nil
        if let labeller {
            var seen = Set<String>()
            for b in blocks {
                for r in try b.index.allPostings() {
                    guard let (labels, chunks) = try? b.index.seriesLabels(r),
                          let t = labeller.apply(labels, chunks: chunks, log: nil) else { continue }
                    for l in t {
                        seen.insert(l.name)
                        seen.insert(l.value)
                    }
                }
            }
            symbols = SymbolSet(seen)
        } else {
            let (merged, m) = SymbolSet.merging(blocks.map(\.index))
            symbols = merged
            maps = m
        }
        let drop = Set(options.dropLabels.compactMap { symbols.ref(of: $0) })
        var cursors: [MergeCursor] = []
        for (i, b) in blocks.enumerated() {
            let c = try MergeCursor(block: b, name: names[i], input: i, mapping: maps?[i], drop: drop, dropNames: options.dropLabels,
                                     labeller: labeller, symbols: symbols, tolerant: options.repair, log: log)
            if !c.done { try c.load() }
            cursors.append(c)
        }
        // Opening and planning touched the inputs' symbol and postings tables; the walk needs
        // neither (labels are mapped references now), so their pages go back to the kernel.
        for b in blocks { b.index.storage.releasePages(0..<b.index.storage.count) }
        let writer = try BlockWriter(parent: parent, ulid: ulid, symbols: symbols, segmentSize: options.segmentSize)
        var merger = ChunkMerger(function: options.function, samplesPerChunk: options.samplesPerChunk)
        merger.mergeAggregates = options.repair
        var result = CompactResult(meta: BlockMeta(ulid: ulid, minTime: 0, maxTime: 0), directory: writer.directory)
        do {
            var gathered: [MergeChunk] = []
            var out: [OutputChunk] = []
            var current: [LabelRef] = []
            while true {
                // The smallest label set among the cursors.
                var lo: MergeCursor? = nil
                for c in cursors where !c.done {
                    if lo == nil || compareLabelRefs(c.labels, lo!.labels) < 0 { lo = c }
                }
                guard let first = lo else { break }
                current = first.labels
                gathered.removeAll(keepingCapacity: true)
                let text = { symbols.labels(current).description }
                let deletions = options.deletions.map { Intervals.normalized($0(symbols.labels(current))) } ?? []
                var deleted = Deleted()
                var contributors = 0
                var fromOneBlock = 0
                for c in cursors {
                    // A cursor may hold several series with this label set (after labels were dropped).
                    var here = 0
                    while !c.done && compareLabelRefs(c.labels, current) == 0 {
                        try gather(c, symbols: symbols, options: options, deletions: deletions, deleted: &deleted, into: &gathered)
                        contributors += 1
                        here += 1
                        try c.advance()
                    }
                    fromOneBlock = max(fromOneBlock, here)
                }
                if contributors > 1 { result.seriesMerged += 1 }
                if fromOneBlock > 1 {
                    log?(RepairEvent(action: .mergedSeries, series: text(),
                                     detail: "\(fromOneBlock) series with this label set merged into one"))
                }
                if !deleted.intervals.isEmpty {
                    // A whole series deleted is one range, first chunk to last (as Thanos logs it).
                    let whole = deletions.first == Int64.min...Int64.max
                    let ranges = whole ? [deleted.intervals.map(\.lowerBound).min()!...deleted.intervals.map(\.upperBound).max()!]
                        : Intervals.normalized(deleted.intervals)
                    log?(RepairEvent(action: .deletedSamples, series: text(), detail: deleted.detail, lost: true, intervals: ranges))
                }
                out.removeAll(keepingCapacity: true)
                let before = (merger.mergedRuns, merger.duplicatesDropped)
                do {
                    try merger.merge(gathered, into: &out)
                } catch {
                    if options.repair {
                        // What cannot be merged sample by sample is dropped, and said so.
                        let lost = gathered.map { "[\($0.minTime), \($0.maxTime)]" }.joined(separator: " ")
                        log?(RepairEvent(action: .droppedChunk, series: text(), detail: "\(error.detail); chunks \(lost) dropped", lost: true))
                        continue
                    }
                    throw CompactionInputError(block: names.joined(separator: ","), series: text(), detail: error.detail)
                }
                if contributors == 1 {
                    if merger.mergedRuns > before.0 {
                        log?(RepairEvent(action: .mergedOverlaps, series: text(),
                                         detail: "\(merger.mergedRuns - before.0) run(s) of overlapping chunks merged sample by sample (one sample per timestamp)"))
                    }
                    if merger.duplicatesDropped > before.1 {
                        log?(RepairEvent(action: .droppedDuplicates, series: text(),
                                         detail: "\(merger.duplicatesDropped - before.1) exact duplicate chunk(s) dropped"))
                    }
                }
                try writer.add(labels: current, chunks: out)
                // Aggregate chunks carry no sample count in a header: Thanos counts the
                // samples of their count aggregate.
                for c in out where c.payload.encoding == .thanosAggregate {
                    writer.addSamples(UInt64(c.payload.aggregateSampleCount))
                }
            }
            if writer.stats.numSamples == 0 {
                writer.discard()
                return nil
            }
            var meta: BlockMeta
            if let t = options.template {
                meta = t
            } else {
                meta = BlockMeta(ulid: ulid, minTime: blocks.map(\.meta.minTime).min()!, maxTime: blocks.map(\.meta.maxTime).max()!)
                meta.compaction.level = blocks.map(\.meta.compaction.level).max()! + 1
                meta.compaction.sources = Array(Set(blocks.flatMap { $0.meta.compaction.sources.isEmpty ? [$0.meta.ulid] : $0.meta.compaction.sources })).sorted()
                meta.compaction.parents = blocks.map { BlockMeta.Parent(ulid: $0.meta.ulid, minTime: $0.meta.minTime, maxTime: $0.meta.maxTime) }
            }
            if let t = options.thanos { meta.thanos = t }
            result.meta = try writer.commit(meta)
            result.chunksCopied = merger.copied
            result.chunksReencoded = merger.reencoded
            result.duplicateChunksDropped = merger.duplicatesDropped
            return result
        } catch {
            writer.discard()
            throw error
        }
    }

    /// What was deleted from one output series (by tombstones or deletion requests), for
    /// one log line per series.
    struct Deleted {
        var intervals: [ClosedRange<Int64>] = []
        var samples = 0
        var chunks = 0
        var tombstones = false
        var requests = false
        var detail: String {
            let by = [tombstones ? "tombstones" : nil, requests ? "deletion requests" : nil].compactMap { $0 }.joined(separator: " and ")
            return "\(samples) sample(s) in \(chunks) chunk(s) deleted (\(by))"
        }
    }

    /// The chunks of the cursor's current series, checked and with tombstones and
    /// `deletions` applied. In a repair, broken chunks are dropped and samples outside the
    /// block trimmed instead, every chunk is decoded once to make sure it can be, and chunk
    /// time ranges come from the samples.
    static func gather(_ c: MergeCursor, symbols: SymbolSet, options: CompactOptions, deletions: [ClosedRange<Int64>],
                       deleted: inout Deleted, into out: inout [MergeChunk]) throws {
        let meta = c.block.meta
        let series = { symbols.labels(c.labels).description }
        func fail(_ d: String) -> CompactionInputError {
            CompactionInputError(block: c.name, series: series(), detail: d)
        }
        func note(_ a: RepairEvent.Action, _ d: String, lost: Bool) {
            options.log?(RepairEvent(action: a, series: series(), detail: d, lost: lost))
        }
        let tombstones = c.block.tombstones.intervals[c.ref].map { Intervals.normalized($0) } ?? []
        let gone = tombstones.isEmpty ? deletions : Intervals.normalized(tombstones + deletions)
        if options.repair, options.log != nil,
           zip(c.chunks, c.chunks.dropFirst()).contains(where: { ($0.minTime, $0.maxTime) > ($1.minTime, $1.maxTime) }) {
            note(.reorderedChunks, "chunks were not in time order in the index; put in order", lost: false)
        }
        var previous: ChunkMeta? = nil
        for m in c.chunks {
            let outsideMeta = m.minTime < meta.minTime || m.maxTime > meta.maxTime || (options.repair && m.maxTime >= meta.maxTime)
            if outsideMeta && !options.repair {
                throw fail("chunk [\(m.minTime), \(m.maxTime)] lies outside the block [\(meta.minTime), \(meta.maxTime)); run `blockyard verify` and `blockyard repair` on it")
            }
            if let p = previous, m.minTime <= p.maxTime, !(m.minTime == p.minTime && m.maxTime == p.maxTime), !options.repair {
                throw fail("chunks out of order or overlapping inside the series ([\(p.minTime), \(p.maxTime)] then [\(m.minTime), \(m.maxTime)]); run `blockyard repair` on the block")
            }
            previous = m
            let raw: RawChunk
            do { raw = try c.chunk(m.ref) } catch {
                guard options.repair else { throw fail(error.description) }
                note(.droppedChunk, "chunk [\(m.minTime), \(m.maxTime)] lost: \(error.kind.rawValue) in \(error.file) at offset \(error.offset): \(error.detail)", lost: true)
                continue
            }
            var chunk = MergeChunk(minTime: m.minTime, maxTime: m.maxTime, input: c.input, body: .raw(raw))
            if options.repair {
                switch ChunkCheck.check(chunk, raw) {
                case .drop(let reason, let lost):
                    note(.droppedChunk, reason, lost: lost)
                    continue
                case .keep(let checked, let n):
                    if let n { note(.fixedChunk, n, lost: false) }
                    chunk = checked
                }
            }
            let range = chunk.minTime...chunk.maxTime
            let outside = options.repair ? chunk.minTime < meta.minTime || chunk.maxTime >= meta.maxTime : outsideMeta
            let cut = Intervals.overlaps(gone, range)
            if !cut && !outside {
                out.append(chunk)
                continue
            }
            if cut {
                deleted.tombstones = deleted.tombstones || Intervals.overlaps(tombstones, range)
                deleted.requests = deleted.requests || Intervals.overlaps(deletions, range)
                deleted.intervals += Intervals.intersections(gone, range)
                deleted.chunks += 1
            }
            if cut && Intervals.covers(gone, range) {
                // Deleted whole: no need to decode it.
                if case .raw(let r) = chunk.body { deleted.samples += ChunkPayload.record(r).headerSampleCount }
                continue
            }
            // Some samples go (deleted, or outside the block): decode and keep the rest.
            let kept: MergeChunk?
            let total: Int
            var beyond = 0, removed = 0
            do {
                (kept, _, total) = try ChunkMerger.filtered(chunk) { t in
                    if outside && (t < meta.minTime || t >= meta.maxTime) {
                        beyond += 1
                        return false
                    }
                    if Intervals.contains(gone, t) {
                        removed += 1
                        return false
                    }
                    return true
                }
            } catch {
                guard options.repair else { throw fail((cut ? "deleting samples: " : "") + error.detail) }
                note(.droppedChunk, "chunk [\(chunk.minTime), \(chunk.maxTime)] lost: \(error.detail)", lost: true)
                continue
            }
            if outside {
                note(kept == nil ? .droppedChunk : .trimmedChunk,
                     "chunk [\(chunk.minTime), \(chunk.maxTime)]: \(beyond) of \(total) samples outside the block [\(meta.minTime), \(meta.maxTime)) removed"
                         + (chunk.minTime == meta.maxTime ? " (Prometheus issue 347: the chunk starts at the block's maxTime)" : ""),
                     lost: beyond > 0)
            }
            deleted.samples += removed
            if let kept { out.append(kept) }
        }
    }
}
