import Testing
import TSDB
@testable import BlockOps

/// The planner against the cases of Thanos' `TestPlanners_Plan_Compatibility` and
/// `TestTSDBBasedPlanner_PlanWithNoCompactMarks` (ranges 20, 60, 180, 540, 1620), plus the
/// group-level filters of `thanos compact`.
@Suite("Compaction planner: Thanos' cases")
struct PlanTests {
    static func id(_ n: UInt64) -> ULID { ULID(high: n << 16, low: n) }

    /// (ulid, minTime, maxTime) or with (series, tombstones).
    struct B { var n: UInt64; var mint: Int64; var maxt: Int64; var series: UInt64 = 0; var tombstones: UInt64 = 0 }

    static func meta(_ b: B) -> BlockMeta {
        var m = BlockMeta(ulid: id(b.n), minTime: b.mint, maxTime: b.maxt)
        m.stats.numSeries = b.series
        m.stats.numTombstones = b.tombstones
        m.compaction.sources = [id(b.n)]
        m.thanos = ThanosMeta()
        return m
    }

    static func plan(_ bs: [B], noCompact: [UInt64] = [], vertical: Bool = true) -> GroupPlan {
        var p = CompactionPolicy(now: 0)
        p.ranges = [20, 60, 180, 540, 1620]
        p.verticalCompaction = vertical
        let g = CompactionGroup(key: GroupKey(meta(bs[0])), blocks: bs.map(meta), noCompact: Set(noCompact.map(id)))
        return CompactionPlanner.plan(g, policy: p)
    }

    static func ids(_ p: GroupPlan) -> [UInt64] {
        if case .compact(let u, _) = p { return u.map { $0.low } }
        return []
    }

