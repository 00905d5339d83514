import Foundation
import Synchronization
import Testing
import TestSupport

@testable import ObjectStore

/// `upload(_:size:from:)` on every store: the bytes arrive whole, the MD5 returned is theirs, a
/// short or failing reader leaves no object, and memory stays within the piece window.
@Suite("Streamed uploads", .serialized)
struct StreamedUploadTests {
    static let emulator = Result { try AzureEmulator() }

    /// A reader over `data` that records the largest number of reads in flight at once.
    final class Reader: Sendable {
        let data: [UInt8]
        let inFlight = Atomic<Int>(0)
        let peak = Atomic<Int>(0)
        let shortAt: Int64?
        init(_ data: [UInt8], shortAt: Int64? = nil) {
            self.data = data
            self.shortAt = shortAt
        }
        var read: RangeReader {
            { offset, length throws(ObjectStoreError) in
                let n = self.inFlight.add(1, ordering: .relaxed).newValue
                _ = self.peak.max(n, ordering: .relaxed)
                defer { self.inFlight.subtract(1, ordering: .relaxed) }
                try? await Task.sleep(for: .milliseconds(2))
                var end = Int(offset + length)
                if let s = self.shortAt, offset <= s, s < offset + length { end = Int(s) }
                return Array(self.data[Int(offset)..<end])
            }
        }
    }

    func check(_ b: any Bucket, size: Int, window: Int? = nil) async throws {
        let data = azurePattern(size, seed: UInt64(size))
        let reader = Reader(data)
        let md5 = try await b.upload("s/obj", size: Int64(size), from: reader.read)
        #expect(md5 == MD5.digest(data))
        #expect(try await b.get("s/obj") == data)
        if let window { #expect(reader.peak.load(ordering: .relaxed) <= window) }
        // A reader that comes up short is an integrity error, and no object replaces the old one.
        let short = Reader(azurePattern(size, seed: 99), shortAt: Int64(size) - 1)
        await expectKind(.integrity) { _ = try await b.upload("s/obj", size: Int64(size), from: short.read) }
        #expect(try await b.get("s/obj") == data, "a failed streamed upload changed the object")
        await expectKind(.integrity) { _ = try await b.upload("s/new", size: Int64(size), from: short.read) }
        #expect(try await b.exists("s/new") == false, "a failed streamed upload left an object")
        try await b.delete("s/obj")
    }

    @Test("memory bucket", arguments: [1, 3 << 20])
    func memory(size: Int) async throws {
        try await check(MemoryBucket(), size: size)
    }

    @Test("filesystem bucket: pieces written in place, at most 4 reads in flight", arguments: [1, 100, 20 << 20 + 3])
    func filesystem(size: Int) async throws {
        let dir = try Fixtures.tempDir("stream")
        defer { Fixtures.cleanup(dir) }
        try await check(FilesystemBucket(directory: dir), size: size, window: FilesystemBucket.streamParallelism)
        #expect(try FileManager.default.subpathsOfDirectory(atPath: dir).allSatisfy { !$0.contains(".blockyard-tmp-") })
    }

    @Test("azure bucket: Put Blob for small objects, Put Block per piece for large, whole MD5 stored", arguments: [1, 1 << 20, 5 << 20 + 17])
    func azure(size: Int) async throws {
        let h = try AzureHarness(sharing: Self.emulator.get())
        let b = try await h.bucket()
        try h.emu.clearStats()
        try await check(b, size: size, window: AzureHarness.smallTuning().uploadParallelism)
        let s = try h.emu.stats()
        if size > AzureHarness.smallTuning().putBlobThreshold {
            #expect(s.requests("PutBlock") >= size / AzureHarness.smallTuning().blockSize)
            #expect(s.requests("PutBlockList") == 1, "only the good upload commits")
        } else {
            #expect(s.requests("PutBlock") == 0)
        }
    }

    @Test("azure: the stored MD5 of a streamed upload is the whole object's")
    func azureMD5() async throws {
        let h = try AzureHarness(sharing: Self.emulator.get())
        let b = try await h.bucket()
        let data = azurePattern(3 << 20 + 5)
        _ = try await b.upload("m", size: Int64(data.count), from: Reader(data).read)
        #expect(try await b.attributes("m").md5 == MD5.digest(data))
    }

    @Test("computeMD5 reads an object in pieces")
    func computeMD5() async throws {
        let b = MemoryBucket()
        let data = azurePattern(1000)
        try await b.upload("x", bytes: data)
        #expect(try await b.computeMD5("x", size: 1000, pieceSize: 7) == MD5.digest(data))
        await expectKind(.integrity) { _ = try await b.computeMD5("x", size: 1001, pieceSize: 7) }
    }
}

/// Azure to Azure streaming with the source's piece MD5s: the destination checks every piece
/// against the source service's hash, so a corrupted read fails instead of being stored.
@Suite("Streamed uploads with source MD5s")
struct StreamedPieceTests {
    @Test("pieces carry the source's MD5; the whole MD5 is the source's; a corrupted piece is refused")
    func trusted() async throws {
        let h = try AzureHarness()
        let src = try await h.bucket()
        let dst = try await h.bucket()
        let data = azurePattern(3 << 20 + 11, seed: 5)
        try await src.upload("o", bytes: data)
        let a = try await src.attributes("o")
        let piece = try await src.getPiece("o", offset: 0, length: 1 << 20, ifMatch: a.etag)
        #expect(piece.md5 == MD5.digest(Array(data[0..<(1 << 20)])))
        let reader: PieceReader = { offset, length throws(ObjectStoreError) in try await src.getPiece("o", offset: offset, length: length, ifMatch: a.etag) }
        let md5 = try await dst.upload("o", size: a.size, md5: a.md5, from: reader)
        #expect(md5 == MD5.digest(data))
        #expect(try await dst.get("o") == data)

        // One source read corrupted on the wire: its range MD5 no longer fits, the destination refuses the block.
        try h.emu.setFaults(#"[{"operation": "GetBlob", "times": 1, "action": {"corrupt": true}}]"#)
        await h.expectError(.integrity) { _ = try await dst.upload("p", size: a.size, md5: a.md5, from: reader) }
        #expect(try await dst.exists("p") == false)
        // The source replaced meanwhile: the pinned ETag fails the read.
        try await src.upload("o", bytes: azurePattern(3 << 20 + 11, seed: 6))
        await h.expectError(.preconditionFailed) { _ = try await dst.upload("q", size: a.size, md5: a.md5, from: reader) }
        // A reader that gives no piece MD5 cannot be trusted with the whole MD5.
        let plain: PieceReader = { offset, length throws(ObjectStoreError) in RangePiece(bytes: Array(data[Int(offset)..<Int(offset + length)])) }
        await h.expectError(.invalidArgument) { _ = try await dst.upload("r", size: a.size, md5: a.md5, from: plain) }
    }
}
