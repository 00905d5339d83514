import Foundation
import Testing
import TestSupport

@testable import ObjectStore

@Suite("Azure bucket against the emulator")
struct AzureBucketTests {
    @Test("the bucket acceptance suite (blocks, parallel ranges and pages forced small)")
    func acceptance() async throws {
        let h = try AzureHarness()
        var t = AzureHarness.smallTuning()
        t.listPageSize = 2
        let b = try await h.bucket(tuning: t)
        try await bucketAcceptance(b, bigUpload: 3 << 20 + 12345)
        let s = try h.emu.stats()
        #expect(s.requests("PutBlock") == 4)
        #expect(s.requests("PutBlockList") == 1)
        #expect(b.description == "azure devstoreaccount1/\(b.container)")
        h.capture.expectClean(of: [AzureEmulator.key])
    }

    @Test("listing follows NextMarker through many short pages, with nested prefixes")
    func paging() async throws {
        let h = try AzureHarness()
        var t = AzureHarness.smallTuning()
        t.listPageSize = 4
        let b = try await h.bucket(tuning: t)
        var keys: [String] = []
        for i in 0..<30 {
            keys.append(["a/", "a/b/", "a/b/c/", "z/", ""][i % 5] + "k\(i)")
        }
        try await withThrowingTaskGroup(of: Void.self) { g in
            for k in keys { g.addTask { try await b.upload(k, bytes: Array(k.utf8)) } }
            try await g.waitForAll()
        }
        try h.emu.clearStats()
        let all = try await b.list(prefix: "", recursive: true)
        #expect(all == keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) })
        #expect(try h.emu.stats().requests("ListBlobs") >= 8)
        #expect(try await b.list(prefix: "", recursive: false) == ["a/", "k14", "k19", "k24", "k29", "k4", "k9", "z/"].sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) })
        #expect(try await b.list(prefix: "a/b/", recursive: false) == ["a/b/c/", "a/b/k1", "a/b/k11", "a/b/k16", "a/b/k21", "a/b/k26", "a/b/k6"])
        #expect(try await b.list(prefix: "a/b", recursive: false) == ["a/b/"])
        #expect(try await b.list(prefix: "a/b/c/", recursive: true).count == 6)
    }

    @Test("keys with spaces, plus, percent, unicode and XML characters round-trip")
    func awkwardKeys() async throws {
        let h = try AzureHarness()
        let b = try await h.bucket()
        let keys = ["dir/a b+c%d.txt", "dir/ключ/ü.bin", "dir/x&y<z>'\".txt", "dir/=;?#"]
        for (i, k) in keys.enumerated() { try await b.upload(k, bytes: [UInt8(i)]) }
        #expect(try await b.list(prefix: "dir/", recursive: true) == keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) })
        for (i, k) in keys.enumerated() {
            #expect(try await b.get(k) == [UInt8(i)])
            #expect(try await b.exists(k))
            try await b.delete(k)
        }
    }

    @Test("a 20 MiB file goes up in blocks and comes down in parallel ranges, byte for byte")
    func bigFile() async throws {
        let h = try AzureHarness()
        var t = AzureHarness.smallTuning()
        t.downloadChunkSize = 3 << 20
        let b = try await h.bucket(tuning: t)
        let dir = try Fixtures.tempDir("azure-big")
        defer { Fixtures.cleanup(dir) }
        let data = azurePattern(20 << 20 + 3)
        try Data(data).write(to: URL(fileURLWithPath: dir + "/src"))
        try await b.upload("blocks/big", fromFile: dir + "/src")
        var s = try h.emu.stats()
        #expect(s.requests("PutBlock") == 21)
        #expect(s.requests("PutBlockList") == 1)
        #expect(s.requests("PutBlob") == 0)
        let a = try await b.attributes("blocks/big")
        #expect(a.size == Int64(data.count))
        #expect(a.md5 == MD5.digest(data), "Put Block List carries the whole-file MD5")
        #expect(a.etag != nil)
        try h.emu.clearStats()
        try await b.download("blocks/big", toFile: dir + "/nested/back")
        s = try h.emu.stats()
        #expect(s.requests("GetBlob") == 7)
        let back = try Data(contentsOf: URL(fileURLWithPath: dir + "/nested/back"))
        #expect(back == Data(data))
        #expect(!FileManager.default.fileExists(atPath: dir + "/nested/back.blockyard-partial"))
        // Ranged reads across block boundaries.
        #expect(try await b.getRange("blocks/big", offset: (1 << 20) - 5, length: 10) == Array(data[(1 << 20) - 5..<(1 << 20) + 5]))
        #expect(try await b.getRange("blocks/big", offset: Int64(data.count - 2), length: nil) == Array(data.suffix(2)))
        // upload(bytes:) above the threshold also uses blocks.
        try h.emu.clearStats()
        try await b.upload("blocks/mem", bytes: Array(data.prefix(2 << 20 + 1)))
        #expect(try h.emu.stats().requests("PutBlock") == 3)
        #expect(try await b.get("blocks/mem") == Array(data.prefix(2 << 20 + 1)))
    }

