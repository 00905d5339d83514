import TSDB

/// Walks a block's series in index order and hands them out in batches, each with its
/// series' label refs, chunk metas and raw chunk bytes. The chunk bytes are read ahead in
/// bounded windows: every batch is one window of chunk data (a ranged read per run of
/// nearby chunks in a segment, all of a window's reads at once), and `windowsInFlight`
/// windows are read while the consumer works on the current one (or none: the consumer
/// reads each window when it asks for it). Memory is about
/// `(windowsInFlight + 1) × windowBytes` plus the index, whatever the block's size.
///
/// Chunks are expected in segment order along the series (what Prometheus and Thanos
/// write); where they are not, a batch's chunk refs are sorted and read in coalesced
/// ranges instead, and a chunk longer than the bytes read for it is fetched on its own.
///
/// ```swift
/// let block = try await SourceBlock.open(.bucket(bucket, id))   // or .directory(path)
/// let stream = try block.series()                               // all series, index order
/// while let batch = try await stream.next() {
///     for i in 0..<batch.count {
///         if let problem = batch.error(i) { throw problem }        // the entry did not decode
///         let labels = try block.index.labels(Array(batch.labels(i)))
///         for k in batch.chunks(i).indices {                      // batch.chunks(i)[k] is the meta
///             let raw = try batch.chunk(k)                         // CRC already checked
///             raw.storage.withBytes(raw.recordRange) { out.write($0) }  // copy as bytes
///         }
///     }
/// }
/// ```
///
/// A stream belongs to one task. Several streams (slices of one block's series, or
/// different blocks) may run at once; `SeriesCursor` steps through one series at a time
/// for a k-way merge.
public final class SeriesStream {
    public struct Options: Sendable {
        /// Bytes of chunk data per window (the unit read ahead).
        public var windowBytes = 512 << 10
        /// Windows read ahead of the one the consumer holds, each in a task of its own. 0:
        /// none; `next()` reads the window itself. For local files that is the faster way
        /// when the caller runs one stream per core: a `pread` is work for the CPU, not a
        /// wait, and the bytes are checked on the core that copied them, while they are
        /// still in its cache.
        public var windowsInFlight = 2
        /// At most this many series per batch, however small their chunks.
        public var maxSeriesPerBatch = 16384
        /// Check every chunk's CRC32C before handing it out (done while reading ahead).
        public var verifyChecksums = true
        /// Chunks closer than this in a segment are read in one range.
        public var coalesceGap = 64 << 10
        /// A chunk's length is not in the index: bytes read past the last chunk start of
        /// a range. Longer chunks are fetched again on their own.
        public var chunkSizeHint = 16 << 10

        public init() {}

        /// Windows suited to a remote bucket: one ranged GET of 4 MiB per window, three in
        /// flight (about 16 MiB per stream), so network latency hides behind the walk.
        public static var remote: Options {
            var o = Options()
            o.windowBytes = 4 << 20
            o.windowsInFlight = 3
            return o
        }
    }

    public let block: SourceBlock
    public let options: Options
    private let refs: ArraySlice<SeriesRef>
    private var position: Int
    private var inFlight: [Task<SeriesBatch, any Error>] = []
    /// The series entries behind the walk, given back (mapped indexes) in large steps.
    private var behind: ByteStorage.ReleaseBehind? = nil
    /// The batch handed out last. When the next is planned, its arrays are taken back and
    /// refilled: if the consumer has let go of the batch by then (a walk that asks for the
    /// next batch when done with one), their buffers are reused instead of freed and
    /// allocated again for every window. Freeing a batch's arrays made glibc give the top of
    /// the thread's heap back to the kernel after nearly every window, and fault it in again
    /// (195 madvise calls, each a TLB shootdown, on the 1 GB bench block). A batch still
    /// held is not touched: its arrays are copied on write, as before.
    private var spent: SeriesBatch? = nil

