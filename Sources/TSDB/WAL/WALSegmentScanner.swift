/// One record as the fragments carry it: still compressed, reassembled if it spanned pages.
public struct WALRawRecord: Sendable {
    /// Offset of the record's first fragment header in its segment file.
    public var offset: Int
    public var compression: WALCompression
    /// The stored bytes (a single fragment's payload is not copied).
    public var payload: Payload
    public var fragments: Int
    /// Offset just after the record's last fragment.
    public var endOffset: Int

    public enum Payload: Sendable {
        /// Bytes `range` of the segment's storage.
        case span(ByteStorage, Range<Int>)
        case assembled([UInt8])
    }

    public func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws(TSDBError) -> R) throws(TSDBError) -> R {
        switch payload {
        case .span(let storage, let range): return try storage.withBytes(range, body)
        case .assembled(let bytes): return try withTypedBytes(bytes, body)
        }
    }
}

/// Reads the pages of one segment file and hands out its records, damage, and a cut-off end.
///
/// Corruption never stops the scan: a fragment with a bad CRC is skipped on its own (its
/// header said how long it is), a fragment whose header is impossible sends the scan to the
/// next page, and fragments that continue a record whose start was lost are skipped. Damage
/// found in a row, with no good record between, is reported once.
public struct WALSegmentScanner {
    public enum Event: Sendable {
        case record(WALRawRecord)
        case damage(WALDamage)
        /// The file ends inside a record (or inside a fragment) starting at this offset.
        case cutOff(offset: Int, detail: String)
    }

    let storage: ByteStorage
    let file: String
    public private(set) var position = 0
    private var partial: Partial?
    private var openDamage: WALDamage?
    private var pending: [Event] = []
    private var finished = false

    private struct Partial {
        var offset: Int
        var flags: UInt8
        var bytes: [UInt8]
        var fragments: Int
    }

    /// Reads `storage` as the segment `file`; `end` reads only the first `end` bytes, as if the
    /// file stopped there.
    public init(storage: ByteStorage, file: String, end: Int? = nil) {
        self.storage = storage
        self.file = file
        self.count = min(end ?? storage.count, storage.count)
    }

    public mutating func next() -> Event? {
        if !pending.isEmpty { return pending.removeFirst() }
        if finished { return nil }
        while true {
            if let e = step() { return e }
            if !pending.isEmpty { return pending.removeFirst() }
            if finished { return nil }
        }
    }

    /// Where the segment ends.
    let count: Int

