import Foundation
import Logging

/// A Thanos `type: AZURE` bucket over the Blob REST API (version 2021-12-02), through libcurl.
///
/// Endpoints: `https://{storage_account}.{endpoint}` normally. Path-style
/// `http(s)://host:port/{account}` when the connection string has a `BlobEndpoint`, or when
/// `endpoint` is a full URL (a blockyard extension for emulators and private endpoints:
/// `endpoint: http://127.0.0.1:10000` means `http://127.0.0.1:10000/{storage_account}`; a URL
/// that already has a path is used as given). Bearer tokens are only sent over https or to a
/// loopback host.
///
/// Credentials, as Thanos picks them: `storage_connection_string` (AccountKey or
/// SharedAccessSignature; `UseDevelopmentStorage=true`), else `storage_account_key` (Shared Key),
/// else Azure AD: `user_assigned_id` (managed identity), `az_tenant_id`+`client_id`+`client_secret`,
/// else the environment (AZURE_CLIENT_SECRET, then AZURE_FEDERATED_TOKEN_FILE workload identity,
/// then managed identity). Tokens are cached and refreshed 5 minutes before they expire.
///
/// Transport (`CurlEngine`): one thread per process owns a `curl_multi` handle; each request is a
/// `CurlTransfer` submitted from async code, which waits on a continuation. Bodies stream through
/// curl callbacks into a sink (memory, or `pwrite` into a file) and from memory or a file range.
/// Connections are kept alive in the multi handle's cache.
///
/// Retries (`AzureRetryPolicy`): 408/429/500/502/503/504 and transport failures, up to
/// `pipeline_config.max_tries` (or `max_retries`; default 3 tries), exponential backoff with full
/// jitter from 800 ms capped at 60 s (or retry_delay/max_retry_delay), `Retry-After` honoured.
/// Each try is signed afresh. A body shorter than its Content-Length is a transport error.
///
/// Integrity: Put Blob and Put Block send Content-MD5, Put Block List sends the whole-file MD5 as
/// x-ms-blob-content-md5; whole-object reads and downloads check the MD5 the service reports.
/// Messages and logs go through `AzureRedactor`: no account key, SAS signature, token or secret.
public final class AzureBucket: Bucket {
    public let description: String
    let account: String
    let container: String
    let endpoint: AzureEndpoint
    let credential: AzureCredential
    let redactor: AzureRedactor
    let logger: Logger
    let tuning: AzureTuning
    let timeouts: HTTPTimeouts
    let retry: AzureRetryPolicy
    /// Tries for one range of a download (resumes count as tries).
    let readTries: Int

    static let apiVersion = "2021-12-02"

    /// Resolves credentials and, when `storage_create_container` is set, creates the container
    /// if it is missing.
    public convenience init(config: AzureConfig, logger: Logger? = nil) async throws(ObjectStoreError) {
        try await self.init(config: config, logger: logger, tuning: AzureTuning())
    }

    /// `accountLevel`: a handle on the account itself (container left empty), from which
    /// `AzureAccount` lists containers and makes their buckets.
    init(config: AzureConfig, logger: Logger?, tuning: AzureTuning, accountLevel: Bool = false) async throws(ObjectStoreError) {
        try config.validate(requireContainer: !accountLevel)
        let redactor = AzureRedactor()
        let auth = try AzureAuthResolution.resolve(config, tuning: tuning, redactor: redactor)
        for s in auth.secrets { redactor.remember(s) }
        if case .sas(let token) = auth.credential, let sig = token.split(separator: "&").first(where: { $0.lowercased().hasPrefix("sig=") }) {
            redactor.remember(String(sig.dropFirst(4)))
            redactor.remember(AzureURL.percentDecode(String(sig.dropFirst(4))))
        }
        if case .bearer = auth.credential, !auth.endpoint.isHTTPS, !auth.endpoint.isLoopback {
            throw ConfigNode.error("objstore.config.endpoint", "bearer tokens are only sent over https (or to a loopback address)")
        }
        self.redactor = redactor
        account = auth.account
        container = accountLevel ? "" : config.container
        endpoint = auth.endpoint
        credential = auth.credential
        self.tuning = tuning
        timeouts = tuning.timeouts(config)
        retry = tuning.retryPolicy(config)
        readTries = max(retry.maxTries, config.readerMaxRetryRequests)
        description = accountLevel ? "azure \(auth.account)" : "azure \(auth.account)/\(config.container)"
        self.logger = logger ?? Logger(label: "blockyard.azure", factory: { _ in SwiftLogNoOpLogHandler() })
        if !accountLevel { try await prepareContainer(create: config.storageCreateContainer) }
    }

