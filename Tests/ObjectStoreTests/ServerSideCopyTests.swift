import Foundation
import Testing
import TestSupport

@testable import ObjectStore

/// Put Block From URL between containers of the emulator: the bytes move inside the service
/// (the emulator's per-container counters prove none came through the client), every source
/// credential kind authorises the read, and refusals surface as `.unsupported`.
@Suite("Azure server-side copy", .serialized)
struct ServerSideCopyTests {
    static let token = "copy-source-token-\(UUID().uuidString)"
    static let emulator = Result { try AzureEmulator(bearerTokens: [token]) }

    static func tuning() -> AzureTuning {
        var t = AzureHarness.smallTuning()
        t.copyRangeSize = 1 << 20
        t.copyParallelism = 3
        return t
    }

    /// Source and destination buckets in two containers of the emulator, and their names.
    func pair(_ h: AzureHarness) async throws -> (AzureBucket, AzureBucket, String, String) {
        let sc = AzureHarness.containerName()
        let dc = AzureHarness.containerName()
        let src = try await h.bucket(h.config(container: sc), tuning: Self.tuning())
        let dst = try await h.bucket(h.config(container: dc), tuning: Self.tuning())
        return (src, dst, sc, dc)
    }

    @Test("shared key source: a service SAS is signed; no blob byte passes through the client", arguments: [0, 1, 3 << 20 + 5])
    func sharedKey(size: Int) async throws {
        let h = try AzureHarness(sharing: Self.emulator.get())
        let (src, dst, sc, dc) = try await pair(h)
        let data = azurePattern(size, seed: 3)
        try await src.upload("blk/chunks/000001", bytes: data)
        let a = try await src.attributes("blk/chunks/000001")
        let copier = try #require(ServerSideCopier(from: src, to: dst))
        try h.emu.clearStats()
        try await copier.copy("blk/chunks/000001", attributes: a)
        let s = try h.emu.stats()
        #expect(try await dst.get("blk/chunks/000001") == data)
        #expect(try await dst.attributes("blk/chunks/000001").md5 == MD5.digest(data))
        let d = s.container(dc)
        let from = s.container(sc)
        if size > 0 {
            #expect(d.bytesCopiedIn == size)
            #expect(from.bytesCopiedOut == size)
            #expect(s.requests("PutBlockFromURL") == (size + (1 << 20) - 1) / (1 << 20))
            // The only bodies sent to the destination are block lists; nothing was read from the source.
            #expect(d.bytesReceived == s.operationBytes("PutBlockList").received)
            #expect(d.bytesReceived < 1024)
        }
        #expect(from.bytesSent == 0)
        #expect(s.requests("GetBlob") == 0)
        h.capture.expectClean(of: [AzureEmulator.key])
    }

    @Test("prefixes on either side are honoured")
    func prefixed() async throws {
        let h = try AzureHarness(sharing: Self.emulator.get())
        let (src, dst, _, _) = try await pair(h)
        try await src.upload("a/x", bytes: [1, 2, 3])
        let ps = PrefixedBucket(src, prefix: "a")
        let pd = PrefixedBucket(PrefixedBucket(dst, prefix: "p"), prefix: "q")
        let copier = try #require(ServerSideCopier(from: ps, to: pd))
        try await copier.copy("x", attributes: try await ps.attributes("x"))
        #expect(try await dst.get("p/q/x") == [1, 2, 3])
        #expect(try await pd.get("x") == [1, 2, 3])
    }