    init(block: SourceBlock, refs: ArraySlice<SeriesRef>, options: Options) {
        self.block = block
        self.refs = refs
        self.position = refs.startIndex
        var o = options
        o.windowBytes = max(4096, o.windowBytes)
        o.windowsInFlight = max(0, o.windowsInFlight)
        o.maxSeriesPerBatch = max(1, o.maxSeriesPerBatch)
        o.chunkSizeHint = max(64, o.chunkSizeHint)
        self.options = o
    }

    deinit {
        for t in inFlight { t.cancel() }
    }

    /// The next batch in index order, or nil after the last. Throws storage failures (a
    /// read that failed after the bucket's retries); bad bytes are reported per series
    /// (`SeriesBatch.error`) and per chunk (`SeriesBatch.chunk`), never thrown here.
    public func next() async throws -> SeriesBatch? {
        let batch: SeriesBatch
        if options.windowsInFlight == 0 {
            guard var plan = plan() else { return nil }
            batch = try await plan.fetch(block.segments, options)
        } else {
            while inFlight.count < options.windowsInFlight, let plan = plan() {
                let segments = block.segments
                let options = options
                inFlight.append(Task {
                    var plan = plan
                    return try await plan.fetch(segments, options)
                })
            }
            guard !inFlight.isEmpty else { return nil }
            let t = inFlight.removeFirst()
            batch = try await withTaskCancellationHandler { try await t.value } onCancel: { t.cancel() }
        }
        // The index's series entries are read once, in order: a mapped index gives back the
        // pages behind the walk (entries of batches before this one), a few MiB at a time.
        if let first = batch.refs.first.map(block.index.seriesOffset) {
            if behind == nil { behind = ByteStorage.ReleaseBehind(block.index.storage, from: first) }
            behind?.passed(first)
        }
        spent = batch
        return batch
    }

    /// Decodes series entries until the next window is full.
    private func plan() -> Planner? {
        guard position < refs.endIndex else { return nil }
        var p = Planner(segments: block.segments, options: options, reusing: &spent)
        while position < refs.endIndex, p.count < options.maxSeriesPerBatch {
            guard p.add(refs[position], from: block.index) else { break }
            position += 1
        }
        p.close()
        return p
    }
}

/// One window of series from a `SeriesStream`.
public struct SeriesBatch: Sendable {
    // Variables only so that `Planner` can take the arrays back (see `SeriesStream.spent`).
    fileprivate(set) var refs: [SeriesRef]
    /// Series i's labels are `labelList[labelEnds[i-1]..<labelEnds[i]]` (0 for i = 0); same for chunks.
    fileprivate(set) var labelEnds: [Int]
    fileprivate(set) var chunkEnds: [Int]
    fileprivate(set) var labelList: [LabelRef]
    fileprivate(set) var chunkList: [ChunkMeta]
    /// Offset just past each series entry in the index (0 when it did not decode).
    fileprivate(set) var entryEnds: [Int]
    let seriesErrors: [Int: TSDBError]
    /// The bytes read, and where each chunk's record lies in them.
    fileprivate(set) var windows: [ByteStorage]
    fileprivate(set) var slots: [ChunkSlot]
    let chunkErrors: [Int: TSDBError]

    /// Series in the batch.
    public var count: Int { refs.count }
    public var indices: Range<Int> { 0..<refs.count }
    /// Bytes of chunk data the batch holds.
    public var bytes: Int { windows.reduce(0) { $0 + $1.count } }

    public func ref(_ i: Int) -> SeriesRef { refs[i] }

    /// Series i's labels as symbol references (see `IndexReader.labels`); empty when the
    /// entry did not decode.
    public func labels(_ i: Int) -> ArraySlice<LabelRef> {
        labelList[(i == 0 ? 0 : labelEnds[i - 1])..<labelEnds[i]]
    }

