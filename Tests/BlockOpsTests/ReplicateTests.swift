import Foundation
import Synchronization
import Testing
import TestSupport
import TSDB
@testable import BlockOps
@testable import ObjectStore

/// `Replicator` against real buckets: FILESYSTEM copies of the demo bucket, and AZURE to AZURE
/// through the emulator (server-side copy, its fallback to streaming), resumed after damage.
@Suite("Replicate", .serialized)
struct ReplicateTests {
    static let demo = Fixtures.fixtures + "/demo-bucket"

    /// `promtool tsdb dump`-style text of every block under `dir`.
    static func dump(_ dir: String) throws -> String {
        let blocks = try Block.directories(at: dir).map { try Block(directory: $0) }
        let out = OutputSink(collecting: ())
        try Dumper(blocks: blocks, options: DumpOptions(), out: out).run()
        try out.flush()
        return out.text
    }

    static func plan(_ b: any Bucket, filter: ReplicateFilter = ReplicateFilter(), rewrite: LabelRewrite = LabelRewrite()) async throws -> [BlockEntry] {
        let (entries, _) = try await BucketCatalog(bucket: b).list()
        return ReplicatePlan.select(entries, filter: filter, rewrite: rewrite).selected
    }

    static func run(_ from: any Bucket, _ to: any Bucket, _ options: Replicator.Options = Replicator.Options()) async throws -> (ReplicateSummary, [ReplicateBlockReport]) {
        let reports = Reports()
        let s = await Replicator(source: from, destination: to, options: options).run(try await plan(from)) { reports.add($0) }
        return (s, reports.all)
    }

    final class Reports: Sendable {
        let list = Mutex<[ReplicateBlockReport]>([])
        func add(_ r: ReplicateBlockReport) { list.withLock { $0.append(r) } }
        var all: [ReplicateBlockReport] { list.withLock { $0 } }
    }

    @Test("filesystem to filesystem: every block copied byte for byte, the dump unchanged, a re-run skips all")
    func filesystem() async throws {
        let dest = try Fixtures.tempDir("rep")
        defer { Fixtures.cleanup(dest) }
        let (s, reports) = try await Self.run(FilesystemBucket(directory: Self.demo), FilesystemBucket(directory: dest))
        #expect(s.copied == 6 && s.failed == 0 && s.exitCode == 0, "\(reports.compactMap(\.error))")
        for id in try FileManager.default.contentsOfDirectory(atPath: Self.demo) {
            for f in ["meta.json", "index", "chunks/000001", "tombstones"] {
                #expect(FileManager.default.contents(atPath: "\(Self.demo)/\(id)/\(f)") == FileManager.default.contents(atPath: "\(dest)/\(id)/\(f)"), "\(id)/\(f)")
            }
        }
        #expect(try Self.dump(dest) == (try Self.dump(Self.demo)))
        let (again, _) = try await Self.run(FilesystemBucket(directory: Self.demo), FilesystemBucket(directory: dest))
        #expect(again.alreadyThere == 6 && again.copied == 0 && again.objectsCopied == 0)
    }

    @Test("commits meta.json last and in oldest-first order, with blocks copied concurrently")
    func commitOrder() async throws {
        let rec = RecordingBucket()
        var o = Replicator.Options()
        o.concurrency = 6
        let (s, _) = try await Self.run(FilesystemBucket(directory: Self.demo), rec, o)
        #expect(s.copied == 6)
        let uploads = rec.uploads.withLock { $0 }
        let metas = uploads.filter { $0.hasSuffix("/meta.json") }
        let oldestFirst = try await Self.plan(FilesystemBucket(directory: Self.demo)).map { "\($0.ulid)/meta.json" }
        #expect(metas == oldestFirst)
        for m in metas {
            let block = m.dropLast("meta.json".count)
            let i = try #require(uploads.firstIndex(of: m))
            #expect(!uploads[(i + 1)...].contains { $0.hasPrefix(block) }, "an object of \(block) was written after its meta.json")
        }
    }