    @Test("empty blobs: get, ranged get, download, attributes")
    func emptyBlob() async throws {
        let h = try AzureHarness()
        let b = try await h.bucket()
        try await b.upload("e", bytes: [])
        #expect(try await b.get("e") == [])
        #expect(try await b.getRange("e", offset: 0, length: 10) == [])
        #expect(try await b.getRange("e", offset: 0, length: nil) == [])
        await h.expectError(.invalidRange) { _ = try await b.getRange("e", offset: 1, length: 1) }
        #expect(try await b.attributes("e").size == 0)
        #expect(try await b.attributes("e").md5 == MD5.digest([]))
        let dir = try Fixtures.tempDir("azure-empty")
        defer { Fixtures.cleanup(dir) }
        try await b.download("e", toFile: dir + "/e")
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir + "/e")).isEmpty)
        // An empty file uploads as an empty blob.
        FileManager.default.createFile(atPath: dir + "/zero", contents: Data())
        try await b.upload("z", fromFile: dir + "/zero")
        #expect(try await b.get("z") == [])
        // Offset exactly at the end of a non-empty blob is an empty read.
        try await b.upload("three", bytes: [1, 2, 3])
        #expect(try await b.getRange("three", offset: 3, length: 5) == [])
    }

    @Test("not-found kinds name the bucket and key, and no partial file is left")
    func notFound() async throws {
        let h = try AzureHarness()
        let b = try await h.bucket()
        let e = await h.expectError(.notFound) { _ = try await b.get("no/such") }
        #expect(e?.description.contains("azure devstoreaccount1/\(b.container)") == true)
        #expect(e?.description.contains("no/such") == true)
        #expect(e?.detail.contains("BlobNotFound") == true)
        #expect(e?.detail.contains("request id") == true)
        await h.expectError(.notFound) { _ = try await b.attributes("no/such") }
        await h.expectError(.notFound) { try await b.delete("no/such") }
        #expect(try await b.exists("no/such") == false)
        let dir = try Fixtures.tempDir("azure-nf")
        defer { Fixtures.cleanup(dir) }
        await h.expectError(.notFound) { try await b.download("no/such", toFile: dir + "/x") }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty)

        // A missing container with storage_create_container: false.
        var c = h.config()
        c.storageCreateContainer = false
        await h.expectError(.notFound) { _ = try await h.bucket(c) }
        // Creating an existing container is fine (two buckets on one container).
        let again = try await h.bucket(h.config(container: b.container))
        #expect(try await again.list(prefix: "", recursive: true).isEmpty)
        h.capture.expectClean(of: [AzureEmulator.key])
    }

    @Test("debug logs carry method, redacted URL, status, duration and try")
    func logging() async throws {
        let h = try AzureHarness()
        let b = try await h.bucket()
        try await b.upload("k", bytes: [1])
        let lines = h.capture.lines.withLock { $0 }
        let put = try #require(lines.first { $0.contains("op=PutBlob") })
        #expect(put.contains("method=PUT"))
        #expect(put.contains("status=201"))
        #expect(put.contains("duration_ms="))
        #expect(put.contains("try=1"))
        #expect(put.contains("url=http://127.0.0.1:\(h.emu.port)/devstoreaccount1/\(b.container)/k"))
    }
}

@Suite("Azure pieces without a server")
struct AzureUnitTests {
    @Test("connection strings split on the first '=' and know the development account")
    func connectionStrings() throws {
        let cs = try ConnectionString.parse("DefaultEndpointsProtocol=http;AccountName=a;AccountKey=k==;BlobEndpoint=http://h:1/a;")
        #expect(cs.accountKey == "k==")
        #expect(cs.blobEndpoint == "http://h:1/a")
        let sas = try ConnectionString.parse("BlobEndpoint=https://a.blob.core.windows.net;SharedAccessSignature=sv=2021-12-02&sig=ab%3D")
        #expect(sas.sas == "sv=2021-12-02&sig=ab%3D")
        let dev = try ConnectionString.parse("UseDevelopmentStorage=true")
        #expect(dev.accountName == "devstoreaccount1")
        #expect(dev.blobEndpoint == "http://127.0.0.1:10000/devstoreaccount1")
        #expect(throws: ObjectStoreError.self) { try ConnectionString.parse("AccountName=a") }
        #expect(throws: ObjectStoreError.self) { try ConnectionString.parse("AccountName=a;secretwithoutname") }
    }

    @Test("endpoints: host style by default, path style for full URLs")
    func endpoints() {
        #expect(AzureAuthResolution.endpoint(account: "acct", configured: "blob.core.windows.net").baseURL == "https://acct.blob.core.windows.net")
        let e = AzureAuthResolution.endpoint(account: "acct", configured: "http://127.0.0.1:10000")
        #expect(e.baseURL == "http://127.0.0.1:10000/acct")
        #expect(e.basePath == "/acct")
        #expect(AzureAuthResolution.endpoint(account: "acct", configured: "http://h:1/other/").baseURL == "http://h:1/other")
    }

