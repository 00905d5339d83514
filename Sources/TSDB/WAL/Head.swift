/// How to replay a head.
public struct HeadReplayOptions: Sendable {
    /// Samples, head chunks and tombstones before this are dropped. Prometheus uses the max
    /// time of the newest block in the directory (`DBReadOnly` passes it to `Head.Init`), so
    /// nothing already in a block comes back; `Int64.min` keeps everything.
    public var minValidTime: Int64 = .min
    /// Read `chunks_head/` (as Prometheus does). Without it, every sample comes from the WAL.
    public var useHeadChunks = true
    public init() {}
}

/// One series while replaying.
final class MemSeries {
    let ref: UInt64
    let labels: Labels
    /// Head chunks of the series reference that last (re)set it, in time order.
    var mmapped: [HeadChunk] = []
    var mmMaxTime: Int64 = .min
    /// Samples replayed from the WAL after `mmMaxTime`, in time order.
    var samples = RunBuilder()
    var sampleCount = 0
    var lastTime: Int64 = .min

    init(ref: UInt64, labels: Labels) {
        self.ref = ref
        self.labels = labels
    }

    /// What Prometheus does on every series record (`resetSeriesWithMMappedChunks`): the
    /// series takes the head chunks written under that record's reference, and samples
    /// replayed so far are dropped (they are taken to be in those chunks or in blocks).
    func reset(to chunks: [HeadChunk]) {
        mmapped = chunks
        mmMaxTime = chunks.last?.maxTime ?? .min
        lastTime = mmMaxTime
        samples = RunBuilder()
        sampleCount = 0
    }
}

/// The in-memory head that Prometheus 2.42 rebuilds from a data directory's `chunks_head/`
/// and `wal/` (`Head.Init`, `Head.loadWAL`), as `promtool tsdb dump` sees it.
///
/// Replay rules, each from upstream: head chunk files are loaded first; records are replayed
/// checkpoint first, then the segments after it. A series record creates a series, or, for a
/// label set already known, maps the new reference onto it; either way the series is reset
/// to the head chunks of that reference. A sample is kept only if its series is known, it is
/// not before `minValidTime`, and it is newer than both the series' last head chunk and its
/// previous sample (so duplicates and out-of-order samples are dropped). Tombstones for
/// known series are applied when samples are read out. Damaged records are skipped and
/// reported; a torn tail ends the log.
public final class Head: @unchecked Sendable {
    public let directory: String
    public let report: HeadReplayReport
    /// Smallest and largest sample time in the head (head chunks included); nil when empty.
    public let minTime: Int64?
    public let maxTime: Int64?
    /// Tombstones by head series reference (closed intervals).
    public let tombstones: Tombstones
    /// Series with at least one sample or head chunk, in label order.
    let ordered: [MemSeries]

    init(directory: String, report: HeadReplayReport, minTime: Int64?, maxTime: Int64?,
         tombstones: Tombstones, ordered: [MemSeries]) {
        self.directory = directory
        self.report = report
        self.minTime = minTime
        self.maxTime = maxTime
        self.tombstones = tombstones
        self.ordered = ordered
    }

    /// Number of series that hold data (before range and tombstones are applied).
    public var seriesCount: Int { ordered.count }

    /// Replays the `wal/` (and `chunks_head/`) of a Prometheus or Thanos Receive data directory.
    /// Throws only when there is no `wal/` directory or a directory cannot be listed; damage
    /// inside files is skipped and described in `report`.
    public static func replay(directory: String, options: HeadReplayOptions = HeadReplayOptions()) throws(TSDBError) -> Head {
        let walPath = directory + "/wal"
        guard WALDirectory.isDirectory(walPath) else {
            throw TSDBError(.io, file: directory, offset: 0, "no wal/ directory: not a Prometheus data directory")
        }
        var replay = HeadReplay(minValidTime: options.minValidTime)
        if options.useHeadChunks {
            (replay.headChunks, replay.report.headChunks) = try HeadChunkFiles.read(
                directory: directory + "/chunks_head", minValidTime: options.minValidTime)
        }
        if WALDirectory.isDirectory(directory + "/wbl") { replay.report.outOfOrderLog = directory + "/wbl" }
        var reader = try WALReader(path: walPath)
        while let r = reader.next() { replay.apply(r.record) }
        replay.report.wal = reader.report
        return replay.finish(directory: directory)
    }

