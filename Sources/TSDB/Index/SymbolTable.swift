/// The symbol section: every label name and value once, byte-wise sorted.
///
/// v2 references a symbol by its ordinal; v1 by the absolute offset of its entry. For v2
/// the table keeps the offset of every entry (4 bytes per symbol) so lookups are O(1).
struct SymbolTable {
    let version: Int
    /// Section start (its length field) and end of entries.
    let start: Int
    let entriesEnd: Int
    /// v2: offset of each entry's length prefix, relative to `start`.
    let offsets: [UInt32]
    let count: Int

    init(_ b: UnsafeRawBufferPointer, at start: Int, version: Int) throws(TSDBError) {
        self.version = version
        self.start = start
        var r = ByteReader(b, position: start)
        let len = Int(try r.readBE32())
        let body = r.position
        guard len >= 4, len <= r.remaining - 4 else {
            throw TSDBError(.truncated, offset: start, "symbol table of \(len) bytes does not fit in the file")
        }
        try CRC32C.verify(b, body..<(body + len), crcAt: body + len, origin: 0)
        entriesEnd = body + len
        var e = ByteReader(UnsafeRawBufferPointer(rebasing: b[..<entriesEnd]), position: body)
        let n = Int(try e.readBE32())
        guard n <= e.remaining else {
            throw TSDBError(.corrupt, offset: body, "symbol table claims \(n) symbols in \(len) bytes")
        }
        count = n
        // One pass with unchecked loads (bounds checked per length); on anything odd, the
        // cursor reads the table again to say what and where.
        var offs = [UInt32](repeating: 0, count: n)
        let first = e.position, end = body + len, base = start
        let fast = offs.withUnsafeMutableBufferPointer { o -> Bool in
            guard let p = b.baseAddress else { return n == 0 }
            var i = first
            for k in 0..<n {
                o[k] = UInt32(truncatingIfNeeded: i - base)
                guard let l = IndexReader.uvarint(p, &i, end), l <= UInt64(end - i) else { return false }
                i += Int(l)
            }
            return true
        }
        if !fast {
            for k in 0..<n {
                offs[k] = UInt32(truncatingIfNeeded: e.position - start)
                let l = try e.readLength("symbol")
                try e.skip(l)
            }
        }
        offsets = offs
    }

    /// Range of the symbol's bytes for a reference from a series entry or label index.
    @inline(__always)
    func range(of ref: UInt32, in b: UnsafeRawBufferPointer) throws(TSDBError) -> Range<Int> {
        let at: Int
        if version >= 2 {
            guard Int(ref) < count else {
                throw TSDBError(.corrupt, offset: start, "symbol ref \(ref) beyond the \(count) symbols")
            }
            at = start + Int(offsets[Int(ref)])
        } else {
            at = Int(ref)
            guard at >= start + 8, at < entriesEnd else {
                throw TSDBError(.corrupt, offset: at, "v1 symbol ref \(ref) outside the symbol table")
            }
        }
        var r = ByteReader(UnsafeRawBufferPointer(rebasing: b[..<entriesEnd]), position: at)
        let l = try r.readLength("symbol")
        return r.position..<(r.position + l)
    }

    @inline(__always)
    func rangeAt(index i: Int, in b: UnsafeRawBufferPointer) -> Range<Int> {
        // Entries were validated at open.
        var at = start + Int(offsets[i])
        let l = IndexReader.uvarint(b.baseAddress!, &at, entriesEnd) ?? 0
        return at..<(at + Int(l))
    }
}

/// The postings offset table: (name, value) -> offset of its postings list, byte-wise
/// sorted by name then value (v1 writers left it unsorted; it is sorted on load).
struct PostingsOffsetTable {
    /// One entry: where its name's and value's bytes are in the file, and the offset of
    /// its postings list.
    struct Entry {
        var nameStart: Int
        var valueStart: Int
        var offset: UInt64
        var nameLength: UInt32
        var valueLength: UInt32

        var nameRange: Range<Int> { nameStart..<(nameStart + Int(nameLength)) }
        var valueRange: Range<Int> { valueStart..<(valueStart + Int(valueLength)) }
    }

    /// In table order (byte-wise by name, then value).
    var entries: [Entry] = []
    /// Label names in byte-wise order; the all-postings key is "".
    var names: [String] = []
    /// name -> range of entries.
    var ranges: [String: Range<Int>] = [:]