    static let cases: [(String, [B], [UInt64], [UInt64])] = [
        ("outside range", [B(n: 1, mint: 0, maxt: 20)], [], []),
        ("wait for four blocks of 20", [B(n: 1, mint: 0, maxt: 20), B(n: 2, mint: 20, maxt: 40)], [], []),
        ("three, but the fresh one is ignored", [B(n: 1, mint: 0, maxt: 20), B(n: 2, mint: 20, maxt: 40), B(n: 3, mint: 40, maxt: 60)], [], []),
        ("a block filling the parent range appeared", [B(n: 1, mint: 0, maxt: 20), B(n: 2, mint: 20, maxt: 40), B(n: 3, mint: 40, maxt: 60), B(n: 4, mint: 60, maxt: 80)], [], [1, 2, 3]),
        ("the second parent range is full", [B(n: 6, mint: 0, maxt: 60), B(n: 7, mint: 60, maxt: 120), B(n: 8, mint: 120, maxt: 180), B(n: 9, mint: 180, maxt: 200), B(n: 10, mint: 200, maxt: 220)], [], [6, 7, 8]),
        ("next range with a gap, fresh ignored", [B(n: 1, mint: 0, maxt: 20), B(n: 2, mint: 20, maxt: 40), B(n: 4, mint: 60, maxt: 80)], [], []),
        ("a gap that will never fill: compact the two", [B(n: 1, mint: 0, maxt: 20), B(n: 2, mint: 20, maxt: 40), B(n: 4, mint: 60, maxt: 80), B(n: 5, mint: 80, maxt: 100)], [], [1, 2]),
        ("20, 20, 20, 60, 60", [B(n: 1, mint: 0, maxt: 20), B(n: 2, mint: 20, maxt: 40), B(n: 3, mint: 40, maxt: 60), B(n: 4, mint: 60, maxt: 120), B(n: 5, mint: 120, maxt: 180)], [], [1, 2, 3]),
        ("second parent range with a gap", [B(n: 6, mint: 0, maxt: 60), B(n: 8, mint: 120, maxt: 180), B(n: 9, mint: 180, maxt: 200), B(n: 10, mint: 200, maxt: 220)], [], [6, 8]),
        ("20, 60, 20, 60, 240: compact 20 + 60 + 60", [B(n: 2, mint: 20, maxt: 40), B(n: 4, mint: 60, maxt: 120), B(n: 5, mint: 960, maxt: 980), B(n: 6, mint: 120, maxt: 180), B(n: 7, mint: 720, maxt: 960)], [], [2, 4, 6]),
        ("many tombstones, no fresh block", [B(n: 1, mint: 0, maxt: 540, series: 10, tombstones: 3)], [], []),
        ("many tombstones once a fresh block appears", [B(n: 1, mint: 0, maxt: 540, series: 10, tombstones: 3), B(n: 2, mint: 540, maxt: 560)], [], [1]),
        ("small blocks keep their tombstones", [B(n: 1, mint: 0, maxt: 60, series: 10, tombstones: 3), B(n: 2, mint: 60, maxt: 80)], [], []),
        ("no loop on zero series and tombstones", [B(n: 1, mint: 0, maxt: 540), B(n: 2, mint: 540, maxt: 560)], [], []),
        ("freshness is by maxTime, not ULID", [B(n: 5, mint: 0, maxt: 360), B(n: 6, mint: 540, maxt: 560), B(n: 7, mint: 360, maxt: 420), B(n: 8, mint: 420, maxt: 540)], [], [7, 8]),
        ("overlapping 1", [B(n: 1, mint: 0, maxt: 20), B(n: 2, mint: 19, maxt: 40), B(n: 3, mint: 40, maxt: 60)], [], [1, 2]),
        ("overlapping 2", [B(n: 1, mint: 0, maxt: 20), B(n: 2, mint: 20, maxt: 40), B(n: 3, mint: 30, maxt: 50)], [], [2, 3]),
        ("overlapping 3", [B(n: 1, mint: 0, maxt: 20), B(n: 2, mint: 10, maxt: 40), B(n: 3, mint: 30, maxt: 50)], [], [1, 2, 3]),
        ("overlapping 4", [B(n: 5, mint: 0, maxt: 360), B(n: 6, mint: 340, maxt: 560), B(n: 7, mint: 360, maxt: 420), B(n: 8, mint: 420, maxt: 540)], [], [5, 6, 7, 8]),
        ("overlapping 5", [B(n: 1, mint: 0, maxt: 10), B(n: 2, mint: 9, maxt: 20), B(n: 3, mint: 30, maxt: 40), B(n: 4, mint: 39, maxt: 50)], [], [1, 2]),
        // No-compact marks.
        ("outside range and excluded", [B(n: 1, mint: 0, maxt: 20)], [1], []),
        ("parent full, first excluded", [B(n: 1, mint: 0, maxt: 20), B(n: 2, mint: 20, maxt: 40), B(n: 3, mint: 40, maxt: 60), B(n: 4, mint: 60, maxt: 80)], [1], [2, 3]),
        ("parent full, second excluded", [B(n: 1, mint: 0, maxt: 20), B(n: 2, mint: 20, maxt: 40), B(n: 3, mint: 40, maxt: 60), B(n: 4, mint: 60, maxt: 80)], [2], []),
        ("parent full, last excluded", [B(n: 1, mint: 0, maxt: 20), B(n: 2, mint: 20, maxt: 40), B(n: 3, mint: 40, maxt: 60), B(n: 4, mint: 60, maxt: 80)], [4], [1, 2, 3]),
        ("parent full, first and last excluded", [B(n: 1, mint: 0, maxt: 20), B(n: 2, mint: 20, maxt: 40), B(n: 3, mint: 40, maxt: 60), B(n: 4, mint: 60, maxt: 80)], [1, 4], [2, 3]),
        ("parent full, all excluded", [B(n: 1, mint: 0, maxt: 20), B(n: 2, mint: 20, maxt: 40), B(n: 3, mint: 40, maxt: 60), B(n: 4, mint: 60, maxt: 80)], [1, 2, 3, 4], []),
        ("gap, and the second excluded", [B(n: 1, mint: 0, maxt: 20), B(n: 2, mint: 20, maxt: 40), B(n: 4, mint: 60, maxt: 80), B(n: 5, mint: 80, maxt: 100)], [2], []),
        ("20 + 60 + 60 but the 6th excluded", [B(n: 2, mint: 20, maxt: 40), B(n: 4, mint: 60, maxt: 120), B(n: 5, mint: 960, maxt: 980), B(n: 6, mint: 120, maxt: 180), B(n: 7, mint: 720, maxt: 960)], [6], [2, 4]),
        ("20 + 60 + 60 but the 4th excluded", [B(n: 2, mint: 20, maxt: 40), B(n: 4, mint: 60, maxt: 120), B(n: 5, mint: 960, maxt: 980), B(n: 6, mint: 120, maxt: 180), B(n: 7, mint: 720, maxt: 960)], [4], []),
        ("tombstones but excluded", [B(n: 1, mint: 0, maxt: 540, series: 10, tombstones: 3), B(n: 2, mint: 540, maxt: 560)], [1], []),
    ]

