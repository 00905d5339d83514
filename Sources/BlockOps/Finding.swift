import TSDB

/// One problem found in a block or a bucket.
public struct Finding: Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable, CaseIterable {
        // A file as a whole.
        case unreadable                     // a file does not open or decode at all
        case metaMismatch = "meta-mismatch"
        case filesMismatch = "files-mismatch"
        case statsMismatch = "stats-mismatch"
        case tombstones                     // the tombstones file does not parse
        // Index structure.
        case indexTOC = "index-toc"
        case indexChecksum = "index-checksum"
        case symbolOrder = "symbol-order"
        case seriesEntry = "series-entry"
        case seriesOrder = "series-order"
        case duplicateSeries = "duplicate-series"
        case labelOrder = "label-order"
        case emptyLabels = "empty-labels"
        case seriesWithoutChunks = "series-without-chunks"
        case postings
        case postingsTable = "postings-table"
        case postingsMismatch = "postings-mismatch"
        // Chunks.
        case chunkRef = "chunk-ref"
        case chunkChecksum = "chunk-checksum"
        case chunkEncoding = "chunk-encoding"
        case chunkOrder = "chunk-order"
        case duplicateChunk = "duplicate-chunk"
        case chunkOutsideBlock = "chunk-outside-block"
        case chunkAtMaxTime = "chunk-at-max-time"  // Prometheus issue 347
        case chunkSamples = "chunk-samples"
        // Bucket level (BucketChecks).
        case partialUpload = "partial-upload"
        case markedForDeletion = "marked-for-deletion"
        case markedNoCompact = "marked-no-compact"
        case badMarker = "bad-marker"
        case overlap = "overlapping-blocks"
        case duplicatedCompaction = "duplicated-compaction"
        case supersededBlock = "superseded-block"

        /// What it means, for `--help` and the README.
        public var meaning: String {
            switch self {
            case .unreadable: "a file is missing, or does not open or decode at all (bad magic, version, truncated, meta.json not JSON)"
            case .metaMismatch: "meta.json: version not 1, ULID not the directory's, minTime not before maxTime"
            case .filesMismatch: "the Thanos files list disagrees with the objects (missing, extra, other size)"
            case .statsMismatch: "meta.json stats (series, chunks, samples) differ from what the index and chunks hold"
            case .tombstones: "the tombstones file does not parse (magic, version, CRC, reversed interval)"
            case .indexTOC: "the index's table of contents: CRC, or section offsets out of place"
            case .indexChecksum: "the CRC of an index section (symbols, postings offset table, label indices) does not match"
            case .symbolOrder: "symbols not byte-wise sorted and unique"
            case .seriesEntry: "a series entry does not decode: CRC, truncation, a symbol that does not exist, stray bytes between entries"
            case .seriesOrder: "series not sorted by label set"
            case .duplicateSeries: "the same label set twice"
            case .labelOrder: "label names not sorted (or repeated) inside a series"
            case .emptyLabels: "a series with no labels"
            case .seriesWithoutChunks: "a series with no chunks"
            case .postings: "a postings list does not decode (CRC, length)"
            case .postingsTable: "the postings offset table is not sorted by label name and value"
            case .postingsMismatch: "postings not strictly increasing, naming series that do not exist, or not the series that carry their label pair"
            case .chunkRef: "a chunk ref points outside the segment files, or its record runs past the end"
            case .chunkChecksum: "a chunk's CRC32C does not match"
            case .chunkEncoding: "a chunk encoding blockyard does not know"
            case .chunkOrder: "chunks of a series overlap or are out of order"
            case .duplicateChunk: "a chunk that is an exact copy of the series' previous one"
            case .chunkOutsideBlock: "a chunk outside the block's [minTime, maxTime)"
            case .chunkAtMaxTime: "a chunk starting exactly at the block's maxTime (Prometheus issue 347)"
            case .chunkSamples: "--deep: a chunk does not decode, or its samples disagree with the index (first/last time, order)"
            case .partialUpload: "objects without a meta.json (an upload that did not finish, or one in progress)"
            case .markedForDeletion: "the block has a deletion-mark.json"
            case .markedNoCompact: "the block has a no-compact-mark.json"
            case .badMarker: "a marker file that does not parse"
            case .overlap: "blocks of one compaction group (external labels, resolution) overlap in time"
            case .duplicatedCompaction: "two blocks compacted from the same sources"
            case .supersededBlock: "a block whose sources are all inside another block of its group"
            }
        }
    }

    public var block: String
    public var kind: Kind
    public var file: String
    public var offset: Int?
    public var series: String?
    public var detail: String

    public init(block: String, kind: Kind, file: String, offset: Int?, series: String?, detail: String) {
        self.block = block
        self.kind = kind
        self.file = file
        self.offset = offset
        self.series = series
        self.detail = detail
    }

    public var description: String {
        var s = "\(block) \(kind.rawValue) \(file)"
        if let offset { s += "@\(offset)" }
        if let series { s += " series=\(series)" }
        return s + ": " + detail
    }

    public var json: JSONValue {
        var o: [(String, JSONValue)] = [("block", .string(block)), ("kind", .string(kind.rawValue)), ("file", .string(file))]
        if let offset { o.append(("offset", .int(Int64(offset)))) }
        if let series { o.append(("series", .string(series))) }
        o.append(("detail", .string(detail)))
        return .object(o)
    }
}

/// Findings of one block as they are found, at most `cap` of each kind (the rest counted).
struct FindingLog: Sendable {
    let block: String
    let cap: Int
    private(set) var items: [Finding] = []
    private(set) var counts: [Finding.Kind: Int] = [:]

    init(block: String, cap: Int) {
        self.block = block
        self.cap = cap
    }

    var isEmpty: Bool { counts.isEmpty }
    func count(_ k: Finding.Kind) -> Int { counts[k] ?? 0 }

    /// Series text and detail are only built for findings that are kept.
    mutating func add(_ kind: Finding.Kind, _ file: String, _ offset: Int?, series: @autoclosure () -> String? = nil,
                      _ detail: @autoclosure () -> String) {
        let n = (counts[kind] ?? 0) + 1
        counts[kind] = n
        if n <= cap {
            items.append(Finding(block: block, kind: kind, file: file, offset: offset, series: series(), detail: detail()))
        }
    }

    /// Appends another log's findings (found later in the walk).
    mutating func append(_ other: FindingLog) {
        var listed: [Finding.Kind: Int] = [:]
        for f in other.items {
            listed[f.kind, default: 0] += 1
            let n = (counts[f.kind] ?? 0) + 1
            counts[f.kind] = n
            if n <= cap {
                items.append(Finding(block: block, kind: f.kind, file: f.file, offset: f.offset, series: f.series, detail: f.detail))
            }
        }
        for (k, n) in other.counts { counts[k, default: 0] += n - (listed[k] ?? 0) }
    }

    /// The findings, with one line per kind that had more than `cap`.
    func finished() -> [Finding] {
        var out = items
        for k in Finding.Kind.allCases {
            if let n = counts[k], n > cap {
                out.append(Finding(block: block, kind: k, file: "", offset: nil, series: nil,
                                   detail: "\(n - cap) more findings of this kind not shown"))
            }
        }
        return out
    }
}
