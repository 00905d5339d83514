import TSDB

/// The series refs of a block as a bitmap over the series section (one bit per possible
/// ref), for O(1) "is this a real series" checks; refs whose entry did not decode are
/// left out of the comparison with the walk.
struct SeriesBitmap: Sendable {
    let base: UInt64
    let words: [UInt64]
    let skipped: Set<SeriesRef>

    init(_ ix: IndexReader, _ refs: [SeriesRef], excluding: [SeriesRef]) {
        let lo = ix.version >= 2 ? UInt64(ix.seriesRange.lowerBound / 16) : UInt64(ix.seriesRange.lowerBound)
        let hi = ix.version >= 2 ? UInt64((ix.seriesRange.upperBound + 15) / 16) : UInt64(ix.seriesRange.upperBound)
        base = lo
        var w = [UInt64](repeating: 0, count: Int((hi - lo) / 64 + 1))
        for r in refs where r >= lo && r < hi {
            let b = r - lo
            w[Int(b >> 6)] |= 1 << (b & 63)
        }
        words = w
        skipped = Set(excluding)
    }

    @inline(__always)
    func contains(_ r: SeriesRef) -> Bool {
        guard r >= base else { return false }
        let b = r - base
        let i = Int(truncatingIfNeeded: b >> 6)
        return i < words.count && words[i] & (1 << (b & 63)) != 0
    }
}

/// Every postings list: decodes (length, CRC), strictly increasing, naming real series;
/// the offset table sorted by name then value; and Σ h(pair) · Σ g(ref) over the lists,
/// which equals the walk's sum exactly when the lists hold the series that carry their pairs.
struct PostingsPass: Sendable {
    var sum: UInt64 = 0
    var hadUnreadableList = false
    var found: [(Finding.Kind, Int, String)] = []
    var counts: [Finding.Kind: Int] = [:]

    func log(block: String, cap: Int) -> FindingLog {
        var l = FindingLog(block: block, cap: cap)
        var listed: [Finding.Kind: Int] = [:]
        for (k, at, d) in found {
            listed[k, default: 0] += 1
            l.add(k, "index", at, d)
        }
        for (k, n) in counts { for _ in (listed[k] ?? 0)..<n { l.add(k, "index", nil, "") } }
        return l
    }

    mutating func add(_ k: Finding.Kind, _ at: Int, _ d: @autoclosure () -> String) {
        counts[k, default: 0] += 1
        if found.count < 256 { found.append((k, at, d())) }
    }

    /// The whole pass, in `slices` tasks over runs of about equal postings bytes (lists
    /// differ wildly in length: one pair can name every series).
    static func run(_ ix: IndexReader, _ member: SeriesBitmap, slices: Int, minPerSlice: Int) async -> PostingsPass {
        let bounds = sliceBounds(ix, slices: slices, minPerSlice: minPerSlice)
        let parts = await withTaskGroup(of: (Int, PostingsPass).self) { g in
            for s in 0..<(bounds.count - 1) { g.addTask { (s, check(ix, bounds[s]..<bounds[s + 1], member)) } }
            var out = [PostingsPass](repeating: PostingsPass(), count: bounds.count - 1)
            for await (s, p) in g { out[s] = p }
            return out
        }
        return merged(parts)
    }

    /// Slices' results, in table order, as one.
    static func merged(_ parts: [PostingsPass]) -> PostingsPass {
        var all = PostingsPass()
        for p in parts {
            all.sum &+= p.sum
            all.hadUnreadableList = all.hadUnreadableList || p.hadUnreadableList
            for f in p.found where all.found.count < 256 { all.found.append(f) }
            for (c, m) in p.counts { all.counts[c, default: 0] += m }
        }
        return all
    }

    /// Entry indices that cut the table into `slices` runs of about equal postings bytes,
    /// fewer where that would give runs of under `minPerSlice` entries (0: no such limit; list offsets rise
    /// through the table in a sane file; where they do not, the cuts still rise, so every
    /// entry is in exactly one run).
    static func sliceBounds(_ ix: IndexReader, slices wanted: Int, minPerSlice: Int = 0) -> [Int] {
        let n = ix.postingsTableCount
        let slices = minPerSlice > 0 ? min(wanted, n / minPerSlice) : wanted
        guard n > 0, slices > 1 else { return [0, n] }
        let first = ix.postingsListOffset(at: 0), span = max(1, ix.postingsListOffset(at: n - 1) - first)
        var bounds = [0]
        for s in 1..<slices {
            let target = first + span / slices * s
            var lo = bounds[bounds.count - 1], hi = n
            while lo < hi {
                let mid = (lo + hi) / 2
                if ix.postingsListOffset(at: mid) < target { lo = mid + 1 } else { hi = mid }
            }
            bounds.append(lo)
        }
        bounds.append(n)
        return bounds
    }

