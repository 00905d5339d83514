import Dispatch

/// The results of parsing the symbol and postings offset tables, each written by one task.
private final class TablesBox: @unchecked Sendable {
    var symbols: Result<SymbolTable, TSDBError>?
    var postings: Result<PostingsOffsetTable, TSDBError>?
}

/// A series' reference as postings lists store it: in v2 the series entry's offset / 16,
/// in v1 its byte offset.
public typealias SeriesRef = UInt64

/// A label pair of symbol references, as stored in a series entry.
public struct LabelRef: Hashable, Sendable {
    public var name: UInt32
    public var value: UInt32
    public init(name: UInt32, value: UInt32) {
        self.name = name
        self.value = value
    }
}

/// Reads a block index (format v2; v1 read-only). Immutable after `init`, so one reader
/// serves many tasks at once.
///
/// Sections are CRC-checked when they are first parsed (symbols, postings offset table at
/// open; each series entry and postings list when read).
public final class IndexReader: @unchecked Sendable {
    public static let magic: UInt32 = 0xBAAA_D700
    public static let headerSize = 5

    public let storage: ByteStorage
    public let version: Int
    public let toc: TOC
    /// Byte range of the series section.
    public let seriesRange: Range<Int>
    let symbols: SymbolTable
    let postingsTable: PostingsOffsetTable

    public var name: String { storage.name }

    public convenience init(path: String) throws(TSDBError) {
        try self.init(storage: ByteStorage.map(path: path))
    }

    public init(storage: ByteStorage) throws(TSDBError) {
        self.storage = storage
        let b = storage.raw
        let file = storage.name
        do throws(TSDBError) {
            guard b.count >= Self.headerSize else {
                throw TSDBError(.truncated, section: "header", offset: 0, "index of \(b.count) bytes has no header")
            }
            let magic = UInt32(bigEndian: b.loadUnaligned(fromByteOffset: 0, as: UInt32.self))
            guard magic == Self.magic else {
                throw TSDBError(.corrupt, section: "header", offset: 0,
                                "bad magic \(hex32(magic)), want \(hex32(Self.magic))")
            }
            let v = Int(b[4])
            guard (1...3).contains(v) else {
                throw TSDBError(.unsupported, section: "header", offset: 4, "index format version \(v)")
            }
            version = v
            do throws(TSDBError) {
                toc = try TOC(indexBytes: b)
            } catch {
                throw error.located(file: file, section: "TOC")
            }
            let seriesEnd: UInt64
            if toc.hasLabelIndices, toc.labelIndices > toc.series {
                seriesEnd = toc.labelIndices
            } else if toc.labelIndices > toc.series, toc.labelIndices <= toc.postings {
                seriesEnd = toc.labelIndices
            } else {
                seriesEnd = toc.postings
            }
            guard toc.series <= seriesEnd else {
                throw TSDBError(.corrupt, section: "TOC", offset: b.count - TOC.size,
                                "series section starts at \(toc.series) after its end \(seriesEnd)")
            }
            seriesRange = Int(toc.series)..<Int(seriesEnd)
            // The two tables a reader needs up front are independent: parsed (and CRC-checked)
            // side by side when the index is large enough for that to matter.
            let symbolsAt = Int(toc.symbols), postingsAt = Int(toc.postingsTable)
            let parsed = TablesBox()
            let parse: @Sendable (Int) -> Void = { [storage] i in
                if i == 0 {
                    parsed.symbols = Result { () throws(TSDBError) in try SymbolTable(storage.raw, at: symbolsAt, version: v) }
                } else {
                    parsed.postings = Result { () throws(TSDBError) in try PostingsOffsetTable(storage.raw, at: postingsAt, sorted: v >= 2) }
                }
            }
            if b.count >= 4 << 20 {
                DispatchQueue.concurrentPerform(iterations: 2, execute: parse)
            } else {
                parse(0)
                parse(1)
            }
            switch parsed.symbols! {
            case .success(let t): symbols = t
            case .failure(let e): throw e.located(file: file, section: "symbols")
            }
            switch parsed.postings! {
            case .success(let t): postingsTable = t
            case .failure(let e): throw e.located(file: file, section: "postings offset table")
            }
        } catch {
            throw error.located(file: file, section: "index")
        }
    }

