import TSDB

/// Builds small index files by hand, following docs/format/index.md: the shapes no
/// fixture has (format v1, v2 without label indices), and indexes with deliberate faults
/// (series out of order) for the verify tests. Series are written in the order given.
public struct IndexBuilder {
    public init(series: [([(String, String)], [ChunkMeta])]) { self.series = series }
    public enum Shape: Sendable { case v1, v2WithLabelIndices, v2NoLabelIndices }
    public var series: [([(String, String)], [ChunkMeta])]

    public static func uvarint(_ v: UInt64, _ b: inout [UInt8]) {
        var v = v
        while v >= 0x80 { b.append(UInt8(v & 0x7f) | 0x80); v >>= 7 }
        b.append(UInt8(v))
    }
    public static func varint(_ v: Int64, _ b: inout [UInt8]) { uvarint(UInt64(bitPattern: (v << 1) ^ (v >> 63)), &b) }
    public static func be32(_ v: UInt32, _ b: inout [UInt8]) { withUnsafeBytes(of: v.bigEndian) { b += $0 } }
    public static func be64(_ v: UInt64, _ b: inout [UInt8]) { withUnsafeBytes(of: v.bigEndian) { b += $0 } }
    public static func str(_ s: String, _ b: inout [UInt8]) { uvarint(UInt64(s.utf8.count), &b); b += Array(s.utf8) }
    static func crc(_ b: [UInt8]) -> [UInt8] { var o: [UInt8] = []; be32(CRC32C.checksum(b), &o); return o }

    /// A section `len | body | crc(body)`.
    static func section(_ body: [UInt8], into f: inout [UInt8]) {
        be32(UInt32(body.count), &f)
        f += body
        f += crc(body)
    }

    public func build(_ shape: Shape) -> [UInt8] {
        let v1 = shape == .v1
        var f: [UInt8] = [0xBA, 0xAA, 0xD7, 0x00, v1 ? 1 : 2]
        let syms = Set(series.flatMap { $0.0.flatMap { [$0.0, $0.1] } }).sorted { byteLess($0, $1) }
        // Symbols.
        let symStart = f.count
        var body: [UInt8] = []
        Self.be32(UInt32(syms.count), &body)
        var symRef: [String: UInt32] = [:]
        for (i, s) in syms.enumerated() {
            symRef[s] = v1 ? UInt32(symStart + 4 + body.count) : UInt32(i)
            Self.str(s, &body)
        }
        Self.section(body, into: &f)
        // Series.
        let seriesStart = f.count
        var refs: [UInt64] = []
        for (labels, chunks) in series {
            if !v1 { while f.count % 16 != 0 { f.append(0) } }
            refs.append(v1 ? UInt64(f.count) : UInt64(f.count / 16))
            var e: [UInt8] = []
            Self.uvarint(UInt64(labels.count), &e)
            for (n, v) in labels { Self.uvarint(UInt64(symRef[n]!), &e); Self.uvarint(UInt64(symRef[v]!), &e) }
            Self.uvarint(UInt64(chunks.count), &e)
            for (i, c) in chunks.enumerated() {
                if i == 0 {
                    Self.varint(c.minTime, &e); Self.uvarint(UInt64(bitPattern: c.maxTime &- c.minTime), &e); Self.uvarint(c.ref.rawValue, &e)
                } else {
                    let p = chunks[i - 1]
                    // Go writes these deltas as uint64 conversions, which wrap for overlapping
                    // or reversed chunks; readers undo the wrap. Written the same way here.
                    Self.uvarint(UInt64(bitPattern: c.minTime &- p.maxTime), &e); Self.uvarint(UInt64(bitPattern: c.maxTime &- c.minTime), &e)
                    Self.varint(Int64(bitPattern: c.ref.rawValue &- p.ref.rawValue), &e)
                }
            }
            Self.uvarint(UInt64(e.count), &f)
            f += e
            f += Self.crc(e)
        }
        let seriesEnd = f.count
        // Postings: the all-series key first, then every pair in order.
        var pairs: [String: [String: [UInt64]]] = [:]
        for (i, (labels, _)) in series.enumerated() { for (n, v) in labels { pairs[n, default: [:]][v, default: []].append(refs[i]) } }
        var entries: [(String, String, Int)] = []
        func postings(_ ids: [UInt64]) -> Int {
            while f.count % 4 != 0 { f.append(0) }
            let at = f.count
            var b: [UInt8] = []
            Self.be32(UInt32(ids.count), &b)
            for id in ids { Self.be32(UInt32(id), &b) }
            Self.section(b, into: &f)
            return at
        }
        var labelIndexOffsets: [(String, Int)] = []
        let postingsStart: Int
        var labelIndicesStart = seriesEnd
        if shape == .v2WithLabelIndices {
            // One label index per name: the sorted value symbol refs.
            for n in pairs.keys.sorted(by: byteLess) {
                while f.count % 4 != 0 { f.append(0) }
                labelIndexOffsets.append((n, f.count))
                var b: [UInt8] = []
                Self.be32(1, &b)
                let vals = pairs[n]!.keys.sorted(by: byteLess)
                Self.be32(UInt32(vals.count), &b)
                for v in vals { Self.be32(symRef[v]!, &b) }
                Self.section(b, into: &f)
            }
            labelIndicesStart = labelIndexOffsets.first?.1 ?? seriesEnd
        }
        postingsStart = f.count
        entries.append(("", "", postings(refs)))
        for n in pairs.keys.sorted(by: byteLess) {
            for v in pairs[n]!.keys.sorted(by: byteLess) { entries.append((n, v, postings(pairs[n]![v]!))) }
        }
        var labelTable = 0
        if shape == .v2WithLabelIndices {
            labelTable = f.count
            var b: [UInt8] = []
            Self.be32(UInt32(labelIndexOffsets.count), &b)
            for (n, o) in labelIndexOffsets { Self.uvarint(1, &b); Self.str(n, &b); Self.uvarint(UInt64(o), &b) }
            Self.section(b, into: &f)
        }
        // Postings offset table (v1 writers left it unsorted: write it reversed).
        let potStart = f.count
        var b: [UInt8] = []
        Self.be32(UInt32(entries.count), &b)
        for (n, v, o) in (v1 ? entries.reversed() : entries) { Self.uvarint(2, &b); Self.str(n, &b); Self.str(v, &b); Self.uvarint(UInt64(o), &b) }
        Self.section(b, into: &f)
        if shape == .v2NoLabelIndices { labelTable = potStart }
        if shape == .v1 { labelTable = potStart; labelIndicesStart = seriesEnd }
        var toc: [UInt8] = []
        for v in [symStart, seriesStart, labelIndicesStart, labelTable, postingsStart, potStart] { Self.be64(UInt64(v), &toc) }
        f += toc
        f += Self.crc(toc)
        return f
    }
}