    /// Entries `r` of the postings offset table.
    static func check(_ ix: IndexReader, _ r: Range<Int>, _ member: SeriesBitmap) -> PostingsPass {
        var out = PostingsPass()
        let raw = ix.storage.raw
        let sorted = ix.version >= 2
        var prevName: Range<Int>? = r.lowerBound > 0 ? ix.postingsNameRange(at: r.lowerBound - 1) : nil
        var prevValue: Range<Int>? = r.lowerBound > 0 ? ix.postingsValueRange(at: r.lowerBound - 1) : nil
        func bytes(_ x: Range<Int>) -> UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: raw[x]) }
        func text(_ n: Range<Int>, _ v: Range<Int>) -> String {
            String(decoding: bytes(n), as: UTF8.self) + "=" + String(decoding: bytes(v), as: UTF8.self)
        }
        // The pair's symbols, found by walking the sorted symbol table forward: values of one
        // name come in byte order, so each search starts where the last one ended.
        let symbols = SymbolSearch(ix)
        var nameOrdinal: Int? = nil
        var valueFrom = 0
        let skipping = !member.skipped.isEmpty
        // Postings lists are read once, in file order: pages behind are given back.
        var behind = ByteStorage.ReleaseBehind(ix.storage, from: r.isEmpty ? 0 : ix.postingsListOffset(at: r.lowerBound))
        for i in r {
            let nameRange = ix.postingsNameRange(at: i)
            let valueRange = ix.postingsValueRange(at: i)
            let listAt = ix.postingsListOffset(at: i)
            behind.passed(listAt)
            let allSeries = nameRange.isEmpty && valueRange.isEmpty
            var sameName = false
            if let pn = prevName, let pv = prevValue {
                let c = byteCompare(bytes(pn), bytes(nameRange))
                sameName = c == 0
                if sorted, c > 0 || (c == 0 && byteCompare(bytes(pv), bytes(valueRange)) >= 0) {
                    out.add(.postingsTable, Int(ix.toc.postingsTable),
                            "entry \(i) \(text(nameRange, valueRange)) does not sort after \(text(pn, pv))")
                }
            }
            if !sameName || i == r.lowerBound {
                nameOrdinal = allSeries ? nil : symbols.find(bytes(nameRange), from: 0)
                valueFrom = 0
            }
            prevName = nameRange
            prevValue = valueRange
            var valueOrdinal: Int? = nil
            if !allSeries {
                let v = bytes(valueRange)
                let at = symbols.lowerBound(v, from: valueFrom)
                if at < symbols.count, symbols.equals(at, v) {
                    valueOrdinal = at
                    valueFrom = at + 1
                } else {
                    valueFrom = sorted ? at : 0
                }
            }
            let (start, count): (Int, Int)
            do { (start, count) = try ix.postingsListBody(at: listAt) } catch {
                out.hadUnreadableList = true
                out.add(error.kind == .checksum ? .indexChecksum : .postings, error.offset,
                        "postings of \(text(nameRange, valueRange)): \(error.detail)")
                continue
            }
            var refSum: UInt64 = 0
            var last: UInt32 = 0
            var bad: String? = nil
            var p = start
            for j in 0..<count {
                let x = UInt32(bigEndian: raw.loadUnaligned(fromByteOffset: p, as: UInt32.self))
                p &+= 4
                let ref = SeriesRef(x)
                if j > 0, x <= last, bad == nil { bad = "not strictly increasing at series \(ref)" }
                last = x
                if !member.contains(ref) {
                    if bad == nil { bad = "names series \(ref), which is not in the index" }
                    continue
                }
                if skipping, member.skipped.contains(ref) { continue }
                refSum &+= PairHash.series(ref)
            }
            if let bad { out.add(.postingsMismatch, listAt, "postings of \(text(nameRange, valueRange)) \(bad)") }
            if !allSeries {
                // A pair whose name or value is not a symbol matches no series: any
                // series it lists makes the sums differ.
                let h: UInt64
                if let n = nameOrdinal, let v = valueOrdinal {
                    h = PairHash.pair(LabelRef(name: ix.symbolReference(index: n), value: ix.symbolReference(index: v)))
                } else {
                    h = 0x8000_0000_0000_0001
                }
                out.sum &+= h &* refSum
            }
        }
        return out
    }
}

