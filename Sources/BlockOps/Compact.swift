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
    public var log: (@Sendable (RepairEvent) -> Void)? = nil
    public init() {}
}

/// One change a repair or rewrite made, for its change log.
public struct RepairEvent: Sendable, CustomStringConvertible {
    public enum Action: String, Sendable {
        case droppedChunk = "dropped-chunk"
        case trimmedChunk = "trimmed-chunk"
        case mergedOverlaps = "merged-overlapping-chunks"
        case droppedDuplicates = "dropped-duplicate-chunks"
        case mergedSeries = "merged-duplicate-series"
        case droppedSeries = "dropped-series"
        case relabelled
        case unreadableSeries = "unreadable-series"
    }
    public var action: Action
    public var series: String
    public var detail: String
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
    let block: Block
    let name: String
    let input: Int
    let mapping: SymbolMapping
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

    init(block: Block, name: String, input: Int, mapping: SymbolMapping, drop: Set<UInt32>, dropNames: [String],
         relabel: (@Sendable (Labels) -> Labels?)? = nil, symbols: SymbolSet? = nil, log: ((RepairEvent) -> Void)? = nil) throws {
        self.block = block
        self.name = name
        self.input = input
        self.mapping = mapping
        self.drop = drop
        let refs = try block.index.allPostings()
        if let relabel, let symbols {
            // Every series' new label set as references into the output symbols, sorted.
            var keyed: [(SeriesRef, [LabelRef])] = []
            keyed.reserveCapacity(refs.count)
            for r in refs {
                let labels: Labels
                do { labels = try block.index.seriesLabels(r).0 } catch {
                    guard let log else { throw error }
                    log(RepairEvent(action: .unreadableSeries, series: "series \(r)", detail: "\(error.description); dropped with its chunks"))
                    continue
                }
                guard let t = relabel(labels) else {
                    log?(RepairEvent(action: .droppedSeries, series: labels.description, detail: "relabelling dropped it"))
                    continue
                }
                guard !t.isEmpty, let m = symbols.refs(t) else { continue }
                keyed.append((r, m.filter { !drop.contains($0.name) }))
            }
            keyed.sort { compareLabelRefs($0.1, $1.1) < 0 }
            order = keyed.map(\.0)
            relabelled = keyed.map(\.1)
            inIndexOrder = false
        } else if dropNames.contains(where: { block.index.labelNames.contains($0) }) {
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
    }

    static func badSymbols(_ name: String) -> CompactionInputError {
        CompactionInputError(block: name, series: nil, detail: "a series references a symbol outside the symbol table")
    }

    var done: Bool { position >= order.count }

    /// Loads the series at `position`.
    func load() throws {
        ref = order[position]
        try block.index.series(ref, labels: &scratch, chunks: &chunks)
        if let relabelled {
            labels = relabelled[position]
            return
        }
        guard mapping.map(scratch, into: &labels) else { throw Self.badSymbols(name) }
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
        guard !done, let first = chunks.first?.ref else { return }
        let segs = block.chunks.segments
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
        precondition(!blocks.isEmpty, "nothing to compact")
        let names = names ?? blocks.map { $0.meta.ulid.description }
        // A repair re-sorts label names and series; a relabel may also bring new strings,
        // which the output's symbol table needs before any series is written.
        let relabel: (@Sendable (Labels) -> Labels?)? = options.relabel ?? (options.repair ? { @Sendable in Labels($0.pairs) } : nil)
        var extra: [String] = []
        if let relabel {
            let (base, _) = SymbolSet.merging(blocks.map(\.index))
            var seen = Set<String>()
            for b in blocks {
                for r in try b.index.allPostings() {
                    guard let labels = try? b.index.seriesLabels(r).0, let t = relabel(labels) else { continue }
                    for l in t {
                        if base.ref(of: l.name) == nil { seen.insert(l.name) }
                        if base.ref(of: l.value) == nil { seen.insert(l.value) }
                    }
                }
            }
            extra = Array(seen)
        }
        let (symbols, maps) = SymbolSet.merging(blocks.map(\.index), extra: extra)
        let drop = Set(options.dropLabels.compactMap { symbols.ref(of: $0) })
        let log = options.log
        var cursors: [MergeCursor] = []
        for (i, b) in blocks.enumerated() {
            let c = try MergeCursor(block: b, name: names[i], input: i, mapping: maps[i], drop: drop, dropNames: options.dropLabels,
                                     relabel: relabel, symbols: symbols, log: options.repair ? { log?($0) } : nil)
            if !c.done { try c.load() }
            cursors.append(c)
        }
        // Opening and planning touched the inputs' symbol and postings tables; the walk needs
        // neither (labels are mapped references now), so their pages go back to the kernel.
        for b in blocks { b.index.storage.releasePages(0..<b.index.storage.count) }
        let writer = try BlockWriter(parent: parent, ulid: ulid, symbols: symbols, segmentSize: options.segmentSize)
        var merger = ChunkMerger(function: options.function, samplesPerChunk: options.samplesPerChunk)
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
                var contributors = 0
                var fromOneBlock = 0
                for c in cursors {
                    // A cursor may hold several series with this label set (after labels were dropped).
                    var here = 0
                    while !c.done && compareLabelRefs(c.labels, current) == 0 {
                        try gather(c, symbols: symbols, options: options, into: &gathered)
                        contributors += 1
                        here += 1
                        try c.advance()
                    }
                    fromOneBlock = max(fromOneBlock, here)
                }
                if contributors > 1 { result.seriesMerged += 1 }
                if options.repair && fromOneBlock > 1 {
                    log?(RepairEvent(action: .mergedSeries, series: symbols.labels(current).description,
                                     detail: "\(fromOneBlock) series with this label set merged into one"))
                }
                out.removeAll(keepingCapacity: true)
                let before = (merger.reencoded, merger.duplicatesDropped)
                do {
                    try merger.merge(gathered, into: &out)
                } catch {
                    if options.repair {
                        // What cannot be merged sample by sample is dropped, and said so.
                        let lost = gathered.map { "[\($0.minTime), \($0.maxTime)]" }.joined(separator: " ")
                        log?(RepairEvent(action: .droppedChunk, series: symbols.labels(current).description, detail: "\(error.detail); chunks \(lost) dropped"))
                        continue
                    }
                    throw CompactionInputError(block: names.joined(separator: ","), series: symbols.labels(current).description, detail: error.detail)
                }
                if options.repair && contributors == 1 {
                    if merger.reencoded > before.0 {
                        log?(RepairEvent(action: .mergedOverlaps, series: symbols.labels(current).description,
                                         detail: "overlapping chunks merged sample by sample into \(merger.reencoded - before.0) chunk(s)"))
                    }
                    if merger.duplicatesDropped > before.1 {
                        log?(RepairEvent(action: .droppedDuplicates, series: symbols.labels(current).description,
                                         detail: "\(merger.duplicatesDropped - before.1) exact duplicate chunk(s) dropped"))
                    }
                }
                try writer.add(labels: current, chunks: out)
            }
            if writer.stats.numSamples == 0 {
                writer.discard()
                return nil
            }
            var meta = BlockMeta(ulid: ulid, minTime: blocks.map(\.meta.minTime).min()!, maxTime: blocks.map(\.meta.maxTime).max()!)
            meta.compaction.level = blocks.map(\.meta.compaction.level).max()! + 1
            meta.compaction.sources = Array(Set(blocks.flatMap { $0.meta.compaction.sources.isEmpty ? [$0.meta.ulid] : $0.meta.compaction.sources })).sorted()
            meta.compaction.parents = blocks.map { BlockMeta.Parent(ulid: $0.meta.ulid, minTime: $0.meta.minTime, maxTime: $0.meta.maxTime) }
            meta.thanos = options.thanos
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

    /// The chunks of the cursor's current series, checked and with tombstones applied. In a
    /// repair, broken chunks are dropped and samples outside the block trimmed instead.
    static func gather(_ c: MergeCursor, symbols: SymbolSet, options: CompactOptions, into out: inout [MergeChunk]) throws {
        let meta = c.block.meta
        let series = { symbols.labels(c.labels).description }
        func fail(_ d: String) -> CompactionInputError {
            CompactionInputError(block: c.name, series: series(), detail: d)
        }
        func note(_ a: RepairEvent.Action, _ d: String) { options.log?(RepairEvent(action: a, series: series(), detail: d)) }
        var previous: ChunkMeta? = nil
        for m in c.chunks {
            let outside = m.minTime < meta.minTime || m.maxTime > meta.maxTime || (options.repair && m.maxTime >= meta.maxTime)
            if outside && !options.repair {
                throw fail("chunk [\(m.minTime), \(m.maxTime)] lies outside the block [\(meta.minTime), \(meta.maxTime)); run `blockyard verify` and `blockyard repair` on it")
            }
            if let p = previous, m.minTime <= p.maxTime, !(m.minTime == p.minTime && m.maxTime == p.maxTime), !options.repair {
                throw fail("chunks out of order or overlapping inside the series ([\(p.minTime), \(p.maxTime)] then [\(m.minTime), \(m.maxTime)]); run `blockyard repair` on the block")
            }
            previous = m
            let raw: RawChunk
            do { raw = try c.block.chunks.chunk(m.ref) } catch {
                guard options.repair else { throw fail(error.description) }
                note(.droppedChunk, "chunk [\(m.minTime), \(m.maxTime)] lost: \(error.kind.rawValue) in \(error.file) at offset \(error.offset): \(error.detail)")
                continue
            }
            let deleted = c.block.tombstones.intervals[c.ref] ?? []
            let tombstoned = deleted.contains(where: { $0.lowerBound <= m.maxTime && m.minTime <= $0.upperBound })
            if !tombstoned && !outside {
                out.append(MergeChunk(minTime: m.minTime, maxTime: m.maxTime, input: c.input, body: .raw(raw)))
                continue
            }
            // Some samples go (deleted, or outside the block): decode and keep the rest.
            let (ts, vs): ([Int64], [Double])
            do {
                (ts, vs) = try ChunkMerger.samples(MergeChunk(minTime: m.minTime, maxTime: m.maxTime, input: c.input, body: .raw(raw)))
            } catch {
                guard options.repair else { throw fail((tombstoned ? "tombstones: " : "") + error.detail) }
                note(.droppedChunk, "chunk [\(m.minTime), \(m.maxTime)] lost: \(error.detail)")
                continue
            }
            var kt: [Int64] = [], kv: [Double] = []
            for (t, v) in zip(ts, vs) where t >= meta.minTime && t < meta.maxTime && !deleted.contains(where: { $0.contains(t) }) {
                kt.append(t)
                kv.append(v)
            }
            if outside {
                let gone = ts.count - kt.count
                note(kt.isEmpty ? .droppedChunk : .trimmedChunk,
                     "chunk [\(m.minTime), \(m.maxTime)]: \(gone) of \(ts.count) samples outside the block [\(meta.minTime), \(meta.maxTime)) removed"
                     + (m.minTime == meta.maxTime ? " (Prometheus issue 347: the chunk starts at the block's maxTime)" : ""))
            }
            if let a = kt.first, let b = kt.last {
                out.append(MergeChunk(minTime: a, maxTime: b, input: c.input, body: .samples(kt, kv)))
            }
        }
    }
}