    // MARK: Symbols

    public var symbolCount: Int { symbols.count }

    /// The symbol a label reference points at.
    public func symbol(_ ref: UInt32) throws(TSDBError) -> String {
        let r = try symbols.range(of: ref, in: storage.raw)
        return String(decoding: UnsafeRawBufferPointer(rebasing: storage.raw[r]), as: UTF8.self)
    }

    /// Byte range of a symbol in `storage`.
    package func symbolRange(_ ref: UInt32) throws(TSDBError) -> Range<Int> {
        do throws(TSDBError) {
            return try symbols.range(of: ref, in: storage.raw)
        } catch {
            throw error.located(file: name, section: "symbols")
        }
    }

    /// The v2 symbol reference of a string, by binary search over the (sorted) table;
    /// nil when absent or for v1 indexes, whose refs are offsets.
    package func symbolRef(of bytes: UnsafeRawBufferPointer) -> UInt32? {
        guard version >= 2 else { return nil }
        var lo = 0, hi = symbols.count
        let b = storage.raw
        while lo < hi {
            let mid = (lo + hi) / 2
            let c = byteCompare(UnsafeRawBufferPointer(rebasing: b[symbols.rangeAt(index: mid, in: b)]), bytes)
            if c == 0 { return UInt32(mid) }
            if c < 0 { lo = mid + 1 } else { hi = mid }
        }
        return nil
    }

    /// Byte range of the i-th symbol in table order.
    package func symbolBytesRange(index i: Int) -> Range<Int> { symbols.rangeAt(index: i, in: storage.raw) }

    /// The reference a series entry uses for the i-th symbol: i in v2, the entry's offset in v1.
    package func symbolReference(index i: Int) -> UInt32 {
        version >= 2 ? UInt32(i) : UInt32(truncatingIfNeeded: symbols.start + Int(symbols.offsets[i]))
    }

    /// Byte range of the label name of postings offset table entry `i`.
    package func postingsNameRange(at i: Int) -> Range<Int> { postingsTable.nameRange(at: i) }

    // MARK: Series

    /// Byte offset of a series entry for a ref taken from a postings list.
    @inlinable
    public func seriesOffset(_ ref: SeriesRef) -> Int {
        version >= 2 ? Int(truncatingIfNeeded: ref &* 16) : Int(truncatingIfNeeded: ref)
    }

    /// Decodes a series entry into the caller's buffers (cleared first), checking its CRC.
    public func series(
        _ ref: SeriesRef, labels: inout [LabelRef], chunks: inout [ChunkMeta]
    ) throws(TSDBError) {
        labels.removeAll(keepingCapacity: true)
        chunks.removeAll(keepingCapacity: true)
        _ = try appendSeries(ref, labels: &labels, chunks: &chunks)
    }

    /// Decodes a series entry, checking its CRC, and appends its labels and chunk metas to
    /// the caller's buffers; on failure they are left as they were. Returns the offset just
    /// past the entry's CRC.
    ///
    /// The hot path of every series walk: one pass with unchecked loads inside bounds
    /// checked once per varint. Anything unexpected goes to `appendSeriesChecked`, which
    /// reads the entry again with the cursor and throws the located error.
    package func appendSeries(
        _ ref: SeriesRef, labels: inout [LabelRef], chunks: inout [ChunkMeta]
    ) throws(TSDBError) -> Int {
        let off = seriesOffset(ref)
        let limit = seriesRange.upperBound
        let l0 = labels.count, c0 = chunks.count
        if ref < UInt64(Int.max / 16), seriesRange.contains(off), let p = storage.raw.baseAddress {
            var i = off
            if let len = Self.uvarint(p, &i, limit), limit - i >= 4, len <= UInt64(limit - i - 4) {
                let end = i + Int(len)
                let want = UInt32(bigEndian: p.loadUnaligned(fromByteOffset: end, as: UInt32.self))
                if CRC32C.checksum(UnsafeRawBufferPointer(start: p + i, count: Int(len))) == want,
                   Self.decodeEntry(p, i, end, &labels, &chunks) {
                    return end + 4
                }
            }
        }
        labels.removeSubrange(l0...)
        chunks.removeSubrange(c0...)
        return try appendSeriesChecked(ref, labels: &labels, chunks: &chunks)
    }

