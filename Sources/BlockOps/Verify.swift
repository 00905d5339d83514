import Foundation
import ObjectStore
import Synchronization
import TSDB

/// Checks one block: every section and chunk CRC, structure and ordering, every chunk's
/// placement, postings against the series, the Thanos files list, meta.json against what
/// the index and chunks hold; with `deep`, every chunk is decoded and its samples compared
/// with the index. Findings are collected, not thrown, so one bad series does not hide the
/// rest; at most `maxPerKind` findings of a kind are listed (the rest are counted).
///
/// The series walk runs on all cores, each slice of the series through its own
/// `SeriesStream`, so chunk bytes are read in bounded windows (locally: mapped and given
/// back behind the walk; from a bucket: parallel ranged reads). The index is held whole
/// (mapped, or in memory for a bucket).
public struct BlockVerifier: Sendable {
    public var maxPerKind = 20
    public var deep = false
    /// Slices of the series walk and of the postings check that run at once.
    public var parallelism = ProcessInfo.processInfo.activeProcessorCount
    /// Fewer series than this per slice are not worth a task.
    public var minSeriesPerSlice = 2048
    /// How chunk bytes are read for local blocks: by the walk itself, window by window
    /// (a `pread` is CPU work; the slices already keep every core busy, and the bytes are
    /// checked where they were copied), in windows of 256 KiB, which stay in the core's L2
    /// cache beside the index pages the walk reads (3-7% faster than 512 KiB in three
    /// alternating runs of 20-30 on the 1 GB block; 128 KiB and 1 MiB were no better than
    /// 512). At most 4,096 series per batch: where series are tiny (a few samples each) a
    /// window holds thousands, and batches of 16,384 series had arrays large enough to be
    /// mapped and unmapped by malloc batch after batch (on the 400,000-series bench block,
    /// system time 44 -> 31 ms, wall 10-15% less; 8,192 was as slow as 16,384, 2,048 no
    /// better than 4,096). `remoteStream` for blocks in a bucket: reads ahead.
    public var localStream: SeriesStream.Options = {
        var o = SeriesStream.Options()
        o.windowsInFlight = 0
        o.windowBytes = 256 << 10
        o.maxSeriesPerBatch = 4096
        return o
    }()
    public var remoteStream = SeriesStream.Options.remote
    /// Slices of a local block's walk per worker: workers take the next slice as they
    /// finish one, so a core lost for a while to another process delays one small slice,
    /// not half the walk. A bucket's walk keeps one slice per worker, so its read-ahead
    /// runs unbroken.
    public var localSlicesPerWorker = 8

    public init(deep: Bool = false) { self.deep = deep }

    /// Checks a block directory on local disk. Failures to read are findings here.
    public func verify(directory: String) async -> [Finding] {
        do {
            return try await verify(.directory(directory))
        } catch {
            let name = BlockLocation.directory(directory).name
            return [Finding(block: name, kind: .unreadable, file: "", offset: nil, series: nil, detail: "\(error)")]
        }
    }

    /// Checks a block where it is. Throws only storage failures (a bucket read that failed
    /// after retries); everything wrong with the block's bytes is a finding.
    public func verify(_ location: BlockLocation) async throws -> [Finding] {
        let parts = try await BlockParts.open(location)
        var stream = localStream
        if case .bucket = location { stream = remoteStream }
        var run = Run(verifier: self, parts: parts, location: location, stream: stream)
        return try await run.run()
    }
}

/// The state of verifying one block.
struct Run {
    let v: BlockVerifier
    let parts: BlockParts
    let location: BlockLocation
    let stream: SeriesStream.Options
    var log: FindingLog

    init(verifier: BlockVerifier, parts: BlockParts, location: BlockLocation, stream: SeriesStream.Options) {
        v = verifier
        self.parts = parts
        self.location = location
        self.stream = stream
        log = FindingLog(block: parts.name, cap: verifier.maxPerKind)
    }

