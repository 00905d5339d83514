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
        var offs: [UInt32] = []
        offs.reserveCapacity(n)
        for _ in 0..<n {
            offs.append(UInt32(truncatingIfNeeded: e.position - start))
            let l = try e.readLength("symbol")
            try e.skip(l)
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

    func rangeAt(index i: Int, in b: UnsafeRawBufferPointer) -> Range<Int> {
        // Entries were validated at open.
        var r = ByteReader(UnsafeRawBufferPointer(rebasing: b[..<entriesEnd]), position: start + Int(offsets[i]))
        let l = (try? r.readLength("symbol")) ?? 0
        return r.position..<(r.position + l)
    }
}

/// The postings offset table: (name, value) -> offset of its postings list, byte-wise
/// sorted by name then value (v1 writers left it unsorted; it is sorted on load).
struct PostingsOffsetTable {
    /// Per entry, the offsets of its name's and value's length prefixes in the file.
    var nameOffsets: [Int] = []
    var valueOffsets: [Int] = []
    /// Per entry, the offset of its postings list.
    var offsets: [UInt64] = []
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
        nameOffsets.reserveCapacity(n)
        valueOffsets.reserveCapacity(n)
        offsets.reserveCapacity(n)
        for _ in 0..<n {
            let entry = e.position
            let keys = try e.readUvarint()
            guard keys == 2 else {
                throw TSDBError(.corrupt, offset: entry, "postings offset entry with \(keys) keys, want 2")
            }
            nameOffsets.append(e.position)
            try e.skip(try e.readLength("label name"))
            valueOffsets.append(e.position)
            try e.skip(try e.readLength("label value"))
            let o = try e.readUvarint()
            guard o < UInt64(b.count) else {
                throw TSDBError(.corrupt, offset: entry, "postings offset \(o) beyond the file")
            }
            offsets.append(o)
        }
        func str(_ at: Int) -> UnsafeRawBufferPointer {
            var rr = ByteReader(b, position: at)
            let l = (try? rr.readLength("string")) ?? 0
            return UnsafeRawBufferPointer(rebasing: b[rr.position..<(rr.position + l)])
        }
        if !sorted {
            let order = (0..<n).sorted { i, j in
                let (ni, nj) = (str(nameOffsets[i]), str(nameOffsets[j]))
                if !ni.elementsEqual(nj) { return ni.lexicographicallyPrecedes(nj) }
                return str(valueOffsets[i]).lexicographicallyPrecedes(str(valueOffsets[j]))
            }
            nameOffsets = order.map { nameOffsets[$0] }
            valueOffsets = order.map { valueOffsets[$0] }
            offsets = order.map { offsets[$0] }
        }
        var i = 0
        while i < n {
            let name = str(nameOffsets[i])
            var j = i + 1
            while j < n, str(nameOffsets[j]).elementsEqual(name) { j += 1 }
            let s = String(decoding: name, as: UTF8.self)
            names.append(s)
            ranges[s] = i..<j
            i = j
        }
    }

    func entries(for name: String) -> Range<Int>? { ranges[name] }

    func valueRange(at i: Int, in b: UnsafeRawBufferPointer) -> Range<Int> {
        var r = ByteReader(b, position: valueOffsets[i])
        let l = (try? r.readLength("label value")) ?? 0
        return r.position..<(r.position + l)
    }

    func nameRange(at i: Int, in b: UnsafeRawBufferPointer) -> Range<Int> {
        var r = ByteReader(b, position: nameOffsets[i])
        let l = (try? r.readLength("label name")) ?? 0
        return r.position..<(r.position + l)
    }

    func value(at i: Int, in b: UnsafeRawBufferPointer) -> String {
        String(decoding: UnsafeRawBufferPointer(rebasing: b[valueRange(at: i, in: b)]), as: UTF8.self)
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
                let got = UnsafeRawBufferPointer(rebasing: b[valueRange(at: mid, in: b)])
                if got.lexicographicallyPrecedes(want) { lo = mid + 1 } else { hi = mid }
            }
            if lo < r.upperBound, UnsafeRawBufferPointer(rebasing: b[valueRange(at: lo, in: b)]).elementsEqual(want) {
                return lo
            }
            return nil
        }
    }
}
