import Foundation
import Logging
import ObjectStore
import Testing
import TestSupport
import TSDB
@testable import BlockOps

/// `blockyard repair` on buckets: the demo bucket (six 2h blocks with Thanos sections)
/// with two blocks broken: one chunk that fails its CRC in the first (data dropped), a
/// series given twice in the third (nothing lost). After a run, what a Thanos reader
/// serves (blocks with meta.json and no deletion mark) must hold exactly the original
/// data minus the dropped chunk; originals must be in the backup bucket before they are
/// marked; and a run killed at any write must leave nothing marked that has no complete
/// replacement, and converge when run again.
@Suite("Repair: bucket flows, crashes, backups", .serialized)
struct RepairBucketTests {
    static let demo = Fixtures.fixtures + "/demo-bucket"
    static let blocks: [String] = (try? Block.directories(at: demo)) ?? []

    /// What the two breakages should leave: the demo data without the chunk whose CRC fails.
    struct Broken {
        var dir: String
        var ids: [ULID]
        var expected: String
    }

    static func dump(_ blocks: [Block]) throws -> String { try CompactRepairTests.dump(blocks) }

    /// A copy of the demo bucket (block directories only: chunks, index, meta.json, as
    /// Thanos uploads them) with the two breakages.
    static func broken() throws -> Broken {
        let dir = try Fixtures.tempDir("repair-bucket")
        for b in blocks {
            let dest = dir + "/" + (b as NSString).lastPathComponent
            try FileManager.default.createDirectory(atPath: dest + "/chunks", withIntermediateDirectories: true)
            for f in ["chunks/000001", "index", "meta.json"] { try FileManager.default.copyItem(atPath: b + "/" + f, toPath: dest + "/" + f) }
        }
        let b0 = BrokenBlock(at: dir + "/" + (blocks[0] as NSString).lastPathComponent, original: blocks[0])
        let s = try b0.series()[3]
        try b0.flip(s.1[0], at: 5)
        let b2 = BrokenBlock(at: dir + "/" + (blocks[2] as NSString).lastPathComponent, original: blocks[2])
        try b2.rewriteIndex(try b2.series().splitting(6))
        let name = Labels(s.0.map { Label(name: $0.0, value: $0.1) }).description
        let original = DumpText(try dump(blocks.map { try Block(directory: $0) }))
        return Broken(dir: dir, ids: [try b0.block().ulid, try b2.block().ulid],
                      expected: original.removing(name, s.1[0].minTime...s.1[0].maxTime).text)
    }

    /// Blocks a reader serves: complete (meta.json) and not marked for deletion.
    static func served(_ bucket: any Bucket) async throws -> [BlockEntry] {
        try await BucketCatalog(bucket: bucket).list().0.filter { $0.meta != nil && !$0.markers.contains(.deletion) }
    }

    static func servedDump(_ bucket: any Bucket) async throws -> String {
        let tmp = try Fixtures.tempDir("served")
        defer { Fixtures.cleanup(tmp) }
        var bs: [Block] = []
        for e in try await served(bucket) {
            _ = try await BlockTransfer.download(e.ulid, from: bucket, to: tmp)
            bs.append(try Block(directory: tmp + "/\(e.ulid)"))
        }
        return try dump(bs)
    }

    /// The safety rule after any crash: a broken original is only ever marked when its
    /// replacement is complete in the bucket and (with a backup) the original is in the
    /// backup bucket, complete.
    static func checkSafe(_ bucket: any Bucket, backup: (any Bucket)?, _ ids: [ULID], _ what: String) async throws {
        let (entries, _) = try await BucketCatalog(bucket: bucket).list()
        for id in ids {
            let e = try #require(entries.first { $0.ulid == id }, "\(what): original \(id) is gone")
            #expect(e.meta != nil, "\(what): original \(id) lost its meta.json")
            guard e.markers.contains(.deletion) else { continue }
            let replaced = entries.contains { r in
                r.meta?.thanos?.source == "bucket.repair" && r.meta?.compaction.sources == e.meta?.compaction.sources && !r.markers.contains(.deletion)
            }
            #expect(replaced, "\(what): \(id) is marked but has no complete replacement")
            if let backup {
                #expect(try await backup.exists("\(id)/meta.json"), "\(what): \(id) is marked before it was backed up")
            }
        }
    }