    /// Series i's chunk metas in index order; empty when the entry did not decode.
    public func chunks(_ i: Int) -> ArraySlice<ChunkMeta> {
        chunkList[(i == 0 ? 0 : chunkEnds[i - 1])..<chunkEnds[i]]
    }

    /// Why series i's entry did not decode (CRC, truncation), or nil.
    public func error(_ i: Int) -> TSDBError? { seriesErrors.isEmpty ? nil : seriesErrors[i] }

    /// A chunk's bytes; `k` is an index of `chunks(i)` (positions run on through the
    /// batch, as in any `ArraySlice`). Throws when its ref points nowhere, its bytes run
    /// past the segment, or (with `verifyChecksums`) its CRC32C does not match.
    public func chunk(_ k: Int) throws(TSDBError) -> RawChunk {
        let s = slots[k]
        guard s.window >= 0 else {
            throw chunkErrors[k] ?? TSDBError(.corrupt, file: "chunks", offset: chunkList[k].ref.offset, "chunk \(chunkList[k].ref) was not read")
        }
        return try RawChunk(windows[Int(s.window)], at: Int(s.start), header: s.header, origin: 0, verifyChecksum: false)
    }

    /// The samples chunk `k`'s header claims; nil for Thanos aggregates (which have none)
    /// and chunks that did not read.
    public func sampleCount(_ k: Int) -> Int? { slots[k].samples < 0 ? nil : Int(slots[k].samples) }

    package func entryEnd(_ i: Int) -> Int { entryEnds[i] }
    package func chunkBase(_ i: Int) -> Int { i == 0 ? 0 : chunkEnds[i - 1] }
}

/// Where one chunk of a batch was found (window -1: not read, see the batch's errors).
struct ChunkSlot: Sendable {
    init() {}

    init(window: Int32, start: Int32, result r: ChunkRecordScan.Result) {
        self.window = window
        self.start = start
        dataLength = Int32(r.header.dataLength)
        samples = r.header.encoding == .thanosAggregate ? -1 : r.samples
        headerLength = UInt8(r.header.headerLength)
        encoding = r.header.encoding
    }

    var window: Int32 = -1
    var start: Int32 = 0
    var dataLength: Int32 = 0
    /// The sample count in the header (-1 for Thanos aggregates).
    var samples: Int32 = -1
    var headerLength: UInt8 = 0
    var encoding = ChunkEncoding.none

    var header: RawChunk.Header { RawChunk.Header(dataLength: Int(dataLength), headerLength: Int(headerLength), encoding: encoding) }
}

/// Steps through a stream one series at a time (for merging several streams).
///
/// ```swift
/// var a = SeriesCursor(try blockA.series()), b = SeriesCursor(try blockB.series())
/// var moreA = try await a.next(), moreB = try await b.next()
/// while moreA || moreB { ... compare a.labels / b.labels, copy the smaller, advance it ... }
/// ```
public struct SeriesCursor {
    public let stream: SeriesStream
    public private(set) var batch: SeriesBatch?
    public private(set) var index = -1

    public init(_ stream: SeriesStream) { self.stream = stream }

    /// Moves to the next series; false after the last.
    public mutating func next() async throws -> Bool {
        if let b = batch, index + 1 < b.count {
            index += 1
            return true
        }
        while let b = try await stream.next() {
            if b.count > 0 {
                batch = b
                index = 0
                return true
            }
        }
        batch = nil
        return false
    }

    // The current series (after `next()` returned true).
    public var ref: SeriesRef { batch!.ref(index) }
    public var labels: ArraySlice<LabelRef> { batch!.labels(index) }
    public var chunks: ArraySlice<ChunkMeta> { batch!.chunks(index) }
    public var error: TSDBError? { batch!.error(index) }
    /// `k` is an index of `chunks`.
    public func chunk(_ k: Int) throws(TSDBError) -> RawChunk { try batch!.chunk(k) }
}

/// Collects one batch: decoded series, and the ranges of chunk bytes to read for them.
struct Planner: Sendable {
    struct ReadRange: Sendable {
        var segment: Int
        var lower: Int
        var lastStart: Int
        var upper = 0
    }