    /// The entry body `p[i..<end]` (CRC checked): false when it does not decode.
    @inline(__always)
    static func decodeEntry(
        _ p: UnsafeRawPointer, _ start: Int, _ end: Int, _ labels: inout [LabelRef], _ chunks: inout [ChunkMeta]
    ) -> Bool {
        var i = start
        guard let nl = uvarint(p, &i, end), nl <= UInt64((end - i) / 2) else { return false }
        for _ in 0..<Int(nl) {
            guard let n = uvarint(p, &i, end), let v = uvarint(p, &i, end), n <= UInt64(UInt32.max), v <= UInt64(UInt32.max)
            else { return false }
            labels.append(LabelRef(name: UInt32(n), value: UInt32(v)))
        }
        guard let nc = uvarint(p, &i, end), nc <= UInt64((end - i) / 3) else { return false }
        if nc > 0 {
            guard let m = uvarint(p, &i, end), let d = uvarint(p, &i, end), var cref = uvarint(p, &i, end) else { return false }
            var mint = Int64(bitPattern: (m >> 1) ^ (0 &- (m & 1)))
            var maxt = mint &+ Int64(bitPattern: d)
            chunks.append(ChunkMeta(minTime: mint, maxTime: maxt, ref: ChunkRef(cref)))
            for _ in 1..<Int(nc) {
                guard let a = uvarint(p, &i, end), let b = uvarint(p, &i, end), let c = uvarint(p, &i, end) else { return false }
                mint = maxt &+ Int64(bitPattern: a)
                maxt = mint &+ Int64(bitPattern: b)
                cref = UInt64(bitPattern: Int64(bitPattern: cref) &+ Int64(bitPattern: (c >> 1) ^ (0 &- (c & 1))))
                chunks.append(ChunkMeta(minTime: mint, maxTime: maxt, ref: ChunkRef(cref)))
            }
        }
        return i == end
    }

    /// Go's uvarint at `p[i]`, reading no byte at or past `end`; nil when it runs past
    /// `end` or overflows 64 bits.
    @inline(__always)
    static func uvarint(_ p: UnsafeRawPointer, _ i: inout Int, _ end: Int) -> UInt64? {
        guard i < end else { return nil }
        var b = p.load(fromByteOffset: i, as: UInt8.self)
        i &+= 1
        if b < 0x80 { return UInt64(b) }
        var x = UInt64(b & 0x7f)
        var shift: UInt64 = 7
        while i < end {
            b = p.load(fromByteOffset: i, as: UInt8.self)
            i &+= 1
            if b < 0x80 {
                if shift == 63 && b > 1 { return nil }
                return x | UInt64(b) << shift
            }
            x |= UInt64(b & 0x7f) << shift
            shift &+= 7
            if shift > 63 { return nil }
        }
        return nil
    }