    /// Another container of the same account, sharing credentials (and so the token cache),
    /// endpoint and settings. The container is not checked.
    init(sharing a: AzureBucket, container: String) {
        account = a.account
        self.container = container
        endpoint = a.endpoint
        credential = a.credential
        redactor = a.redactor
        logger = a.logger
        tuning = a.tuning
        timeouts = a.timeouts
        retry = a.retry
        readTries = a.readTries
        description = "azure \(a.account)/\(container)"
    }

    /// Thanos: check the container; create it when missing and allowed.
    private func prepareContainer(create: Bool) async throws(ObjectStoreError) {
        do {
            _ = try await send(Op("GetContainerProperties", "GET", key: "", query: [("restype", "container")], expect: [200]))
        } catch where error.kind == .notFound {
            guard create else {
                throw ObjectStoreError(.notFound, bucket: description, key: "", "container \(container) does not exist and storage_create_container is false")
            }
            do {
                _ = try await send(Op("CreateContainer", "PUT", key: "", query: [("restype", "container")], expect: [201]))
                logger.info("created azure container", metadata: ["bucket": "\(description)"])
            } catch where error.kind == .alreadyExists {
                // Someone else made it first.
            }
        }
    }

    // MARK: requests

    /// One REST operation; `key` empty means the container itself.
    struct Op: Sendable {
        var name: String
        var method: String
        var key: String
        var query: [(String, String)]
        var headers: [(String, String)]
        var body: HTTPRequest.Body
        var expect: Set<Int>

        init(_ name: String, _ method: String, key: String, query: [(String, String)] = [], headers: [(String, String)] = [], body: HTTPRequest.Body = .none, expect: Set<Int>) {
            self.name = name
            self.method = method
            self.key = key
            self.query = query
            self.headers = headers
            self.body = body
            self.expect = expect
        }
    }

    func rawPath(_ key: String) -> String {
        endpoint.basePath + "/" + container + (key.isEmpty ? "" : "/" + AzureURL.encode(key, allowed: AzureURL.pathAllowed))
    }

    /// Builds, signs and sends one try of `op` (a fresh date and signature every time).
    func request(_ op: Op) async throws(ObjectStoreError) -> HTTPRequest {
        let path = rawPath(op.key)
        var headers = op.headers
        headers.append(("x-ms-date", HTTPDate.now()))
        headers.append(("x-ms-version", Self.apiVersion))
        var query = AzureURL.query(op.query)
        switch credential {
        case .sharedKey(let signer):
            let auth = signer.authorization(method: op.method, rawPath: path, query: op.query, headers: headers, contentLength: op.body.length)
            headers.append(("Authorization", auth))
        case .sas(let token):
            if !token.isEmpty { query += (query.isEmpty ? "" : "&") + token }
        case .bearer(let source):
            do {
                headers.append(("Authorization", "Bearer " + (try await source.token())))
            } catch {
                throw ObjectStoreError(error.kind, bucket: description, key: op.key, "\(op.name): getting a token from \(error.bucket): \(error.detail)")
            }
        }
        let base = String(endpoint.baseURL.dropLast(endpoint.basePath.count))
        var r = HTTPRequest(method: op.method, url: base + path + (query.isEmpty ? "" : "?" + query), headers: headers, body: op.body)
        r.timeouts = timeouts
        return r
    }

    func send(_ op: Op, sink: ResponseSink? = nil) async throws(ObjectStoreError) -> HTTPResponse {
        try await send(op.name, key: op.key, tries: retry.maxTries) { _, _ in (op, sink) }
    }

    /// Sends with retries. `prepare` gives the operation and sink for each try (1-based) and sees
    /// the previous try's response, so a download can resume where it stopped.
    func send(
        _ name: String, key: String, tries: Int,
        prepare: (Int, HTTPResponse?) throws(ObjectStoreError) -> (Op, ResponseSink?)
    ) async throws(ObjectStoreError) -> HTTPResponse {
        var previous: HTTPResponse?
        var attempt = 0
        while true {
            attempt += 1
            if Task.isCancelled { throw fail(.cancelled, key, "\(name) cancelled") }
            let (op, sink) = try prepare(attempt, previous)
            let req = try await request(op)
            let r = await CurlEngine.shared.perform(req, sink: sink)
            log(op, req, r, attempt: attempt)
            let outcome = classify(op, r)
            switch outcome {
            case .success:
                return r
            case .failure(let error, let retryable):
                if !retryable || attempt >= tries {
                    var e = error
                    if attempt > 1 { e.detail += " (gave up after \(attempt) tries)" }
                    throw e
                }
                let wait = retry.delay(afterAttempt: attempt, retryAfter: r.header("retry-after"))
                logger.debug("azure retry", metadata: [
                    "op": "\(name)", "key": "\(key)", "try": "\(attempt)", "wait_ms": "\(wait.components.seconds * 1000 + wait.components.attoseconds / 1_000_000_000_000_000)",
                    "error": "\(error.detail)",
                ])
                do { try await Task.sleep(for: wait) } catch { throw fail(.cancelled, key, "\(name) cancelled while waiting to retry") }
                previous = r
            }
        }
    }

