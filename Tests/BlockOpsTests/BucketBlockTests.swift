import Foundation
import ObjectStore
import Synchronization
import Testing
import TestSupport
import TSDB
@testable import BlockOps

/// Records the order of uploads and can fail one key, to check meta.json-last and that a
/// failure never leaves a block that looks whole.
final class RecordingBucket: Bucket {
    let inner = MemoryBucket()
    let uploads = Mutex<[String]>([])
    let failKey: String?
    init(failKey: String? = nil) { self.failKey = failKey }
    var description: String { "recording bucket" }
    func list(prefix: String, recursive: Bool) async throws(ObjectStoreError) -> [String] { try await inner.list(prefix: prefix, recursive: recursive) }
    func getRange(_ key: String, offset: Int64, length: Int64?) async throws(ObjectStoreError) -> [UInt8] { try await inner.getRange(key, offset: offset, length: length) }
    func attributes(_ key: String) async throws(ObjectStoreError) -> ObjectAttributes { try await inner.attributes(key) }
    func download(_ key: String, toFile path: String) async throws(ObjectStoreError) { try await inner.download(key, toFile: path) }
    func upload(_ key: String, bytes: [UInt8]) async throws(ObjectStoreError) {
        try fail(key)
        uploads.withLock { $0.append(key) }
        try await inner.upload(key, bytes: bytes)
    }
    func upload(_ key: String, fromFile path: String) async throws(ObjectStoreError) {
        try fail(key)
        uploads.withLock { $0.append(key) }
        try await inner.upload(key, fromFile: path)
    }
    func delete(_ key: String) async throws(ObjectStoreError) { try await inner.delete(key) }
    func fail(_ key: String) throws(ObjectStoreError) {
        if let failKey, key.hasSuffix(failKey) { throw ObjectStoreError(.server, bucket: description, key: key, "injected 503") }
    }
}

@Suite("Blocks in buckets: catalog, upload, download")
struct BucketBlockTests {
    static var promBlocks: [String] { (try? Block.directories(at: Fixtures.fixtures + "/blocks/values")) ?? [] }

    @Test("the demo bucket lists every block with its meta, none partial")
    func catalog() async throws {
        let (entries, _) = try await BucketCatalog(bucket: FilesystemBucket(directory: Fixtures.fixtures + "/demo-bucket")).list()
        let dirs = try Block.directories(at: Fixtures.fixtures + "/demo-bucket")
        #expect(entries.map(\.ulid.description) == dirs.map { ($0 as NSString).lastPathComponent })
        for e in entries {
            #expect(e.meta?.thanos?.labels["cluster"] == "demo")
            #expect(!e.isPartial)
            #expect((e.sizeBytes ?? 0) > 0)
        }
    }

    @Test("a partial upload is listed as partial with the age of its newest object")
    func partial() async throws {
        let (entries, _) = try await BucketCatalog(bucket: FilesystemBucket(directory: Fixtures.fixtures + "/partial-bucket")).list()
        #expect(entries.count == 1)
        #expect(entries[0].isPartial)
        #expect((entries[0].newestObject ?? 0) > 0)
        #expect(entries[0].objects.contains("index"))
    }

    @Test("a second listing reads meta.json from the cache")
    func cache() async throws {
        let cache = try Fixtures.tempDir("cache")
        defer { Fixtures.cleanup(cache) }
        let bucket = MemoryBucket()
        for d in Self.promBlocks { _ = try await BlockTransfer.upload(blockDirectory: d, to: bucket, labels: ["cluster": "a"]) }
        let c = BucketCatalog(bucket: bucket, cacheDirectory: cache, concurrency: 2)
        let (first, s1) = try await c.list()
        let (second, s2) = try await c.list()
        #expect(s1.metaFetched == Self.promBlocks.count && s1.metaFromCache == 0)
        #expect(s2.metaFetched == 0 && s2.metaFromCache == Self.promBlocks.count)
        #expect(first.map(\.meta) == second.map(\.meta))
    }

