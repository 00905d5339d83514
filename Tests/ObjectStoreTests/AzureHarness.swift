import Foundation
import Logging
import Synchronization
import Testing
import TestSupport

@testable import ObjectStore

/// Every log line and error text a test produced, to prove no secret leaks.
final class AzureCapture: Sendable {
    let lines = Mutex<[String]>([])

    func add(_ s: String) { lines.withLock { $0.append(s) } }

    var logger: Logger {
        var l = Logger(label: "azure-test") { _ in CaptureHandler(capture: self) }
        l.logLevel = .debug
        return l
    }

    struct CaptureHandler: LogHandler {
        let capture: AzureCapture
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .debug
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            let md = (event.metadata ?? [:]).merging(metadata) { a, _ in a }
            capture.add("\(event.level) \(event.message) " + md.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
        }
    }

    /// None of `secrets` (nor a `sig=` value) appears in anything captured.
    func expectClean(of secrets: [String], sourceLocation: SourceLocation = #_sourceLocation) {
        let all = lines.withLock { $0 }
        #expect(!all.isEmpty, "nothing was captured", sourceLocation: sourceLocation)
        for line in all {
            for s in secrets where !s.isEmpty {
                #expect(!line.contains(s), "a secret leaked into: \(line)", sourceLocation: sourceLocation)
            }
            if let r = line.range(of: "sig=") {
                #expect(line[r.upperBound...].hasPrefix(AzureRedactor.mask), "a SAS signature leaked into: \(line)", sourceLocation: sourceLocation)
            }
        }
    }
}

/// An emulator, a log capture and fast retry settings for one test.
struct AzureHarness {
    let emu: AzureEmulator
    let capture = AzureCapture()

    init(bearerTokens: [String] = []) throws {
        emu = try AzureEmulator(bearerTokens: bearerTokens)
    }

    /// A harness on an emulator a `.serialized` suite shares between its tests (fewer Python
    /// processes starting at once); faults left by an earlier test are cleared.
    init(sharing emu: AzureEmulator) throws {
        self.emu = emu
        try emu.clearFaults()
    }

    static func containerName() -> String { "c" + UUID().uuidString.lowercased().prefix(13).replacingOccurrences(of: "-", with: "") }

    /// Small blocks, ranges and pages so the multi-request paths run on small data; fast backoff.
    static func smallTuning() -> AzureTuning {
        var t = AzureTuning()
        t.putBlobThreshold = 1 << 20
        t.blockSize = 1 << 20
        t.downloadChunkSize = 1 << 20
        t.retryBase = .milliseconds(5)
        t.retryCap = .milliseconds(50)
        t.stallTimeout = .seconds(2)
        t.environment = [:]
        return t
    }

    func config(container: String = AzureHarness.containerName()) -> AzureConfig {
        emu.config(container: container)
    }

    /// A config that authorises with Azure AD (client secret) against `aad`, and tuning that
    /// points the token flow there.
    func clientSecretConfig(_ aad: FakeTokenServer, container: String = AzureHarness.containerName(), secret: String) -> (AzureConfig, AzureTuning) {
        var c = config(container: container)
        c.storageAccountKey = nil
        c.tenantID = "tenant-1"
        c.clientID = "client-1"
        c.clientSecret = secret
        var t = AzureHarness.smallTuning()
        t.authorityHost = aad.base
        return (c, t)
    }

    func bucket(_ c: AzureConfig? = nil, tuning: AzureTuning = AzureHarness.smallTuning()) async throws -> AzureBucket {
        try await AzureBucket(config: c ?? config(), logger: capture.logger, tuning: tuning)
    }

    /// Runs `body`, expects an ObjectStoreError of `kind`, records its text and returns it.
    @discardableResult
    func expectError(_ kind: ObjectStoreError.Kind, sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> Void) async -> ObjectStoreError? {
        do {
            try await body()
            Issue.record("expected \(kind), nothing was thrown", sourceLocation: sourceLocation)
        } catch let e as ObjectStoreError {
            capture.add("error: \(e)")
            #expect(e.kind == kind, "\(e)", sourceLocation: sourceLocation)
            return e
        } catch {
            Issue.record("expected ObjectStoreError \(kind), got \(error)", sourceLocation: sourceLocation)
        }
        return nil
    }
}

/// Deterministic bytes for uploads.
func azurePattern(_ n: Int, seed: UInt64 = 7) -> [UInt8] {
    var x = seed &* 0x9E37_79B9_7F4A_7C15 | 1
    var out = [UInt8](repeating: 0, count: n)
    for i in 0..<n {
        x ^= x << 13
        x ^= x >> 7
        x ^= x << 17
        out[i] = UInt8(truncatingIfNeeded: x)
    }
    return out
}

/// A fake Azure AD / IMDS token endpoint on loopback. It answers any POST (v2 token endpoint) and
/// any GET (IMDS) with `token`, refuses the client secret "wrong", and lists what it was sent at
/// `GET /__requests`.
final class FakeTokenServer: Sendable {
    let server: LoopbackServer
    var port: Int { server.port }
    var base: String { "http://127.0.0.1:\(server.port)/" }

    static let script = #"""
        import http.server, json, sys, time, urllib.parse
        TOKEN = sys.argv[1]
        reqs = []
        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            def log_message(self, *a):
                pass
            def reply(self, code, obj):
                b = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(b)))
                self.end_headers()
                self.wfile.write(b)
            def do_GET(self):
                if self.path == "/__requests":
                    return self.reply(200, reqs)
                reqs.append({"method": "GET", "path": self.path, "metadata": self.headers.get("Metadata", "")})
                self.reply(200, {"access_token": TOKEN, "expires_in": "3600",
                                 "expires_on": str(int(time.time()) + 3600), "token_type": "Bearer"})
            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n).decode()
                reqs.append({"method": "POST", "path": self.path, "body": body,
                             "content_type": self.headers.get("Content-Type", "")})
                form = urllib.parse.parse_qs(body)
                if form.get("client_secret", [""])[0] == "wrong":
                    return self.reply(401, {"error": "invalid_client",
                                            "error_description": "AADSTS7000215: Invalid client secret provided."})
                self.reply(200, {"access_token": TOKEN, "expires_in": 3600, "token_type": "Bearer"})
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        print("LISTENING", srv.server_address[1], flush=True)
        srv.serve_forever()
        """#

    init(token: String) throws {
        let path = NSTemporaryDirectory() + "blockyard-token-server-\(UUID().uuidString).py"
        try Self.script.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        server = try LoopbackServer(script: path, arguments: [token])
    }

    /// What the server received: method, path, body (POST) and headers of interest.
    func requests() throws -> [[String: String]] {
        let r = try server.request("GET", "/__requests")
        return (try JSONSerialization.jsonObject(with: Data(r.body.utf8)) as? [[String: String]]) ?? []
    }
}