    /// `appendSeries` with every read checked and every failure located.
    func appendSeriesChecked(
        _ ref: SeriesRef, labels: inout [LabelRef], chunks: inout [ChunkMeta]
    ) throws(TSDBError) -> Int {
        let off = seriesOffset(ref)
        guard ref < UInt64(Int.max / 16), seriesRange.contains(off) else {
            throw TSDBError(.corrupt, file: name, section: "series", offset: off,
                            "series ref \(ref) points outside the series section \(seriesRange)")
        }
        let b = storage.raw
        let l0 = labels.count, c0 = chunks.count
        do throws(TSDBError) {
            var r = ByteReader(UnsafeRawBufferPointer(rebasing: b[..<seriesRange.upperBound]), position: off)
            let len = try r.readLength("series entry")
            let bodyStart = r.position
            try CRC32C.verify(b, bodyStart..<(bodyStart + len), crcAt: bodyStart + len, origin: 0)
            var e = ByteReader(UnsafeRawBufferPointer(rebasing: b[..<(bodyStart + len)]), position: bodyStart)
            let nl = try e.readUvarint()
            guard nl <= UInt64(e.remaining / 2) else {
                throw TSDBError(.corrupt, offset: bodyStart, "series claims \(nl) labels in \(len) bytes")
            }
            for _ in 0..<Int(nl) {
                let n = try e.readUvarint32()
                let v = try e.readUvarint32()
                labels.append(LabelRef(name: n, value: v))
            }
            let nc = try e.readUvarint()
            guard nc <= UInt64(e.remaining / 3) else {
                throw TSDBError(.corrupt, offset: e.position, "series claims \(nc) chunks in \(e.remaining) bytes")
            }
            if nc > 0 {
                var mint = try e.readVarint()
                var maxt = mint &+ Int64(bitPattern: try e.readUvarint())
                var cref = try e.readUvarint()
                chunks.append(ChunkMeta(minTime: mint, maxTime: maxt, ref: ChunkRef(cref)))
                for _ in 1..<Int(nc) {
                    mint = maxt &+ Int64(bitPattern: try e.readUvarint())
                    maxt = mint &+ Int64(bitPattern: try e.readUvarint())
                    cref = UInt64(bitPattern: Int64(bitPattern: cref) &+ (try e.readVarint()))
                    chunks.append(ChunkMeta(minTime: mint, maxTime: maxt, ref: ChunkRef(cref)))
                }
            }
            guard e.isAtEnd else {
                throw TSDBError(.corrupt, offset: e.position, "\(e.remaining) bytes left over after the series' chunks")
            }
            return bodyStart + len + 4
        } catch {
            labels.removeSubrange(l0...)
            chunks.removeSubrange(c0...)
            throw error.located(file: name, section: "series \(ref)")
        }
    }

    /// Decodes a series' labels as strings.
    public func seriesLabels(_ ref: SeriesRef) throws(TSDBError) -> (Labels, [ChunkMeta]) {
        var lr: [LabelRef] = []
        var cm: [ChunkMeta] = []
        try series(ref, labels: &lr, chunks: &cm)
        return (try labels(lr), cm)
    }

    public func labels(_ refs: [LabelRef]) throws(TSDBError) -> Labels {
        var out: [Label] = []
        out.reserveCapacity(refs.count)
        for l in refs {
            out.append(Label(name: try symbol(l.name), value: try symbol(l.value)))
        }
        return Labels(sortedUnchecked: out)
    }

    // MARK: Postings

    /// Label names that have postings, byte-wise sorted (the all-postings key excluded).
    public var labelNames: [String] { postingsTable.names.filter { !$0.isEmpty } }

    /// The values of a label name, byte-wise sorted.
    public func labelValues(_ name: String) throws(TSDBError) -> [String] {
        guard let r = postingsTable.entries(for: name) else { return [] }
        var out: [String] = []
        out.reserveCapacity(r.count)
        for i in r {
            out.append(postingsTable.value(at: i, in: storage.raw))
        }
        return out
    }

    /// Number of distinct values and their summed byte length, without making strings.
    public func labelValueStats(_ name: String) -> (count: Int, bytes: Int) {
        guard let r = postingsTable.entries(for: name) else { return (0, 0) }
        var total = 0
        for i in r { total += postingsTable.valueRange(at: i).count }
        return (r.count, total)
    }

    /// Index range into the postings offset table for `name` (for callers that walk values).
    package func postingsEntries(for name: String) -> Range<Int>? { postingsTable.entries(for: name) }
    package func postingsValueRange(at i: Int) -> Range<Int> { postingsTable.valueRange(at: i) }
    package func postingsListOffset(at i: Int) -> Int { Int(postingsTable.entries[i].offset) }
    package var postingsTableCount: Int { postingsTable.entries.count }

    /// The series refs of one label pair; empty when the pair does not exist.
    public func postings(name: String, value: String) throws(TSDBError) -> [SeriesRef] {
        guard let i = postingsTable.find(name: name, value: value, in: storage.raw) else { return [] }
        return try postingsList(at: Int(postingsTable.entries[i].offset))
    }

    /// Every series ref, in index (= label) order.
    public func allPostings() throws(TSDBError) -> [SeriesRef] {
        try postings(name: "", value: "")
    }

    /// Decodes the postings list starting at `offset` (its length field), checking its CRC.
    public func postingsList(at offset: Int) throws(TSDBError) -> [SeriesRef] {
        var out: [SeriesRef] = []
        try forEachPosting(at: offset) { out.reserveCapacity($0) } each: { out.append($0) }
        return out
    }