    @Test("upload writes meta.json last with the Thanos section; a re-run skips")
    func upload() async throws {
        let b = RecordingBucket()
        let dir = try #require(Self.promBlocks.first)
        let r = try await BlockTransfer.upload(blockDirectory: dir, to: b, labels: ["cluster": "prod", "replica": "1"])
        #expect(!r.skipped)
        let order = b.uploads.withLock { $0 }
        #expect(order.last == "\(r.ulid)/meta.json")
        #expect(order.contains("\(r.ulid)/index") && order.contains("\(r.ulid)/chunks/000001"))
        #expect(!order.contains { $0.hasSuffix("tombstones") })
        let meta = try BlockMeta(bytes: try await b.get("\(r.ulid)/meta.json"))
        let t = try #require(meta.thanos)
        #expect(t.labels == ["cluster": "prod", "replica": "1"])
        #expect(t.source == "bucket.upload")
        #expect(t.resolution == 0)
        let indexSize = try await b.attributes("\(r.ulid)/index").size
        #expect(t.files.first { $0.relPath == "index" }?.sizeBytes == indexSize)
        #expect(t.files.last?.relPath == "meta.json")
        #expect(meta.document["thanos"]?["upload_time"]?.stringValue?.hasSuffix("Z") == true)
        let again = try await BlockTransfer.upload(blockDirectory: dir, to: b, labels: ["cluster": "prod"])
        #expect(again.skipped)
    }

    @Test("a failed upload never leaves a meta.json behind")
    func failedUpload() async throws {
        let b = RecordingBucket(failKey: "/index")
        let dir = try #require(Self.promBlocks.first)
        await #expect(throws: ObjectStoreError.self) {
            _ = try await BlockTransfer.upload(blockDirectory: dir, to: b, labels: ["cluster": "x"])
        }
        let keys = try await b.list(prefix: "", recursive: true)
        #expect(!keys.contains { $0.hasSuffix("meta.json") })
        // The catalog shows the leftovers as a partial upload.
        let (entries, _) = try await BucketCatalog(bucket: b).list()
        #expect(entries.count == 1 && entries[0].isPartial)
    }

    @Test("a block with tombstones is refused")
    func tombstones() async throws {
        let src = try #require(Self.promBlocks.first)
        let tmp = try Fixtures.tempDir("tomb")
        defer { Fixtures.cleanup(tmp) }
        let dir = tmp + "/" + (src as NSString).lastPathComponent
        try FileManager.default.copyItem(atPath: src, toPath: dir)
        let body: [UInt8] = [0x03, 0x14, 0x28]
        let crc = CRC32C.checksum(body)
        let file = [0x01, 0x30, 0xba, 0x30, 0x01] + body + withUnsafeBytes(of: crc.bigEndian) { Array($0) }
        try Data(file).write(to: URL(fileURLWithPath: dir + "/tombstones"))
        await #expect(throws: BlockOpsError.self) {
            _ = try await BlockTransfer.upload(blockDirectory: dir, to: MemoryBucket(), labels: ["a": "b"])
        }
    }

    @Test("upload then download gives back the same block; promtool reads it",
          .enabled(if: Promtool.available))
    func roundTrip() async throws {
        let b = MemoryBucket()
        let out = try Fixtures.tempDir("download")
        defer { Fixtures.cleanup(out) }
        for d in Self.promBlocks {
            let r = try await BlockTransfer.upload(blockDirectory: d, to: b, labels: ["cluster": "rt"])
            _ = try await BlockTransfer.download(r.ulid, from: b, to: out)
            for f in ["index", "chunks/000001"] {
                #expect(FileManager.default.contents(atPath: d + "/" + f) == FileManager.default.contents(atPath: out + "/\(r.ulid)/" + f))
            }
        }
        #expect(!(try FileManager.default.contentsOfDirectory(atPath: out)).contains { $0.contains("tmp") })
        let theirs = try Promtool.dump(try Block.directories(at: out))
        let original = try Promtool.dump(Self.promBlocks)
        #expect(theirs.split(separator: "\n").sorted() == original.split(separator: "\n").sorted())
        // Downloading over an existing block is refused; a missing block is not found.
        let first = try #require(ULID((try Block.directories(at: out)[0] as NSString).lastPathComponent))
        await #expect(throws: BlockOpsError.self) { _ = try await BlockTransfer.download(first, from: b, to: out) }
        await #expect(throws: BlockOpsError.self) { _ = try await BlockTransfer.download(ULID(milliseconds: 1), from: b, to: out) }
    }
}
