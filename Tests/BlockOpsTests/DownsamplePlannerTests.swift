import Testing
import TestSupport
@testable import BlockOps
import TSDB

/// The downsampling planner, table-driven: Thanos' rules (40 h for 5m, 10 days for 1h,
/// sources already covered, compaction leftovers), no-downsample marks, deletion marks.
@Suite("Downsample planner")
struct DownsamplePlannerTests {
    static let h: Int64 = 3_600_000
    static let d: Int64 = 24 * h

    static func id(_ n: UInt64) -> ULID { ULID(high: n << 16, low: n) }

    static func meta(_ n: UInt64, res: Int64 = 0, range: Int64, sources: [UInt64]? = nil, labels: [String: String] = ["cluster": "a"],
                     start: Int64 = 1_700_000_000_000) -> BlockMeta {
        var m = BlockMeta(ulid: id(n), minTime: start, maxTime: start + range)
        m.compaction.sources = (sources ?? [n]).map(id)
        var t = ThanosMeta()
        t.labels = labels
        t.resolution = res
        m.thanos = t
        return m
    }

    struct Case: Sendable, CustomStringConvertible {
        var name: String
        var metas: [BlockMeta]
        var marked: Set<ULID> = []
        var only: Set<ULID>? = nil
        var tasks: [DownsamplePlanner.Task]
        var skipped: [ULID: DownsamplePlanner.SkipReason] = [:]
        var description: String { name }
    }

    static let fiveM = DownsampleResolution.fiveMinutes
    static let oneH = DownsampleResolution.oneHour