    static func run(_ bucket: any Bucket, backup: (any Bucket)?, work: String, dryRun: Bool = false, ids: [ULID] = []) async throws -> [RepairOutcome] {
        var o = BucketRepairOptions(workDirectory: work)
        o.backup = backup
        o.ids = ids
        o.repair.dryRun = dryRun
        return try await BucketRepairer(bucket: bucket, catalog: BucketCatalog(bucket: bucket), options: o, logger: Logger(label: "t")).run()
    }

    /// The end state of a completed run.
    static func checkDone(_ bucket: any Bucket, backup: (any Bucket)?, _ b: Broken, _ what: String) async throws {
        let live = try await served(bucket)
        #expect(live.count == blocks.count, "\(what): \(live.map(\.ulid))")
        #expect(live.filter { $0.meta?.thanos?.source == "bucket.repair" }.count == 2, "\(what)")
        for id in b.ids {
            #expect(try await bucket.exists("\(id)/deletion-mark.json"), "\(what): \(id) not marked")
            if let backup { #expect(try await backup.exists("\(id)/meta.json"), "\(what): \(id) not backed up") }
        }
        #expect(try await servedDump(bucket) == b.expected, "\(what): the served data is not the original minus the dropped chunk")
        for e in live where e.meta?.thanos?.source == "bucket.repair" {
            #expect(e.objects.contains("repair.log"))
            #expect(e.meta?.thanos?.labels == ["cluster": "demo", "replica": "0"])
        }
    }

    @Test("FILESYSTEM bucket with a backup bucket: repaired, uploaded, backed up byte for byte, marked; a re-run finds nothing")
    func filesystem() async throws {
        let b = try Self.broken()
        defer { Fixtures.cleanup(b.dir) }
        let backupDir = try Fixtures.tempDir("backup")
        defer { Fixtures.cleanup(backupDir) }
        let originals = try b.ids.map { id in try ["chunks/000001", "index", "meta.json"].map { try Data(contentsOf: URL(fileURLWithPath: b.dir + "/\(id)/" + $0)) } }
        let bucket = FilesystemBucket(directory: b.dir), backup = FilesystemBucket(directory: backupDir)
        let out = try await Self.run(bucket, backup: backup, work: b.dir + ".work")
        #expect(out.filter(\.repaired).count == 2)
        #expect(out.filter { $0.status == .clean }.count == 4)
        #expect(out.first { $0.block == b.ids[0].description }?.dataLost == true)
        #expect(out.first { $0.block == b.ids[1].description }?.dataLost == false)
        try await Self.checkDone(bucket, backup: backup, b, "after one run")
        for (i, id) in b.ids.enumerated() {
            let copied = try ["chunks/000001", "index", "meta.json"].map { try Data(contentsOf: URL(fileURLWithPath: backupDir + "/\(id)/" + $0)) }
            #expect(copied == originals[i], "the backup of \(id) is the original, byte for byte")
        }
        let again = try await Self.run(bucket, backup: backup, work: b.dir + ".work")
        #expect(again.allSatisfy { $0.status == .clean }, "\(again.map(\.status))")
        #expect(again.count == Self.blocks.count, "marked originals are left out")
        #expect(!FileManager.default.fileExists(atPath: b.dir + ".work/\(b.ids[0])"), "scratch space is cleaned up")
    }

    @Test("a dry run changes nothing in the bucket, and --id picks blocks")
    func dryRunAndIDs() async throws {
        let b = try Self.broken()
        defer { Fixtures.cleanup(b.dir) }
        let bucket = FilesystemBucket(directory: b.dir)
        func snapshot() async throws -> [String: Int64] {
            var s: [String: Int64] = [:]
            for k in try await bucket.list(prefix: "", recursive: true) { s[k] = try await bucket.attributes(k).size }
            return s
        }
        let before = try await snapshot()
        let out = try await Self.run(bucket, backup: nil, work: b.dir + ".work", dryRun: true)
        #expect(out.filter(\.repaired).count == 2)
        #expect(out.allSatisfy { $0.dryRun })
        #expect(try await snapshot() == before, "a dry run wrote to the bucket")
        let one = try await Self.run(bucket, backup: nil, work: b.dir + ".work", ids: [b.ids[1]])
        #expect(one.count == 1 && one[0].repaired && !one[0].dataLost)
        await #expect(throws: BlockOpsError.self) {
            _ = try await Self.run(bucket, backup: nil, work: b.dir + ".work", ids: [ULID(milliseconds: 1)])
        }
    }

