import Foundation
import Testing
import TestSupport

@testable import ObjectStore

@Suite("Azure authentication against the emulator")
struct AzureAuthTests {
    /// A service SAS for a container, signed here with the account key (sv 2021-12-02 field set).
    static func serviceSAS(container: String, permissions: String = "racwdl", key: String = AzureEmulator.key) -> (token: String, sig: String) {
        let sv = "2021-12-02"
        let se = HTTPDate.iso8601(Date().timeIntervalSince1970 + 3600)
        let fields = [
            permissions, "", se, "/blob/\(AzureEmulator.account)/\(container)", "", "", "", sv, "c", "", "", "", "", "", "", "",
        ]
        let mac = SharedKeySigner.hmacSHA256(key: Array(Data(base64Encoded: key)!), fields.joined(separator: "\n"))
        let sig = Data(mac).base64EncodedString()
        let q = AzureURL.query([("sv", sv), ("sr", "c"), ("sp", permissions), ("se", se), ("sig", sig)])
        return (q, sig)
    }

    @Test("connection string with BlobEndpoint and AccountKey")
    func connectionString() async throws {
        let h = try AzureHarness()
        var c = AzureConfig()
        c.storageConnectionString = h.emu.connectionString
        c.container = AzureHarness.containerName()
        let b = try await h.bucket(c)
        try await b.upload("x/y", bytes: [1, 2, 3])
        #expect(try await b.get("x/y") == [1, 2, 3])
        #expect(try await b.list(prefix: "", recursive: false) == ["x/"])
        h.capture.expectClean(of: [AzureEmulator.key])
    }

    @Test("SAS in a connection string: every operation, and the signature never shows")
    func sas() async throws {
        let h = try AzureHarness()
        let container = AzureHarness.containerName()
        _ = try await h.bucket(h.config(container: container))  // creates the container with the key
        let (token, sig) = Self.serviceSAS(container: container)
        var c = AzureConfig()
        c.storageConnectionString = "BlobEndpoint=\(h.emu.blobEndpoint);SharedAccessSignature=\(token)"
        c.container = container
        let b = try await h.bucket(c)
        #expect(b.description == "azure devstoreaccount1/\(container)")
        try await bucketAcceptance(b, bigUpload: 1 << 20 + 7)
        // Read-only SAS: writes are refused (403) and not retried.
        let ro = Self.serviceSAS(container: container, permissions: "rl")
        c.storageConnectionString = "BlobEndpoint=\(h.emu.blobEndpoint);SharedAccessSignature=\(ro.token)"
        let rob = try await h.bucket(c)
        try h.emu.clearStats()
        let e = await h.expectError(.forbidden) { try await rob.upload("k", bytes: [1]) }
        #expect(e?.detail.contains("AuthorizationPermissionMismatch") == true)
        #expect(try h.emu.stats().requests("PutBlob") == 1)
        h.capture.expectClean(of: [AzureEmulator.key, sig, ro.sig, AzureURL.encode(sig, allowed: AzureURL.unreserved)])
    }

    @Test("a tampered SAS is forbidden, and the message has no signature")
    func badSAS() async throws {
        let h = try AzureHarness()
        let container = AzureHarness.containerName()
        _ = try await h.bucket(h.config(container: container))
        let (token, sig) = Self.serviceSAS(container: container, key: Data(repeating: 7, count: 64).base64EncodedString())
        var c = AzureConfig()
        c.storageConnectionString = "BlobEndpoint=\(h.emu.blobEndpoint);SharedAccessSignature=\(token)"
        c.container = container
        let e = await h.expectError(.forbidden) { _ = try await h.bucket(c) }
        #expect(e?.description.contains("AuthenticationFailed") == true)
        h.capture.expectClean(of: [sig, AzureURL.encode(sig, allowed: AzureURL.unreserved)])
    }

    @Test("a wrong account key is forbidden, not retried, and the key never shows")
    func wrongKey() async throws {
        let h = try AzureHarness()
        let wrong = Data(azurePattern(64, seed: 99)).base64EncodedString()
        var c = h.config()
        c.storageAccountKey = wrong
        let e = await h.expectError(.forbidden) { _ = try await h.bucket(c) }
        #expect(e?.detail.contains("AuthenticationFailed") == true)
        #expect(e?.detail.contains("request id") == true)
        #expect(try h.emu.stats().requestsTotal == 1)
        // Not base64 at all: a config error that does not echo the value.
        c.storageAccountKey = "not base64 at all!!"
        let cfg = await h.expectError(.config) { _ = try await h.bucket(c) }
        #expect(cfg?.description.contains("not base64 at all") == false)
        h.capture.expectClean(of: [wrong, AzureEmulator.key])
    }

