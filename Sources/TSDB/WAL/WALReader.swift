/// What reading a WAL directory found: the files, the records by type, and everything skipped.
public struct WALReadReport: Sendable, Equatable {
    /// Segment files read, in replay order (checkpoint first).
    public var files: [String] = []
    public var checkpoint: String?
    /// Files and directories in `wal/` that replay does not read (see `WALDirectory`).
    public var ignored: [String] = []
    public var missingSegments: [Int] = []
    /// Records decoded, by type.
    public var records: [WALRecordType: Int] = [:]
    /// Records by how they were stored.
    public var compression: [WALCompression: Int] = [:]
    /// Spans of segments that could not be read, and records that could not be decoded.
    public var damage: [WALDamage] = []
    /// The last segment ends inside a record: normal after a crash, the end of the log.
    public var tornTail: WALTornTail?
    public var bytesRead = 0

    public init() {}

    /// Entries in records of that type (exemplars, metadata and mmap markers are only counted).
    public var entries: [WALRecordType: Int] = [:]
}

/// A decoded record and where it was stored.
public struct WALLocatedRecord: Sendable {
    public var record: WALRecord
    public var file: String
    public var offset: Int
}

/// Reads every record of a WAL directory in replay order, skipping and reporting what is
/// damaged (docs/format/wal.md, "Reading a damaged log").
///
/// Each segment is read on its own, so damage in one never hides the next. A segment that
/// cannot be opened is damage at offset 0. A record cut off by the end of the *last* segment
/// is the torn tail (`report.tornTail`); anywhere else a cut-off record is damage.
public struct WALReader {
    public let directory: WALDirectory
    public private(set) var report = WALReadReport()
    private let files: [WALSegmentFile]
    private let lastWALSegment: String?
    private var fileIndex = 0
    private var scanner: WALSegmentScanner?

    public init(directory: WALDirectory) {
        self.directory = directory
        files = directory.replayOrder
        lastWALSegment = directory.segments.last?.path
        report.checkpoint = directory.checkpoint?.path
        report.ignored = directory.ignored
        report.missingSegments = directory.missingSegments
    }

    public init(path: String) throws(TSDBError) {
        self.init(directory: try WALDirectory(path: path))
    }

    public mutating func next() -> WALLocatedRecord? {
        while true {
            if scanner == nil {
                guard fileIndex < files.count else { return nil }
                let f = files[fileIndex]
                fileIndex += 1
                report.files.append(f.path)
                do {
                    let storage = try ByteStorage.map(path: f.path)
                    report.bytesRead += storage.count
                    scanner = WALSegmentScanner(storage: storage, file: f.path)
                } catch {
                    report.damage.append(WALDamage(file: f.path, offset: 0, resumeOffset: 0,
                                                   error: error, recordsLost: 0, fragmentsSkipped: 0))
                    continue
                }
            }
            guard let event = scanner!.next() else {
                scanner = nil
                continue
            }
            switch event {
            case .damage(let d):
                report.damage.append(d)
            case .cutOff(let offset, let detail):
                let file = scanner!.file
                let size = scanner!.count
                if file == lastWALSegment {
                    report.tornTail = WALTornTail(file: file, offset: offset, fileSize: size, detail: detail)
                } else {
                    report.damage.append(WALDamage(
                        file: file, offset: offset, resumeOffset: size,
                        error: TSDBError(.truncated, file: file, section: "WAL segment", offset: offset,
                                         "\(detail), and this is not the last segment"),
                        recordsLost: 1, fragmentsSkipped: 0))
                }
            case .record(let raw):
                let file = scanner!.file
                do throws(TSDBError) {
                    let record = try Self.decode(raw)
                    report.records[record.type, default: 0] += 1
                    report.compression[raw.compression, default: 0] += 1
                    report.entries[record.type, default: 0] += record.entryCount
                    return WALLocatedRecord(record: record, file: file, offset: raw.offset)
                } catch {
                    report.damage.append(WALDamage(
                        file: file, offset: raw.offset, resumeOffset: raw.endOffset,
                        error: error.located(file: file, section: "WAL record at \(raw.offset)"),
                        recordsLost: 1, fragmentsSkipped: 0))
                }
            }
        }
    }

    /// Decompresses and decodes one record. Offsets in errors are file offsets when the record
    /// is stored uncompressed in one fragment, positions in the decompressed record otherwise.
    public static func decode(_ raw: WALRawRecord) throws(TSDBError) -> WALRecord {
        switch raw.compression {
        case .none:
            if case .span(_, let range) = raw.payload {
                return try raw.withBytes { (p) throws(TSDBError) in try WALRecordDecoder.decode(p, origin: range.lowerBound) }
            }
            return try raw.withBytes { (p) throws(TSDBError) in try WALRecordDecoder.decode(p) }
        case .snappy:
            let bytes = try raw.withBytes { (p) throws(TSDBError) in try WALDecompress.snappy(p, origin: 0) }
            return try withTypedBytes(bytes) { (p) throws(TSDBError) in try WALRecordDecoder.decode(p) }
        case .zstd:
            let bytes = try raw.withBytes { (p) throws(TSDBError) in try WALDecompress.zstd(p, origin: 0) }
            return try withTypedBytes(bytes) { (p) throws(TSDBError) in try WALRecordDecoder.decode(p) }
        }
    }
}

extension WALRecord {
    /// Series, samples, tombstones or histograms in the record; exemplars, metadata entries,
    /// markers for the counted types.
    public var entryCount: Int {
        switch self {
        case .series(let s): s.count
        case .samples(let s): s.count
        case .tombstones(let t): t.count
        case .histogramSamples(let h): h.count
        case .floatHistogramSamples(let h): h.count
        case .exemplars(let n), .metadata(let n), .mmapMarkers(let n): n
        }
    }
}
