/// A block's symbols for writing: unique byte strings in byte-wise order, kept in one
/// buffer. A symbol's reference is its ordinal, as in index format v2, so comparing
/// references compares the strings.
public struct SymbolSet: Sendable, Equatable {
    public private(set) var storage: [UInt8] = []
    /// Symbol i is `storage[starts[i]..<starts[i + 1]]`.
    public private(set) var starts: [Int] = [0]

    public init() {}

    /// Sorts and deduplicates `strings`.
    public init(_ strings: some Sequence<String>) {
        var all = Array(strings)
        all.sort(by: byteLess)
        for s in all { _ = append(s) }
    }

    public var count: Int { starts.count - 1 }

    /// Appends a symbol that sorts after the last one. An equal symbol is skipped (returns
    /// false); a smaller one is refused (returns false and `isOrdered` would break, so the
    /// caller's merge is wrong: it is a precondition).
    @discardableResult
    public mutating func append(_ p: UnsafeRawBufferPointer) -> Bool {
        if count > 0 {
            let c = withSymbol(count - 1) { byteCompare($0, p) }
            precondition(c <= 0, "symbols appended out of order")
            if c == 0 { return false }
        }
        storage.append(contentsOf: p)
        starts.append(storage.count)
        return true
    }

    @discardableResult
    public mutating func append(_ s: String) -> Bool {
        var s = s
        return s.withUTF8 { append(UnsafeRawBufferPointer($0)) }
    }

    @inlinable
    public func withSymbol<R>(_ i: Int, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try storage.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[starts[i]..<starts[i + 1]])) }
    }

    public func string(_ i: Int) -> String { withSymbol(i) { String(decoding: $0, as: UTF8.self) } }

    /// The reference of a symbol, by binary search; nil when absent.
    public func ref(of p: UnsafeRawBufferPointer) -> UInt32? {
        storage.withUnsafeBytes { all -> UInt32? in
            var lo = 0, hi = count
            while lo < hi {
                let mid = (lo + hi) / 2
                let c = byteCompare(UnsafeRawBufferPointer(rebasing: all[starts[mid]..<starts[mid + 1]]), p)
                if c == 0 { return UInt32(mid) }
                if c < 0 { lo = mid + 1 } else { hi = mid }
            }
            return nil
        }
    }

    public func ref(of s: String) -> UInt32? {
        var s = s
        return s.withUTF8 { ref(of: UnsafeRawBufferPointer($0)) }
    }

    /// Label pairs as references into this set; nil if a name or value is missing.
    public func refs(_ labels: Labels) -> [LabelRef]? {
        var out: [LabelRef] = []
        out.reserveCapacity(labels.count)
        for l in labels {
            guard let n = ref(of: l.name), let v = ref(of: l.value) else { return nil }
            out.append(LabelRef(name: n, value: v))
        }
        return out
    }

    /// The strings of label references into this set.
    public func labels(_ refs: [LabelRef]) -> Labels {
        Labels(sortedUnchecked: refs.map { Label(name: string(Int($0.name)), value: string(Int($0.value))) })
    }
}

extension SymbolSet {
    /// The union of several indexes' symbol tables (a k-way merge of sorted lists), plus,
    /// per index, a table from its symbol references to references in the union. Extra
    /// symbols (labels a rewrite adds) can be merged in with `extra`.
    public static func merging(_ readers: [IndexReader], extra: [String] = []) -> (SymbolSet, [SymbolMapping]) {
        var out = SymbolSet()
        let extra = SymbolSet(extra)
        // Cursor per source: readers first, then the extra set.
        let sources = readers.count + 1
        var pos = [Int](repeating: 0, count: sources)
        let counts = readers.map(\.symbolCount) + [extra.count]
        var maps = readers.map { [UInt32](repeating: 0, count: $0.symbolCount) }
        func bytes<R>(_ s: Int, _ i: Int, _ body: (UnsafeRawBufferPointer) -> R) -> R {
            if s == readers.count { return extra.withSymbol(i, body) }
            let r = readers[s]
            return r.storage.withBytes(r.symbolBytesRange(index: i), body)
        }
        while true {
            var best = -1
            for s in 0..<sources where pos[s] < counts[s] {
                if best < 0 || bytes(s, pos[s], { a in bytes(best, pos[best]) { byteCompare(a, $0) } }) < 0 { best = s }
            }
            if best < 0 { break }
            bytes(best, pos[best]) { out.append($0) }
            let ref = UInt32(out.count - 1)
            // Every source holding this symbol moves past it.
            for s in 0..<sources where pos[s] < counts[s] {
                if bytes(s, pos[s], { a in out.withSymbol(Int(ref)) { byteCompare(a, $0) } }) == 0 {
                    if s < readers.count { maps[s][pos[s]] = ref }
                    pos[s] += 1
                }
            }
        }
        return (out, zip(readers, maps).map { SymbolMapping(reader: $0.0, ordinalToRef: $0.1) })
    }
}

/// Maps one index's symbol references to another symbol set's references.
public struct SymbolMapping: Sendable {
    @usableFromInline let version: Int
    @usableFromInline let ordinalToRef: [UInt32]
    /// v1 indexes reference symbols by file offset: the offset of each ordinal's entry.
    let v1Offsets: [Int]

    init(reader: IndexReader, ordinalToRef: [UInt32]) {
        version = reader.version
        self.ordinalToRef = ordinalToRef
        v1Offsets = reader.version >= 2 ? [] : (0..<reader.symbolCount).map { reader.symbols.start + Int(reader.symbols.offsets[$0]) }
    }

    /// The reference in the target set of a symbol reference from the source index.
    @inlinable
    public func map(_ ref: UInt32) -> UInt32? {
        if version >= 2 { return Int(ref) < ordinalToRef.count ? ordinalToRef[Int(ref)] : nil }
        return mapV1(ref)
    }

    @usableFromInline
    func mapV1(_ ref: UInt32) -> UInt32? {
        var lo = 0, hi = v1Offsets.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if v1Offsets[mid] < Int(ref) { lo = mid + 1 } else { hi = mid }
        }
        return lo < v1Offsets.count && v1Offsets[lo] == Int(ref) ? ordinalToRef[lo] : nil
    }

    /// Maps a whole label set; nil if a reference is outside the source's symbol table.
    @inlinable
    public func map(_ labels: [LabelRef], into out: inout [LabelRef]) -> Bool {
        out.removeAll(keepingCapacity: true)
        for l in labels {
            guard let n = map(l.name), let v = map(l.value) else { return false }
            out.append(LabelRef(name: n, value: v))
        }
        return true
    }
}