    @Test("bearer tokens from a client secret (Azure AD v2 endpoint on loopback), cached")
    func clientSecret() async throws {
        let token = "eyJ0eXAiOiJKV1QiLCJhbGciOi.fake-storage-token.\(UUID().uuidString)"
        let h = try AzureHarness(bearerTokens: [token])
        let aad = try FakeTokenServer(token: token)
        let (initial, t) = h.clientSecretConfig(aad, secret: "client-secret-value-123")
        var c = initial
        let b = try await h.bucket(c, tuning: t)
        try await b.upload("k", bytes: [9])
        #expect(try await b.get("k") == [9])
        let reqs = try aad.requests()
        #expect(reqs.count == 1, "the token is cached")
        let r = try #require(reqs.first)
        #expect(r["path"] == "/tenant-1/oauth2/v2.0/token")
        let form = r["body"] ?? ""
        #expect(form.contains("grant_type=client_credentials"))
        #expect(form.contains("client_id=client-1"))
        #expect(form.contains("client_secret=client-secret-value-123"))
        #expect(form.contains("scope=https%3A%2F%2Fstorage.azure.com%2F.default"))
        #expect(r["content_type"] == "application/x-www-form-urlencoded")

        // A refused secret: unauthorized, with AAD's reason and without the secret.
        c.clientSecret = "wrong"
        c.container = AzureHarness.containerName()
        let e = await h.expectError(.unauthorized) { _ = try await h.bucket(c, tuning: t) }
        #expect(e?.detail.contains("invalid_client") == true)
        h.capture.expectClean(of: [token, "client-secret-value-123"])
    }

    @Test("workload identity (federated token file) and managed identity (IMDS) on loopback")
    func workloadAndManagedIdentity() async throws {
        let token = "workload-token-\(UUID().uuidString)"
        let h = try AzureHarness(bearerTokens: [token])
        let aad = try FakeTokenServer(token: token)
        let dir = try Fixtures.tempDir("azure-wi")
        defer { Fixtures.cleanup(dir) }
        let assertion = "eyJhbGciOiJSUzI1NiJ9.federated-assertion.sig"
        try assertion.write(toFile: dir + "/token", atomically: true, encoding: .utf8)

        var c = h.config()
        c.storageAccountKey = nil
        var t = AzureHarness.smallTuning()
        t.environment = [
            "AZURE_CLIENT_ID": "wi-client", "AZURE_TENANT_ID": "wi-tenant",
            "AZURE_FEDERATED_TOKEN_FILE": dir + "/token", "AZURE_AUTHORITY_HOST": aad.base,
        ]
        let b = try await h.bucket(c, tuning: t)
        try await b.upload("wi", bytes: [1])
        var reqs = try aad.requests()
        let form = try #require(reqs.last?["body"])
        #expect(reqs.last?["path"] == "/wi-tenant/oauth2/v2.0/token")
        #expect(form.contains("client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer"))
        #expect(form.contains("client_assertion=" + AzureURL.encode(assertion, allowed: AzureURL.unreserved)))

        // Managed identity with a user-assigned id, IMDS pointed at the fake server.
        var m = h.config(container: AzureHarness.containerName())
        m.storageAccountKey = nil
        m.userAssignedID = "uai-123"
        var mt = AzureHarness.smallTuning()
        mt.imdsEndpoint = aad.base + "metadata/identity/oauth2/token"
        let mb = try await h.bucket(m, tuning: mt)
        try await mb.upload("mi", bytes: [2])
        reqs = try aad.requests()
        let imds = try #require(reqs.last)
        #expect(imds["method"] == "GET")
        #expect(imds["metadata"] == "true")
        let path = imds["path"] ?? ""
        #expect(path.hasPrefix("/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fstorage.azure.com%2F"))
        #expect(path.contains("client_id=uai-123"))
        h.capture.expectClean(of: [token, assertion])
    }

    @Test("a bearer token the service does not know is unauthorized")
    func unknownBearer() async throws {
        let h = try AzureHarness(bearerTokens: ["the-right-token"])
        let aad = try FakeTokenServer(token: "some-other-token-xyz")
        var c = h.config()
        c.storageAccountKey = nil
        c.tenantID = "t"
        c.clientID = "c"
        c.clientSecret = "s3cr3t-value"
        var t = AzureHarness.smallTuning()
        t.authorityHost = aad.base
        let e = await h.expectError(.unauthorized) { _ = try await h.bucket(c, tuning: t) }
        #expect(e?.detail.contains("InvalidAuthenticationInfo") == true)
        h.capture.expectClean(of: ["some-other-token-xyz", "s3cr3t-value"])
    }
}
