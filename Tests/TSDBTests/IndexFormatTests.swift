import Testing
import TestSupport
@testable import TSDB

/// Builds small index files by hand, following docs/format/index.md, for the shapes no
/// fixture has: format v1 (Prometheus 2.0/2.1) and v2 without label indices (3.7+).
struct IndexBuilder {
    enum Shape { case v1, v2WithLabelIndices, v2NoLabelIndices }
    var series: [([(String, String)], [ChunkMeta])]

    static func uvarint(_ v: UInt64, _ b: inout [UInt8]) {
        var v = v
        while v >= 0x80 { b.append(UInt8(v & 0x7f) | 0x80); v >>= 7 }
        b.append(UInt8(v))
    }
    static func varint(_ v: Int64, _ b: inout [UInt8]) { uvarint(UInt64(bitPattern: (v << 1) ^ (v >> 63)), &b) }
    static func be32(_ v: UInt32, _ b: inout [UInt8]) { withUnsafeBytes(of: v.bigEndian) { b += $0 } }
    static func be64(_ v: UInt64, _ b: inout [UInt8]) { withUnsafeBytes(of: v.bigEndian) { b += $0 } }
    static func str(_ s: String, _ b: inout [UInt8]) { uvarint(UInt64(s.utf8.count), &b); b += Array(s.utf8) }
    static func crc(_ b: [UInt8]) -> [UInt8] { var o: [UInt8] = []; be32(CRC32C.checksum(b), &o); return o }

    /// A section `len | body | crc(body)`.
    static func section(_ body: [UInt8], into f: inout [UInt8]) {
        be32(UInt32(body.count), &f)
        f += body
        f += crc(body)
    }

    func build(_ shape: Shape) -> [UInt8] {
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
                    Self.varint(c.minTime, &e); Self.uvarint(UInt64(c.maxTime - c.minTime), &e); Self.uvarint(c.ref.rawValue, &e)
                } else {
                    let p = chunks[i - 1]
                    Self.uvarint(UInt64(c.minTime - p.maxTime), &e); Self.uvarint(UInt64(c.maxTime - c.minTime), &e)
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

@Suite("Index formats without a promtool fixture")
struct IndexFormatTests {
    static let data: [([(String, String)], [ChunkMeta])] = [
        ([("__name__", "up"), ("job", "a")], [ChunkMeta(minTime: 0, maxTime: 100, ref: ChunkRef(8)),
                                             ChunkMeta(minTime: 101, maxTime: 300, ref: ChunkRef(40))]),
        ([("__name__", "up"), ("job", "b"), ("zone", "é")], [ChunkMeta(minTime: -5, maxTime: 7, ref: ChunkRef(1 << 32 | 8))]),
        ([("__name__", "x"), ("job", "a")], [ChunkMeta(minTime: 10, maxTime: 10, ref: ChunkRef(1 << 32 | 60))]),
    ]

    @Test("v1, v2 with label indices, and v2 without them read the same", arguments: [
        IndexBuilder.Shape.v1, .v2WithLabelIndices, .v2NoLabelIndices,
    ])
    func shapes(shape: IndexBuilder.Shape) throws {
        let bytes = IndexBuilder(series: Self.data).build(shape)
        let ix = try IndexReader(storage: ByteStorage(copying: bytes, name: "index"))
        #expect(ix.version == (shape == .v1 ? 1 : 2))
        #expect(ix.toc.hasLabelIndices == (shape == .v2WithLabelIndices))
        let all = try ix.allPostings()
        #expect(all.count == 3)
        for (i, ref) in all.enumerated() {
            let (labels, chunks) = try ix.seriesLabels(ref)
            #expect(labels.pairs.map { [$0.name, $0.value] } == Self.data[i].0.map { [$0.0, $0.1] })
            #expect(chunks == Self.data[i].1)
        }
        #expect(ix.labelNames == ["__name__", "job", "zone"])
        #expect(try ix.labelValues("job") == ["a", "b"])
        #expect(try ix.postings(name: "job", value: "a") == [all[0], all[2]])
        #expect(try ix.select(parseSelector("up{zone!=\"é\"}")) == [all[0]])
        #expect(try ix.select(parseSelector("{job=~\"a|b\", __name__!~\"x\"}")) == [all[0], all[1]])
        let table = try ix.labelIndexTable()
        if shape == .v2WithLabelIndices {
            #expect(table.map(\.name) == ["__name__", "job", "zone"])
            let jobValues = try ix.labelIndexValues(at: table[1].offset).map { try ix.symbol($0) }
            #expect(jobValues == ["a", "b"])
        } else {
            #expect(table.isEmpty)
        }
    }

    @Test("every prefix of a built index is refused, never a crash")
    func truncation() throws {
        for shape in [IndexBuilder.Shape.v1, .v2NoLabelIndices] {
            let bytes = IndexBuilder(series: Self.data).build(shape)
            for n in 0..<bytes.count {
                #expect(throws: TSDBError.self) {
                    let ix = try IndexReader(storage: ByteStorage(copying: bytes[..<n], name: "index"))
                    for r in try ix.allPostings() { _ = try ix.seriesLabels(r) }
                }
            }
        }
    }

    @Test("a corrupt series entry is refused with the file, section and offset")
    func seriesCRC() throws {
        var bytes = IndexBuilder(series: Self.data).build(.v2NoLabelIndices)
        let ix0 = try IndexReader(storage: ByteStorage(copying: bytes, name: "x/index"))
        let off = ix0.seriesOffset(try ix0.allPostings()[1])
        bytes[off + 2] ^= 0xFF
        let ix = try IndexReader(storage: ByteStorage(copying: bytes, name: "x/index"))
        do {
            _ = try ix.seriesLabels(try ix.allPostings()[1])
            Issue.record("corrupt series entry was read")
        } catch {
            #expect(error.kind == .checksum)
            #expect(error.file == "x/index")
            #expect(error.section.hasPrefix("series"))
            #expect(error.offset == off + 1)
        }
    }
}