    mutating func run() async throws -> [Finding] {
        let meta: BlockMeta
        switch parts.meta {
        case .failure(let e):
            log.add(.unreadable, "meta.json", e.offset, e.detail)
            return log.finished()
        case .success(let m): meta = m
        }
        checkMeta(meta)
        if case .failure(let e) = parts.tombstones { log.add(.tombstones, "tombstones", e.offset, e.detail) }
        for s in parts.segments { if let e = s.problem { log.add(.unreadable, s.name, e.offset, "\(e.section): \(e.detail)") } }
        let ix: IndexReader
        switch parts.index {
        case .failure(let e):
            let kind: Finding.Kind = e.section == "TOC" ? .indexTOC : e.kind == .checksum ? .indexChecksum : .unreadable
            log.add(kind, "index", e.offset, e.section.isEmpty ? e.detail : "\(e.section): \(e.detail)")
            return log.finished()
        case .success(let i): ix = i
        }
        checkTOC(ix)
        // The symbol order check runs beside the label indices' CRCs and the all-series
        // list (with its bitmap): none needs another.
        async let symbolPass = SymbolPass.run(ix, slices: v.parallelism)
        checkLabelIndices(ix)
        let allSeries = Result { () throws(TSDBError) -> ([SeriesRef], SeriesBitmap) in
            let refs = try ix.allPostings()
            return (refs, SeriesBitmap(ix, refs, excluding: []))
        }
        let symbols = await symbolPass
        log.append(symbols.log(block: parts.name, cap: v.maxPerKind))

        let refs: [SeriesRef]
        let everySeries: SeriesBitmap
        switch allSeries {
        case .success(let (r, m)): (refs, everySeries) = (r, m)
        case .failure(let error):
            log.add(error.kind == .checksum ? .indexChecksum : .postings, "index", error.offset,
                    "all-series postings list: \(error.detail)")
            return log.finished()
        }
        let block = SourceBlock(name: parts.name, meta: meta, index: ix, tombstones: (try? parts.tombstones.get()) ?? Tombstones(),
                                segments: parts.segments, fileSizes: parts.sizes)

        // The series walk, split over the cores; slices merge in order, and the checks
        // across a slice boundary (order, entry continuity) are made here. The postings
        // pass runs in the same workers after the walk's slices (it fills the cores as the
        // walk's last slices finish), against every series; if the walk finds series whose
        // entries do not decode, it runs again without them below.
        let (walks, postingsAll) = try await walkSlices(block, refs, symbols, everySeries)
        var numChunks: UInt64 = 0, numSamples: UInt64 = 0
        var uncountedChunks = 0
        var seriesSum: UInt64 = 0
        var unreadable: [SeriesRef] = []
        var previous: Walk? = nil
        if ix.version >= 2, let w = walks.first(where: { $0.seriesCount > 0 }), w.firstReadable, let (_, at) = w.first {
            checkGap(ix, ix.seriesRange.lowerBound, at, final: false)
        }
        for w in walks where w.seriesCount > 0 {
            if let p = previous { boundary(ix, p, w) }
            log.append(w.log)
            numChunks += w.numChunks
            numSamples += w.numSamples
            uncountedChunks += w.uncountedChunks
            seriesSum &+= w.pairSum
            unreadable += w.unreadableSeries
            previous = merged(previous, w)
        }
        if ix.version >= 2, let p = previous, let end = p.lastEnd, end < ix.seriesRange.upperBound {
            checkGap(ix, end, ix.seriesRange.upperBound, final: true)
        }

        // Postings: every list decodes, increases, names real series; together they hold
        // exactly the (pair, series) incidences the walk saw (compared by a sum of hashes,
        // and only on a difference list by list).
        let member = unreadable.isEmpty ? everySeries : SeriesBitmap(ix, refs, excluding: unreadable)
        let postings = unreadable.isEmpty ? postingsAll
            : await PostingsPass.run(ix, member, slices: v.parallelism, minPerSlice: v.minSeriesPerSlice)
        log.append(postings.log(block: parts.name, cap: v.maxPerKind))
        if postings.sum != seriesSum, !postings.hadUnreadableList {
            ExactPostings.check(ix, block, refs, member, &log)
        }

        let st = meta.stats
        if st.numSeries != UInt64(refs.count) {
            log.add(.statsMismatch, "meta.json", nil, "meta.json says \(st.numSeries) series, the index holds \(refs.count)")
        }
        // Chunks of series whose entry did not decode, and samples of chunks that did not
        // read, cannot be counted: comparing would only repeat those findings.
        if unreadable.isEmpty, st.numChunks != numChunks {
            log.add(.statsMismatch, "meta.json", nil, "meta.json says \(st.numChunks) chunks, the index references \(numChunks)")
        }
        if meta.resolution == 0, unreadable.isEmpty, uncountedChunks == 0, st.numSamples != numSamples {
            log.add(.statsMismatch, "meta.json", nil, "meta.json says \(st.numSamples) samples, the chunks hold \(numSamples)")
        }
        return log.finished()
    }

    // MARK: meta.json and files