/// Byte-wise searches of the (sorted) symbol table by ordinal.
struct SymbolSearch {
    let ix: IndexReader
    let count: Int
    let raw: UnsafeRawBufferPointer

    init(_ ix: IndexReader) {
        self.ix = ix
        count = ix.symbolCount
        raw = ix.storage.raw
    }

    @inline(__always)
    func symbol(_ i: Int) -> UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: raw[ix.symbolBytesRange(index: i)]) }

    func equals(_ i: Int, _ b: UnsafeRawBufferPointer) -> Bool { byteCompare(symbol(i), b) == 0 }

    /// The first ordinal at or after `from` whose symbol is not below `b`: galloping from
    /// `from`, then a binary search.
    func lowerBound(_ b: UnsafeRawBufferPointer, from: Int) -> Int {
        var lo = min(from, count)
        var step = 1
        var hi = lo
        while hi < count, byteCompare(symbol(hi), b) < 0 {
            lo = hi + 1
            hi = lo + step
            step &*= 2
        }
        hi = min(hi, count)
        while lo < hi {
            let mid = (lo + hi) / 2
            if byteCompare(symbol(mid), b) < 0 { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    func find(_ b: UnsafeRawBufferPointer, from: Int) -> Int? {
        let at = lowerBound(b, from: from)
        return at < count && equals(at, b) ? at : nil
    }
}

/// When the sums differ: which lists disagree with the series. Walks the series again
/// (index only), tallying per label pair how many series carry it and a hash of their
/// refs, and compares each postings list with its pair's tally. Only corrupt blocks get
/// here, so memory per label pair is acceptable.
enum ExactPostings {
    struct Tally {
        var count = 0
        var hash: UInt64 = 0
    }

    static func check(_ ix: IndexReader, _ block: SourceBlock, _ refs: [SeriesRef], _ member: SeriesBitmap, _ log: inout FindingLog) {
        var pairs: [UInt64: Tally] = [:]
        var labels: [LabelRef] = []
        var chunks: [ChunkMeta] = []
        for ref in refs where !member.skipped.contains(ref) {
            guard (try? ix.series(ref, labels: &labels, chunks: &chunks)) != nil else { continue }
            for l in labels {
                let key = UInt64(l.name) << 32 | UInt64(l.value)
                pairs[key, default: Tally()].count += 1
                pairs[key, default: Tally()].hash &+= PairHash.series(ref)
            }
        }
        let before = log.count(.postingsMismatch)
        var seen = 0
        let raw = ix.storage
        for i in 0..<ix.postingsTableCount {
            let nameRange = ix.postingsNameRange(at: i)
            let valueRange = ix.postingsValueRange(at: i)
            if nameRange.isEmpty && valueRange.isEmpty { continue }
            let text = raw.withBytes(nameRange) { String(decoding: $0, as: UTF8.self) } + "="
                + raw.withBytes(valueRange) { String(decoding: $0, as: UTF8.self) }
            var t = Tally()
            do {
                try ix.forEachPosting(at: ix.postingsListOffset(at: i)) { ref in
                    guard member.contains(ref), !member.skipped.contains(ref) else { return }
                    t.count += 1
                    t.hash &+= PairHash.series(ref)
                }
            } catch { continue }
            guard ix.version >= 2,
                  let n = raw.withBytes(nameRange, { ix.symbolRef(of: $0) }),
                  let v = raw.withBytes(valueRange, { ix.symbolRef(of: $0) }),
                  let want = pairs[UInt64(n) << 32 | UInt64(v)]
            else {
                if ix.version >= 2 {
                    log.add(.postingsMismatch, "index", ix.postingsListOffset(at: i),
                            "postings of \(text) list \(t.count) series, but no series carries that label pair")
                }
                continue
            }
            seen += 1
            if want.count != t.count || want.hash != t.hash {
                log.add(.postingsMismatch, "index", ix.postingsListOffset(at: i),
                        "postings of \(text) list \(t.count) series; \(want.count) series carry the pair (or other ones)")
            }
        }
        if ix.version >= 2, seen < pairs.count {
            log.add(.postingsMismatch, "index", Int(ix.toc.postingsTable),
                    "\(pairs.count - seen) label pair(s) carried by series have no postings list")
        }
        if log.count(.postingsMismatch) == before {
            log.add(.postingsMismatch, "index", Int(ix.toc.postings),
                    "the postings lists and the series' labels disagree (their hash sums differ)")
        }
    }
}