    let segments: [ChunkSegment]
    /// Per segment: its size, or -1 when it cannot be read (kept apart from `segments`
    /// so the per-chunk checks touch plain integers).
    let segmentSizes: [Int]
    let options: SeriesStream.Options
    var refs: [SeriesRef] = []
    var labelEnds: [Int] = []
    var chunkEnds: [Int] = []
    var labelList: [LabelRef] = []
    var chunkList: [ChunkMeta] = []
    var entryEnds: [Int] = []
    var seriesErrors: [Int: TSDBError] = [:]
    var chunkErrors: [Int: TSDBError] = [:]
    /// Per chunk, the range its bytes are read in (-1: none, see chunkErrors).
    var chunkRange: [Int32] = []
    var ranges: [ReadRange] = []
    /// Whether every chunk ref so far came after the one before (the usual layout).
    var ordered = true
    var lastRef: (segment: Int, offset: Int) = (-1, 0)
    var estimatedBytes = 0
    /// The first chunk of the series that did not fit (it opens the next batch).
    var next: ChunkRef? = nil
    /// The spent batch's slot and window arrays, for `fetch` to refill (the slots as they were).
    var slotsBuffer: [ChunkSlot] = []
    var windowsBuffer: [ByteStorage] = []

    /// `spent`: the batch handed out before, whose arrays (emptied, capacity kept) this one
    /// fills; taken (set to nil) either way.
    init(segments: [ChunkSegment], options: SeriesStream.Options, reusing spent: inout SeriesBatch?) {
        self.segments = segments
        segmentSizes = segments.map { $0.problem == nil ? $0.size : -1 }
        self.options = options
        chunkRange.reserveCapacity(min(1 << 16, options.windowBytes / 128))
        guard var old = spent.take() else {
            refs.reserveCapacity(min(options.maxSeriesPerBatch, 4096))
            chunkList.reserveCapacity(min(1 << 16, options.windowBytes / 128))
            labelList.reserveCapacity(min(1 << 16, options.windowBytes / 64))
            return
        }
        // Each array moves out of `old` (leaving it no reference), then is emptied: in place
        // when nothing else holds it, else into a new buffer of the same capacity.
        func take<T>(_ a: inout [T], _ from: inout [T]) {
            swap(&a, &from)
            a.removeAll(keepingCapacity: true)
        }
        take(&refs, &old.refs)
        take(&labelEnds, &old.labelEnds)
        take(&chunkEnds, &old.chunkEnds)
        take(&labelList, &old.labelList)
        take(&chunkList, &old.chunkList)
        take(&entryEnds, &old.entryEnds)
        swap(&slotsBuffer, &old.slots)  // not emptied: `fetch` overwrites it
        take(&windowsBuffer, &old.windows)
    }

    var count: Int { refs.count }

    /// Decodes series `ref` into the batch; false (and nothing added) when the batch is
    /// not empty and the series' chunks would overfill the window.
    mutating func add(_ ref: SeriesRef, from index: IndexReader) -> Bool {
        let l0 = labelList.count, c0 = chunkList.count
        var end = 0
        var failure: TSDBError? = nil
        do { end = try index.appendSeries(ref, labels: &labelList, chunks: &chunkList) } catch { failure = error }
        // Bytes the series adds to the window.
        var bytes = 0
        var last = lastRef
        for k in c0..<chunkList.count {
            let c = chunkList[k].ref
            let s = c.segment, o = c.offset
            bytes &+= (s == last.segment && o > last.offset) ? min(o - last.offset, options.coalesceGap) : options.chunkSizeHint
            last = (s, o)
        }
        if !refs.isEmpty, estimatedBytes + bytes > options.windowBytes {
            next = chunkList.count > c0 ? chunkList[c0].ref : nil
            labelList.removeSubrange(l0...)
            chunkList.removeSubrange(c0...)
            return false
        }
        estimatedBytes += bytes
        let i = refs.count
        refs.append(ref)
        if let failure { seriesErrors[i] = failure }
        entryEnds.append(end)
        labelEnds.append(labelList.count)
        for k in c0..<chunkList.count { place(k) }
        chunkEnds.append(chunkList.count)
        return true
    }

