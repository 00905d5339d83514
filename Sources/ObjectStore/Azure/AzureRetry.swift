import CCurl
import Foundation

/// Sizes, parallelism and test hooks. The public initializer uses the defaults; tests reach the
/// internal one to shrink blocks and pages, speed up backoff and point token flows at loopback.
struct AzureTuning: Sendable {
    /// Put Blob up to this size, blocks above it.
    var putBlobThreshold = 4 << 20
    var blockSize = 4 << 20
    var uploadParallelism = 4
    /// Ranged GET size for `download(toFile:)`.
    var downloadChunkSize = 8 << 20
    var downloadParallelism = 4
    /// Put Block From URL requests in flight for one server-side copy, and the source range
    /// each copies (the service allows up to 100 MiB).
    var copyParallelism = 8
    var copyRangeSize = 32 << 20
    /// Streamed copies between Azure buckets (`copyStreamed`): the ring buffer between the
    /// source's Get Blob and the destination's Put Blob, and the largest object copied so, in one
    /// Put Blob (the service takes up to 5000 MiB; a failed try starts the object again, so larger
    /// objects go piece by piece instead).
    var spliceBuffer = 4 << 20
    var spliceMaxSize: Int64 = 1 << 30
    /// List Blobs `maxresults`; nil leaves it to the service (5000).
    var listPageSize: Int?
    /// First backoff step; nil uses pipeline_config.retry_delay or 800 ms.
    var retryBase: Duration?
    var retryCap: Duration?
    /// Stall watchdog: under 1 byte/s for this long fails a try.
    var stallTimeout: Duration = .seconds(60)
    /// Azure AD authority (`{authority}{tenant}/oauth2/v2.0/token`); nil uses AZURE_AUTHORITY_HOST
    /// or https://login.microsoftonline.com/.
    var authorityHost: String?
    /// Managed identity token URL (IMDS).
    var imdsEndpoint = "http://169.254.169.254/metadata/identity/oauth2/token"
    /// Where AZURE_* variables are read from.
    var environment: [String: String] = ProcessInfo.processInfo.environment

    init() {}

    func timeouts(_ c: AzureConfig) -> HTTPTimeouts {
        var t = HTTPTimeouts()
        t.connect = c.http.tlsHandshakeTimeout > .zero ? c.http.tlsHandshakeTimeout + .seconds(20) : .seconds(30)
        t.responseHeader = c.http.responseHeaderTimeout
        t.total = c.pipeline.tryTimeout
        t.stall = stallTimeout
        t.maxConnectionAge = c.http.idleConnTimeout
        t.caFile = c.http.tls.caFile
        t.certFile = c.http.tls.certFile
        t.keyFile = c.http.tls.keyFile
        t.insecureSkipVerify = c.http.insecureSkipVerify || c.http.tls.insecureSkipVerify
        return t
    }

    func retryPolicy(_ c: AzureConfig) -> AzureRetryPolicy {
        AzureRetryPolicy(
            maxTries: c.pipeline.maxTries > 0 ? c.pipeline.maxTries : AzureRetryPolicy.defaultTries,
            base: retryBase ?? (c.pipeline.retryDelay > .zero ? c.pipeline.retryDelay : .milliseconds(800)),
            cap: retryCap ?? (c.pipeline.maxRetryDelay > .zero ? c.pipeline.maxRetryDelay : .seconds(60)))
    }
}

/// When to try again and how long to wait: exponential backoff with full jitter, `Retry-After`
/// honoured, on 408/429/5xx-busy statuses and on transport failures that a new connection may fix.
struct AzureRetryPolicy: Sendable {
    static let defaultTries = 3
    static let retryableStatuses: Set<Int> = [408, 429, 500, 502, 503, 504]
    static let retryableCodes: Set<String> = ["ServerBusy", "OperationTimedOut", "InternalError"]
    /// couldn't connect, partial file, timeout, TLS connect, empty reply, send/recv errors,
    /// plus HTTP/2 stream and "got nothing" variants.
    static let retryableCurlCodes: Set<Int32> = [
        Int32(CURLE_COULDNT_CONNECT.rawValue), Int32(CURLE_PARTIAL_FILE.rawValue),
        Int32(CURLE_OPERATION_TIMEDOUT.rawValue), Int32(CURLE_SSL_CONNECT_ERROR.rawValue),
        Int32(CURLE_GOT_NOTHING.rawValue), Int32(CURLE_SEND_ERROR.rawValue), Int32(CURLE_RECV_ERROR.rawValue),
        Int32(CURLE_COULDNT_RESOLVE_HOST.rawValue), Int32(CURLE_HTTP2.rawValue), Int32(CURLE_HTTP2_STREAM.rawValue), Int32(CURLE_SEND_FAIL_REWIND.rawValue),
    ]

    var maxTries: Int
    var base: Duration
    var cap: Duration

    static func isRetryable(status: Int, code: String?) -> Bool {
        if retryableStatuses.contains(status) { return true }
        if status >= 500, let code, retryableCodes.contains(code) { return true }
        return false
    }

    /// The wait before try number `attempt + 1` (attempt counts from 1).
    func delay(afterAttempt attempt: Int, retryAfter: String?) -> Duration {
        if let ra = retryAfter?.trimmingCharacters(in: .whitespaces), let secs = Double(ra), secs >= 0 {
            return min(.milliseconds(Int64(secs * 1000)), max(cap, .seconds(1)))
        }
        if let ra = retryAfter, let when = HTTPDate.parse(ra) {
            let secs = max(0, when - Date().timeIntervalSince1970)
            return min(.milliseconds(Int64(secs * 1000)), max(cap, .seconds(1)))
        }
        let shift = min(attempt - 1, 30)
        let ceiling = min(cap, base * (1 << shift))
        let ns = ceiling.components.seconds * 1_000_000_000 + ceiling.components.attoseconds / 1_000_000_000
        return .nanoseconds(ns > 0 ? Int64.random(in: 0...ns) : 0)
    }
}
