import TSDB

/// The symbol table checked: byte-wise sorted and unique (what makes comparing symbol
/// references the same as comparing label bytes, and lets postings find their symbols).
struct SymbolPass: Sendable {
    /// (ordinal, detail) of symbols out of order; `unsorted` counts them all.
    let problems: [(Int, String)]
    let unsorted: Int
    let sectionOffset: Int
    /// v1 only: the symbol references (offsets) that exist.
    let v1References: Set<UInt32>
    let count: Int

    func log(block: String, cap: Int) -> FindingLog {
        var l = FindingLog(block: block, cap: cap)
        for (_, d) in problems { l.add(.symbolOrder, "index", sectionOffset, d) }
        // Count the ones not listed so the "more not shown" line is right.
        for _ in problems.count..<unsorted { l.add(.symbolOrder, "index", sectionOffset, "") }
        return l
    }

    static func run(_ ix: IndexReader, slices: Int) async -> SymbolPass {
        let n = ix.symbolCount
        let k = max(1, min(slices, n / 8192))
        let step = (n + k - 1) / max(1, k)
        let parts = await withTaskGroup(of: (Int, [(Int, String)], Int).self) { g in
            for s in 0..<k {
                let lo = min(n, s * step), hi = min(n, lo + step)
                g.addTask {
                    let (p, u) = order(ix, lo..<hi)
                    return (s, p, u)
                }
            }
            var out = [([(Int, String)], Int)](repeating: ([], 0), count: k)
            for await (s, p, u) in g { out[s] = (p, u) }
            return out
        }
        let v1 = ix.version < 2 ? Set((0..<n).map { ix.symbolReference(index: $0) }) : []
        return SymbolPass(problems: Array(parts.flatMap(\.0).prefix(64)), unsorted: parts.reduce(0) { $0 + $1.1 },
                          sectionOffset: Int(ix.toc.symbols), v1References: v1, count: n)
    }

    /// Whether a series' symbol reference names a symbol.
    @inline(__always)
    func exists(_ ref: UInt32, version: Int) -> Bool {
        version >= 2 ? Int(ref) < count : v1References.contains(ref)
    }

    /// Each symbol against the one before it (the first of the range too, but not symbol 0).
    static func order(_ ix: IndexReader, _ r: Range<Int>) -> ([(Int, String)], Int) {
        var problems: [(Int, String)] = []
        var count = 0
        guard !r.isEmpty else { return ([], 0) }
        var prev = ix.symbolBytesRange(index: max(0, r.lowerBound - 1))
        for i in Swift.max(1, r.lowerBound)..<r.upperBound {
            let cur = ix.symbolBytesRange(index: i)
            let c = ix.storage.withBytes(prev) { a in ix.storage.withBytes(cur) { byteCompare(a, $0) } }
            if c >= 0 {
                count += 1
                if problems.count < 64 {
                    let text = { (x: Range<Int>) in ix.storage.withBytes(x) { String(decoding: $0, as: UTF8.self) } }
                    problems.append((i, "symbol \(i) \"\(text(cur))\" does not sort after \"\(text(prev))\""))
                }
            }
            prev = cur
        }
        return (problems, count)
    }
}
