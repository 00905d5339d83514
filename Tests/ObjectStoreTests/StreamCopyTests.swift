import Foundation
import Testing
import TestSupport

@testable import ObjectStore

/// Azure to Azure streamed copies (`StreamCopier`, `CurlEngine.splice`): one Get Blob streamed
/// into one Put Blob through a small ring, the destination checking the bytes against the source's
/// MD5 (the source has none: the copy takes the MD5 the destination computed). A failed try of either side is tried again; corruption, a replaced source and errors that
/// retrying cannot fix are reported; no try leaves a wrong or partial object.
@Suite("Streamed copy", .serialized)
struct StreamCopyTests {
    static let emulator = Result { try AzureEmulator() }

    /// Small tuning and a 64 KiB ring: every copy here pauses and resumes both sides many times.
    static func tuning() -> AzureTuning {
        var t = AzureHarness.smallTuning()
        t.spliceBuffer = 64 << 10
        t.spliceMaxSize = 8 << 20
        return t
    }

    struct Pair {
        let h: AzureHarness
        let src: AzureBucket
        let dst: AzureBucket
        let copier: StreamCopier
    }

    static func pair() async throws -> Pair {
        let h = try AzureHarness(sharing: emulator.get())
        let src = try await h.bucket(tuning: tuning())
        let dst = try await h.bucket(tuning: tuning())
        return Pair(h: h, src: src, dst: dst, copier: try #require(StreamCopier(from: src, to: dst)))
    }

    /// Stores `data` as `key` in the source; its attributes as a copy would be given them.
    static func put(_ p: Pair, _ key: String, _ data: [UInt8]) async throws -> ObjectAttributes {
        try await p.src.upload(key, bytes: data)
        let a = try await p.src.attributes(key)
        #expect(a.md5 == MD5.digest(data))
        return a
    }

    @Test("one Get Blob into one Put Blob; the copy has the source's bytes and MD5", arguments: [0, 1, 100_000, 5 << 20 + 17])
    func copies(size: Int) async throws {
        let p = try await Self.pair()
        let data = azurePattern(size, seed: UInt64(size) + 3)
        let a = try await Self.put(p, "o/obj", data)
        try p.h.emu.clearStats()
        try await p.copier.copy("o/obj", attributes: a)
        let s = try p.h.emu.stats()
        #expect(s.requests("GetBlob") == 1 && s.requests("PutBlob") == 1 && s.requests("PutBlock") == 0, "\(s.raw)")
        #expect(s.operationBytes("PutBlob").received == size && s.operationBytes("GetBlob").sent == size)
        #expect(try await p.dst.get("o/obj") == data)
        #expect(try await p.dst.attributes("o/obj").md5 == MD5.digest(data))
    }

    /// Stores `data` as `key` in the source with no MD5, as Thanos's block-list uploads leave blobs.
    static func putWithoutMD5(_ p: Pair, _ key: String, _ data: [UInt8]) async throws -> ObjectAttributes {
        try await p.src.upload(key, bytes: data)
        _ = try await p.src.send(AzureBucket.Op("SetBlobProperties", "PUT", key: key, query: [("comp", "properties")], expect: [200]))
        let a = try await p.src.attributes(key)
        #expect(a.md5 == nil)
        return a
    }

    @Test("a source without an MD5: one Get Blob into one Put Blob; the copy's MD5 is the one the service computed", arguments: [0, 100_000, 5 << 20 + 17])
    func copiesWithoutMD5(size: Int) async throws {
        let p = try await Self.pair()
        let data = azurePattern(size, seed: UInt64(size) + 21)
        let a = try await Self.putWithoutMD5(p, "n/obj", data)
        try p.h.emu.clearStats()
        let md5 = try await p.copier.copy("n/obj", attributes: a)
        let s = try p.h.emu.stats()
        #expect(s.requests("GetBlob") == 1 && s.requests("PutBlob") == 1 && s.requests("PutBlock") == 0, "\(s.raw)")
        #expect(md5 == MD5.digest(data))
        #expect(try await p.dst.get("n/obj") == data)
        #expect(try await p.dst.attributes("n/obj").md5 == MD5.digest(data))
    }

    @Test("takes objects up to the single-request limit; with checked reads only, those with a known MD5")
    func accepts() async throws {
        let p = try await Self.pair()
        #expect(p.copier.accepts(ObjectAttributes(size: 10, lastModified: 0, md5: MD5.digest([1]))))
        #expect(p.copier.accepts(ObjectAttributes(size: 10, lastModified: 0, md5: nil)))
        #expect(!p.copier.accepts(ObjectAttributes(size: Int64(Self.tuning().spliceMaxSize) + 1, lastModified: 0, md5: MD5.digest([1]))))
        await p.h.expectError(.invalidArgument) { try await p.copier.copy("x", attributes: ObjectAttributes(size: Int64(Self.tuning().spliceMaxSize) + 1, lastModified: 0)) }
        let checked = try #require(StreamCopier(from: p.src, to: p.dst, checkedReadsOnly: true))
        #expect(checked.accepts(ObjectAttributes(size: 10, lastModified: 0, md5: MD5.digest([1]))))
        #expect(!checked.accepts(ObjectAttributes(size: 10, lastModified: 0, md5: nil)))
        await p.h.expectError(.invalidArgument) { try await checked.copy("x", attributes: ObjectAttributes(size: 10, lastModified: 0)) }
        #expect(StreamCopier(from: MemoryBucket(), to: p.dst) == nil)
        #expect(StreamCopier(from: PrefixedBucket(p.src, prefix: "a"), to: PrefixedBucket(p.dst, prefix: "b")) != nil)
    }

    @Test("under prefixes: keys are the bucket's, errors name them so")
    func prefixed() async throws {
        let p = try await Self.pair()
        let src = PrefixedBucket(p.src, prefix: "from")
        let dst = PrefixedBucket(p.dst, prefix: "to")
        let data = azurePattern(70_000, seed: 2)
        try await src.upload("k", bytes: data)
        let copier = try #require(StreamCopier(from: src, to: dst))
        try await copier.copy("k", attributes: try await src.attributes("k"))
        #expect(try await p.dst.get("to/k") == data)
        let e = await p.h.expectError(.notFound) { try await copier.copy("missing", attributes: ObjectAttributes(size: 3, lastModified: 0, md5: MD5.digest([1, 2, 3]))) }
        #expect(e?.key == "missing")
    }

    struct Fault: Sendable, CustomTestStringConvertible {
        var name: String
        var rules: String
        var testDescription: String { name }
        init(_ name: String, _ rules: String) {
            self.name = name
            self.rules = rules
        }
    }

    static let transient: [Fault] = [
        Fault("source 503", #"[{"operation": "GetBlob", "action": {"status": 503, "retry_after": 0}}]"#),
        Fault("destination 503", #"[{"operation": "PutBlob", "action": {"status": 503}}]"#),
        Fault("source connection reset before the body", #"[{"operation": "GetBlob", "action": {"reset": true}}]"#),
        Fault("source connection reset mid-body", #"[{"operation": "GetBlob", "action": {"reset_after": 1000000}}]"#),
        Fault("source body cut short", #"[{"operation": "GetBlob", "action": {"truncate_body": 300000}}]"#),
        Fault("destination connection reset", #"[{"operation": "PutBlob", "action": {"reset": true}}]"#),
        Fault("destination wrote the blob but the answer was lost", #"[{"operation": "PutBlob", "action": {"reset": true, "process": true}}]"#),
        Fault("source stalls mid-body (no retry needed)", #"[{"operation": "GetBlob", "action": {"stall_body_after": 100000, "stall_body_ms": 300}}]"#),
    ]

    @Test("a failed try of either side is tried again and the copy is whole", arguments: transient)
    func retried(_ f: Fault) async throws {
        let p = try await Self.pair()
        let data = azurePattern(3 << 20 + 5, seed: 11)
        let a = try await Self.put(p, "r", data)
        try p.h.emu.clearStats()
        try p.h.emu.setFaults(f.rules)
        try await p.copier.copy("r", attributes: a)
        let s = try p.h.emu.stats()
        try p.h.emu.clearFaults()
        #expect(s.faultsInjected == 1)
        #expect(try await p.dst.get("r") == data)
        #expect(try await p.dst.attributes("r").md5 == a.md5)
    }

    struct Terminal: Sendable, CustomTestStringConvertible {
        var name: String
        var op: String
        var status: Int
        var kind: ObjectStoreError.Kind
        var fromSource: Bool
        var tries: Int
        var testDescription: String { name }
    }

    static let terminal: [Terminal] = [
        Terminal(name: "the source fails every try: its error, after 3 tries", op: "GetBlob", status: 500, kind: .server, fromSource: true, tries: 3),
        Terminal(name: "the destination refuses: its error, not retried", op: "PutBlob", status: 403, kind: .forbidden, fromSource: false, tries: 1),
    ]

    @Test("an error retrying cannot fix is the failing side's own; nothing is written", arguments: terminal)
    func terminalError(_ t: Terminal) async throws {
        let p = try await Self.pair()
        let a = try await Self.put(p, "e", azurePattern(200_000, seed: 4))
        try p.h.emu.clearStats()
        try p.h.emu.setFaults(#"[{"operation": "\#(t.op)", "times": -1, "action": {"status": \#(t.status)}}]"#)
        let e = await p.h.expectError(t.kind) { try await p.copier.copy("e", attributes: a) }
        try p.h.emu.clearFaults()
        #expect(e?.bucket == (t.fromSource ? p.src : p.dst).description && e?.key == "e", "\(String(describing: e))")
        #expect((e?.detail.contains("gave up after") ?? false) == (t.tries > 1))
        #expect(try p.h.emu.stats().requests(t.op) == t.tries)
        #expect(try await p.dst.exists("e") == false)
    }

    @Test("a read corrupted on the way is refused by the destination: integrity error, the older copy kept")
    func corrupted() async throws {
        let p = try await Self.pair()
        let a = try await Self.put(p, "c", azurePattern(2 << 20 + 1, seed: 6))
        try await p.dst.upload("c", bytes: [1, 2, 3])
        try p.h.emu.setFaults(#"[{"operation": "GetBlob", "times": 1, "action": {"corrupt": true}}]"#)
        let e = await p.h.expectError(.integrity) { try await p.copier.copy("c", attributes: a) }
        #expect(e?.key == "c" && e?.detail.contains("do not hash to its Content-MD5") == true, "\(String(describing: e))")
        #expect(try await p.dst.get("c") == [1, 2, 3])
    }

    @Test("a source replaced before it is read fails with precondition failed; nothing is written")
    func replacedBefore() async throws {
        let p = try await Self.pair()
        let a = try await Self.put(p, "b", azurePattern(150_000, seed: 7))
        try await p.src.upload("b", bytes: azurePattern(150_000, seed: 8))
        let e = await p.h.expectError(.preconditionFailed) { try await p.copier.copy("b", attributes: a) }
        #expect(e?.detail.contains("changed since it was sized") == true)
        #expect(try await p.dst.exists("b") == false)
    }

    @Test("a source replaced while its read waits: the pinned ETag fails it")
    func replacedWhileWaiting() async throws {
        let p = try await Self.pair()
        let a = try await Self.put(p, "w", azurePattern(150_000, seed: 9))
        try p.h.emu.setFaults(#"[{"operation": "GetBlob", "times": 1, "action": {"stall_ms": 600}}]"#)
        let copy = Task { try await p.copier.copy("w", attributes: a) }
        try await Task.sleep(for: .milliseconds(200))
        try await p.src.upload("w", bytes: azurePattern(150_000, seed: 10))
        await p.h.expectError(.preconditionFailed) { try await copy.value }
        #expect(try await p.dst.exists("w") == false)
    }

    @Test("a source replaced mid-body: the copy is the version that was sized, whole, never a mix")
    func replacedMidBody() async throws {
        let p = try await Self.pair()
        let old = azurePattern(1 << 20, seed: 12)
        let a = try await Self.put(p, "m", old)
        try p.h.emu.clearStats()
        try p.h.emu.setFaults(#"[{"operation": "GetBlob", "times": 1, "action": {"stall_body_after": 200000, "stall_body_ms": 1500}}]"#)
        let copy = Task { try await p.copier.copy("m", attributes: a) }
        // The emulator counts a Get Blob once its response (the old version) is built, before the
        // body is sent; replacing the source only then makes this a mid-body race on any machine
        // (a fixed sleep lost it under CI load: the replacement landed before the read began).
        try await p.h.emu.waitForRequests("GetBlob")
        try await p.src.upload("m", bytes: azurePattern(1 << 20, seed: 13))
        try await copy.value
        #expect(try await p.dst.get("m") == old)
        #expect(try await p.dst.attributes("m").md5 == a.md5)
    }

    @Test("cancelling a copy stops both requests at once and writes nothing")
    func cancelled() async throws {
        let p = try await Self.pair()
        let a = try await Self.put(p, "x", azurePattern(3 << 20, seed: 14))
        try p.h.emu.setFaults(#"[{"operation": "GetBlob", "times": 1, "action": {"stall_body_after": 500000, "stall_body_ms": 4000}}]"#)
        let started = ContinuousClock.now
        let copy = Task { try await p.copier.copy("x", attributes: a) }
        try await Task.sleep(for: .milliseconds(300))
        copy.cancel()
        await p.h.expectError(.cancelled) { try await copy.value }
        // Loose bound (a loaded CI machine is slow), still well short of the 4 s stall.
        #expect(ContinuousClock.now - started < .milliseconds(2500), "the copy did not stop when cancelled")
        try await Task.sleep(for: .milliseconds(4000))
        #expect(try await p.dst.exists("x") == false)
    }
}