    mutating func checkMeta(_ meta: BlockMeta) {
        if meta.version != 1 {
            log.add(.metaMismatch, "meta.json", nil, "meta.json version \(meta.version); only 1 is defined")
        }
        let name = parts.name
        if case .bucket = location, meta.ulid.description != name {
            log.add(.metaMismatch, "meta.json", nil, "ulid \(meta.ulid) differs from the block's prefix \(name)")
        } else if meta.ulid.description != name {
            log.add(.metaMismatch, "meta.json", nil, "ulid \(meta.ulid) differs from the directory name")
        }
        if meta.minTime >= meta.maxTime {
            log.add(.metaMismatch, "meta.json", nil, "minTime \(meta.minTime) is not before maxTime \(meta.maxTime)")
        }
        checkFiles(meta)
    }

    /// The Thanos files list (when present) against the block's files.
    mutating func checkFiles(_ meta: BlockMeta) {
        guard let files = meta.thanos?.files, !files.isEmpty else { return }
        var listed = Set<String>()
        for f in files where f.relPath != "meta.json" {
            listed.insert(f.relPath)
            guard let size = parts.sizes[f.relPath] else {
                log.add(.filesMismatch, f.relPath, nil, "listed in meta.json but missing")
                continue
            }
            if let want = f.sizeBytes, want != size {
                log.add(.filesMismatch, f.relPath, nil, "\(size) bytes, meta.json lists \(want)")
            }
        }
        // Thanos never lists (or uploads) tombstones.
        for f in parts.sizes.keys.sorted() where (f == "index" || f.hasPrefix("chunks/")) && !listed.contains(f) {
            log.add(.filesMismatch, f, nil, "present but not in meta.json's files list")
        }
    }

    // MARK: Index sections

    /// Section offsets in the order writers put them (the reader has checked they lie in
    /// the file and the TOC's CRC).
    mutating func checkTOC(_ ix: IndexReader) {
        let t = ix.toc
        let at = ix.storage.count - TOC.size
        if t.symbols != UInt64(IndexReader.headerSize) {
            log.add(.indexTOC, "index", at, "symbols at \(t.symbols), not right after the 5-byte header")
        }
        var order: [(String, UInt64)] = [("symbols", t.symbols), ("series", t.series)]
        if t.hasLabelIndices { order.append(("label indices", t.labelIndices)) }
        order.append(("postings", t.postings))
        if t.hasLabelIndices { order.append(("label offset table", t.labelIndicesTable)) }
        order.append(("postings offset table", t.postingsTable))
        for i in order.indices.dropFirst() where order[i].1 < order[i - 1].1 {
            log.add(.indexTOC, "index", at, "\(order[i].0) at \(order[i].1) comes before \(order[i - 1].0) at \(order[i - 1].1)")
        }
    }

    /// The label indices and their offset table that 2.x writers add: CRCs only.
    mutating func checkLabelIndices(_ ix: IndexReader) {
        let table: [(name: String, offset: UInt64)]
        do { table = try ix.labelIndexTable() } catch {
            log.add(error.kind == .checksum ? .indexChecksum : .unreadable, "index", error.offset, "\(error.section): \(error.detail)")
            return
        }
        for (name, off) in table {
            do { _ = try ix.labelIndexValues(at: off) } catch {
                log.add(error.kind == .checksum ? .indexChecksum : .unreadable, "index", error.offset,
                        "label index of \(name): \(error.detail)")
            }
        }
    }

    // MARK: The series walk

    /// The walk's slices, then the postings pass's, taken by one worker per core; the
    /// postings pass against `member`.
    func walkSlices(_ block: SourceBlock, _ refs: [SeriesRef], _ symbols: SymbolPass, _ member: SeriesBitmap) async throws
        -> ([Walk], PostingsPass)
    {
        let most = max(1, refs.count / max(1, v.minSeriesPerSlice))
        let workers = max(1, min(v.parallelism, most))
        var perWorker = 1
        if case .directory = location { perWorker = max(1, v.localSlicesPerWorker) }
        let slices = min(workers * perWorker, most)
        let step = (refs.count + slices - 1) / slices
        let ix = block.index
        let bounds = PostingsPass.sliceBounds(ix, slices: v.parallelism * 4, minPerSlice: v.minSeriesPerSlice)
        let jobs = slices + bounds.count - 1
        let ctx = WalkContext(block: block, symbols: symbols, deep: v.deep, cap: v.maxPerKind, options: stream)
        let taken = SliceCounter()
        enum Done { case walk(Int, Walk), postings(Int, PostingsPass) }
        return try await withThrowingTaskGroup(of: [Done].self) { g in
            // At least `workers` (slices >= workers), and as many as the cores if there are
            // enough postings slices.
            for _ in 0..<max(1, min(v.parallelism, jobs)) {
                g.addTask {
                    var done: [Done] = []
                    // A failed slice fails the walk (the group is cancelled): the other
                    // workers stop before their next slice.
                    while case let k = taken.take(), k < jobs {
                        try Task.checkCancellation()
                        if k < slices {
                            let lo = min(refs.count, k * step), hi = min(refs.count, lo + step)
                            done.append(.walk(k, try await ctx.walk(refs[lo..<hi])))
                        } else {
                            let p = k - slices
                            done.append(.postings(p, PostingsPass.check(ix, bounds[p]..<bounds[p + 1], member)))
                        }
                    }
                    return done
                }
            }
            var walks = [Walk?](repeating: nil, count: slices)
            var postings = [PostingsPass](repeating: PostingsPass(), count: bounds.count - 1)
            while let done = try await g.next() {
                for d in done {
                    switch d {
                    case .walk(let k, let w): walks[k] = w
                    case .postings(let p, let r): postings[p] = r
                    }
                }
            }
            return (walks.map { $0! }, PostingsPass.merged(postings))
        }
    }

