import Foundation
import Logging
import ObjectStore
import Testing
import TestSupport
import TSDB
@testable import BlockOps

#if canImport(Glibc)
import Glibc
#endif

/// Crash safety of the compaction job, on the bundled demo bucket (six 2h blocks). After a
/// crash at any write, what a Thanos reader would serve (blocks with meta.json, not marked
/// for deletion, not covered by another block's sources) holds exactly the original data
/// with no two such blocks sharing a source; and re-running converges to the state an
/// uninterrupted run reaches.
@Suite("Compaction survives being killed at every write", .serialized)
struct CompactSafetyTests {
    static let demo = Fixtures.fixtures + "/demo-bucket"

    /// The dump of the original blocks, and of what a bucket serves now.
    static func dump(_ blocks: [Block]) throws -> String {
        let out = OutputSink(collecting: ())
        try Dumper(blocks: blocks, options: DumpOptions(), out: out).run()
        try out.flush()
        return out.text
    }

    static let original: String = { (try? dump(try Block.directories(at: demo).map { try Block(directory: $0) })) ?? "" }()

    /// Blocks a Thanos reader would serve.
    static func visible(_ bucket: any Bucket) async throws -> [BlockEntry] {
        let (entries, _) = try await BucketCatalog(bucket: bucket).list()
        let live = entries.filter { $0.meta != nil && !$0.markers.contains(.deletion) }
        return live.filter { e in
            let mine = Set(e.meta!.compaction.sources)
            return !live.contains { o in
                o.ulid != e.ulid && GroupKey(o.meta!) == GroupKey(e.meta!) && mine.isSubset(of: Set(o.meta!.compaction.sources))
                    && (mine != Set(o.meta!.compaction.sources) || o.ulid < e.ulid)
            }
        }
    }

    /// promtool's dump of the original blocks: the oracle for the converged state.
    static let promtoolOriginal: String = { (try? Promtool.dump(try Block.directories(at: demo))) ?? "" }()

    /// Checks the invariants on a bucket; returns the number of visible blocks. With
    /// `promtool`, the served blocks are also dumped by promtool and compared with its dump of
    /// the original.
    @discardableResult
    static func checkServed(_ bucket: any Bucket, _ what: String, promtool: Bool = false) async throws -> Int {
        let vis = try await visible(bucket)
        var seen = Set<ULID>()
        for e in vis {
            for s in e.meta!.compaction.sources {
                #expect(seen.insert(s).inserted, "\(what): source \(s) is served by two blocks")
            }
        }
        let tmp = try Fixtures.tempDir("served")
        defer { Fixtures.cleanup(tmp) }
        var blocks: [Block] = []
        for e in vis {
            _ = try await BlockTransfer.download(e.ulid, from: bucket, to: tmp)
            blocks.append(try Block(directory: tmp + "/\(e.ulid)"))
        }
        #expect(try dump(blocks) == original, "\(what): the served data differs from the original")
        if promtool {
            #expect(try Promtool.dump(vis.map { tmp + "/\($0.ulid)" }) == promtoolOriginal, "\(what): promtool's dump differs")
        }
        return vis.count
    }

    static func options(_ work: String, deleteDelay: Int64 = 48 * CompactionPolicy.hour) -> BucketCompactorOptions {
        var o = BucketCompactorOptions(policy: CompactionPolicy(now: Date().timeIntervalSince1970), workDirectory: work)
        o.deleteDelay = deleteDelay
        return o
    }

    /// A compaction run, then a cleanup run that deletes what the first one marked.
    static func lifecycle(_ bucket: any Bucket, work: String) async throws {
        _ = try await BucketCompactor(bucket: bucket, catalog: BucketCatalog(bucket: bucket), options: options(work), logger: Logger(label: "t")).run()
        _ = try await BucketCompactor(bucket: bucket, catalog: BucketCatalog(bucket: bucket), options: options(work, deleteDelay: 0), logger: Logger(label: "t")).run()
    }