    /// Checks chunk k's ref and assigns it to a read range.
    @inline(__always)
    mutating func place(_ k: Int) {
        let c = chunkList[k].ref
        let s = c.segment, o = c.offset
        guard s < segmentSizes.count, o >= ChunkReader.headerSize, o < segmentSizes[s] else {
            chunkErrors[k] = refProblem(c)
            chunkRange.append(-1)
            return
        }
        if s < lastRef.segment || (s == lastRef.segment && o < lastRef.offset) { ordered = false }
        lastRef = (s, o)
        if ordered {
            let n = ranges.count
            if n > 0, ranges[n - 1].segment == s, o - ranges[n - 1].lastStart <= options.coalesceGap {
                ranges[n - 1].lastStart = o
            } else {
                ranges.append(ReadRange(segment: s, lower: o, lastStart: o))
            }
            chunkRange.append(Int32(ranges.count - 1))
        } else {
            chunkRange.append(0)
        }
    }

    func refProblem(_ c: ChunkRef) -> TSDBError {
        let s = c.segment, o = c.offset
        guard s < segments.count else {
            return TSDBError(.corrupt, file: "chunks", section: "chunk ref", offset: o,
                             "chunk ref \(c) names segment \(s), block has \(segments.count)")
        }
        let seg = segments[s]
        if let p = seg.problem {
            return TSDBError(.corrupt, file: seg.name, section: "chunk ref", offset: o,
                             "chunk \(c) is in a segment that cannot be read (\(p.detail))")
        }
        return TSDBError(.corrupt, file: seg.name, section: "chunk ref", offset: o,
                         "chunk ref \(c) points outside the segment (\(seg.size) bytes)")
    }

    /// Fixes the ranges' ends. The next batch's first chunk bounds the last range when it
    /// follows in the same segment.
    mutating func close() {
        if !ordered { regroup() }
        for i in ranges.indices {
            var r = ranges[i]
            var end = min(segmentSizes[r.segment], r.lastStart + options.chunkSizeHint)
            if i + 1 < ranges.count, ranges[i + 1].segment == r.segment, ranges[i + 1].lower > r.lastStart {
                end = min(end, ranges[i + 1].lower)
            } else if i + 1 == ranges.count, let c = next, c.segment == r.segment, c.offset > r.lastStart {
                end = min(end, c.offset)
            }
            r.upper = end
            ranges[i] = r
        }
    }

    /// Chunk refs out of order: sort them and coalesce nearby ones into ranges.
    mutating func regroup() {
        var order: [(ref: UInt64, k: Int)] = []
        for k in chunkList.indices where chunkRange[k] >= 0 { order.append((chunkList[k].ref.rawValue, k)) }
        order.sort { $0.ref < $1.ref }
        ranges.removeAll()
        for (raw, k) in order {
            let c = ChunkRef(raw)
            let s = c.segment, o = c.offset
            if var r = ranges.last, r.segment == s, o - r.lastStart <= options.coalesceGap {
                r.lastStart = o
                ranges[ranges.count - 1] = r
            } else {
                ranges.append(ReadRange(segment: s, lower: o, lastStart: o))
            }
            chunkRange[k] = Int32(ranges.count - 1)
        }
    }