    package func forEachPosting(
        at offset: Int, count: (Int) -> Void = { _ in }, each: (SeriesRef) -> Void
    ) throws(TSDBError) {
        let (start, n) = try postingsListBody(at: offset)
        count(n)
        let b = storage.raw
        var p = start
        for _ in 0..<n {
            each(SeriesRef(UInt32(bigEndian: b.loadUnaligned(fromByteOffset: p, as: UInt32.self))))
            p += 4
        }
    }

    /// Checks the postings list at `offset` (length, CRC, entry count) and returns where
    /// its big-endian 32-bit refs start and how many there are.
    package func postingsListBody(at offset: Int) throws(TSDBError) -> (start: Int, count: Int) {
        let b = storage.raw
        do throws(TSDBError) {
            var r = ByteReader(b, position: offset)
            let len = Int(try r.readBE32())
            let start = r.position
            guard len >= 4, len <= r.remaining - 4 else {
                throw TSDBError(.truncated, offset: offset, "postings list of \(len) bytes does not fit")
            }
            try CRC32C.verify(b, start..<(start + len), crcAt: start + len, origin: 0)
            let n = Int(try r.readBE32())
            guard n == (len - 4) / 4, (len - 4) % 4 == 0 else {
                throw TSDBError(.corrupt, offset: offset, "postings list claims \(n) entries in \(len - 4) bytes")
            }
            return (r.position, n)
        } catch {
            throw error.located(file: name, section: "postings")
        }
    }

    // MARK: Legacy label indices

    /// The label offset table of 2.x writers: label name -> offset of its label index.
    /// Empty when the index has none (Prometheus >= 3.7).
    public func labelIndexTable() throws(TSDBError) -> [(name: String, offset: UInt64)] {
        guard toc.hasLabelIndices else { return [] }
        let b = storage.raw
        var out: [(String, UInt64)] = []
        do throws(TSDBError) {
            var r = ByteReader(b, position: Int(toc.labelIndicesTable))
            let len = Int(try r.readBE32())
            let start = r.position
            guard len >= 4, len <= r.remaining - 4 else {
                throw TSDBError(.truncated, offset: start - 4, "label offset table of \(len) bytes does not fit")
            }
            try CRC32C.verify(b, start..<(start + len), crcAt: start + len, origin: 0)
            var e = ByteReader(UnsafeRawBufferPointer(rebasing: b[..<(start + len)]), position: start)
            let n = try e.readBE32()
            for _ in 0..<n {
                let keys = try e.readUvarint()
                guard keys == 1 else {
                    throw TSDBError(.unsupported, offset: e.position, "label index over \(keys) names")
                }
                let sl = try e.readLength("label name")
                let s = try e.readBytes(sl)
                let o = try e.readUvarint()
                out.append((String(decoding: s, as: UTF8.self), o))
            }
        } catch {
            throw error.located(file: name, section: "label offset table")
        }
        return out
    }

    /// The symbol refs of the values in one legacy label index.
    public func labelIndexValues(at offset: UInt64) throws(TSDBError) -> [UInt32] {
        let b = storage.raw
        do throws(TSDBError) {
            guard offset < UInt64(b.count) else {
                throw TSDBError(.corrupt, offset: Int(clamping: offset), "label index offset outside the file")
            }
            var r = ByteReader(b, position: Int(offset))
            let len = Int(try r.readBE32())
            let start = r.position
            guard len >= 8, len <= r.remaining - 4 else {
                throw TSDBError(.truncated, offset: Int(offset), "label index of \(len) bytes does not fit")
            }
            try CRC32C.verify(b, start..<(start + len), crcAt: start + len, origin: 0)
            let names = try r.readBE32()
            let entries = try r.readBE32()
            guard names == 1, Int(entries) * 4 == len - 8 else {
                throw TSDBError(.corrupt, offset: Int(offset), "label index of \(names) names, \(entries) entries in \(len) bytes")
            }
            var out: [UInt32] = []
            out.reserveCapacity(Int(entries))
            for _ in 0..<entries { out.append(try r.readBE32()) }
            return out
        } catch {
            throw error.located(file: name, section: "label index")
        }
    }
}