    @Test("local bucket: a crash at each write, then re-runs converge")
    func localCrashes() async throws {
        // How many writes an uninterrupted lifecycle makes, and where it ends up.
        let clean = try Fixtures.copyBlocks(try Block.directories(at: Self.demo))
        defer { Fixtures.cleanup(clean) }
        let counting = CrashingBucket(FilesystemBucket(directory: clean), writes: .max)
        try await Self.lifecycle(counting, work: clean + ".work")
        let writes = counting.writesSeen
        try #require(writes >= 7, "a clean run writes a block (3 objects) and 4 marks, then deletes 4 blocks")
        let finalBlocks = try await Self.checkServed(FilesystemBucket(directory: clean), "uninterrupted")
        #expect(finalBlocks == 3)
        #expect(try Block.directories(at: clean).count == 3, "cleanup deleted the compacted sources")

        for k in 0..<writes {
            let dir = try Fixtures.copyBlocks(try Block.directories(at: Self.demo))
            defer { Fixtures.cleanup(dir); Fixtures.cleanup(dir + ".work") }
            let real = FilesystemBucket(directory: dir)
            let crashing = CrashingBucket(real, writes: k)
            do {
                try await Self.lifecycle(crashing, work: dir + ".work")
            } catch {}
            #expect(crashing.crashed, "write budget \(k) of \(writes)")
            try await Self.checkServed(real, "after a crash at write \(k)")
            // Re-run twice (compaction, then cleanup of what it marked).
            try await Self.lifecycle(real, work: dir + ".work")
            try await Self.lifecycle(real, work: dir + ".work")
            let n = try await Self.checkServed(real, "re-run after a crash at write \(k)")
            #expect(n == finalBlocks, "crash at write \(k): \(n) blocks served, an uninterrupted run serves \(finalBlocks)")
            #expect(try Block.directories(at: dir).count == finalBlocks, "crash at write \(k): leftovers not cleaned up")
        }
    }

    @Test("Azure emulator: the blockyard process is SIGKILLed at each upload, then re-runs converge")
    func emulatorKills() async throws {
        let binary = BlockyardBinary.path
        try #require(FileManager.default.isExecutableFile(atPath: binary), "build blockyard first (swift build): \(binary)")
        let emu = try AzureEmulator()
        defer { emu.stop() }
        let cfg = emu.config(container: "cluster-a")
        let yaml = emu.objstoreYAML(container: "cluster-a")
        let work = try Fixtures.tempDir("kill-work")
        defer { Fixtures.cleanup(work) }

        func seed() async throws -> any Bucket {
            try emu.reset()
            let b = try await AzureBucket(config: cfg)
            for d in try Block.directories(at: Self.demo) {
                let id = (d as NSString).lastPathComponent
                for f in ["chunks/000001", "index", "meta.json"] { try await b.upload("\(id)/\(f)", fromFile: d + "/" + f) }
            }
            try emu.clearStats()
            return b
        }
        func runBlockyard(_ extra: [String] = []) throws -> Process {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: binary)
            p.arguments = ["compact", "--objstore.config", yaml, "--data-dir", work, "--cache-dir", "none"] + extra
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            return p
        }
        // An uninterrupted run: how many uploads it makes.
        let clean = try await seed()
        let p = try runBlockyard()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        let uploads = try emu.uploads()
        try #require(uploads == 7, "one block of 3 objects and 4 deletion marks; saw \(uploads)")
        #expect(try await Self.checkServed(clean, "uninterrupted") == 3)

        for k in 0..<uploads {
            let b = try await seed()
            // The first k uploads go through; from then on every write is reset, so nothing
            // more lands, and the process is killed as soon as it tries.
            try emu.killAtUpload(k) { try runBlockyard() }
            try await Self.checkServed(b, "after SIGKILL at upload \(k)")
            for _ in 0..<2 {
                let r = try runBlockyard()
                r.waitUntilExit()
                #expect(r.terminationStatus == 0, "re-run after a kill at upload \(k)")
            }
            #expect(try await Self.checkServed(b, "re-run after SIGKILL at upload \(k)", promtool: true) == 3)
        }
    }
}
