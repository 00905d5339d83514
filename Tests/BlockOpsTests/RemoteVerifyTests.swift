import Foundation
import ObjectStore
import Testing
import TestSupport
import TSDB
@testable import BlockOps

@Suite("Verify blocks in a bucket (ranged reads into memory)", .serialized)
struct RemoteVerifyTests {
    static var demoBlocks: [String] { (try? Block.directories(at: Fixtures.fixtures + "/demo-bucket")) ?? [] }

    func upload(_ bucket: any Bucket) async throws {
        for d in Self.demoBlocks { _ = try await BlockTransfer.upload(blockDirectory: d, to: bucket, labels: ["cluster": "demo"]) }
    }

    @Test("a block read from a bucket has the local files' bytes, and verifies clean")
    func clean() async throws {
        let b = MemoryBucket()
        try await upload(b)
        for d in Self.demoBlocks {
            let id = try #require(ULID((d as NSString).lastPathComponent))
            // Small pieces so every object takes several ranged reads.
            let (block, sizes) = try await RemoteBlock.load(id, from: b, concurrency: 3, piece: 4096)
            let local = try Block(directory: d)
            #expect(block.index.storage.withBytes(0..<block.index.storage.count) { Array($0) }
                    == local.index.storage.withBytes(0..<local.index.storage.count) { Array($0) })
            #expect(sizes["index"] == Int64(local.index.storage.count))
            let f = BlockVerifier(deep: true).verify(block: block, name: id.description, fileSizes: sizes)
            #expect(f.isEmpty, "\(f)")
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
        let (block, sizes) = try await RemoteBlock.load(id, from: b)
        let f = BlockVerifier().verify(block: block, name: id.description, fileSizes: sizes)
        #expect(f.map(\.kind) == [.chunkChecksum], "\(f)")
        #expect(f.first?.file == "chunks/000001")
    }

    @Test("a block with meta.json but no index is unreadable, not a crash")
    func noIndex() async throws {
        let b = MemoryBucket()
        try await upload(b)
        let id = try #require(ULID((Self.demoBlocks[0] as NSString).lastPathComponent))
        try await b.delete("\(id)/index")
        await #expect(throws: TSDBError.self) { _ = try await RemoteBlock.load(id, from: b) }
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
        // One GET comes back short; the client retries it and the block still verifies.
        try emu.setFaults(#"[{"method": "GET", "path_regex": "/index$", "times": 1, "action": {"truncate_body": 100}}]"#)
        let (entries, _) = try await BucketCatalog(bucket: b).list()
        #expect(entries.count == Self.demoBlocks.count)
        for e in entries {
            let (block, sizes) = try await RemoteBlock.load(e.ulid, from: b, piece: 16 << 10)
            let f = BlockVerifier().verify(block: block, name: e.ulid.description, fileSizes: sizes)
            #expect(f.isEmpty, "\(e.ulid): \(f)")
        }
    }
}