    @Test("resumes: a destination missing meta.json, one object, and holding a same-sized wrong object is finished")
    func resume() async throws {
        let dest = try Fixtures.tempDir("rep")
        defer { Fixtures.cleanup(dest) }
        _ = try await Self.run(FilesystemBucket(directory: Self.demo), FilesystemBucket(directory: dest))
        let ids = try FileManager.default.contentsOfDirectory(atPath: dest).sorted()
        try FileManager.default.removeItem(atPath: "\(dest)/\(ids[0])/meta.json")
        try FileManager.default.removeItem(atPath: "\(dest)/\(ids[0])/index")
        try FileManager.default.removeItem(atPath: "\(dest)/\(ids[1])/meta.json")
        var chunk = try #require(FileManager.default.contents(atPath: "\(dest)/\(ids[1])/chunks/000001"))
        chunk[chunk.count / 2] ^= 0xFF
        try chunk.write(to: URL(fileURLWithPath: "\(dest)/\(ids[1])/chunks/000001"))
        let (s, reports) = try await Self.run(FilesystemBucket(directory: Self.demo), FilesystemBucket(directory: dest))
        #expect(s.copied == 2 && s.alreadyThere == 4, "\(reports.compactMap(\.error))")
        let r0 = try #require(reports.first { $0.ulid.description == ids[0] })
        #expect(r0.objectsCopied == 1 && r0.objectsSkipped == 2, "only the missing index is copied")
        let r1 = try #require(reports.first { $0.ulid.description == ids[1] })
        #expect(r1.objectsCopied == 1, "the damaged chunk segment (same size, other MD5) is copied again")
        #expect(try Self.dump(dest) == (try Self.dump(Self.demo)))
    }

    @Test("--set-label/--drop-label change only the external labels; a different meta.json in the destination is a conflict")
    func labels() async throws {
        let dest = try Fixtures.tempDir("rep")
        defer { Fixtures.cleanup(dest) }
        var o = Replicator.Options()
        o.rewrite = LabelRewrite(assign: ["cluster": "rebuilt"], remove: ["replica"])
        let (s, _) = try await Self.run(FilesystemBucket(directory: Self.demo), FilesystemBucket(directory: dest), o)
        #expect(s.copied == 6)
        let (entries, _) = try await BucketCatalog(bucket: FilesystemBucket(directory: dest)).list()
        let (orig, _) = try await BucketCatalog(bucket: FilesystemBucket(directory: Self.demo)).list()
        for (e, src) in zip(entries, orig) {
            #expect(e.meta?.thanos?.labels == ["cluster": "rebuilt"])
            var m = try #require(e.meta)
            m.thanos?.labels = src.meta?.thanos?.labels ?? [:]
            #expect(m.json == src.meta?.json, "only the labels differ")
        }
        #expect(try Self.dump(dest) == (try Self.dump(Self.demo)))
        let (again, reports) = try await Self.run(FilesystemBucket(directory: Self.demo), FilesystemBucket(directory: dest))
        #expect(again.failed == 6 && again.exitCode == 3)
        #expect(reports.allSatisfy { $0.error?.contains("different meta.json") == true })
    }

