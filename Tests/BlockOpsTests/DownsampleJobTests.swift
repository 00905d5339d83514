import Foundation
import ObjectStore
import Testing
import TestSupport
@testable import BlockOps
import TSDB

/// The bucket job: plan, read, downsample, upload (meta.json last), read back and verify;
/// two passes; failures reported per block while the run goes on.
@Suite("Downsample: bucket job", .serialized)
struct DownsampleJobTests {
    static let h: Int64 = 3_600_000

    /// A bucket directory with: a 48 h raw block (5m), an 11-day raw block (5m, then 1h in
    /// the second pass), a 2 h block (too short) and a 48 h block marked no-downsample.
    static func populated(_ root: String) throws -> (long: BlockMeta, tenDays: BlockMeta, short: BlockMeta, marked: BlockMeta) {
        let long = try SyntheticBlocks.make(parent: root, hours: 48, labels: ["cluster": "a"])
        let ten = try SyntheticBlocks.make(parent: root, start: 1_710_000_000_000, hours: 11 * 24, step: 120_000, labels: ["cluster": "b"], seed: 2)
        let short = try SyntheticBlocks.make(parent: root, start: 1_720_000_000_000, hours: 2, labels: ["cluster": "a"], seed: 3)
        let marked = try SyntheticBlocks.make(parent: root, start: 1_730_000_000_000, hours: 48, labels: ["cluster": "a"], seed: 4)
        let mark = Marker(kind: .noDownsample, id: marked.ulid, details: "test", time: 1_730_000_000, reason: "manual")
        try mark.serialized().write(toFile: root + "/\(marked.ulid)/no-downsample-mark.json", atomically: true, encoding: .utf8)
        return (long, ten, short, marked)
    }

    static func downsampled(_ r: DownsampleJob.Report) -> [(DownsamplePlanner.Task, BlockMeta)] {
        r.passes.flatMap { $0.outcomes.compactMap { if case .downsampled(let t, let m, _) = $0 { (t, m) } else { nil } } }
    }