    static let cases: [Case] = [
        Case(name: "a raw block of 48 h gets a 5m block", metas: [meta(1, range: 48 * h)],
             tasks: [.init(ulid: id(1), from: 0, to: fiveM)]),
        Case(name: "exactly 40 h is enough, just under is not", metas: [meta(1, range: 40 * h), meta(2, range: 40 * h - 1)],
             tasks: [.init(ulid: id(1), from: 0, to: fiveM)], skipped: [id(2): .tooShort(range: 40 * h - 1, needed: 40 * h)]),
        Case(name: "sources covered by a 5m block", metas: [meta(1, range: 48 * h), meta(2, res: fiveM, range: 48 * h, sources: [1])],
             tasks: [], skipped: [id(1): .alreadyDownsampled, id(2): .tooShort(range: 48 * h, needed: 10 * d)]),
        Case(name: "sources only partly covered", metas: [meta(3, range: 48 * h, sources: [1, 2]), meta(4, res: fiveM, range: 24 * h, sources: [1])],
             tasks: [.init(ulid: id(3), from: 0, to: fiveM)], skipped: [id(4): .tooShort(range: 24 * h, needed: 10 * d)]),
        Case(name: "a 5m block of 11 days gets a 1h block, of 9 days not",
             metas: [meta(1, res: fiveM, range: 11 * d), meta(2, res: fiveM, range: 9 * d, start: 1_800_000_000_000)],
             tasks: [.init(ulid: id(1), from: fiveM, to: oneH)], skipped: [id(2): .tooShort(range: 9 * d, needed: 10 * d)]),
        Case(name: "a 5m block covered at 1h", metas: [meta(1, res: fiveM, range: 11 * d, sources: [7]), meta(2, res: oneH, range: 11 * d, sources: [7])],
             tasks: [], skipped: [id(1): .alreadyDownsampled, id(2): .finalResolution]),
        Case(name: "no-downsample marks are honoured", metas: [meta(1, range: 48 * h)], marked: [id(1)],
             tasks: [], skipped: [id(1): .noDownsampleMark]),
        Case(name: "a marked 5m block still covers its raw sources",
             metas: [meta(1, range: 11 * d), meta(2, res: fiveM, range: 11 * d, sources: [1])], marked: [id(2)],
             tasks: [], skipped: [id(1): .alreadyDownsampled, id(2): .noDownsampleMark]),
        Case(name: "a compaction leftover is not a candidate (same group)",
             metas: [meta(1, range: 48 * h), meta(2, range: 96 * h, sources: [1, 5])],
             tasks: [.init(ulid: id(2), from: 0, to: fiveM)], skipped: [id(1): .duplicateOf(id(2))]),
        Case(name: "same sources in another group are no leftover",
             metas: [meta(1, range: 48 * h), meta(2, range: 96 * h, sources: [1, 5], labels: ["cluster": "b"])],
             tasks: [.init(ulid: id(1), from: 0, to: fiveM), .init(ulid: id(2), from: 0, to: fiveM)]),
        Case(name: "of two blocks with the same sources the older is kept",
             metas: [meta(9, range: 48 * h, sources: [1, 2]), meta(8, range: 48 * h, sources: [1, 2])],
             tasks: [.init(ulid: id(8), from: 0, to: fiveM)], skipped: [id(9): .duplicateOf(id(8))]),
        Case(name: "a duplicate's 5m block still counts as coverage",
             metas: [meta(1, range: 48 * h), meta(2, res: fiveM, range: 48 * h, sources: [1]), meta(3, res: fiveM, range: 48 * h, sources: [1])],
             tasks: [], skipped: [id(1): .alreadyDownsampled, id(2): .tooShort(range: 48 * h, needed: 10 * d), id(3): .duplicateOf(id(2))]),
        Case(name: "a block without sources counts as covered (as in Thanos)", metas: [meta(1, range: 48 * h, sources: [])],
             tasks: [], skipped: [id(1): .alreadyDownsampled]),
        Case(name: "unknown resolutions are skipped, not fatal", metas: [meta(1, res: 60_000, range: 48 * h), meta(2, range: 48 * h, start: 1_800_000_000_000)],
             tasks: [.init(ulid: id(2), from: 0, to: fiveM)], skipped: [id(1): .unknownResolution(60_000)]),
        Case(name: "only the chosen blocks are candidates", metas: [meta(1, range: 48 * h), meta(2, range: 48 * h, start: 1_800_000_000_000)],
             only: [id(2)], tasks: [.init(ulid: id(2), from: 0, to: fiveM)]),
        Case(name: "tasks come in ULID order, raw and 5m in one pass",
             metas: [meta(5, res: fiveM, range: 12 * d), meta(3, range: 48 * h, start: 1_800_000_000_000), meta(4, range: 50 * h, start: 1_900_000_000_000)],
             tasks: [.init(ulid: id(3), from: 0, to: fiveM), .init(ulid: id(4), from: 0, to: fiveM), .init(ulid: id(5), from: fiveM, to: oneH)]),
    ]

    @Test("plans", arguments: cases)
    func plans(_ c: Case) {
        let p = DownsamplePlanner.plan(c.metas, noDownsample: c.marked, only: c.only)
        #expect(p.tasks == c.tasks)
        var skipped: [ULID: DownsamplePlanner.SkipReason] = [:]
        for s in p.skipped { skipped[s.ulid] = s.reason }
        #expect(skipped == c.skipped)
    }

    @Test("from a bucket listing: partial uploads ignored, deletion marks do not matter, no-downsample marks do")
    func fromEntries() {
        let entries = [
            BlockEntry(ulid: Self.id(1), meta: Self.meta(1, range: 48 * Self.h), metaError: nil, markers: [.deletion], objects: []),
            BlockEntry(ulid: Self.id(2), meta: Self.meta(2, range: 48 * Self.h, start: 1_800_000_000_000), metaError: nil, markers: [.noDownsample], objects: []),
            BlockEntry(ulid: Self.id(3), meta: nil, metaError: nil, markers: [], objects: ["index"]),
        ]
        let p = DownsamplePlanner.plan(entries)
        #expect(p.tasks == [.init(ulid: Self.id(1), from: 0, to: Self.fiveM)])
        #expect(p.skipped.map(\.ulid) == [Self.id(2)] && p.skipped.first?.reason == .noDownsampleMark)
    }
}