    init(_ b: UnsafeRawBufferPointer, at start: Int, sorted: Bool) throws(TSDBError) {
        var r = ByteReader(b, position: start)
        let len = Int(try r.readBE32())
        let body = r.position
        guard len >= 4, len <= r.remaining - 4 else {
            throw TSDBError(.truncated, offset: start, "postings offset table of \(len) bytes does not fit")
        }
        try CRC32C.verify(b, body..<(body + len), crcAt: body + len, origin: 0)
        var e = ByteReader(UnsafeRawBufferPointer(rebasing: b[..<(body + len)]), position: body)
        let n = Int(try e.readBE32())
        guard n <= e.remaining / 4 else {
            throw TSDBError(.corrupt, offset: body, "postings offset table claims \(n) entries in \(len) bytes")
        }
        // One pass with unchecked loads (bounds checked per field), as for the symbols; on
        // anything odd, the cursor reads the table again to say what and where.
        if let fast = Self.scan(b, from: e.position, to: body + len, count: n) {
            entries = fast
        } else {
            entries = try Self.readChecked(&e, b, count: n)
        }
        if !sorted {
            entries.sort { x, y in
                let c = byteCompare(Self.bytes(b, x.nameRange), Self.bytes(b, y.nameRange))
                return c != 0 ? c < 0 : byteCompare(Self.bytes(b, x.valueRange), Self.bytes(b, y.valueRange)) < 0
            }
        }
        // Group by name: the same name has the same length, then the same bytes.
        var i = 0
        while i < n {
            let first = entries[i]
            var j = i + 1
            while j < n, entries[j].nameLength == first.nameLength,
                  first.nameLength == 0
                  || memcmpBytes(b.baseAddress! + entries[j].nameStart, b.baseAddress! + first.nameStart, Int(first.nameLength)) == 0 {
                j += 1
            }
            let s = String(decoding: Self.bytes(b, first.nameRange), as: UTF8.self)
            names.append(s)
            ranges[s] = i..<j
            i = j
        }
    }

    static func bytes(_ b: UnsafeRawBufferPointer, _ r: Range<Int>) -> UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: b[r]) }

    /// The entries, or nil where one does not read cleanly (then `readChecked` says why).
    static func scan(_ b: UnsafeRawBufferPointer, from start: Int, to end: Int, count n: Int) -> [Entry]? {
        guard let p = b.baseAddress else { return n == 0 ? [] : nil }
        let size = UInt64(b.count)
        var failed = false
        let out = [Entry](unsafeUninitializedCapacity: n) { out, initialized in
            var i = start
            for k in 0..<n {
                guard IndexReader.uvarint(p, &i, end) == 2,
                      let nl = IndexReader.uvarint(p, &i, end), nl <= UInt64(end - i) else { failed = true; return }
                let nameStart = i
                i += Int(nl)
                guard let vl = IndexReader.uvarint(p, &i, end), vl <= UInt64(end - i) else { failed = true; return }
                let valueStart = i
                i += Int(vl)
                guard let o = IndexReader.uvarint(p, &i, end), o < size else { failed = true; return }
                out.initializeElement(at: k, to: Entry(nameStart: nameStart, valueStart: valueStart, offset: o,
                                                       nameLength: UInt32(nl), valueLength: UInt32(vl)))
                initialized = k + 1
            }
        }
        return failed ? nil : out
    }

    /// Reads the entries with every field checked, throwing the first problem with its offset.
    static func readChecked(_ e: inout ByteReader, _ b: UnsafeRawBufferPointer, count n: Int) throws(TSDBError) -> [Entry] {
        var out: [Entry] = []
        out.reserveCapacity(n)
        for _ in 0..<n {
            let entry = e.position
            let keys = try e.readUvarint()
            guard keys == 2 else {
                throw TSDBError(.corrupt, offset: entry, "postings offset entry with \(keys) keys, want 2")
            }
            let nl = try e.readLength("label name")
            let nameStart = e.position
            try e.skip(nl)
            let vl = try e.readLength("label value")
            let valueStart = e.position
            try e.skip(vl)
            let o = try e.readUvarint()
            guard o < UInt64(b.count) else {
                throw TSDBError(.corrupt, offset: entry, "postings offset \(o) beyond the file")
            }
            out.append(Entry(nameStart: nameStart, valueStart: valueStart, offset: o, nameLength: UInt32(nl), valueLength: UInt32(vl)))
        }
        return out
    }

    func entries(for name: String) -> Range<Int>? { ranges[name] }

    @inline(__always)
    func valueRange(at i: Int) -> Range<Int> { entries[i].valueRange }

    @inline(__always)
    func nameRange(at i: Int) -> Range<Int> { entries[i].nameRange }

    func name(_ i: Int, in b: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: b[nameRange(at: i)]) }

    func value(at i: Int, in b: UnsafeRawBufferPointer) -> String {
        String(decoding: UnsafeRawBufferPointer(rebasing: b[valueRange(at: i)]), as: UTF8.self)
    }

    /// Binary search (values are byte-wise sorted within a name).
    func find(name: String, value: String, in b: UnsafeRawBufferPointer) -> Int? {
        guard let r = ranges[name] else { return nil }
        var v = value
        return v.withUTF8 { want -> Int? in
            let want = UnsafeRawBufferPointer(want)
            var lo = r.lowerBound
            var hi = r.upperBound
            while lo < hi {
                let mid = (lo + hi) / 2
                let got = UnsafeRawBufferPointer(rebasing: b[valueRange(at: mid)])
                if got.lexicographicallyPrecedes(want) { lo = mid + 1 } else { hi = mid }
            }
            if lo < r.upperBound, UnsafeRawBufferPointer(rebasing: b[valueRange(at: lo)]).elementsEqual(want) {
                return lo
            }
            return nil
        }
    }
}