    /// Reads the ranges at once, then resolves every chunk in one pass over each window:
    /// its header, whether its record fits in what was read (else it is read on its own),
    /// its CRC and sample count.
    mutating func fetch(_ segments: [ChunkSegment], _ options: SeriesStream.Options) async throws -> SeriesBatch {
        var windows: [ByteStorage] = []
        swap(&windows, &windowsBuffer)
        try await Self.read(ranges.map { (segments[$0.segment].source, $0.lower..<$0.upper) }, into: &windows)
        let n = chunkList.count
        var slots: [ChunkSlot] = []
        swap(&slots, &slotsBuffer)
        // n unread slots, in the buffer's place where it is long enough (appending a repeated
        // element goes through a generic iterator, one element at a time).
        if slots.count > n { slots.removeLast(slots.count - n) }
        slots.withUnsafeMutableBufferPointer { $0.update(repeating: ChunkSlot()) }
        if slots.count < n { slots += [ChunkSlot](repeating: ChunkSlot(), count: n - slots.count) }
        var errors = chunkErrors
        var alone: [Int] = []
        // Each window's chunks, scanned in one pass. In the usual layout (refs in order) a
        // window's chunks are one run of the batch, so the runs are scanned as they come.
        var ks: [Int] = []
        var offsets: [Int64] = []
        ks.reserveCapacity(n)
        offsets.reserveCapacity(n)
        func scan(_ w: Int, _ ks: [Int], _ offsets: [Int64], _ slots: UnsafeMutableBufferPointer<ChunkSlot>) {
            offsets.withUnsafeBufferPointer { ob in
                ChunkRecordScan.scan(windows[w].raw, offsets: ob, checkCRC: options.verifyChecksums) { i, res in
                    let k = ks[i]
                    switch res.status {
                    case .ok:
                        slots[k] = ChunkSlot(window: Int32(w), start: Int32(ob[i]), result: res)
                    case .pastEnd:
                        alone.append(k)
                    default:
                        errors[k] = Self.problem(res, chunkList[k].ref, segments)
                    }
                }
            }
        }
        slots.withUnsafeMutableBufferPointer { slotsOut in
            if ordered {
                var k = 0
                while k < n {
                    let w = Int(chunkRange[k])
                    guard w >= 0 else { k += 1; continue }
                    ks.removeAll(keepingCapacity: true)
                    offsets.removeAll(keepingCapacity: true)
                    let origin = ranges[w].lower
                    while k < n, chunkRange[k] == w || chunkRange[k] < 0 {
                        if chunkRange[k] >= 0 {
                            ks.append(k)
                            offsets.append(Int64(chunkList[k].ref.offset - origin))
                        }
                        k += 1
                    }
                    scan(w, ks, offsets, slotsOut)
                }
            } else {
                var byWindow: [Int: [Int]] = [:]
                for k in 0..<n where chunkRange[k] >= 0 { byWindow[Int(chunkRange[k]), default: []].append(k) }
                for (w, ks) in byWindow {
                    let origin = ranges[w].lower
                    // A window's chunks in offset order, as the scan wants them.
                    let sorted = ks.sorted { chunkList[$0].ref.offset < chunkList[$1].ref.offset }
                    scan(w, sorted, sorted.map { Int64(chunkList[$0].ref.offset - origin) }, slotsOut)
                }
            }
        }
        if !alone.isEmpty {
            // Records longer than what was read for them (or cut by a window's end).
            let chunks = chunkList
            let found = try await withThrowingTaskGroup(of: (Int, ByteStorage?, ChunkRecordScan.Result?, TSDBError?).self) { g in
                var pending = alone[...]
                func start(_ k: Int) {
                    let c = chunks[k].ref
                    let seg = segments[c.segment]
                    g.addTask { try await Self.readAlone(c, seg, checkCRC: options.verifyChecksums, k: k) }
                }
                for _ in 0..<16 { if let k = pending.popFirst() { start(k) } }
                var out: [(Int, ByteStorage?, ChunkRecordScan.Result?, TSDBError?)] = []
                while let x = try await g.next() {
                    out.append(x)
                    if let k = pending.popFirst() { start(k) }
                }
                return out
            }
            for (k, win, res, err) in found {
                if let err { errors[k] = err; continue }
                guard let win, let res else { continue }
                if res.status == .ok {
                    windows.append(win)
                    slots[k] = ChunkSlot(window: Int32(windows.count - 1), start: 0, result: res)
                } else {
                    errors[k] = Self.problem(res, chunkList[k].ref, segments)
                }
            }
        }
        return SeriesBatch(refs: refs, labelEnds: labelEnds, chunkEnds: chunkEnds, labelList: labelList, chunkList: chunkList,
                           entryEnds: entryEnds, seriesErrors: seriesErrors, windows: windows, slots: slots, chunkErrors: errors)
    }

