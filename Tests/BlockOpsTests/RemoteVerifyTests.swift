import Foundation
import ObjectStore
import Testing
import TestSupport
import TSDB
@testable import BlockOps

@Suite("Verify blocks in a bucket (ranged reads, bounded windows)", .serialized)
struct RemoteVerifyTests {
    static var demoBlocks: [String] { (try? Block.directories(at: Fixtures.fixtures + "/demo-bucket")) ?? [] }

    func upload(_ bucket: any Bucket) async throws {
        for d in Self.demoBlocks { _ = try await BlockTransfer.upload(blockDirectory: d, to: bucket, labels: ["cluster": "demo"]) }
    }

    @Test("an object read whole by small ranged pieces has the file's bytes")
    func readAll() async throws {
        let b = MemoryBucket()
        try await upload(b)
        for d in Self.demoBlocks {
            let id = try #require(ULID((d as NSString).lastPathComponent))
            let size = try await b.attributes("\(id)/index").size
            let s = try await BucketSource(b, key: "\(id)/index", size: Int(size)).readAll(concurrency: 3, piece: 1000)
            #expect(s.withBytes(0..<s.count) { Array($0) } == [UInt8](try Data(contentsOf: URL(fileURLWithPath: d + "/index"))))
        }
    }

    @Test("blocks in a bucket verify clean, with --deep and with tiny windows")
    func clean() async throws {
        let b = MemoryBucket()
        try await upload(b)
        var tiny = BlockVerifier(deep: true)
        tiny.remoteStream.windowBytes = 4096
        tiny.remoteStream.chunkSizeHint = 100
        for d in Self.demoBlocks {
            let id = try #require(ULID((d as NSString).lastPathComponent))
            let f = try await BlockVerifier(deep: true).verify(.bucket(b, id))
            #expect(f.isEmpty, "\(f)")
            let t = try await tiny.verify(.bucket(b, id))
            #expect(t.isEmpty, "\(t)")
        }
    }

    @Test("a flipped chunk byte in the bucket's copy is found; nothing is written to disk")
    func corrupt() async throws {
        let b = MemoryBucket()
        try await upload(b)
        let id = try #require(ULID((Self.demoBlocks[0] as NSString).lastPathComponent))
        var seg = try await b.get("\(id)/chunks/000001")
        seg[seg.count / 2] ^= 0x08
        try await b.upload("\(id)/chunks/000001", bytes: seg)
        let f = try await BlockVerifier().verify(.bucket(b, id))
        #expect(f.map(\.kind) == [.chunkChecksum], "\(f)")
        #expect(f.first?.file == "chunks/000001")
    }

    @Test("a block with meta.json but no index is one unreadable finding, not a crash")
    func noIndex() async throws {
        let b = MemoryBucket()
        try await upload(b)
        let id = try #require(ULID((Self.demoBlocks[0] as NSString).lastPathComponent))
        try await b.delete("\(id)/index")
        let f = try await BlockVerifier().verify(.bucket(b, id))
        #expect(f.map(\.kind).contains(.unreadable), "\(f)")
        #expect(f.first { $0.kind == .unreadable }?.file == "index")
        await #expect(throws: TSDBError.self) { _ = try await SourceBlock.open(.bucket(b, id)) }
    }

    @Test("through the Azure emulator, with a truncated range along the way")
    func azure() async throws {
        let emu = try AzureEmulator()
        defer { emu.stop() }
        var cfg = AzureConfig()
        cfg.storageAccount = AzureEmulator.account
        cfg.storageConnectionString = emu.connectionString
        cfg.container = "verify"
        let b = try await AzureBucket(config: cfg)
        try await upload(b)
        // One GET of a chunk segment comes back short; the client retries it and the
        // block still verifies.
        try emu.setFaults(#"[{"method": "GET", "path_regex": "/chunks/000001$", "times": 1, "action": {"truncate_body": 100}}]"#)
        var v = BlockVerifier(deep: true)
        v.remoteStream.windowBytes = 16 << 10
        let report = try await BucketVerifier(verifier: v).verify(BucketCatalog(bucket: b))
        #expect(report.blocks.count == Self.demoBlocks.count)
        #expect(report.all.isEmpty, "\(report.all)")
    }
}

@Suite("Verify a bucket: block-level and bucket-level findings together")
struct BucketVerifyTests {
    /// A copy of the demo bucket (a directory laid out like a bucket), changed.
    func bucket(_ change: (String, [String]) throws -> Void) async throws -> BucketVerifier.Report {
        let tmp = try Fixtures.tempDir("bucket")
        defer { Fixtures.cleanup(tmp) }
        let names = try Block.directories(at: Fixtures.fixtures + "/demo-bucket").map { ($0 as NSString).lastPathComponent }
        for n in names { try FileManager.default.copyItem(atPath: Fixtures.fixtures + "/demo-bucket/" + n, toPath: tmp + "/" + n) }
        try change(tmp, names.sorted())
        let catalog = BucketCatalog(bucket: FilesystemBucket(directory: tmp))
        return try await BucketVerifier(verifier: BlockVerifier(), localRoot: tmp).verify(catalog, now: 4e9)
    }

    /// Copies block `from` to a new ULID (meta.json updated to match).
    func clone(_ root: String, _ from: String, to id: ULID, meta: Bool = true) throws {
        try FileManager.default.copyItem(atPath: root + "/" + from, toPath: root + "/\(id)")
        if meta {
            try Damage.writeMeta(root + "/\(id)") { $0.ulid = id }
        } else {
            try FileManager.default.removeItem(atPath: root + "/\(id)/meta.json")
        }
    }

    @Test("the demo bucket is clean")
    func clean() async throws {
        let r = try await bucket { _, _ in }
        #expect(r.blocks.count >= 2)
        #expect(r.all.isEmpty, "\(r.all)")
    }

    @Test("two overlapping blocks")
    func overlap() async throws {
        let r = try await bucket { root, names in
            // The second block's range starts inside the first one's.
            let first = try Block(directory: root + "/" + names[0]).meta
            try Damage.writeMeta(root + "/" + names[1]) { $0.minTime = first.maxTime - 60_000 }
        }
        #expect(r.all.map(\.kind) == [.overlap], "\(r.all)")
    }

    @Test("a duplicated compaction: the same sources twice (and not reported as an overlap too)")
    func duplicatedCompaction() async throws {
        let r = try await bucket { root, names in
            try clone(root, names[0], to: ULID(high: 0x0190_0000_0000, low: 7))
        }
        #expect(r.all.map(\.kind) == [.duplicatedCompaction], "\(r.all)")
    }

    @Test("a partial upload: objects but no meta.json, with its age")
    func partial() async throws {
        let r = try await bucket { root, names in
            try clone(root, names[0], to: ULID(high: 0x0190_0000_0000, low: 8), meta: false)
        }
        #expect(r.all.map(\.kind) == [.partialUpload], "\(r.all)")
        #expect(r.all.first?.detail.contains("old") == true)
    }

    @Test("markers: deletion, no-compact, and one that does not parse")
    func markers() async throws {
        let r = try await bucket { root, names in
            let id = names[0]
            try Data(#"{"id":"\#(id)","deletion_time":1700000000,"version":1}"#.utf8)
                .write(to: URL(fileURLWithPath: root + "/\(id)/deletion-mark.json"))
            try Data("not json".utf8).write(to: URL(fileURLWithPath: root + "/\(names[1])/no-compact-mark.json"))
        }
        #expect(Set(r.all.map(\.kind)) == [.markedForDeletion, .markedNoCompact, .badMarker], "\(r.all)")
    }
}