    @Test("a block whose meta.json does not parse cannot be repaired, and is left alone")
    func unreadableMeta() async throws {
        let b = try Self.broken()
        defer { Fixtures.cleanup(b.dir) }
        let victim = (Self.blocks[4] as NSString).lastPathComponent
        try "{\"ulid\": ".write(toFile: b.dir + "/\(victim)/meta.json", atomically: true, encoding: .utf8)
        let out = try await Self.run(FilesystemBucket(directory: b.dir), backup: nil, work: b.dir + ".work")
        let o = try #require(out.first { $0.block == victim })
        guard case .unrepairable(let why) = o.status else { throw BlockOpsError.invalid("\(o.status)") }
        #expect(why.contains("meta.json does not parse"))
        #expect(!FileManager.default.fileExists(atPath: b.dir + "/\(victim)/deletion-mark.json"))
        #expect(out.filter(\.repaired).count == 2)
    }

    @Test("killed at every write (bucket and backup), then re-run: nothing marked without a complete replacement; converges")
    func crashes() async throws {
        // Both buckets live under one crashing store, so one write budget spans them; being
        // behind a wrapper, the bucket is read like a remote one (ranged reads).
        func setUp() throws -> (Broken, any Bucket, any Bucket, String, CrashingBucket) {
            let b = try Self.broken()
            let root = try Fixtures.tempDir("crash-root")
            try FileManager.default.moveItem(atPath: b.dir, toPath: root + "/main")
            let crashing = CrashingBucket(FilesystemBucket(directory: root), writes: .max)
            return (Broken(dir: root + "/main", ids: b.ids, expected: b.expected), PrefixedBucket(crashing, prefix: "main"),
                    PrefixedBucket(crashing, prefix: "backup"), root, crashing)
        }
        let (clean, cb, cbk, croot, counting) = try setUp()
        _ = try await Self.run(cb, backup: cbk, work: croot + "/work")
        let writes = counting.writesSeen
        try #require(writes == 2 * (4 + 3 + 1), "per block: repair.log, chunks, index, meta.json; 3 backup objects; a mark (saw \(writes))")
        try await Self.checkDone(cb, backup: cbk, clean, "uninterrupted")
        Fixtures.cleanup(croot)

        for k in 0..<writes {
            let b = try Self.broken()
            let root = try Fixtures.tempDir("crash-\(k)")
            defer { Fixtures.cleanup(root); Fixtures.cleanup(b.dir) }
            try FileManager.default.createDirectory(atPath: root + "/data", withIntermediateDirectories: true)
            try FileManager.default.moveItem(atPath: b.dir, toPath: root + "/data/main")
            let real = FilesystemBucket(directory: root + "/data")
            let crashing = CrashingBucket(real, writes: k)
            do {
                _ = try await Self.run(PrefixedBucket(crashing, prefix: "main"), backup: PrefixedBucket(crashing, prefix: "backup"), work: root + "/work")
            } catch {}
            #expect(crashing.crashed, "write budget \(k) of \(writes)")
            let main = PrefixedBucket(real, prefix: "main"), backup = PrefixedBucket(real, prefix: "backup")
            try await Self.checkSafe(main, backup: backup, b.ids, "after a crash at write \(k)")
            let rerun = try await Self.run(main, backup: backup, work: root + "/work")
            #expect(!rerun.contains { if case .unrepairable = $0.status { true } else { false } }, "crash at \(k): \(rerun.map(\.status))")
            try await Self.checkDone(main, backup: backup, b, "re-run after a crash at write \(k)")
            let third = try await Self.run(main, backup: backup, work: root + "/work")
            #expect(third.allSatisfy { $0.status == .clean }, "crash at \(k): a third run still found work: \(third.map(\.status))")
        }
    }