    enum Outcome {
        case success
        case failure(ObjectStoreError, retryable: Bool)
    }

    func classify(_ op: Op, _ r: HTTPResponse) -> Outcome {
        let what = "\(op.name) \(op.method)"
        if r.cancelled { return .failure(fail(.cancelled, op.key, "\(what) cancelled"), retryable: false) }
        if let local = r.sinkError {
            return .failure(fail(.io, op.key, "\(what): \(local)"), retryable: false)
        }
        if r.curlCode != 0 {
            let retryable = AzureRetryPolicy.retryableCurlCodes.contains(r.curlCode)
            var detail = "\(what): \(Self.transportSummary(r.curlCode))curl error \(r.curlCode): \(r.curlMessage)"
            if r.status >= 200 && r.status < 300, let cl = r.header("content-length") {
                detail += " (\(r.bodyBytes) of \(cl) body bytes received)"
            }
            return .failure(fail(.transport, op.key, detail), retryable: retryable)
        }
        if op.expect.contains(r.status) || (r.status >= 200 && r.status < 300 && op.expect.contains(where: { $0 >= 200 && $0 < 300 })) {
            if op.method != "HEAD", let cl = r.header("content-length").flatMap({ Int64($0) }), cl != r.bodyBytes {
                return .failure(fail(.transport, op.key, "\(what): body ended after \(r.bodyBytes) of \(cl) bytes"), retryable: true)
            }
            return .success
        }
        let parsed = AzureXML.error(r.errorBody)
        let code = r.header("x-ms-error-code") ?? parsed.code
        var detail = "\(what): HTTP \(r.status)"
        if let code { detail += " \(code)" }
        if let m = parsed.message?.split(whereSeparator: \.isNewline).first { detail += ": \(m)" }
        if let rid = r.header("x-ms-request-id") { detail += " (request id \(rid))" }
        return .failure(fail(Self.kind(status: r.status, code: code), op.key, detail), retryable: AzureRetryPolicy.isRetryable(status: r.status, code: code))
    }

    /// A plain-words lead for the curl errors people meet.
    static func transportSummary(_ code: Int32) -> String {
        switch code {
        case 28: "timed out: "
        case 7: "could not connect: "
        case 6: "could not resolve the host: "
        case 18: "the body was cut short: "
        case 52: "empty reply: "
        case 55, 56: "connection broken: "
        case 35, 60: "TLS failure: "
        default: ""
        }
    }

    static func kind(status: Int, code: String?) -> ObjectStoreError.Kind {
        switch (status, code) {
        case (_, "Md5Mismatch"), (_, "InvalidMd5"): .integrity
        case (404, _): .notFound
        case (409, _): .alreadyExists
        case (412, _), (304, _): .preconditionFailed
        case (401, _): .unauthorized
        case (403, _): .forbidden
        case (416, _): .invalidRange
        case (429, _): .throttled
        case (408, _), (500..., _): .server
        default: .invalidArgument
        }
    }

    /// Every error of this bucket goes through here: names the bucket and key, scrubbed of secrets.
    func fail(_ kind: ObjectStoreError.Kind, _ key: String, _ detail: String) -> ObjectStoreError {
        ObjectStoreError(kind, bucket: description, key: key, redactor(detail))
    }

    func log(_ op: Op, _ req: HTTPRequest, _ r: HTTPResponse, attempt: Int) {
        guard logger.logLevel <= .debug else { return }
        var md: Logger.Metadata = [
            "op": "\(op.name)", "method": "\(op.method)", "url": "\(redactor(req.url))",
            "status": "\(r.status)", "duration_ms": "\(r.duration.components.seconds * 1000 + r.duration.components.attoseconds / 1_000_000_000_000_000)",
            "try": "\(attempt)", "bytes": "\(r.bodyBytes)", "new_connection": "\(r.newConnections > 0)",
        ]
        if let rid = r.header("x-ms-request-id") { md["request_id"] = "\(rid)" }
        if r.curlCode != 0 { md["curl_error"] = "\(r.curlCode) \(redactor(r.curlMessage))" }
        if let code = r.header("x-ms-error-code") { md["error_code"] = "\(code)" }
        logger.debug("azure request", metadata: md)
    }

    // MARK: Bucket

