import Testing
import TestSupport
@testable import TSDB

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
