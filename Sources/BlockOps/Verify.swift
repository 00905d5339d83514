import Foundation
import TSDB

/// One problem found in a block.
public struct Finding: Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable, CaseIterable {
        case unreadable              // a file does not open or decode at all
        case metaMismatch = "meta-mismatch"
        case symbolOrder = "symbol-order"
        case seriesOrder = "series-order"
        case labelOrder = "label-order"
        case emptyLabels = "empty-labels"
        case seriesWithoutChunks = "series-without-chunks"
        case chunkChecksum = "chunk-checksum"
        case chunkEncoding = "chunk-encoding"
        case chunkRef = "chunk-ref"
        case chunkOrder = "chunk-order"
        case chunkOutsideBlock = "chunk-outside-block"
        case chunkAtMaxTime = "chunk-at-max-time"  // Prometheus issue 347
        case statsMismatch = "stats-mismatch"
        case postings
        case duplicateSeries = "duplicate-series"
        case seriesEntry = "series-entry"
        case postingsMismatch = "postings-mismatch"
        case filesMismatch = "files-mismatch"
        case duplicateChunk = "duplicate-chunk"
        case chunkSamples = "chunk-samples"
        // Bucket level (BucketChecks).
        case partialUpload = "partial-upload"
        case markedForDeletion = "marked-for-deletion"
        case markedNoCompact = "marked-no-compact"
        case badMarker = "bad-marker"
        case overlap = "overlapping-blocks"
        case duplicatedCompaction = "duplicated-compaction"
        case supersededBlock = "superseded-block"
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

/// Checks one local block: every section CRC, structure and ordering, every chunk's CRC and
/// placement, postings against the series, the Thanos files list, and meta.json stats
/// against what the index and chunks hold; with `deep`, every chunk is decoded and its
/// samples compared with the index. Findings are collected, not thrown, so one bad series
/// does not hide the rest; at most `maxPerKind` findings of a kind are kept.
public struct BlockVerifier: Sendable {
    public var maxPerKind = 20
    public var deep = false
    /// Slices of the series walk run at once (default: one per core).
    public var parallelism = ProcessInfo.processInfo.activeProcessorCount
    /// Fewer series than this per slice are not worth a thread.
    public var minSeriesPerSlice = 2048

    public init(deep: Bool = false) { self.deep = deep }

    /// Per label pair: how many series carry it and a hash of their refs, to compare with
    /// the pair's postings list without keeping every list in memory.
    struct PairTally {
        var count = 0
        var hash: UInt64 = 0
        init(count: Int = 0, hash: UInt64 = 0) {
            self.count = count
            self.hash = hash
        }
        mutating func add(_ ref: SeriesRef) {
            count += 1
            hash &+= mix(ref)
        }
    }