    @Test("SAS and bearer sources authorise the service's read")
    func otherCredentials() async throws {
        let token = Self.token
        let h = try AzureHarness(sharing: Self.emulator.get())
        let aad = try FakeTokenServer(token: token)
        let sc = AzureHarness.containerName()
        let keyed = try await h.bucket(h.config(container: sc), tuning: Self.tuning())
        try await keyed.upload("o", bytes: azurePattern(2 << 20 + 1))
        let dst = try await h.bucket(h.config(), tuning: Self.tuning())

        let (sas, sig) = AzureAuthTests.serviceSAS(container: sc, permissions: "rl")
        var c = AzureConfig()
        c.storageConnectionString = "BlobEndpoint=\(h.emu.blobEndpoint);SharedAccessSignature=\(sas)"
        c.container = sc
        let viaSAS = try await h.bucket(c, tuning: Self.tuning())

        let (b, aadTuning) = h.clientSecretConfig(aad, container: sc, secret: "secret-for-copy-test")
        var t = aadTuning
        t.copyRangeSize = Self.tuning().copyRangeSize
        let viaBearer = try await h.bucket(b, tuning: t)

        for (name, source) in [("sas", viaSAS), ("bearer", viaBearer)] {
            let copier = try #require(ServerSideCopier(from: source, to: dst))
            try await copier.copy("o", attributes: try await keyed.attributes("o"))
            #expect(try await dst.get("o") == (try await keyed.get("o")), "\(name)")
            try await dst.delete("o")
        }
        h.capture.expectClean(of: [AzureEmulator.key, sig, token, "secret-for-copy-test"])
    }

    @Test("a refused copy is .unsupported; a source changed since it was sized is not")
    func refusals() async throws {
        let h = try AzureHarness(sharing: Self.emulator.get())
        let (src, dst, _, _) = try await pair(h)
        try await src.upload("o", bytes: azurePattern(1000))
        let a = try await src.attributes("o")
        let copier = try #require(ServerSideCopier(from: src, to: dst))
        try h.emu.setFaults(#"[{"operation": "PutBlockFromURL", "times": -1, "action": {"status": 409, "code": "CannotVerifyCopySource"}}]"#)
        let e = await h.expectError(.unsupported) { try await copier.copy("o", attributes: a) }
        #expect(e?.key == "o")
        try h.emu.setFaults(#"[{"operation": "PutBlockFromURL", "times": -1, "action": {"status": 403, "code": "AuthorizationPermissionMismatch"}}]"#)
        await h.expectError(.unsupported) { try await copier.copy("o", attributes: a) }
        try h.emu.clearFaults()
        #expect(try await dst.exists("o") == false, "a refused copy left a blob")

        // The source replaced after its attributes were read: the pinned ETag fails the copy.
        try await src.upload("o", bytes: azurePattern(1000, seed: 9))
        let changed = await h.expectError(.preconditionFailed) { try await copier.copy("o", attributes: a) }
        #expect(changed?.detail.contains("SourceConditionNotMet") == true)
        #expect(try await dst.exists("o") == false)
    }

    @Test("only Azure pairs copy server side")
    func capability() async throws {
        let h = try AzureHarness(sharing: Self.emulator.get())
        let az = try await h.bucket()
        #expect(ServerSideCopier(from: az, to: MemoryBucket()) == nil)
        #expect(ServerSideCopier(from: FilesystemBucket(directory: "/tmp"), to: az) == nil)
        #expect(ServerSideCopier(from: az, to: PrefixedBucket(az, prefix: "x")) != nil)
    }

    @Test("a service SAS signed here reads exactly one blob, read-only, until it expires")
    func sasScope() async throws {
        let h = try AzureHarness(sharing: Self.emulator.get())
        let b = try await h.bucket(tuning: Self.tuning())
        try await b.upload("d/one", bytes: [1])
        try await b.upload("d/two", bytes: [2])
        let src = try await b.copySource("d/one")
        #expect(src.authorization == nil)
        let path = String(src.url.dropFirst("http://127.0.0.1:\(h.emu.port)".count))
        #expect(try h.emu.control("GET", path).status == 200)
        #expect(try h.emu.control("GET", path.replacingOccurrences(of: "/d/one?", with: "/d/two?")).status == 403)
        #expect(try h.emu.control("PUT", path).status == 403)
        let expired = try await b.copySource("d/one", validFor: -60)
        #expect(try h.emu.control("GET", String(expired.url.dropFirst("http://127.0.0.1:\(h.emu.port)".count))).status == 403)
    }
}
