import Foundation
import ObjectStore
import Testing
import TestSupport
import TSDB
@testable import BlockOps

/// The per-container summaries of `--all-containers`.
@Suite("Account summaries")
struct AccountSummaryTests {
    @Test("covered time is the union of the block ranges", arguments: [
        ([(0, 10), (5, 15), (20, 30)], Int64(25)), ([(0, 10), (2, 3)], 10), ([(5, 5)], 0), ([], 0), ([(0, 10), (10, 20)], 20),
    ] as [([(Int64, Int64)], Int64)])
    func union(_ spans: [(Int64, Int64)], _ want: Int64) {
        #expect(ContainerSummary.union(spans) == want)
    }

    @Test("a directory of clusters: counts, sizes, time range, streams, partial and marked blocks")
    func directory() async throws {
        let root = try Fixtures.tempDir("acct")
        defer { Fixtures.cleanup(root) }
        try FileManager.default.copyItem(atPath: Fixtures.fixtures + "/demo-bucket", toPath: root + "/eu1")
        try FileManager.default.copyItem(atPath: Fixtures.fixtures + "/partial-bucket", toPath: root + "/us1")
        let ids = try FileManager.default.contentsOfDirectory(atPath: root + "/eu1").sorted()
        let mark = Marker(kind: .deletion, id: ULID(ids[0])!, details: "test", time: 1)
        try mark.serialized().write(toFile: root + "/eu1/\(ids[0])/deletion-mark.json", atomically: true, encoding: .utf8)
        let all = try await AccountCatalog.summarize(FilesystemAccount(directory: root)) { _, b in BucketCatalog(bucket: b) }
        #expect(all.map(\.container) == ["eu1", "us1"])
        let eu = all[0]
        #expect(eu.blocks == 6 && eu.partial == 0 && eu.markedForDeletion == 1)
        #expect(eu.minTime == 1_672_531_200_000)
        #expect(eu.resolutions == [0])
        #expect(eu.labelSets == [["cluster": "demo", "replica": "0"]])
        #expect(eu.bytes > 200_000)
        #expect(eu.covered > 0 && eu.covered <= eu.maxTime! - eu.minTime!)
        #expect(all[1].blocks == 0 && all[1].partial == 1)
    }
}