    /// What the walk so far ends with, after slice `w`.
    func merged(_ p: Walk?, _ w: Walk) -> Walk {
        var m = p ?? w
        if w.last != nil { m.last = w.last }
        m.lastEnd = w.lastEnd
        return m
    }

    /// The checks between the last series of the slices before and the first of `w`.
    mutating func boundary(_ ix: IndexReader, _ p: Walk, _ w: Walk) {
        if ix.version >= 2, let end = p.lastEnd, let (_, at) = w.first, w.firstReadable {
            checkGap(ix, end, at, final: false)
        }
        guard let prev = p.last, let (first, at) = w.first else { return }
        let c = prev.withUnsafeBufferPointer { a in first.withUnsafeBufferPointer { LabelOrder.compare(a, $0) } }
        if c == 0 {
            log.add(.duplicateSeries, "index", at, series: Self.text(ix, first), "the same label set as the series before it")
        } else if c > 0 {
            log.add(.seriesOrder, "index", at, series: Self.text(ix, first), "series does not sort after \(Self.text(ix, prev))")
        }
    }

    /// Bytes between series entries must be the zero padding to the next 16-byte boundary.
    mutating func checkGap(_ ix: IndexReader, _ end: Int, _ next: Int, final: Bool) {
        if let problem = SeriesGap.check(ix, end, next, final: final) { log.add(.seriesEntry, "index", end, problem) }
    }

    static func text(_ ix: IndexReader, _ l: [LabelRef]) -> String { (try? ix.labels(l).description) ?? "<labels unreadable>" }
}

/// Hands out slice numbers to the walk's workers, each once.
final class SliceCounter: Sendable {
    private let next = Atomic<Int>(0)

    func take() -> Int { next.add(1, ordering: .relaxed).oldValue }
}

/// Label sets compared by symbol reference, pairwise by name then value; a strict prefix
/// sorts first (Prometheus' labels.Compare). Symbols are unique and sorted, and v1 refs are
/// offsets into the sorted table, so reference order is byte order in both versions.
enum LabelOrder {
    @inline(__always)
    static func compare(_ a: UnsafeBufferPointer<LabelRef>, _ b: UnsafeBufferPointer<LabelRef>) -> Int {
        let n = min(a.count, b.count)
        for i in 0..<n {
            let x = a[i], y = b[i]
            if x.name != y.name { return x.name < y.name ? -1 : 1 }
            if x.value != y.value { return x.value < y.value ? -1 : 1 }
        }
        return a.count - b.count
    }
}

/// The padding rule between v2 series entries.
enum SeriesGap {
    /// The common case, checked inline: `next` is the 16-byte boundary at or after `end`
    /// and the bytes between are zero.
    @inline(__always)
    static func isPadding(_ raw: UnsafeRawBufferPointer, _ end: Int, _ next: Int) -> Bool {
        guard next == (end + 15) & ~15, end >= 0, next <= raw.count else { return false }
        var i = end
        while i < next {
            if raw[i] != 0 { return false }
            i += 1
        }
        return true
    }

    static func check(_ ix: IndexReader, _ end: Int, _ next: Int, final: Bool) -> String? {
        let want = final ? end : (end + 15) & ~15
        if next < end { return "series entry at \(next) starts inside the one before it (which ends at \(end))" }
        let gap = ix.storage.withBytes(end..<min(next, ix.storage.count)) { b in b.allSatisfy { $0 == 0 } }
        if gap && (next == want || (final && next - end < 16)) { return nil }
        if gap {
            return final ? "\(next - end) zero bytes after the last series entry" :
                "\(next - end) zero bytes between series entries where padding is \(want - end): a series the postings do not list?"
        }
        return "\(next - end) bytes between series entries that are not padding: a series the postings do not list, or damage"
    }
}