    @Test("a source block whose objects disagree with its meta.json is not copied (exit 2); --verify stops a corrupt copy before its meta.json")
    func badSource() async throws {
        let src = try Fixtures.copyBlocks(try Block.directories(at: Self.demo))
        let dest = try Fixtures.tempDir("rep")
        defer { Fixtures.cleanup(src); Fixtures.cleanup(dest) }
        let ids = try FileManager.default.contentsOfDirectory(atPath: src).sorted()
        // Block 0: an index longer than its meta.json says.
        let h = try FileHandle(forWritingTo: URL(fileURLWithPath: "\(src)/\(ids[0])/index"))
        try h.seekToEnd()
        try h.write(contentsOf: Data([0]))
        try h.close()
        // Block 1: a chunk byte flipped (same size: only verify's CRC check sees it).
        var chunk = try #require(FileManager.default.contents(atPath: "\(src)/\(ids[1])/chunks/000001"))
        chunk[100] ^= 0x01
        try chunk.write(to: URL(fileURLWithPath: "\(src)/\(ids[1])/chunks/000001"))
        var o = Replicator.Options()
        o.verify = true
        let (s, reports) = try await Self.run(FilesystemBucket(directory: src), FilesystemBucket(directory: dest), o)
        #expect(s.copied == 4 && s.failed == 2 && s.exitCode == 2)
        let r0 = try #require(reports.first { $0.ulid.description == ids[0] })
        #expect(r0.exitCode == 2 && r0.error?.contains("index") == true, "\(r0.error ?? "")")
        let r1 = try #require(reports.first { $0.ulid.description == ids[1] })
        #expect(r1.exitCode == 1 && r1.findings.contains { $0.kind == .chunkChecksum }, "\(r1.findings)")
        for id in ids[0...1] { #expect(!FileManager.default.fileExists(atPath: "\(dest)/\(id)/meta.json")) }
        #expect(r1.error?.contains("copied this run were removed") == true, "\(r1.error ?? "")")
        #expect(!FileManager.default.fileExists(atPath: "\(dest)/\(ids[1])/chunks/000001"), "copies that fail verify are removed: a re-run must not keep them for their size")
        #expect(!FileManager.default.fileExists(atPath: "\(dest)/\(ids[1])/index"))
    }

    @Test("dry run writes nothing")
    func dryRun() async throws {
        let dest = try Fixtures.tempDir("rep")
        defer { Fixtures.cleanup(dest) }
        var o = Replicator.Options()
        o.dryRun = true
        let (s, _) = try await Self.run(FilesystemBucket(directory: Self.demo), FilesystemBucket(directory: dest), o)
        #expect(s.planned == 6 && s.objectsCopied == 18 && s.bytesCopied > 0)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dest).isEmpty)
    }

    /// A remote-looking bucket whose store keeps no MD5 (as Azure blobs Thanos uploaded in blocks).
    struct NoMD5Bucket: Bucket {
        let inner: any Bucket
        var description: String { "no-md5 \(inner.description)" }
        func list(prefix: String, recursive: Bool) async throws(ObjectStoreError) -> [String] { try await inner.list(prefix: prefix, recursive: recursive) }
        func getRange(_ key: String, offset: Int64, length: Int64?) async throws(ObjectStoreError) -> [UInt8] { try await inner.getRange(key, offset: offset, length: length) }
        func attributes(_ key: String) async throws(ObjectStoreError) -> ObjectAttributes {
            var a = try await inner.attributes(key)
            a.md5 = nil
            return a
        }
        func download(_ key: String, toFile path: String) async throws(ObjectStoreError) { try await inner.download(key, toFile: path) }
        func upload(_ key: String, bytes: [UInt8]) async throws(ObjectStoreError) { try await inner.upload(key, bytes: bytes) }
        func upload(_ key: String, fromFile path: String) async throws(ObjectStoreError) { try await inner.upload(key, fromFile: path) }
        func delete(_ key: String) async throws(ObjectStoreError) { try await inner.delete(key) }
    }

    @Test("without MD5s on either side, equal sizes decide and the report says so; a size change is copied again")
    func sizeOnly() async throws {
        let src = NoMD5Bucket(inner: MemoryBucket())
        let dst = NoMD5Bucket(inner: MemoryBucket())
        _ = try await Self.run(FilesystemBucket(directory: Self.demo), src)
        let (first, _) = try await Self.run(src, dst)
        #expect(first.copied == 6)
        let (again, reports) = try await Self.run(src, dst)
        #expect(again.alreadyThere == 6)
        #expect(reports.allSatisfy { $0.objectsSizeOnly == 3 })
        let victim = try #require(reports.first).ulid
        try await dst.delete("\(victim)/meta.json")
        try await dst.upload("\(victim)/index", bytes: [1, 2, 3])
        let (fixed, fr) = try await Self.run(src, dst)
        #expect(fixed.copied == 1 && fr.first { $0.ulid == victim }?.objectsCopied == 1)
        #expect(try await dst.get("\(victim)/index") == (try await src.get("\(victim)/index")))
    }

    // MARK: Azure

    /// One emulator for the suite's Azure tests (the suite is serialized), each test in
    /// containers of its own.
    static let emulator = Result { try AzureEmulator() }

    static func shared() throws -> (AzureEmulator, String, String) {
        let emu = try emulator.get()
        try emu.clearFaults()
        let tag = UUID().uuidString.lowercased().prefix(8)
        return (emu, "source-\(tag)", "dest-\(tag)")
    }

    static func azure(_ emu: AzureEmulator, _ container: String) async throws -> AzureBucket {
        try await AzureBucket(config: emu.config(container: container))
    }

    /// Fresh source and destination containers, the source holding the demo blocks, stats cleared.
    static func filledPair() async throws -> (emu: AzureEmulator, src: AzureBucket, dst: AzureBucket) {
        let (emu, sc, dc) = try shared()
        let src = try await azure(emu, sc)
        let dst = try await azure(emu, dc)
        _ = try await run(FilesystemBucket(directory: demo), src)
        try emu.clearStats()
        return (emu, src, dst)
    }

    /// Blocks `ids` downloaded from `b` dump as the demo blocks do.
    static func expectDemo(in b: any Bucket, _ ids: [ULID], sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let down = try Fixtures.tempDir("down")
        defer { Fixtures.cleanup(down) }
        for id in ids { _ = try await BlockTransfer.download(id, from: b, to: down) }
        #expect(try dump(down) == (try dump(demo)), sourceLocation: sourceLocation)
    }

    static var streamed: Replicator.Options {
        var o = Replicator.Options()
        o.serverSideCopy = false
        return o
    }

    @Test("azure to azure: server-side copy moves no block byte through blockyard; the copy dumps like the source")
    func azureServerSide() async throws {
        let (emu, src, dst) = try await Self.filledPair()
        let (sc, dc) = (src.container, dst.container)
        var o = Replicator.Options()
        o.verify = true
        let (s, reports) = try await Self.run(src, dst, o)
        let st = try emu.stats()
        #expect(s.copied == 6 && s.objectsServerSide == 18 && s.fellBack == nil, "\(reports.compactMap(\.error))")
        let payload = reports.reduce(0) { $0 + $1.bytesCopied }
        #expect(st.container(dc).bytesCopiedIn == Int(payload))
        #expect(st.requests("PutBlock") == 0 && st.requests("PutBlob") == 6, "only the meta.json files are uploaded")
        // Verify reads the copies back once; besides that, nothing of the data objects was read.
        #expect(st.container(sc).bytesSent < 64 << 10, "source bytes sent: \(st.container(sc).bytesSent)")
        try await Self.expectDemo(in: dst, reports.map(\.ulid))
    }

    @Test("azure to azure: when the service refuses to copy, objects are streamed and the result is the same")
    func azureFallback() async throws {
        let (emu, src, dst) = try await Self.filledPair()
        try emu.setFaults(#"[{"operation": "PutBlockFromURL", "times": -1, "action": {"status": 409, "code": "CannotVerifyCopySource"}}]"#)
        let r = Replicator(source: src, destination: dst)
        #expect(r.copiesServerSide)
        let s = await r.run(try await Self.plan(src))
        #expect(s.copied == 6 && s.failed == 0 && s.objectsServerSide == 0)
        #expect(s.fellBack?.contains("CannotVerifyCopySource") == true)
        #expect(!r.copiesServerSide)
        let st = try emu.stats()
        #expect(st.requests("PutBlockFromURL") >= 1 && st.requests("PutBlock") == 0, "streamed one Put Blob per object")
        try await Self.expectDemo(in: dst, try await Self.plan(dst).map(\.ulid))
    }

    @Test("azure to azure streamed: one read into one write per object, the service checking the source's MD5")
    func azureStreamedCopy() async throws {
        let (emu, src, dst) = try await Self.filledPair()
        let (s, reports) = try await Self.run(src, dst, Self.streamed)
        #expect(s.copied == 6 && s.objectsServerSide == 0 && s.objectsCopied == 18, "\(reports.compactMap(\.error))")
        let st = try emu.stats()
        #expect(st.requests("PutBlock") == 0 && st.requests("PutBlockFromURL") == 0)
        #expect(st.requests("PutBlob") == 18 + 6, "one Put Blob per object and per meta.json")
        let payload = Int(reports.reduce(0) { $0 + $1.bytesCopied })
        #expect(st.operationBytes("PutBlob").received > payload && st.operationBytes("PutBlob").received < payload + 64 << 10)
        try await Self.expectDemo(in: dst, reports.map(\.ulid))
    }

    /// Clears the MD5 of every data object of the source (Set Blob Properties without
    /// x-ms-blob-content-md5), as Thanos's block-list uploads leave them.
    static func dropMD5s(_ src: AzureBucket) async throws -> [String] {
        let keys = try await src.list(prefix: "", recursive: true).filter { !$0.hasSuffix("meta.json") }
        for k in keys {
            _ = try await src.send(AzureBucket.Op("SetBlobProperties", "PUT", key: k, query: [("comp", "properties")], expect: [200]))
            #expect(try await src.attributes(k).md5 == nil)
        }
        return keys
    }

    @Test("azure to azure streamed, sources without an MD5 (as Thanos uploads them): one read into one write; a damaged read is caught by --verify and its copies removed")
    func azureStreamedWithoutMD5() async throws {
        let (emu, src, dst) = try await Self.filledPair()
        let keys = try await Self.dropMD5s(src)
        try emu.clearStats()
        let (s, reports) = try await Self.run(src, dst, Self.streamed)
        #expect(s.copied == 6 && s.failed == 0, "\(reports.compactMap(\.error))")
        let st = try emu.stats()
        #expect(st.requests("PutBlob") == 18 + 6 && st.requests("PutBlock") == 0, "one Put Blob per object and per meta.json")
        for k in keys {
            let bytes = try await src.get(k)
            #expect(try await dst.get(k) == bytes, "\(k)")
            #expect(try await dst.attributes(k).md5 == MD5.digest(bytes), "the copy carries the MD5 the destination computed: \(k)")
        }
        // A read damaged on the way has no source MD5 to fail against; the block's own checksums
        // do: --verify fails the block, nothing commits, and the damaged copies are removed.
        let victim = try #require(reports.first).ulid
        for k in ["meta.json", "index"] { try await dst.delete("\(victim)/\(k)") }
        try emu.setFaults(#"[{"operation": "GetBlob", "path_regex": "\#(victim)/index$", "times": 1, "action": {"corrupt": true}}]"#)
        var verifying = Self.streamed
        verifying.verify = true
        let (bad, br) = try await Self.run(src, dst, verifying)
        let failed = try #require(br.first { $0.ulid == victim })
        #expect(bad.failed == 1 && failed.exitCode == 1 && !failed.findings.isEmpty, "\(br.compactMap(\.error))")
        #expect(try await dst.exists("\(victim)/meta.json") == false)
        #expect(try await dst.exists("\(victim)/index") == false, "the damaged index was removed")
        // The re-run copies it again, whole.
        let (again, _) = try await Self.run(src, dst, verifying)
        #expect(again.failed == 0 && again.copied == 1)
        #expect(try await dst.get("\(victim)/index") == (try await src.get("\(victim)/index")))
    }

    @Test("--checked-reads: sources without an MD5 are read in ranges the source hashes; a damaged read is refused at once")
    func azureCheckedReads() async throws {
        let (emu, src, dst) = try await Self.filledPair()
        let keys = try await Self.dropMD5s(src)
        var checked = Self.streamed
        checked.checkedReads = true
        let victim = try await Self.plan(src)[0].ulid
        try emu.setFaults(#"[{"operation": "GetBlob", "path_regex": "\#(victim)/index$", "times": 1, "action": {"corrupt": true}}]"#)
        let (s, reports) = try await Self.run(src, dst, checked)
        #expect(s.copied == 5 && s.failed == 1 && reports.first { $0.ulid == victim }?.error?.contains("integrity") == true, "\(reports.compactMap(\.error))")
        #expect(try await dst.exists("\(victim)/meta.json") == false)
        try emu.clearStats()
        let (again, _) = try await Self.run(src, dst, checked)
        #expect(again.failed == 0 && again.copied == 1)
        // Each object fits one piece: one ranged read, with the source's MD5 of the range, each.
        for k in keys { #expect(try await dst.get(k) == (try await src.get(k)), "\(k)") }
    }

    @Test("azure to filesystem and back, streamed; a failed object fails its block only, and a re-run finishes it")
    func azureStreamed() async throws {
        let (emu, sc, _) = try Self.shared()
        let src = try await Self.azure(emu, sc)
        _ = try await Self.run(FilesystemBucket(directory: Self.demo), src)
        let dest = try Fixtures.tempDir("rep")
        defer { Fixtures.cleanup(dest) }
        // Every read of one block's index fails (5xx, retried until the tries run out).
        let victim = try await Self.plan(src)[2].ulid
        try emu.setFaults(#"[{"operation": "GetBlob", "path_regex": "\#(victim)/index$", "times": -1, "action": {"status": 500}}]"#)
        let (s, reports) = try await Self.run(src, FilesystemBucket(directory: dest))
        #expect(s.copied == 5 && s.failed == 1 && s.exitCode == 3)
        #expect(reports.first { $0.outcome == .failed }?.ulid == victim)
        #expect(!FileManager.default.fileExists(atPath: "\(dest)/\(victim)/meta.json"))
        try emu.clearFaults()
        let (again, _) = try await Self.run(src, FilesystemBucket(directory: dest))
        #expect(again.copied == 1 && again.alreadyThere == 5)
        #expect(try Self.dump(dest) == (try Self.dump(Self.demo)))
    }
}