    /// Advances over one fragment or padding run; returns an event when one is ready.
    private mutating func step() -> Event? {
        let page = WALFormat.pageSize
        if position >= count {
            finished = true
            if let p = partial {
                partial = nil
                emitDamageIfOpen()
                pending.append(.cutOff(offset: p.offset, detail: "the file ends after \(p.fragments) fragment(s) of a record, before its last fragment"))
            } else {
                emitDamageIfOpen()
            }
            return nil
        }
        let pageEnd = (position / page + 1) * page
        let raw = storage.raw
        let start = position
        if pageEnd - start < WALFormat.fragmentHeaderSize || raw[start] == 0 {
            let end = min(pageEnd, count)
            if let bad = firstNonZero(raw, start..<end) {
                damage(at: start, resume: end, TSDBError(.corrupt, offset: bad, "non-zero byte 0x\(hex8(raw[bad])) in the zero padding of a page"),
                       fragments: 0, dropsPartial: true)
            }
            position = end
            return nil
        }
        let type = raw[start]
        let kindBits = type & WALFormat.kindMask
        let flags = type & ~WALFormat.kindMask
        guard let kind = WALFragmentKind(rawValue: kindBits), kindBits != 0,
              flags & WALFormat.unknownFlags == 0,
              flags != WALFormat.snappyFlag | WALFormat.zstdFlag
        else {
            damage(at: start, resume: min(pageEnd, count),
                   TSDBError(.corrupt, offset: start, "unknown fragment type byte 0x\(hex8(type))"),
                   fragments: 0, dropsPartial: true)
            position = min(pageEnd, count)
            return nil
        }
        if start + WALFormat.fragmentHeaderSize > count {
            return cutOff(at: start, "the file ends inside a fragment header")
        }
        let length = Int(raw[start + 1]) << 8 | Int(raw[start + 2])
        let stored = UInt32(raw[start + 3]) << 24 | UInt32(raw[start + 4]) << 16 | UInt32(raw[start + 5]) << 8 | UInt32(raw[start + 6])
        let dataStart = start + WALFormat.fragmentHeaderSize
        let end = dataStart + length
        if end > pageEnd {
            damage(at: start, resume: min(pageEnd, count),
                   TSDBError(.corrupt, offset: start, "fragment of \(length) bytes runs past the end of its page at \(pageEnd)"),
                   fragments: 1, dropsPartial: true)
            position = min(pageEnd, count)
            return nil
        }
        if end > count {
            return cutOff(at: start, "the file ends inside a \(kind) fragment of \(length) bytes")
        }
        let computed = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[dataStart..<end]))
        position = end
        if computed != stored {
            damage(at: start, resume: end,
                   TSDBError(.checksum, offset: start,
                             "\(kind) fragment of \(length) bytes: CRC32C stored \(hex32(stored)), computed \(hex32(computed))"),
                   fragments: 1, dropsPartial: true, losesRecord: kind == .full || kind == .first)
            return nil
        }
        switch kind {
        case .full, .first:
            if let p = partial {
                partial = nil
                damage(at: p.offset, resume: start,
                       TSDBError(.corrupt, offset: start, "a \(kind) fragment starts a new record before the record at \(p.offset) ended"),
                       fragments: p.fragments, dropsPartial: false, losesRecord: true)
            }
            if kind == .full {
                return emit(WALRawRecord(offset: start, compression: compression(flags),
                                         payload: .span(storage, dataStart..<end), fragments: 1, endOffset: end))
            }
            partial = Partial(offset: start, flags: flags, bytes: Array(raw[dataStart..<end]), fragments: 1)
            return nil
        case .middle, .last:
            guard var p = partial else {
                damage(at: start, resume: end,
                       TSDBError(.corrupt, offset: start, "a \(kind) fragment without the first fragment of its record"),
                       fragments: 1, dropsPartial: false, losesRecord: openDamage == nil)
                return nil
            }
            guard p.flags == flags else {
                partial = nil
                damage(at: p.offset, resume: end,
                       TSDBError(.corrupt, offset: start, "\(kind) fragment's compression flags 0x\(hex8(flags)) differ from its record's 0x\(hex8(p.flags))"),
                       fragments: p.fragments + 1, dropsPartial: false, losesRecord: true)
                return nil
            }
            p.bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[dataStart..<end]))
            p.fragments += 1
            if kind == .middle {
                partial = p
                return nil
            }
            partial = nil
            return emit(WALRawRecord(offset: p.offset, compression: compression(p.flags),
                                     payload: .assembled(p.bytes), fragments: p.fragments, endOffset: end))
        case .pageTerminator:
            return nil  // handled above
        }
    }

    private func compression(_ flags: UInt8) -> WALCompression {
        if flags & WALFormat.snappyFlag != 0 { return .snappy }
        if flags & WALFormat.zstdFlag != 0 { return .zstd }
        return .none
    }

    private mutating func emit(_ r: WALRawRecord) -> Event? {
        if let d = openDamage {
            openDamage = nil
            pending.append(.record(r))
            return .damage(d)
        }
        return .record(r)
    }

    private mutating func emitDamageIfOpen() {
        if let d = openDamage {
            openDamage = nil
            pending.append(.damage(d))
        }
    }

    private mutating func cutOff(at start: Int, _ detail: String) -> Event? {
        finished = true
        position = count
        let from = partial?.offset ?? start
        partial = nil
        emitDamageIfOpen()
        pending.append(.cutOff(offset: from, detail: detail))
        return nil
    }

    /// Records damage, merging it into the damage still open (no good record since).
    private mutating func damage(
        at offset: Int, resume: Int, _ error: TSDBError, fragments: Int, dropsPartial: Bool, losesRecord: Bool = false
    ) {
        var lost = losesRecord ? 1 : 0
        var frags = fragments
        var from = offset
        if dropsPartial, let p = partial {
            partial = nil
            lost += 1
            frags += p.fragments
            from = min(from, p.offset)
        }
        let located = error.located(file: file, section: "WAL segment")
        if var d = openDamage {
            d.resumeOffset = max(d.resumeOffset, resume)
            d.recordsLost += lost
            d.fragmentsSkipped += frags
            openDamage = d
        } else {
            openDamage = WALDamage(file: file, offset: from, resumeOffset: resume, error: located,
                                   recordsLost: lost, fragmentsSkipped: frags)
        }
    }
}

@usableFromInline
func hex8(_ v: UInt8) -> String {
    let s = String(v, radix: 16)
    return s.count == 1 ? "0" + s : s
}

/// `Array.withUnsafeBytes` for a body with typed throws (the standard one rethrows `any Error`).
func withTypedBytes<R>(_ bytes: [UInt8], _ body: (UnsafeRawBufferPointer) throws(TSDBError) -> R) throws(TSDBError) -> R {
    let result = bytes.withUnsafeBytes { p in Result { () throws(TSDBError) -> R in try body(p) } }
    return try result.get()
}

/// The first non-zero byte in `range`, eight bytes at a time.
func firstNonZero(_ raw: UnsafeRawBufferPointer, _ range: Range<Int>) -> Int? {
    var i = range.lowerBound
    while i + 8 <= range.upperBound {
        if raw.loadUnaligned(fromByteOffset: i, as: UInt64.self) != 0 { break }
        i += 8
    }
    while i < range.upperBound {
        if raw[i] != 0 { return i }
        i += 1
    }
    return nil
}
