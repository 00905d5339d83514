/// Writes an index file in format v2, laid out as Prometheus 2.x writes it (docs/format/index.md):
/// header, symbol table, 16-byte aligned series, label indices, postings, label offset
/// table, postings offset table, TOC.
///
/// Symbols are given up front (they precede the series). Series are added in label order,
/// each with its chunk metas; postings are gathered while series are added and written by
/// `finish()`. Memory is one postings entry (4 bytes) per label of every series, plus one
/// list per distinct label pair.
public final class IndexWriter {
    public let path: String
    let out: FileOutput
    let symbols: SymbolSet
    var toc = TOC(symbols: 0, series: 0, labelIndices: 0, labelIndicesTable: 0, postings: 0, postingsTable: 0)
    var buf = ByteWriter(capacity: 4096)
    var entry = ByteWriter(capacity: 4096)

    var last: [LabelRef] = []
    var lastChunkRef: UInt64 = 0
    var seriesIDs: [UInt32] = []
    /// Label pair (name ref << 32 | value ref) -> slot in `lists`.
    var slots: [UInt64: Int] = [:]
    var lists: [[UInt32]] = []
    var previousSeriesStart: Int?

    /// Thanos' approximate index stats (`GatherIndexHealthStats`): the largest distance
    /// between consecutive series entries, and between consecutive chunks of a series in one
    /// segment (Thanos skips each series' last two chunks there; so does this).
    public private(set) var seriesMaxSize: Int64 = 0
    public private(set) var chunkMaxSize: Int64 = 0
    public private(set) var numSeries = 0
    public private(set) var numChunks = 0

    public init(path: String, symbols: SymbolSet) throws(TSDBError) {
        self.path = path
        self.symbols = symbols
        out = try FileOutput(path: path)
        do throws(TSDBError) {
            buf.putBE32(IndexReader.magic)
            buf.putByte(2)
            try out.write(buf.bytes)
            try writeSymbols()
        } catch {
            out.discard()
            throw error
        }
    }

    private func fail(_ kind: TSDBError.Kind, _ section: String, _ detail: String) -> TSDBError {
        TSDBError(kind, file: path, section: section, offset: out.position, detail)
    }

    private func writeSymbols() throws(TSDBError) {
        toc.symbols = UInt64(out.position)
        let lenAt = out.position
        try out.write([0, 0, 0, 0])  // length, patched below
        var crc: UInt32 = 0
        buf.reset()
        buf.putBE32(UInt32(symbols.count))
        for i in 0..<symbols.count {
            symbols.withSymbol(i) { buf.putUvarintBytes($0) }
            if buf.count >= 1 << 16 {
                crc = buf.bytes.withUnsafeBytes { CRC32C.extend(crc, $0) }
                try out.write(buf.bytes)
                buf.reset()
            }
        }
        crc = buf.bytes.withUnsafeBytes { CRC32C.extend(crc, $0) }
        try out.write(buf.bytes)
        let len = out.position - lenAt - 4
        guard len <= Int(UInt32.max) else { throw fail(.unsupported, "symbols", "symbol table of \(len) bytes exceeds 4 GiB") }
        var l = ByteWriter(capacity: 4)
        l.putBE32(UInt32(len))
        try out.write(l.bytes, at: lenAt)
        buf.reset()
        buf.putBE32(crc)
        try out.write(buf.bytes)
        toc.series = UInt64(out.position)
    }