    @Test("a directory bucket: two passes make 5m and 1h blocks; a second run has nothing to do")
    func directoryBucket() async throws {
        let root = try Fixtures.tempDir("jobfs")
        defer { Fixtures.cleanup(root) }
        let (long, ten, short, marked) = try Self.populated(root)
        let bucket = FilesystemBucket(directory: root)
        let report = try await DownsampleJob(bucket: bucket).run()
        #expect(report.failures == 0)
        #expect(report.passes.count == 2)
        let made = Self.downsampled(report)
        #expect(made.prefix(2).map { $0.0 } == [
            .init(ulid: long.ulid, from: 0, to: 300_000), .init(ulid: ten.ulid, from: 0, to: 300_000),
        ])
        let second = try #require(report.passes.last?.outcomes.first)
        #expect(second.task.from == 300_000 && second.task.to == 3_600_000)
        #expect(made.count == 3)
        let skipped = Dictionary(report.passes[0].skipped.map { ($0.ulid, $0.reason) }, uniquingKeysWith: { a, _ in a })
        #expect(skipped[short.ulid] == .tooShort(range: short.maxTime - short.minTime, needed: 40 * Self.h))
        #expect(skipped[marked.ulid] == .noDownsampleMark)

        let (entries, _) = try await BucketCatalog(bucket: bucket).list()
        for (task, meta) in made {
            let e = try #require(entries.first { $0.ulid == meta.ulid })
            #expect(e.meta?.resolution == task.to)
            #expect(e.meta?.thanos?.source == "compactor")
            #expect(e.meta?.compaction.sources == (task.ulid == long.ulid ? long : ten).compaction.sources)
            #expect(e.meta?.thanos?.labels == (task.ulid == long.ulid ? long : ten).thanos?.labels)
            #expect(await BlockVerifier(deep: true).verify(directory: root + "/\(meta.ulid)").isEmpty)
            #expect(!e.objects.contains("tombstones"))
        }
        // The 5m output matches the one made locally from the same input (ULIDs aside).
        let local = try Fixtures.tempDir("joblocal")
        defer { Fixtures.cleanup(local) }
        let mine = try BlockDownsampler.downsample(try Block(directory: root + "/\(long.ulid)"), to: 300_000, parent: local)
        let theirs = try #require(made.first { $0.0.ulid == long.ulid }?.1)
        #expect(try Data(contentsOf: URL(fileURLWithPath: mine.directory + "/index")) == Data(contentsOf: URL(fileURLWithPath: root + "/\(theirs.ulid)/index")))
        #expect(try Data(contentsOf: URL(fileURLWithPath: mine.directory + "/chunks/000001")) == Data(contentsOf: URL(fileURLWithPath: root + "/\(theirs.ulid)/chunks/000001")))

        let again = try await DownsampleJob(bucket: bucket).run()
        #expect(again.passes.count == 1 && again.passes[0].outcomes.isEmpty)
        // No work directories are left behind.
        #expect(try FileManager.default.contentsOfDirectory(atPath: root).allSatisfy { ULID($0) != nil })
    }

    @Test("a remote bucket: one block with overlapping chunks fails, named; the other is made")
    func failureDoesNotStopTheRun() async throws {
        let local = try Fixtures.tempDir("jobmem")
        defer { Fixtures.cleanup(local) }
        let good = try SyntheticBlocks.make(parent: local, hours: 48, labels: ["cluster": "a"])
        let bad = try SyntheticBlocks.make(parent: local, start: 1_800_000_000_000, hours: 48, labels: ["cluster": "a"], seed: 5)
        // Overlapping chunks in the bad block's second series.
        let badDir = local + "/\(bad.ulid)"
        let b = try Block(directory: badDir)
        var series: [([(String, String)], [ChunkMeta])] = []
        for r in try b.index.allPostings() {
            let (l, c) = try b.index.seriesLabels(r)
            series.append((l.pairs.map { ($0.name, $0.value) }, c))
        }
        series[1].1.insert(series[1].1[2], at: 3)
        try Data(IndexBuilder(series: series).build(.v2WithLabelIndices)).write(to: URL(fileURLWithPath: badDir + "/index"))

        let bucket = MemoryBucket()
        for m in [good, bad] { _ = try await BlockTransfer.upload(blockDirectory: local + "/\(m.ulid)", to: bucket, labels: nil, source: nil) }
        let report = try await DownsampleJob(bucket: bucket).run()
        #expect(report.failures == 1)
        let failed = report.passes.flatMap { $0.outcomes }.compactMap { if case .failed(let t, let e, _) = $0 { (t, e) } else { nil } }
        #expect(failed.first?.0.ulid == bad.ulid)
        #expect(failed.first?.1.contains("restarts_total") == true && failed.first?.1.contains("overlapping chunks") == true,
                "\(failed.first?.1 ?? "")")
        let made = Self.downsampled(report)
        #expect(made.map(\.0.ulid) == [good.ulid])
        // The bucket holds the two inputs and the one output, nothing partial.
        let (entries, _) = try await BucketCatalog(bucket: bucket).list()
        #expect(entries.count == 3 && entries.allSatisfy { !$0.isPartial })
        let out = try #require(made.first).1.ulid
        #expect(try await BlockVerifier(deep: true).verify(.bucket(bucket, out)).isEmpty)
    }

    @Test("a dry run plans both passes and changes nothing")
    func dryRun() async throws {
        let root = try Fixtures.tempDir("jobdry")
        defer { Fixtures.cleanup(root) }
        let (long, ten, _, _) = try Self.populated(root)
        let before = try FileManager.default.subpathsOfDirectory(atPath: root).sorted()
        var o = DownsampleJob.Options()
        o.dryRun = true
        let report = try await DownsampleJob(bucket: FilesystemBucket(directory: root), options: o).run()
        #expect(try FileManager.default.subpathsOfDirectory(atPath: root).sorted() == before)
        try #require(report.passes.count == 2)
        #expect(report.passes[0].outcomes.map(\.task.ulid) == [long.ulid, ten.ulid])
        let second = report.passes[1].outcomes
        #expect(second.count == 1)
        if case .planned(let t, let after) = second.first {
            #expect(t.from == 300_000 && t.to == 3_600_000 && after == ten.ulid)
        } else {
            Issue.record("expected a planned second-pass task")
        }

        // --id: the second pass only takes what the first made from the chosen blocks.
        o.only = [long.ulid]
        let one = try await DownsampleJob(bucket: FilesystemBucket(directory: root), options: o).run()
        #expect(one.passes.flatMap(\.outcomes).map(\.task.ulid) == [long.ulid])
        o.only = [ten.ulid]
        let other = try await DownsampleJob(bucket: FilesystemBucket(directory: root), options: o).run()
        #expect(other.passes.map { $0.outcomes.map(\.task.from) } == [[0], [300_000]])
    }

    /// A container in the emulator holding one 48 h raw block.
    static func azureBucket(_ emu: AzureEmulator, container: String, local: String) async throws -> (AzureBucket, BlockMeta) {
        var cfg = AzureConfig()
        cfg.storageAccount = AzureEmulator.account
        cfg.storageConnectionString = emu.connectionString
        cfg.container = container
        let bucket = try await AzureBucket(config: cfg)
        let m = try SyntheticBlocks.make(parent: local, hours: 48, labels: ["cluster": "az"])
        _ = try await BlockTransfer.upload(blockDirectory: local + "/\(m.ulid)", to: bucket, labels: nil, source: nil)
        return (bucket, m)
    }

    @Test("through the Azure emulator: download, downsample, upload meta.json last, read back")
    func azure() async throws {
        let emu = try AzureEmulator()
        defer { emu.stop() }
        let local = try Fixtures.tempDir("jobaz")
        defer { Fixtures.cleanup(local) }
        let (bucket, m) = try await Self.azureBucket(emu, container: "downsample", local: local)
        var o = DownsampleJob.Options()
        o.only = [m.ulid]
        let report = try await DownsampleJob(bucket: bucket, options: o).run()
        #expect(report.failures == 0)
        let made = try #require(Self.downsampled(report).first)
        let (entries, _) = try await BucketCatalog(bucket: bucket).list()
        #expect(entries.first { $0.ulid == made.1.ulid }?.meta?.resolution == 300_000)
    }

    @Test("an uploaded block that does not read back intact is removed again and reported")
    func unverifiedUploadRemoved() async throws {
        let emu = try AzureEmulator()
        defer { emu.stop() }
        let local = try Fixtures.tempDir("jobazc")
        defer { Fixtures.cleanup(local) }
        let (bucket, m) = try await Self.azureBucket(emu, container: "downsample-corrupt", local: local)
        // Every read of any other block's chunks comes back with a flipped byte.
        try emu.setFaults(#"[{"method": "GET", "path_regex": "^(?!.*\#(m.ulid)).*/chunks/000001$", "times": -1, "action": {"corrupt": true}}]"#)
        let report = try await DownsampleJob(bucket: bucket).run()
        #expect(report.failures == 1)
        let failure = report.passes.flatMap { $0.outcomes }.compactMap { if case .failed(_, let e, _) = $0 { e } else { nil } }.first ?? ""
        #expect(failure.contains("removed"), "\(failure)")
        let keys = try await bucket.list(prefix: "", recursive: true)
        #expect(keys.allSatisfy { $0.hasPrefix("\(m.ulid)/") }, "\(keys)")
    }

    @Test("uploading with the block's own Thanos section needs external labels in it")
    func uploadKeepsSection() async throws {
        let promBlock = try #require(try Block.directories(at: Fixtures.fixtures + "/blocks/values").first)
        await #expect(throws: BlockOpsError.self) {
            _ = try await BlockTransfer.upload(blockDirectory: promBlock, to: MemoryBucket(), labels: nil)
        }
        let local = try Fixtures.tempDir("jobkeep")
        defer { Fixtures.cleanup(local) }
        let m = try SyntheticBlocks.make(parent: local, hours: 2, labels: ["cluster": "keep", "replica": "0"])
        let b = MemoryBucket()
        _ = try await BlockTransfer.upload(blockDirectory: local + "/\(m.ulid)", to: b, labels: nil, source: nil)
        let back = try BlockMeta(bytes: try await b.get("\(m.ulid)/meta.json"))
        #expect(back.thanos?.labels == ["cluster": "keep", "replica": "0"] && back.thanos?.source == "sidecar")
    }
}
