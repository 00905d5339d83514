import Testing
import TSDB
@testable import BlockOps

@Suite("Bucket checks from metadata alone")
struct BucketChecksTests {
    static let h = Int64(3_600_000)

    static func id(_ n: UInt64) -> ULID { ULID(high: n << 16, low: n) }

    static func entry(_ n: UInt64, _ mint: Int64, _ maxt: Int64, labels: [String: String] = ["cluster": "a"],
                      res: Int64 = 0, sources: [UInt64]? = nil, level: Int = 1, markers: [MarkerKind] = []) -> BlockEntry {
        var m = BlockMeta(ulid: id(n), minTime: mint, maxTime: maxt)
        m.compaction.level = level
        m.compaction.sources = (sources ?? [n]).map(id)
        var t = ThanosMeta()
        t.labels = labels
        t.resolution = res
        m.thanos = t
        return BlockEntry(ulid: id(n), meta: m, metaError: nil, markers: markers, objects: ["meta.json", "index", "chunks/000001"])
    }

    static let cases: [(String, [BlockEntry], Int)] = [
        ("contiguous 2h blocks are clean", [entry(1, 0, 2 * h), entry(2, 2 * h, 4 * h), entry(3, 4 * h, 6 * h)], 0),
        ("an overlap inside a group", [entry(1, 0, 2 * h), entry(2, h, 3 * h)], 1),
        ("the same range in two groups is fine", [entry(1, 0, 2 * h), entry(2, 0, 2 * h, labels: ["cluster": "b"])], 0),
        ("raw and 5m of the same data are different groups", [entry(1, 0, 2 * h), entry(2, 0, 2 * h, res: 300_000, sources: [1])], 0),
        ("one block overlapping two", [entry(1, 0, 2 * h), entry(2, 2 * h, 4 * h), entry(3, h, 3 * h)], 2),
        ("blocks marked for deletion do not overlap anything", [entry(1, 0, 2 * h, markers: [.deletion]), entry(2, 0, 8 * h, sources: [1, 3, 4, 5], level: 2)], 0),
    ]

    @Test("overlaps per compaction group", arguments: cases)
    func overlaps(name: String, entries: [BlockEntry], overlaps: Int) {
        let f = BucketChecks.findings(entries, options: .init(now: 1e10))
        #expect(f.filter { $0.kind == .overlap }.count == overlaps, "\(name): \(f)")
    }

    @Test("duplicated compaction and superseded blocks")
    func compactionHistory() {
        let es = [
            Self.entry(1, 0, 2 * Self.h), Self.entry(2, 2 * Self.h, 4 * Self.h),
            Self.entry(10, 0, 4 * Self.h, sources: [1, 2], level: 2),
            Self.entry(11, 0, 4 * Self.h, sources: [1, 2], level: 2),
        ]
        let f = BucketChecks.findings(es, options: .init(now: 1e10))
        #expect(f.filter { $0.kind == .duplicatedCompaction }.map(\.block) == [Self.id(11).description])
        // Blocks 1 and 2 are inside both compacted blocks: superseded.
        #expect(Set(f.filter { $0.kind == .supersededBlock }.map(\.block)) == [Self.id(1).description, Self.id(2).description])
    }

    @Test("partial uploads, marks and unreadable meta.json")
    func partialAndMarks() {
        var partial = BlockEntry(ulid: Self.id(5), meta: nil, metaError: nil, markers: [], objects: ["index"])
        partial.newestObject = 1e10 - 60
        let broken = BlockEntry(ulid: Self.id(6), meta: nil, metaError: "JSON at byte 3: unexpected end", markers: [], objects: ["meta.json"])
        var marked = Self.entry(7, 0, Self.h, markers: [.deletion, .noCompact])
        marked.markerErrors = [(.noCompact, "field \"id\" is missing")]
        let f = BucketChecks.findings([partial, broken, marked], options: .init(now: 1e10))
        let kinds = f.map(\.kind)
        #expect(kinds.contains(.partialUpload) && kinds.contains(.unreadable) && kinds.contains(.markedForDeletion)
                && kinds.contains(.markedNoCompact) && kinds.contains(.badMarker))
        #expect(f.first { $0.kind == .partialUpload }?.detail.contains("may still be uploading") == true)
    }
}
