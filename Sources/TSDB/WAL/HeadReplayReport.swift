/// What a head replay read, kept and dropped, and why.
public struct HeadReplayReport: Sendable, Equatable {
    public var wal = WALReadReport()
    public var headChunks = HeadChunksReport()
    /// Distinct series (label sets) created.
    public var series = 0
    /// Series records for a label set already known. Prometheus then resets the series to the
    /// head chunks of the new reference and drops the samples replayed for it so far.
    public var repeatedSeries = 0
    /// Replayed samples dropped by such a reset.
    public var droppedByRepeatedSeries = 0
    /// Samples kept from WAL records, by kind (head chunk samples are not counted here).
    public var floatSamples = 0
    public var histogramSamples = 0
    public var floatHistogramSamples = 0
    /// Samples whose series reference no series record named before them.
    public var unknownSeriesRefs = 0
    /// Samples before the replay's minimum valid time.
    public var belowMinValidTime = 0
    /// Samples at or before the series' last head chunk (that chunk already holds them).
    public var coveredByHeadChunks = 0
    /// Samples at the timestamp of the series' previous sample (dropped, as the head does).
    public var duplicates = 0
    /// Samples older than the series' previous sample (dropped: 2.42 keeps out-of-order
    /// samples in `wbl/`, never in the WAL, and its replay drops them).
    public var outOfOrder = 0
    /// Tombstone intervals kept, and those naming an unknown series or ending before the
    /// minimum valid time.
    public var tombstones = 0
    public var tombstonesDropped = 0
    /// Exemplars, metadata entries and mmap markers read and not kept (blocks do not hold them).
    public var exemplars = 0
    public var metadata = 0
    public var mmapMarkers = 0
    /// A `wbl/` directory (the out-of-order log) exists; it is not replayed.
    public var outOfOrderLog: String?

    public init() {}

    /// One line per fact worth telling an operator, damage first.
    public var lines: [String] {
        var out: [String] = []
        for d in wal.damage { out.append("skipped: \(d)") }
        if let d = headChunks.damage { out.append("head chunks not used: \(d)") }
        if let t = wal.tornTail { out.append("end of log: \(t)") }
        if !wal.missingSegments.isEmpty {
            out.append("missing WAL segments: \(wal.missingSegments.map(WALFormat.segmentName).joined(separator: ", "))")
        }
        if let w = outOfOrderLog { out.append("not replayed: out-of-order log \(w)") }
        out.append("read \(wal.files.count) segment file(s)\(wal.checkpoint.map { " from \($0) on" } ?? ""), \(wal.bytesRead) bytes, "
                   + "\(wal.records.values.reduce(0, +)) records; \(headChunks.chunks) head chunk(s) from \(headChunks.files.count) file(s)")
        out.append("kept \(series) series, \(floatSamples) float, \(histogramSamples) histogram and \(floatHistogramSamples) float histogram samples from the WAL, \(tombstones) tombstone interval(s)")
        let dropped: [(Int, String)] = [
            (unknownSeriesRefs, "for unknown series"), (belowMinValidTime, "before the minimum valid time"),
            (coveredByHeadChunks, "already in head chunks"), (duplicates, "duplicate timestamps"),
            (outOfOrder, "out of order"), (droppedByRepeatedSeries, "reset by a repeated series record"),
        ]
        let d = dropped.filter { $0.0 > 0 }.map { "\($0.0) \($0.1)" }
        if !d.isEmpty { out.append("samples dropped: " + d.joined(separator: ", ")) }
        let skipped = [(exemplars, "exemplars"), (metadata, "metadata entries"), (mmapMarkers, "mmap markers"),
                       (tombstonesDropped, "tombstone intervals"), (headChunks.outOfOrder, "out-of-order head chunks"),
                       (headChunks.belowMinValidTime, "head chunks before the minimum valid time"),
                       (headChunks.unknownEncoding, "head chunks of unknown encoding")].filter { $0.0 > 0 }
        if !skipped.isEmpty { out.append("not kept: " + skipped.map { "\($0.0) \($0.1)" }.joined(separator: ", ")) }
        return out
    }
}