    static func problem(_ res: ChunkRecordScan.Result, _ c: ChunkRef, _ segments: [ChunkSegment]) -> TSDBError {
        let file = segments[c.segment].name
        switch res.status {
        case .checksum:
            return TSDBError(.checksum, file: file, section: "chunk \(c)", offset: c.offset,
                             "CRC32C mismatch over \(res.header.dataLength + 1) bytes: stored \(hex32(res.storedCRC)), computed \(hex32(res.computedCRC))")
        case .badLength:
            return TSDBError(.corrupt, file: file, section: "chunk \(c)", offset: c.offset, "chunk length field is longer than 5 bytes or impossible")
        default:
            return TSDBError(.truncated, file: file, section: "chunk \(c)", offset: c.offset,
                             "chunk of \(res.header.dataLength) bytes at \(c.offset) runs past the end of the segment")
        }
    }

    /// Reads one chunk record on its own: its header first, then (when longer) exactly
    /// the record. Failures to decode are returned, storage failures thrown.
    static func readAlone(_ c: ChunkRef, _ seg: ChunkSegment, checkCRC: Bool, k: Int) async throws
        -> (Int, ByteStorage?, ChunkRecordScan.Result?, TSDBError?)
    {
        var want = min(seg.size, c.offset + 64)
        for _ in 0..<2 {
            let win = try await seg.source.read(c.offset..<want)
            var found: ChunkRecordScan.Result? = nil
            [Int64(0)].withUnsafeBufferPointer { ob in ChunkRecordScan.scan(win.raw, offsets: ob, checkCRC: checkCRC) { _, r in found = r } }
            guard let res = found else { break }
            if res.status != .pastEnd { return (k, win, res, nil) }
            // The header may be whole: then the record's length is known.
            guard let h = try? RawChunk.header(win.raw, at: 0, origin: c.offset), c.offset + h.recordLength <= seg.size,
                  c.offset + h.recordLength > want
            else {
                let h = try? RawChunk.header(win.raw, at: 0, origin: c.offset)
                return (k, nil, nil, TSDBError(.truncated, file: seg.name, section: "chunk \(c)", offset: c.offset,
                                               h.map { "chunk of \($0.dataLength) bytes at \(c.offset) runs past the end of the segment (\(seg.size) bytes)" }
                                               ?? "chunk header at \(c.offset) runs past the end of the segment (\(seg.size) bytes)"))
            }
            want = c.offset + h.recordLength
        }
        return (k, nil, nil, TSDBError(.truncated, file: seg.name, section: "chunk \(c)", offset: c.offset, "chunk record could not be read"))
    }

    /// Reads ranges at once; results appended to `out` in the order asked.
    static func read(_ jobs: [(any ByteSource, Range<Int>)], into out: inout [ByteStorage]) async throws {
        if jobs.count == 1 {
            out.append(try await jobs[0].0.read(jobs[0].1))
            return
        }
        let got = try await withThrowingTaskGroup(of: (Int, ByteStorage).self) { g in
            for (i, (src, r)) in jobs.enumerated() { g.addTask { (i, try await src.read(r)) } }
            var got = [ByteStorage?](repeating: nil, count: jobs.count)
            while let (i, s) = try await g.next() { got[i] = s }
            return got
        }
        for s in got { out.append(s!) }
    }
}