    @Test("plan", arguments: cases)
    func plan(name: String, blocks: [B], noCompact: [UInt64], want: [UInt64]) {
        #expect(Self.ids(Self.plan(blocks, noCompact: noCompact)) == want, "\(name)")
    }

    @Test("overlapping blocks with vertical compaction off block the group instead")
    func overlapBlocks() {
        let p = Self.plan([B(n: 1, mint: 0, maxt: 20), B(n: 2, mint: 19, maxt: 40), B(n: 3, mint: 40, maxt: 60)], vertical: false)
        #expect(p == .blockedByOverlap([Self.id(1), Self.id(2)]))
        #expect(Self.plan([B(n: 1, mint: 0, maxt: 20), B(n: 2, mint: 19, maxt: 40)]) == .compact([Self.id(1), Self.id(2)], vertical: true))
    }

    static func entry(_ n: UInt64, _ mint: Int64, _ maxt: Int64, labels: [String: String], sources: [UInt64]? = nil,
                      source: String = "sidecar", markers: [MarkerKind] = []) -> BlockEntry {
        var m = meta(B(n: n, mint: mint, maxt: maxt))
        m.compaction.sources = (sources ?? [n]).map(id)
        m.thanos!.labels = labels
        m.thanos!.source = source
        return BlockEntry(ulid: id(n), meta: m, metaError: nil, markers: markers, objects: ["meta.json"])
    }

    @Test("groups: replica labels removed, garbage found, marked and fresh blocks left out")
    func groups() {
        // ULID times are n milliseconds: "now" far later makes every block old enough.
        var p = CompactionPolicy(now: 1e9)
        p.replicaLabels = ["replica"]
        let entries = [
            Self.entry(1, 0, 20, labels: ["cluster": "a", "replica": "0"]),
            Self.entry(2, 0, 20, labels: ["cluster": "a", "replica": "1"]),
            Self.entry(3, 20, 40, labels: ["cluster": "b"]),
            Self.entry(4, 40, 60, labels: ["cluster": "b"], markers: [.deletion]),
            Self.entry(5, 0, 60, labels: ["cluster": "b"], sources: [3, 6, 7], source: "compactor"),
            Self.entry(8, 0, 20, labels: ["replica": "x"]),
            BlockEntry(ulid: Self.id(9), meta: nil, metaError: nil, markers: [], objects: ["index"]),
        ]
        let (groups, garbage, excluded) = CompactionPlanner.groups(entries, policy: p)
        let byKey = Dictionary(uniqueKeysWithValues: groups.map { ($0.key.description, $0.blocks.map(\.ulid.low)) })
        #expect(byKey["0@{cluster=\"a\"}"] == [1, 2])
        #expect(byKey["0@{cluster=\"b\"}"] == [5])
        #expect(byKey["0@{replica=\"deduped\"}"] == [8])
        #expect(garbage.map(\.ulid.low) == [3])
        #expect(excluded.map(\.ulid.low) == [4, 9])

        // A fresh sidecar upload waits for the consistency delay; a compactor's block does not.
        var fresh = CompactionPolicy(now: 0.030)
        fresh.consistencyDelay = 1800
        let (g2, _, ex2) = CompactionPlanner.groups([Self.entry(10, 0, 20, labels: ["c": "x"]),
                                                       Self.entry(11, 20, 40, labels: ["c": "x"], source: "compactor")], policy: fresh)
        #expect(ex2.map(\.ulid.low) == [10])
        #expect(g2.flatMap(\.blocks).map(\.ulid.low) == [11])
    }

    @Test("retention marks blocks whose data ended longer ago than their resolution keeps")
    func retention() {
        let h: Int64 = 3_600_000
        var e5 = Self.entry(2, 0, 10 * h, labels: [:])
        e5.meta!.thanos!.resolution = 300_000
        let entries = [Self.entry(1, 0, 10 * h, labels: [:]), e5, Self.entry(3, 0, 100 * h, labels: [:])]
        let now = Double(60 * h) / 1000
        #expect(RetentionPolicy.expired(entries, retention: [0: 48 * h], now: now).map(\.low) == [1])
        #expect(RetentionPolicy.expired(entries, retention: [0: 48 * h, 300_000: 24 * h], now: now).map(\.low) == [1, 2])
        #expect(RetentionPolicy.expired(entries, retention: [:], now: now).isEmpty)
    }
}