    static func mix(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Opens and checks a block directory on local disk.
    public func verify(directory: String) -> [Finding] {
        let name = directory.split(separator: "/").last.map(String.init) ?? directory
        let block: Block
        do {
            block = try Block(directory: directory)
        } catch {
            let file = error.file.hasPrefix(directory + "/") ? String(error.file.dropFirst(directory.count + 1)) : error.file
            return [Finding(block: name, kind: .unreadable, file: file, offset: error.offset, series: nil,
                            detail: "\(error.section.isEmpty ? "" : error.section + ": ")\(error.kind.rawValue): \(error.detail)")]
        }
        var sizes: [String: Int64] = [:]
        for f in block.chunks.segmentNames + ["index"] {
            if let n = (try? FileManager.default.attributesOfItem(atPath: directory + "/" + f))?[.size] as? NSNumber {
                sizes[f] = n.int64Value
            }
        }
        return verify(block: block, name: name, fileSizes: sizes)
    }

    /// Checks an opened block (local, or read from a bucket). `fileSizes` are the sizes of
    /// its files (relative paths), for the Thanos files list check.
    public func verify(block: Block, name: String, fileSizes: [String: Int64]) -> [Finding] {
        var out: [Finding] = []
        var perKind: [Finding.Kind: Int] = [:]
        func add(_ kind: Finding.Kind, _ file: String, _ offset: Int?, _ series: String?, _ detail: String) {
            perKind[kind, default: 0] += 1
            if perKind[kind]! <= maxPerKind {
                out.append(Finding(block: name, kind: kind, file: file, offset: offset, series: series, detail: detail))
            }
        }
        let meta = block.meta
        if meta.ulid.description != name {
            add(.metaMismatch, "meta.json", nil, nil, "ulid \(meta.ulid) differs from the directory name")
        }
        if meta.minTime >= meta.maxTime {
            add(.metaMismatch, "meta.json", nil, nil, "minTime \(meta.minTime) is not before maxTime \(meta.maxTime)")
        }
        checkFiles(block, fileSizes, add)
        let ix = block.index
        // Symbols: byte-wise sorted and unique.
        for i in 1..<max(1, ix.symbolCount) {
            let a = ix.symbolBytesRange(index: i - 1), b = ix.symbolBytesRange(index: i)
            let c = ix.storage.withBytes(a) { x in ix.storage.withBytes(b) { byteCompare(x, $0) } }
            if c >= 0 {
                let text = { (r: Range<Int>) in ix.storage.withBytes(r) { String(decoding: $0, as: UTF8.self) } }
                add(.symbolOrder, "index", Int(ix.toc.symbols), nil, "symbol \(i) \"\(text(b))\" does not sort after \"\(text(a))\"")
            }
        }
        let refs: [SeriesRef]
        do { refs = try ix.allPostings() } catch {
            add(.postings, "index", error.offset, nil, error.description)
            return out
        }
        // The series walk, split over the cores: each slice is walked on its own and the
        // results merged in order (the order check across a slice boundary is done here).
        let slices = max(1, min(parallelism, refs.count / max(1, minSeriesPerSlice)))
        let step = (refs.count + slices - 1) / slices
        let walks = UnsafeMutableBufferPointer<Walk?>.allocate(capacity: slices)
        walks.initialize(repeating: nil)
        defer { walks.deallocate() }
        // Each iteration writes only its own slot.
        nonisolated(unsafe) let slots = walks
        DispatchQueue.concurrentPerform(iterations: slices) { k in
            let lo = k * step
            let hi = min(refs.count, lo + step)
            slots[k] = walk(block, name, refs[lo..<hi])
        }
        var pairs: [UInt64: PairTally] = [:]
        var numChunks: UInt64 = 0
        var numSamples: UInt64 = 0
        var unreadableChunks = 0
        var previousLast: [LabelRef]? = nil
        for k in 0..<slices {
            guard let w = walks[k] else { continue }
            if let p = previousLast, let (first, at) = w.first {
                let c = Self.compare(p, first)
                let text = (try? ix.labels(first).description) ?? "?"
                if c == 0 { add(.duplicateSeries, "index", at, text, "the same label set as the series before it") }
                else if c > 0 { add(.seriesOrder, "index", at, text, "series does not sort after \((try? ix.labels(p).description) ?? "?")") }
            }
            previousLast = w.last ?? previousLast
            for f in w.findings { add(f.kind, f.file, f.offset, f.series, f.detail) }
            if pairs.isEmpty { pairs = w.pairs } else { pairs.merge(w.pairs) { PairTally(count: $0.count + $1.count, hash: $0.hash &+ $1.hash) } }
            numChunks += w.numChunks
            numSamples += w.numSamples
            unreadableChunks += w.unreadableChunks
        }
        checkPostings(ix, Set(refs), pairs, add)
        let st = meta.stats
        if st.numSeries != UInt64(refs.count) {
            add(.statsMismatch, "meta.json", nil, nil, "meta.json says \(st.numSeries) series, the index holds \(refs.count)")
        }
        if st.numChunks != numChunks {
            add(.statsMismatch, "meta.json", nil, nil, "meta.json says \(st.numChunks) chunks, the index references \(numChunks)")
        }
        // Samples are counted from chunk headers; a chunk already reported unreadable
        // cannot be counted, so the comparison would only repeat that finding.
        if meta.resolution == 0, unreadableChunks == 0, st.numSamples != numSamples {
            add(.statsMismatch, "meta.json", nil, nil, "meta.json says \(st.numSamples) samples, the chunks hold \(numSamples)")
        }
        for (k, n) in perKind where n > maxPerKind {
            out.append(Finding(block: name, kind: k, file: "", offset: nil, series: nil,
                               detail: "\(n - maxPerKind) more findings of this kind not shown"))
        }
        return out
    }

    /// What one slice of the series walk found.
    struct Walk {
        var findings: [Finding] = []
        var pairs: [UInt64: PairTally] = [:]
        var numChunks: UInt64 = 0
        var numSamples: UInt64 = 0
        var unreadableChunks = 0
        /// The slice's first series (labels, text, offset) and last labels, for the
        /// order check across slice boundaries.
        var first: ([LabelRef], Int)? = nil
        var last: [LabelRef]? = nil
    }

    func walk(_ block: Block, _ name: String, _ refs: ArraySlice<SeriesRef>) -> Walk {
        var w = Walk()
        func add(_ kind: Finding.Kind, _ file: String, _ offset: Int?, _ series: String?, _ detail: String) {
            w.findings.append(Finding(block: name, kind: kind, file: file, offset: offset, series: series, detail: detail))
        }
        let ix = block.index
        let mint = block.meta.minTime
        let maxt = block.meta.maxTime
        var labels: [LabelRef] = []
        var chunks: [ChunkMeta] = []
        var prev: Labels? = nil
        var ts: [Int64] = []
        var vs: [Double] = []
        var prevRefs: [LabelRef] = []
        var havePrev = false
        for ref in refs {
            do {
                try ix.series(ref, labels: &labels, chunks: &chunks)
            } catch {
                add(.seriesEntry, "index", error.offset, nil, "\(error.kind.rawValue): \(error.detail)")
                continue
            }
            // Label text only for findings: symbols are unique and sorted, so comparing
            // symbol references orders label sets exactly as comparing their bytes.
            var textCache: String? = nil
            func text() -> String {
                if let t = textCache { return t }
                let t = (try? ix.labels(labels).description) ?? "<labels unreadable>"
                textCache = t
                return t
            }
            for l in labels { w.pairs[UInt64(l.name) << 32 | UInt64(l.value), default: PairTally()].add(ref) }
            let at = ix.seriesOffset(ref)
            if w.first == nil { w.first = (labels, at) }
            if labels.isEmpty { add(.emptyLabels, "index", at, text(), "series has no labels") }
            for i in labels.indices.dropFirst() where labels[i - 1].name >= labels[i].name {
                add(.labelOrder, "index", at, text(), "label \((try? ix.symbol(labels[i].name)) ?? "?") is not after \((try? ix.symbol(labels[i - 1].name)) ?? "?")")
            }
            if havePrev {
                let c = Self.compare(prevRefs, labels)
                if c == 0 {
                    add(.duplicateSeries, "index", at, text(), "the same label set as the series before it")
                } else if c > 0 {
                    add(.seriesOrder, "index", at, text(), "series does not sort after \((try? ix.labels(prevRefs).description) ?? "?")")
                }
            }
            prevRefs = labels
            havePrev = true
            if chunks.isEmpty { add(.seriesWithoutChunks, "index", at, text(), "series has no chunks") }
            var last: (meta: ChunkMeta, raw: RawChunk?)? = nil
            for c in chunks {
                w.numChunks += 1
                var raw: RawChunk? = nil
                do {
                    let r = try block.chunks.chunk(c.ref)
                    raw = r
                    if !r.encoding.isKnown {
                        add(.chunkEncoding, block.chunks.segmentNames[c.ref.segment], c.ref.offset, text(),
                            "unknown chunk encoding \(r.encoding.rawValue)")
                    } else if r.encoding != .thanosAggregate, r.dataRange.count >= 2 {
                        w.numSamples += r.storage.withBytes(r.dataRange.lowerBound..<r.dataRange.lowerBound + 2) {
                            UInt64($0[0]) << 8 | UInt64($0[1])
                        }
                    }
                } catch {
                    w.unreadableChunks += 1
                    add(error.kind == .checksum ? .chunkChecksum : .chunkRef, error.file.isEmpty ? "chunks" : error.file,
                        error.offset, text(), error.detail)
                }
                if let l = last, c.minTime <= l.meta.maxTime {
                    let same = c.minTime == l.meta.minTime && c.maxTime == l.meta.maxTime && raw != nil && l.raw != nil
                        && raw!.storage.withBytes(raw!.recordRange) { a in l.raw!.storage.withBytes(l.raw!.recordRange) { a.elementsEqual($0) } }
                    if same {
                        add(.duplicateChunk, "index", at, text(), "chunk [\(c.minTime), \(c.maxTime)] is an exact copy of the one before it")
                    } else {
                        add(.chunkOrder, "index", at, text(),
                            "chunk [\(c.minTime), \(c.maxTime)] starts at or before the previous chunk's end \(l.meta.maxTime)")
                    }
                }
                last = (c, raw)
                if c.minTime == maxt {
                    add(.chunkAtMaxTime, "index", at, text(), "chunk starts exactly at the block's maxTime \(maxt) (Prometheus issue 347)")
                } else if c.minTime < mint || c.maxTime >= maxt {
                    add(.chunkOutsideBlock, "index", at, text(), "chunk [\(c.minTime), \(c.maxTime)] is outside the block [\(mint), \(maxt))")
                }
                if deep, let r = raw, r.encoding.isKnown {
                    if let problem = checkSamples(r, c, &ts, &vs) {
                        add(.chunkSamples, block.chunks.segmentNames[c.ref.segment], c.ref.offset, text(), problem)
                    }
                }
            }
        }
        if havePrev { w.last = prevRefs }
        return w
    }

    /// Label sets compared by symbol reference, pairwise by name then value; a strict
    /// prefix sorts first (Prometheus' labels.Compare on a sorted symbol table).
    static func compare(_ a: [LabelRef], _ b: [LabelRef]) -> Int {
        for i in 0..<min(a.count, b.count) {
            if a[i].name != b[i].name { return a[i].name < b[i].name ? -1 : 1 }
            if a[i].value != b[i].value { return a[i].value < b[i].value ? -1 : 1 }
        }
        return a.count - b.count
    }

    /// Every postings list: CRC (checked by the reader), strictly increasing, pointing at
    /// real series, and holding exactly the series that carry its pair. The table is split
    /// over the cores like the series walk.
    func checkPostings(_ ix: IndexReader, _ series: Set<SeriesRef>, _ pairs: [UInt64: PairTally],
                       _ add: (Finding.Kind, String, Int?, String?, String) -> Void) {
        let n = ix.postingsTableCount
        let slices = max(1, min(parallelism, n / max(1, minSeriesPerSlice)))
        let step = (n + slices - 1) / max(1, slices)
        let results = UnsafeMutableBufferPointer<([Finding], Int)>.allocate(capacity: slices)
        results.initialize(repeating: ([], 0))
        defer { results.deallocate() }
        nonisolated(unsafe) let slots = results
        DispatchQueue.concurrentPerform(iterations: slices) { k in
            let lo = k * step
            slots[k] = checkPostings(ix, lo..<min(n, lo + step), series, pairs)
        }
        var seen = 0
        for k in 0..<slices {
            for f in results[k].0 { add(f.kind, f.file, f.offset, f.series, f.detail) }
            seen += results[k].1
        }
        if ix.version >= 2 && seen < pairs.count {
            add(.postingsMismatch, "index", Int(ix.toc.postingsTable), nil,
                "\(pairs.count - seen) label pair(s) carried by series have no postings list")
        }
    }

    /// One range of the postings offset table; returns its findings and how many walked
    /// label pairs it matched.
    func checkPostings(_ ix: IndexReader, _ entries: Range<Int>, _ series: Set<SeriesRef>,
                       _ pairs: [UInt64: PairTally]) -> ([Finding], Int) {
        var out: [Finding] = []
        func add(_ kind: Finding.Kind, _ offset: Int?, _ detail: String) {
            out.append(Finding(block: "", kind: kind, file: "index", offset: offset, series: nil, detail: detail))
        }
        var seen = 0
        let raw = ix.storage
        // Entries are sorted by name: the name's symbol is looked up once per run of entries.
        var lastName: (Range<Int>, UInt32?)? = nil
        for i in entries {
            let nameRange = ix.postingsNameRange(at: i)
            let valueRange = ix.postingsValueRange(at: i)
            if nameRange.isEmpty && valueRange.isEmpty { continue }  // the all-series list
            func pairText() -> String {
                raw.withBytes(nameRange) { String(decoding: $0, as: UTF8.self) } + "="
                    + raw.withBytes(valueRange) { String(decoding: $0, as: UTF8.self) }
            }
            var tally = PairTally()
            var last: SeriesRef? = nil
            var bad: String? = nil
            do {
                try ix.forEachPosting(at: ix.postingsListOffset(at: i)) { ref in
                    if let l = last, ref <= l, bad == nil { bad = "not strictly increasing at series \(ref)" }
                    if bad == nil, !series.contains(ref) { bad = "names series \(ref), which is not in the index" }
                    last = ref
                    tally.add(ref)
                }
            } catch {
                add(.postings, error.offset, "postings of \(pairText()): \(error.detail)")
                continue
            }
            if let bad { add(.postingsMismatch, ix.postingsListOffset(at: i), "postings of \(pairText()) \(bad)") }
            guard ix.version >= 2 else { continue }
            let nref: UInt32?
            if let (r, ref) = lastName, raw.withBytes(r, { a in raw.withBytes(nameRange) { a.elementsEqual($0) } }) {
                nref = ref
            } else {
                nref = raw.withBytes(nameRange) { ix.symbolRef(of: $0) }
                lastName = (nameRange, nref)
            }
            let vref = raw.withBytes(valueRange) { ix.symbolRef(of: $0) }
            guard let n = nref, let v = vref, let want = pairs[UInt64(n) << 32 | UInt64(v)] else {
                add(.postingsMismatch, ix.postingsListOffset(at: i),
                    "postings of \(pairText()) list \(tally.count) series, but no series carries that label pair")
                continue
            }
            seen += 1
            if want.count != tally.count || want.hash != tally.hash {
                add(.postingsMismatch, ix.postingsListOffset(at: i),
                    "postings of \(pairText()) list \(tally.count) series; \(want.count) series carry the pair (or other ones)")
            }
        }
        return (out, seen)
    }

    /// The Thanos files list (when present) against the block's files.
    func checkFiles(_ block: Block, _ sizes: [String: Int64], _ add: (Finding.Kind, String, Int?, String?, String) -> Void) {
        guard let files = block.meta.thanos?.files, !files.isEmpty else { return }
        var listed = Set<String>()
        for f in files where f.relPath != "meta.json" {
            listed.insert(f.relPath)
            guard let size = sizes[f.relPath] else {
                add(.filesMismatch, f.relPath, nil, nil, "listed in meta.json but missing")
                continue
            }
            if let want = f.sizeBytes, want != size {
                add(.filesMismatch, f.relPath, nil, nil, "\(size) bytes, meta.json lists \(want)")
            }
        }
        for f in block.chunks.segmentNames + ["index"] where !listed.contains(f) {
            add(.filesMismatch, f, nil, nil, "present but not in meta.json's files list")
        }
    }

    /// --deep: decode the chunk; samples must lie exactly on the index's [minTime, maxTime]
    /// and strictly increase. Returns what is wrong, or nil.
    func checkSamples(_ r: RawChunk, _ c: ChunkMeta, _ ts: inout [Int64], _ vs: inout [Double]) -> String? {
        ts.removeAll(keepingCapacity: true)
        vs.removeAll(keepingCapacity: true)
        do {
            try r.withData { (d) throws(TSDBError) in
                let o = r.dataRange.lowerBound
                switch r.encoding {
                case .xor:
                    try XORIterator.decodeAll(d, origin: o, timestamps: &ts, values: &vs)
                case .histogram:
                    var it = try HistogramIterator(d, origin: o)
                    while try it.next() { ts.append(it.timestamp) }
                case .floatHistogram:
                    var it = try FloatHistogramIterator(d, origin: o)
                    while try it.next() { ts.append(it.timestamp) }
                default:
                    // Aggregates: each sub-chunk must decode; their times follow windows,
                    // not the chunk meta, so only order is checked (on the count aggregate).
                    let a = try AggregateChunk(d, origin: o)
                    for (kind, e) in a.present where e.encoding == .xor {
                        var t: [Int64] = [], v: [Double] = []
                        try XORIterator.decodeAll(UnsafeRawBufferPointer(rebasing: d[e.range]), origin: o + e.range.lowerBound,
                                                  timestamps: &t, values: &v)
                        if kind == .count { ts = t }
                    }
                }
            }
        } catch {
            return "does not decode: \(error.kind.rawValue) at \(error.offset): \(error.detail)"
        }
        guard let first = ts.first, let last = ts.last else { return "holds no samples" }
        for i in ts.indices.dropFirst() where ts[i] <= ts[i - 1] {
            return "timestamp \(ts[i]) at sample \(i) does not increase on \(ts[i - 1])"
        }
        if r.encoding != .thanosAggregate && (first != c.minTime || last != c.maxTime) {
            return "samples span [\(first), \(last)], the index says [\(c.minTime), \(c.maxTime)]"
        }
        return nil
    }
}
