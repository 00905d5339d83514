import Foundation
import Testing
import TSDB
@testable import BlockOps

/// The pure parts of replicate: which blocks, in which order, with which labels.
@Suite("Replicate plan")
struct ReplicatePlanTests {
    static func entry(_ n: Int, min: Int64, max: Int64, level: Int = 1, resolution: Int64 = 0,
                      labels: [String: String] = ["cluster": "eu1", "replica": "0"], markers: [MarkerKind] = [], meta: Bool = true) -> BlockEntry {
        let id = ULID(String(repeating: "0", count: 24) + String(n / 10) + String(n % 10))!
        var m = BlockMeta(ulid: id, minTime: min, maxTime: max)
        m.compaction.level = level
        var t = ThanosMeta()
        t.labels = labels
        t.resolution = resolution
        m.thanos = t
        return BlockEntry(ulid: id, meta: meta ? m : nil, metaError: nil, markers: markers, objects: ["index", "meta.json"])
    }

    static let blocks = [
        entry(1, min: 3000, max: 4000),
        entry(2, min: 1000, max: 2000, level: 2),
        entry(3, min: 1000, max: 2000, resolution: 300_000),
        entry(4, min: 5000, max: 6000, markers: [.deletion]),
        entry(5, min: 0, max: 100, meta: false),
        entry(6, min: 7000, max: 8000, labels: ["cluster": "us1"]),
        entry(7, min: 9000, max: 9500, labels: [:]),
    ]

    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var filter: ReplicateFilter
        var rewrite = LabelRewrite()
        var want: [Int]
        var testDescription: String { name }
    }

    static func filter(_ f: (inout ReplicateFilter) throws -> Void) rethrows -> ReplicateFilter {
        var x = ReplicateFilter()
        try f(&x)
        return x
    }

    static let cases: [Case] = [
        Case(name: "defaults: oldest first (ties by ULID); partial, marked and unlabelled left out", filter: ReplicateFilter(), want: [2, 3, 1, 6]),
        Case(name: "marked blocks on request", filter: filter { $0.includeMarkedForDeletion = true }, want: [2, 3, 1, 4, 6]),
        Case(name: "time range overlap, both ends inclusive", filter: filter { $0.minTime = 2000; $0.maxTime = 3000 }, want: [2, 3, 1]),
        Case(name: "resolution", filter: filter { $0.resolutions = [300_000] }, want: [3]),
        Case(name: "compaction levels", filter: filter { $0.compactionMin = 2 }, want: [2]),
        Case(name: "compaction max", filter: filter { $0.compactionMax = 1 }, want: [3, 1, 6]),
        Case(name: "matcher", filter: try! filter { $0.matchers = try parseSelector("{cluster=~\"eu.*\"}") }, want: [2, 3, 1]),
        Case(name: "matcher on a missing label matches the empty value", filter: try! filter { $0.matchers = try parseSelector("{zone=\"\"}") }, want: [2, 3, 1, 6]),
        Case(name: "--id ignores label, resolution and compaction filters", filter: try! filter {
            $0.ids = [entry(3, min: 0, max: 0).ulid, entry(6, min: 0, max: 0).ulid]
            $0.resolutions = [0]
            $0.matchers = try parseSelector("{cluster=\"none\"}")
        }, want: [3, 6]),
        Case(name: "a rewrite that gives labels makes an unlabelled block eligible", filter: ReplicateFilter(), rewrite: LabelRewrite(assign: ["cluster": "x"]), want: [2, 3, 1, 6, 7]),
        Case(name: "a rewrite that drops every label leaves none", filter: ReplicateFilter(), rewrite: LabelRewrite(remove: ["cluster", "replica"]), want: []),
    ]

    @Test(arguments: cases)
    func select(_ c: Case) {
        let (got, skipped) = ReplicatePlan.select(Self.blocks, filter: c.filter, rewrite: c.rewrite)
        let number = { (e: BlockEntry) in Int(e.ulid.description.suffix(2))! }
        #expect(got.map(number) == c.want)
        #expect(got.count + skipped.count == Self.blocks.count)
    }

    @Test("skip reasons name the cause")
    func reasons() {
        let (_, skipped) = ReplicatePlan.select(Self.blocks, filter: ReplicateFilter())
        let why = Dictionary(uniqueKeysWithValues: skipped.map { (Int($0.0.ulid.description.suffix(2))!, $0.1) })
        #expect(why[4] == .markedForDeletion)
        #expect(why[5] == .partial)
        #expect(why[7] == .noExternalLabels)
    }

    @Test("label rewrite touches only thanos.labels, keeps key order, number text and the trailing newline")
    func rewriteJSON() throws {
        let text = "{\n\t\"ulid\": \"01M8KVYR6A57Y67GRXHTWJXVWN\",\n\t\"minTime\": 1.0e3,\n\t\"thanos\": {\n\t\t\"labels\": {\n\t\t\t\"replica\": \"0\",\n\t\t\t\"cluster\": \"demo\"\n\t\t},\n\t\t\"source\": \"sidecar\"\n\t},\n\t\"zz\": [1, 2]\n}\n"
        let out = try LabelRewrite(assign: ["cluster": "new", "a": "b"], remove: ["replica"]).metaJSON(Array(text.utf8), file: "m")
        let s = String(decoding: out, as: UTF8.self)
        #expect(s == "{\n\t\"ulid\": \"01M8KVYR6A57Y67GRXHTWJXVWN\",\n\t\"minTime\": 1.0e3,\n\t\"thanos\": {\n\t\t\"labels\": {\n\t\t\t\"a\": \"b\",\n\t\t\t\"cluster\": \"new\"\n\t\t},\n\t\t\"source\": \"sidecar\"\n\t},\n\t\"zz\": [\n\t\t1,\n\t\t2\n\t]\n}\n")
        #expect(try LabelRewrite().metaJSON(Array(text.utf8), file: "m") == Array(text.utf8), "no rewrite: the bytes as they are")
        #expect(throws: TSDBError.self) { try LabelRewrite(assign: ["a": "b"]).metaJSON(Array("{not json".utf8), file: "m") }
    }

    static let now: Int64 = 1_000_000_000_000
    static let timeCases: [(String, Int64)] = [
        ("2023-01-01T00:00:00Z", 1_672_531_200_000), ("2023-01-01T00:00:00.5Z", 1_672_531_200_500),
        ("1672531200000", 1_672_531_200_000), ("-1d", now - 86_400_000), ("2h30m", now + 9_000_000),
        ("+90s", now + 90_000), ("0", 0),
    ]

    @Test("time flags: RFC 3339, milliseconds, durations relative to now", arguments: timeCases)
    func times(_ text: String, _ want: Int64) {
        #expect(parseTimeOrDuration(text, now: Date(timeIntervalSince1970: 1_000_000_000)) == want)
    }

    @Test("bad time and duration text is refused", arguments: ["", "yesterday", "-1x", "1h-", "2023-13-01T00:00:00Z", "99999999999999999999d"])
    func badTimes(_ text: String) {
        #expect(parseTimeOrDuration(text) == nil)
    }
}