    /// Adds the next series. `labels` are references into the symbol set, sorted by name;
    /// the series must sort after the previous one; chunks must be in time order without
    /// overlap and their refs must not decrease across the file.
    public func addSeries(_ labels: [LabelRef], chunks: [ChunkMeta]) throws(TSDBError) {
        guard !labels.isEmpty else { throw fail(.corrupt, "series", "a series without labels cannot be written") }
        for (i, l) in labels.enumerated() {
            guard Int(l.name) < symbols.count, Int(l.value) < symbols.count else {
                throw fail(.corrupt, "series", "label reference outside the symbol table of \(symbols.count)")
            }
            if i > 0 && labels[i - 1].name >= l.name {
                throw fail(.corrupt, "series", "labels of \(symbols.labels(labels)) are not sorted by name")
            }
        }
        if numSeries > 0 && compareLabelRefs(last, labels) >= 0 {
            throw fail(.corrupt, "series", "series \(symbols.labels(labels)) does not sort after \(symbols.labels(last))")
        }
        for (i, c) in chunks.enumerated() {
            if c.maxTime < c.minTime || (i > 0 && c.minTime <= chunks[i - 1].maxTime) || c.ref.rawValue < lastChunkRef {
                throw fail(.corrupt, "series", "chunks of \(symbols.labels(labels)) overlap, are out of order or go back in the file")
            }
            lastChunkRef = c.ref.rawValue
        }
        try out.pad(to: 16)
        let start = out.position
        guard start / 16 <= Int(UInt32.max) else {
            throw fail(.unsupported, "series", "index exceeds 64 GiB: series references no longer fit 32 bits")
        }
        if let p = previousSeriesStart { seriesMaxSize = max(seriesMaxSize, Int64(start - p)) }
        previousSeriesStart = start
        let id = UInt32(start / 16)

        entry.reset()
        entry.putUvarint(UInt64(labels.count))
        for l in labels {
            entry.putUvarint(UInt64(l.name))
            entry.putUvarint(UInt64(l.value))
            let key = UInt64(l.name) << 32 | UInt64(l.value)
            if let s = slots[key] {
                lists[s].append(id)
            } else {
                slots[key] = lists.count
                lists.append([id])
            }
        }
        entry.putUvarint(UInt64(chunks.count))
        if let c0 = chunks.first {
            entry.putVarint(c0.minTime)
            entry.putUvarint(UInt64(bitPattern: c0.maxTime &- c0.minTime))
            entry.putUvarint(c0.ref.rawValue)
            var prev = c0
            for c in chunks.dropFirst() {
                entry.putUvarint(UInt64(bitPattern: c.minTime &- prev.maxTime))
                entry.putUvarint(UInt64(bitPattern: c.maxTime &- c.minTime))
                entry.putVarint(Int64(bitPattern: c.ref.rawValue &- prev.ref.rawValue))
                prev = c
            }
        }
        if chunks.count > 2 {
            for i in 0..<(chunks.count - 2) where chunks[i].ref.segment == chunks[i + 1].ref.segment {
                chunkMaxSize = max(chunkMaxSize, Int64(chunks[i + 1].ref.offset - chunks[i].ref.offset))
            }
        }
        buf.reset()
        buf.putUvarint(UInt64(entry.count))
        try out.write(buf.bytes)
        entry.putCRC(from: 0)
        try out.write(entry.bytes)

        seriesIDs.append(id)
        last = labels
        numSeries += 1
        numChunks += chunks.count
    }