    /// Walks the series in label order with their samples in `range` (tombstones applied),
    /// skipping series with none there.
    public func series(in range: Range<Int64>) -> HeadSeriesIterator {
        HeadSeriesIterator(head: self, lo: range.lowerBound, hi: range.upperBound - 1, empty: range.isEmpty)
    }

    /// Every series with all its samples.
    public func allSeries() -> HeadSeriesIterator {
        HeadSeriesIterator(head: self, lo: .min, hi: .max, empty: false)
    }

    /// Block windows `[k·width, (k+1)·width)` that overlap the head's samples, in order: what a
    /// block writer cuts (2 h for Prometheus and Thanos Receive). A window may still turn out
    /// empty once tombstones are applied.
    public func blockRanges(width: Int64 = 2 * 3600 * 1000) -> [Range<Int64>] {
        precondition(width > 0, "block width must be positive")
        guard let lo = minTime, let hi = maxTime else { return [] }
        var start = lo >= 0 ? lo / width * width : -((-(lo + 1)) / width + 1) * width
        var out: [Range<Int64>] = []
        while start <= hi {
            let (end, overflow) = start.addingReportingOverflow(width)
            out.append(start..<(overflow ? .max : end))
            if overflow { break }
            start = end
        }
        return out
    }

    /// One series' samples in [lo, hi], or nil when there are none.
    func build(_ m: MemSeries, lo: Int64, hi: Int64) throws(TSDBError) -> HeadSeries? {
        var b = RunBuilder()
        let deleted = tombstones.intervals[m.ref]
        func keep(_ t: Int64) -> Bool {
            t >= lo && t <= hi && !(deleted?.contains { $0.contains(t) } ?? false)
        }
        for c in m.mmapped where c.maxTime >= lo && c.minTime <= hi {
            do throws(TSDBError) {
                try c.withData { (data) throws(TSDBError) in
                    let origin = c.dataRange.lowerBound
                    switch c.encoding {
                    case .xor:
                        var it = try XORIterator(data, origin: origin)
                        while try it.next() { if keep(it.timestamp) { b.float(it.timestamp, it.value) } }
                    case .histogram:
                        var it = try HistogramIterator(data, origin: origin)
                        while try it.next() { if keep(it.timestamp) { b.histogram(it.timestamp, it.histogram) } }
                    case .floatHistogram:
                        var it = try FloatHistogramIterator(data, origin: origin)
                        while try it.next() { if keep(it.timestamp) { b.floatHistogram(it.timestamp, it.histogram) } }
                    default:
                        throw TSDBError(.unsupported, offset: c.offset, "head chunk encoding \(c.encoding)")
                    }
                }
            } catch {
                throw error.located(file: c.file, section: "head chunk at \(c.offset) of series \(m.ref)")
            }
        }
        for run in m.samples.runs {
            switch run {
            case .floats(let ts, let vs):
                for k in ts.indices where keep(ts[k]) { b.float(ts[k], vs[k]) }
            case .histograms(let ts, let hs):
                for k in ts.indices where keep(ts[k]) { b.histogram(ts[k], hs[k]) }
            case .floatHistograms(let ts, let hs):
                for k in ts.indices where keep(ts[k]) { b.floatHistogram(ts[k], hs[k]) }
            }
        }
        if b.isEmpty { return nil }
        return HeadSeries(ref: m.ref, labels: m.labels, runs: b.runs)
    }
}

/// Series of a head in label order, with their samples in a time range.
public struct HeadSeriesIterator {
    let head: Head
    let lo: Int64
    let hi: Int64
    let empty: Bool
    var i = 0