    @Test("Azure emulator with a backup container: the blockyard process is SIGKILLed at each upload, then re-runs converge")
    func emulatorKills() async throws {
        let binary = BlockyardBinary.path
        try #require(FileManager.default.isExecutableFile(atPath: binary), "build blockyard first (swift build): \(binary)")
        let emu = try AzureEmulator()
        defer { emu.stop() }
        let work = try Fixtures.tempDir("repair-kill-work")
        defer { Fixtures.cleanup(work) }
        let b = try Self.broken()
        defer { Fixtures.cleanup(b.dir) }

        func seed() async throws -> (any Bucket, any Bucket) {
            try emu.reset()
            let main = try await AzureBucket(config: emu.config(container: "cluster-a"))
            let backup = try await AzureBucket(config: emu.config(container: "cluster-a-backup"))
            for d in try Block.directories(at: b.dir) {
                let id = (d as NSString).lastPathComponent
                for f in ["chunks/000001", "index", "meta.json"] { try await main.upload("\(id)/\(f)", fromFile: d + "/" + f) }
            }
            try emu.clearStats()
            return (main, backup)
        }
        func repair() throws -> Process {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: binary)
            p.arguments = ["repair", "--objstore.config", emu.objstoreYAML(container: "cluster-a"),
                           "--objstore-backup.config", emu.objstoreYAML(container: "cluster-a-backup"),
                           "--data-dir", work, "--cache-dir", "none"]
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            return p
        }
        let (m0, bk0) = try await seed()
        let p = try repair()
        p.waitUntilExit()
        #expect(p.terminationStatus == 4, "repaired, with data dropped")
        let uploads = try emu.uploads()
        try #require(uploads == 16, "per broken block 4 uploads, 3 backup copies and a mark; saw \(uploads)")
        try await Self.checkDone(m0, backup: bk0, b, "uninterrupted")

        for k in 0..<uploads {
            let (main, backup) = try await seed()
            try emu.killAtUpload(k) { try repair() }
            try await Self.checkSafe(main, backup: backup, b.ids, "after SIGKILL at upload \(k)")
            let r = try repair()
            r.waitUntilExit()
            #expect([1, 4].contains(r.terminationStatus), "re-run after a kill at upload \(k): exit \(r.terminationStatus)")
            try await Self.checkDone(main, backup: backup, b, "re-run after SIGKILL at upload \(k)")
            let last = try repair()
            last.waitUntilExit()
            #expect(last.terminationStatus == 0, "a third run after a kill at upload \(k) found more to do")
        }
    }
}

@Suite("Repair: the command's exit status")
struct RepairExitTests {
    static func run(_ args: [String]) throws -> (Int32, String, String) {
        try Run.run(BlockyardBinary.path, args)
    }

    @Test("0 nothing to repair, 1 repaired, 4 data dropped, 2 cannot be repaired, 64 usage")
    func exitCodes() throws {
        try #require(FileManager.default.isExecutableFile(atPath: BlockyardBinary.path), "build blockyard first")
        let src = try #require(try Block.directories(at: Fixtures.fixtures + "/demo-bucket").first)
        let out = try Fixtures.tempDir("exit")
        defer { Fixtures.cleanup(out) }
        #expect(try Self.run(["block", "repair", src, "--out", out]).0 == 0)

        let dup = try BrokenBlock(copying: src)
        defer { Fixtures.cleanup(dup.work) }
        var all = try dup.series()
        all.insert(all[3], at: 4)
        try dup.rewriteIndex(all)
        let (c1, o1, _) = try Self.run(["block", "repair", dup.dir, "--out", out])
        #expect(c1 == 1, "\(o1)")
        #expect(o1.contains("merged-duplicate-series"))

        let crc = try BrokenBlock(copying: src)
        defer { Fixtures.cleanup(crc.work) }
        try crc.flip(try crc.series()[3].1[0], at: 5)
        let (c4, o4, _) = try Self.run(["block", "repair", crc.dir, "--out", out])
        #expect(c4 == 4, "\(o4)")
        #expect(o4.contains("[data dropped] dropped-chunk"))
        let (cd, od, _) = try Self.run(["block", "repair", crc.dir, "--dry-run"])
        #expect(cd == 4 && od.contains("would be repaired"), "\(od)")

        let bad = try BrokenBlock(copying: src)
        defer { Fixtures.cleanup(bad.work) }
        var d = try Data(contentsOf: URL(fileURLWithPath: bad.dir + "/index"))
        d[d.count - 20] ^= 0x01
        try d.write(to: URL(fileURLWithPath: bad.dir + "/index"))
        let (c2, o2, _) = try Self.run(["block", "repair", bad.dir, "--out", out])
        #expect(c2 == 2, "\(o2)")
        #expect(o2.contains("cannot be repaired"))

        #expect(try Self.run(["block", "repair", src]).0 == 64, "--out or --dry-run is required")
        #expect(try Self.run(["repair", out, "--id", "nope"]).0 == 64)
        let help = try Self.run(["repair", "--help"]).1.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        #expect(help.contains("Exit status: 0 nothing to repair; 1 repaired (or would be), no data dropped; 4 repaired"))
    }
}