    @Test("Shared Key string-to-sign layout")
    func stringToSign() {
        let s = SharedKeySigner(account: "devstoreaccount1", key: [1, 2, 3])
        let sts = s.stringToSign(
            method: "PUT", rawPath: "/devstoreaccount1/c/a%20b", query: [("comp", "block"), ("blockid", "QQ==")],
            headers: [("x-ms-version", "2021-12-02"), ("x-ms-date", "Mon, 01 Jan 2024 00:00:00 GMT"), ("Content-MD5", "xyz"), ("If-Match", "\"e\"")],
            contentLength: 5)
        #expect(sts == "PUT\n\n\n5\nxyz\n\n\n\n\"e\"\n\n\n\nx-ms-date:Mon, 01 Jan 2024 00:00:00 GMT\nx-ms-version:2021-12-02\n/devstoreaccount1/devstoreaccount1/c/a%20b\nblockid:QQ==\ncomp:block")
        let empty = s.stringToSign(method: "GET", rawPath: "/devstoreaccount1/c", query: [], headers: [], contentLength: 0)
        #expect(empty.hasPrefix("GET\n\n\n\n"))
    }

    @Test("dates: RFC 1123 both ways")
    func dates() {
        #expect(HTTPDate.format(784111777) == "Sun, 06 Nov 1994 08:49:37 GMT")
        #expect(HTTPDate.parse("Sun, 06 Nov 1994 08:49:37 GMT") == 784111777)
        #expect(HTTPDate.parse("yesterday") == nil)
    }

    @Test("List Blobs XML: blobs, prefixes, entities, encoded names, markers")
    func listXML() {
        let xml = """
            <?xml version="1.0" encoding="utf-8"?><EnumerationResults ServiceEndpoint="x" ContainerName="c"><Prefix>a/</Prefix>\
            <Blobs><Blob><Name>a/x&amp;y</Name><Properties><Content-Length>1</Content-Length></Properties></Blob>\
            <Blob><Name Encoded="true">a/%EF%BF%BE</Name></Blob><BlobPrefix><Name>a/sub/</Name></BlobPrefix></Blobs>\
            <NextMarker>2!abc</NextMarker></EnumerationResults>
            """
        let p = AzureXML.listPage(Array(xml.utf8))
        #expect(p.blobs == ["a/x&y", "a/\u{FFFE}"])
        #expect(p.prefixes == ["a/sub/"])
        #expect(p.nextMarker == "2!abc")
        #expect(AzureXML.listPage(Array("<EnumerationResults><Blobs/><NextMarker /></EnumerationResults>".utf8)).nextMarker == "")
        let e = AzureXML.error(Array("<?xml version=\"1.0\"?><Error><Code>BlobNotFound</Code><Message>The specified blob does not exist.\nRequestId:1</Message></Error>".utf8))
        #expect(e.code == "BlobNotFound")
        #expect(e.message?.hasPrefix("The specified blob") == true)
    }

    @Test("redaction scrubs signatures, keys, tokens and secrets")
    func redaction() {
        let r = AzureRedactor(["supersecretvalue"])
        let s = r("GET https://a/c/b?sv=1&sig=abc%2Bdef&se=x Authorization: SharedKey acct:AAAA= Bearer eyJ.x.y client_secret=hunter22&x=1 AccountKey=Zm9v;Name=a {\"access_token\":\"tok123\"} supersecretvalue")
        #expect(!s.contains("abc%2Bdef"))
        #expect(s.contains("sig=REDACTED&se=x"))
        #expect(s.contains("SharedKey acct:REDACTED"))
        #expect(!s.contains("eyJ"))
        #expect(!s.contains("hunter22"))
        #expect(!s.contains("Zm9v"))
        #expect(!s.contains("tok123"))
        #expect(!s.contains("supersecretvalue"))
    }

    @Test("backoff: full jitter under the cap, Retry-After in seconds wins")
    func backoff() {
        let p = AzureRetryPolicy(maxTries: 3, base: .milliseconds(800), cap: .seconds(60))
        for attempt in 1...10 {
            let d = p.delay(afterAttempt: attempt, retryAfter: nil)
            #expect(d >= .zero && d <= min(.seconds(60), .milliseconds(800) * (1 << (attempt - 1))))
        }
        #expect(p.delay(afterAttempt: 1, retryAfter: "2") == .seconds(2))
        #expect(AzureRetryPolicy.isRetryable(status: 503, code: "ServerBusy"))
        #expect(!AzureRetryPolicy.isRetryable(status: 400, code: nil))
        #expect(!AzureRetryPolicy.isRetryable(status: 403, code: "AuthenticationFailed"))
    }
}