    public mutating func next() throws(TSDBError) -> HeadSeries? {
        guard !empty else { return nil }
        while i < head.ordered.count {
            let m = head.ordered[i]
            i += 1
            if let s = try head.build(m, lo: lo, hi: hi) { return s }
        }
        return nil
    }
}

/// The replay's working state (one pass over the records).
struct HeadReplay {
    let minValidTime: Int64
    var report = HeadReplayReport()
    var headChunks: [UInt64: [HeadChunk]] = [:]
    var byLabels: [Labels: MemSeries] = [:]
    var byRef: [UInt64: MemSeries] = [:]
    /// A repeated series record's reference -> the series that already had its labels.
    var multiRef: [UInt64: UInt64] = [:]
    var tombstones = Tombstones()
    var minTime = Int64.max
    var maxTime = Int64.min

    init(minValidTime: Int64) { self.minValidTime = minValidTime }

    mutating func apply(_ record: WALRecord) {
        switch record {
        case .series(let list):
            for s in list {
                let m: MemSeries
                if let known = byLabels[s.labels] {
                    m = known
                    multiRef[s.ref] = known.ref
                    report.repeatedSeries += 1
                    report.droppedByRepeatedSeries += known.sampleCount
                } else {
                    m = MemSeries(ref: s.ref, labels: s.labels)
                    byLabels[s.labels] = m
                    byRef[s.ref] = m
                    report.series += 1
                }
                let chunks = headChunks[s.ref] ?? []
                m.reset(to: chunks)
                if let first = chunks.first { widen(first.minTime, m.mmMaxTime) }
            }
        case .samples(let list):
            for s in list { if let m = admit(s.ref, s.t) { m.samples.float(s.t, s.value); report.floatSamples += 1 } }
        case .histogramSamples(let list):
            for s in list { if let m = admit(s.ref, s.t) { m.samples.histogram(s.t, s.histogram); report.histogramSamples += 1 } }
        case .floatHistogramSamples(let list):
            for s in list { if let m = admit(s.ref, s.t) { m.samples.floatHistogram(s.t, s.histogram); report.floatHistogramSamples += 1 } }
        case .tombstones(let list):
            for t in list {
                guard t.maxTime >= minValidTime, byRef[t.ref] != nil, t.minTime <= t.maxTime else {
                    report.tombstonesDropped += 1
                    continue
                }
                tombstones.add(Tombstone(series: t.ref, minTime: t.minTime, maxTime: t.maxTime))
                report.tombstones += 1
            }
        case .exemplars(let n): report.exemplars += n
        case .metadata(let n): report.metadata += n
        case .mmapMarkers(let n): report.mmapMarkers += n
        }
    }

    /// The series a sample goes to, or nil (counted) when the head drops it.
    mutating func admit(_ ref: UInt64, _ t: Int64) -> MemSeries? {
        if t < minValidTime { report.belowMinValidTime += 1; return nil }
        guard let m = byRef[multiRef[ref] ?? ref] else { report.unknownSeriesRefs += 1; return nil }
        if t <= m.mmMaxTime { report.coveredByHeadChunks += 1; return nil }
        if t <= m.lastTime {
            if t == m.lastTime { report.duplicates += 1 } else { report.outOfOrder += 1 }
            return nil
        }
        m.lastTime = t
        m.sampleCount += 1
        widen(t, t)
        return m
    }

    mutating func widen(_ lo: Int64, _ hi: Int64) {
        minTime = min(minTime, lo)
        maxTime = max(maxTime, hi)
    }

    func finish(directory: String) -> Head {
        let kept = byLabels.values.filter { !$0.mmapped.isEmpty || $0.sampleCount > 0 }
            .sorted { Labels.compare($0.labels, $1.labels) < 0 }
        let empty = minTime > maxTime
        return Head(directory: directory, report: report, minTime: empty ? nil : minTime, maxTime: empty ? nil : maxTime,
                    tombstones: tombstones, ordered: kept)
    }
}