    public func list(prefix: String, recursive: Bool) async throws(ObjectStoreError) -> [String] {
        var out: [String] = []
        var marker = ""
        repeat {
            var q: [(String, String)] = [("restype", "container"), ("comp", "list")]
            if !prefix.isEmpty { q.append(("prefix", prefix)) }
            if !recursive { q.append(("delimiter", "/")) }
            if !marker.isEmpty { q.append(("marker", marker)) }
            if let n = tuning.listPageSize { q.append(("maxresults", String(n))) }
            let sink = MemorySink()
            let op = Op("ListBlobs", "GET", key: "", query: q, expect: [200])
            _ = try await send("ListBlobs", key: prefix, tries: retry.maxTries) { _, _ in
                sink.reset()
                return (op, sink)
            }
            let page = AzureXML.listPage(sink.bytes)
            out += page.blobs
            out += page.prefixes
            marker = page.nextMarker
        } while !marker.isEmpty
        var seen = Set<String>()
        return out.filter { seen.insert($0).inserted }.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }

    public func getRange(_ key: String, offset: Int64, length: Int64?) async throws(ObjectStoreError) -> [UInt8] {
        try checkKey(key, bucket: description)
        guard offset >= 0, length.map({ $0 >= 0 }) ?? true else { throw fail(.invalidArgument, key, "negative range") }
        if length == 0 {
            let a = try await attributes(key)
            guard offset <= a.size else { throw fail(.invalidRange, key, "offset \(offset) beyond size \(a.size)") }
            return []
        }
        let whole = offset == 0 && length == nil
        var headers: [(String, String)] = []
        if !whole {
            headers.append(("x-ms-range", "bytes=\(offset)-" + (length.map { String(offset + $0 - 1) } ?? "")))
        }
        let op = Op("GetBlob", "GET", key: key, headers: headers, expect: [200, 206])
        let sink = MemorySink(expected: Int(length ?? 0))
        let r: HTTPResponse
        do {
            r = try await send("GetBlob", key: key, tries: readTries) { _, _ in
                sink.reset()
                return (op, sink)
            }
        } catch where error.kind == .invalidRange {
            // 416: an empty blob, or an offset at or past the end.
            let a = try await attributes(key)
            if offset == a.size { return [] }
            if offset > a.size { throw fail(.invalidRange, key, "offset \(offset) beyond size \(a.size)") }
            throw error
        }
        if whole, let given = r.header("content-md5"), let expected = Data(base64Encoded: given) {
            let got = MD5.digest(sink.bytes)
            if got != Array(expected) {
                throw fail(.integrity, key, "GetBlob: Content-MD5 \(given) but the \(sink.bytes.count) bytes received hash to \(Data(got).base64EncodedString())")
            }
        }
        return sink.bytes
    }

    /// Ranges up to 4 MiB come with the service's MD5 of the range (`x-ms-range-get-content-md5`),
    /// which is checked here only by whoever uses it (a Put Block that sends it as its Content-MD5).
    public func getPiece(_ key: String, offset: Int64, length: Int64, ifMatch: String?) async throws(ObjectStoreError) -> RangePiece {
        try checkKey(key, bucket: description)
        guard offset >= 0, length > 0 else { return RangePiece(bytes: try await getRange(key, offset: offset, length: length)) }
        var headers = [("x-ms-range", "bytes=\(offset)-\(offset + length - 1)")]
        let withMD5 = length <= 4 << 20
        if withMD5 { headers.append(("x-ms-range-get-content-md5", "true")) }
        if let ifMatch { headers.append(("If-Match", ifMatch)) }
        let op = Op("GetBlob", "GET", key: key, headers: headers, expect: [206, 200])
        let sink = MemorySink(expected: Int(length))
        let r = try await send("GetBlob", key: key, tries: readTries) { _, _ in
            sink.reset()
            return (op, sink)
        }
        let md5 = withMD5 ? r.header("content-md5").flatMap { Data(base64Encoded: $0) }.map { Array($0) } : nil
        return RangePiece(bytes: sink.bytes, md5: md5)
    }

    public func attributes(_ key: String) async throws(ObjectStoreError) -> ObjectAttributes {
        try checkKey(key, bucket: description)
        let r = try await send(Op("GetBlobProperties", "HEAD", key: key, expect: [200]))
        guard let size = r.header("content-length").flatMap({ Int64($0) }) else {
            throw fail(.server, key, "GetBlobProperties: no Content-Length in the answer")
        }
        let modified = r.header("last-modified").flatMap(HTTPDate.parse) ?? 0
        let md5 = r.header("content-md5").flatMap { Data(base64Encoded: $0) }.map { Array($0) }
        return ObjectAttributes(size: size, lastModified: modified, etag: r.header("etag"), md5: md5)
    }

    public func delete(_ key: String) async throws(ObjectStoreError) {
        try checkKey(key, bucket: description)
        _ = try await send(Op("DeleteBlob", "DELETE", key: key, expect: [202]))
    }
}