    /// Writes label indices, postings, the two offset tables and the TOC, and closes the file.
    public func finish() throws(TSDBError) {
        do throws(TSDBError) {
            toc.labelIndices = UInt64(out.position)
            let pairs = slots.keys.sorted()
            // Runs of pairs with the same name, in name order (references sort as the strings).
            var runs: [Range<Int>] = []
            var i = 0
            while i < pairs.count {
                var j = i + 1
                while j < pairs.count && pairs[j] >> 32 == pairs[i] >> 32 { j += 1 }
                runs.append(i..<j)
                i = j
            }
            var labelIndexOffsets: [Int] = []
            for r in runs {
                try out.pad(to: 4)
                labelIndexOffsets.append(out.position)
                buf.reset()
                buf.putBE32(UInt32(8 + 4 * r.count))
                buf.putBE32(1)
                buf.putBE32(UInt32(r.count))
                for k in r { buf.putBE32(UInt32(truncatingIfNeeded: pairs[k])) }
                buf.putCRC(from: 4)
                try out.write(buf.bytes)
            }

            toc.postings = UInt64(out.position)
            var postingsOffsets: [Int] = []
            postingsOffsets.reserveCapacity(pairs.count + 1)
            postingsOffsets.append(try writePostings(seriesIDs))
            for key in pairs { postingsOffsets.append(try writePostings(lists[slots[key]!])) }

            toc.labelIndicesTable = UInt64(out.position)
            try writeTable { (b: inout ByteWriter) in
                b.putBE32(UInt32(runs.count))
                for (n, r) in runs.enumerated() {
                    b.putUvarint(1)
                    symbols.withSymbol(Int(pairs[r.lowerBound] >> 32)) { b.putUvarintBytes($0) }
                    b.putUvarint(UInt64(labelIndexOffsets[n]))
                }
            }

            toc.postingsTable = UInt64(out.position)
            try writeTable { (b: inout ByteWriter) in
                b.putBE32(UInt32(pairs.count + 1))
                b.putUvarint(2)
                b.putUvarint(0)
                b.putUvarint(0)
                b.putUvarint(UInt64(postingsOffsets[0]))
                for (k, key) in pairs.enumerated() {
                    b.putUvarint(2)
                    symbols.withSymbol(Int(key >> 32)) { b.putUvarintBytes($0) }
                    symbols.withSymbol(Int(key & 0xFFFF_FFFF)) { b.putUvarintBytes($0) }
                    b.putUvarint(UInt64(postingsOffsets[k + 1]))
                }
            }

            buf.reset()
            for v in [toc.symbols, toc.series, toc.labelIndices, toc.labelIndicesTable, toc.postings, toc.postingsTable] {
                buf.putBE64(v)
            }
            buf.putCRC(from: 0)
            try out.write(buf.bytes)
            try out.close()
        } catch {
            out.discard()
            throw error
        }
    }

    /// One postings list (4-byte aligned); returns its offset.
    private func writePostings(_ ids: [UInt32]) throws(TSDBError) -> Int {
        try out.pad(to: 4)
        let at = out.position
        guard ids.count <= (Int(UInt32.max) - 4) / 4 else { throw fail(.unsupported, "postings", "postings list too long") }
        buf.reset()
        buf.putBE32(UInt32(4 + 4 * ids.count))
        buf.putBE32(UInt32(ids.count))
        for id in ids { buf.putBE32(id) }
        buf.putCRC(from: 4)
        try out.write(buf.bytes)
        return at
    }

    /// A `len | body | CRC(body)` table whose body `fill` writes.
    private func writeTable(_ fill: (inout ByteWriter) -> Void) throws(TSDBError) {
        buf.reset()
        buf.putBE32(0)
        fill(&buf)
        let len = buf.count - 4
        guard len <= Int(UInt32.max) else { throw fail(.unsupported, "offset table", "table of \(len) bytes exceeds 4 GiB") }
        buf.bytes.withUnsafeMutableBytes { p in p.storeBytes(of: UInt32(len).bigEndian, toByteOffset: 0, as: UInt32.self) }
        buf.putCRC(from: 4)
        try out.write(buf.bytes)
    }

    /// Abandons the file.
    public func discard() { out.discard() }
}

/// Label sets as symbol references into one sorted symbol table, compared pairwise by
/// name then value; a strict prefix sorts first (Prometheus' labels.Compare).
@inlinable
public func compareLabelRefs(_ a: [LabelRef], _ b: [LabelRef]) -> Int {
    let n = min(a.count, b.count)
    var i = 0
    while i < n {
        if a[i].name != b[i].name { return a[i].name < b[i].name ? -1 : 1 }
        if a[i].value != b[i].value { return a[i].value < b[i].value ? -1 : 1 }
        i += 1
    }
    return a.count - b.count
}
