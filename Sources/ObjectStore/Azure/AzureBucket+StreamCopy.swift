import Foundation

/// Streamed copies between Azure buckets, for when the destination service cannot read the source
/// itself: one Get Blob of the source streams straight into one Put Blob here
/// (`CurlEngine.splice`), through a ring buffer of `tuning.spliceBuffer` bytes on the transport
/// thread, whatever the object's size.
///
/// Integrity: when the source reports an MD5, the Put Blob carries it as its Content-MD5, so this
/// service hashes what it received and refuses the blob (Md5Mismatch, nothing written) unless every
/// byte matches the source's own hash: one check covers both legs, and nothing is hashed in this
/// process. When it reports none (a blob Thanos uploaded as a block list), there is nothing to check
/// the bytes against: they travel as they came (TLS guards both legs on the wire), the copy's size
/// is checked, and the MD5 this service computed for the Put Blob (its answer's Content-MD5, also
/// stored as the blob's) becomes the copy's, for re-runs to compare. A block's own checksums
/// (`replicate --verify`) check such a copy end to end; `replicate --checked-reads` reads it in
/// ranges the source hashes instead. Hashing here as the bytes pass was measured: it adds one MD5
/// pass on the transport thread (16 % slower than rclone on the emulator) and only proves the
/// destination got what this process read.
///
/// A failed try (either side: 5xx, throttling, a broken or cut-short connection) starts both
/// requests again, up to the larger of the two buckets' try counts, with the usual backoff.
extension AzureBucket {
    /// Returns the MD5 of the copy: the source's when given, else the one this service computed
    /// (nil if it reported none).
    @discardableResult
    func copyStreamed(_ key: String, from source: AzureBucket, sourceKey: String, size: Int64, md5: [UInt8]?, etag: String?) async throws(ObjectStoreError) -> [UInt8]? {
        try checkKey(key, bucket: description)
        try checkKey(sourceKey, bucket: source.description)
        let get = Op("GetBlob", "GET", key: sourceKey, headers: etag.map { [("If-Match", $0)] } ?? [], expect: [200])
        let put = Op(
            "PutBlob", "PUT", key: key,
            headers: [("x-ms-blob-type", "BlockBlob")] + (md5.map { [("Content-MD5", Data($0).base64EncodedString())] } ?? []),
            body: .pipe(length: size), expect: [201])
        let tries = max(retry.maxTries, source.readTries)
        var attempt = 0
        while true {
            attempt += 1
            if Task.isCancelled { throw fail(.cancelled, key, "streamed copy cancelled") }
            let getRequest = try await source.request(get)
            let putRequest = try await request(put)
            let (g, p) = await CurlEngine.shared.splice(getRequest, into: putRequest, buffer: tuning.spliceBuffer)
            source.log(get, getRequest, g, attempt: attempt)
            log(put, putRequest, p, attempt: attempt)
            guard let failure = spliceFailure(get, g, put, p, source: source, size: size, md5: md5, etag: etag) else {
                return md5 ?? p.header("content-md5").flatMap { Data(base64Encoded: $0) }.map { Array($0) }
            }
            let (error, retryable, answer) = failure
            if !retryable || attempt >= tries {
                var e = error
                if attempt > 1 { e.detail += " (gave up after \(attempt) tries)" }
                throw e
            }
            let wait = retry.delay(afterAttempt: attempt, retryAfter: answer.header("retry-after"))
            logger.debug("azure retry", metadata: ["op": "StreamCopy", "key": "\(key)", "try": "\(attempt)", "error": "\(error.detail)"])
            do { try await Task.sleep(for: wait) } catch { throw fail(.cancelled, key, "streamed copy cancelled while waiting to retry") }
        }
    }

    /// What went wrong in one try, whether to try again, and the answer to take Retry-After from;
    /// nil when both sides succeeded. The side that failed on its own explains the failure: a side
    /// the pipe stopped because the other ended (`.peerEnded`) does not.
    private func spliceFailure(
        _ get: Op, _ g: HTTPResponse, _ put: Op, _ p: HTTPResponse, source: AzureBucket, size: Int64, md5: [UInt8]?, etag: String?
    ) -> (ObjectStoreError, Bool, HTTPResponse)? {
        if g.spliceStop != .peerEnded {
            if g.spliceStop == .sourceTooLong {
                return (source.fail(.integrity, get.key, "GetBlob: the source sent more than the \(size) bytes it was sized at (it changed during the copy?)"), false, g)
            }
            if case .failure(let e, let retryable) = source.classify(get, g) {
                if e.kind == .preconditionFailed {
                    let why = "the blob changed since it was sized (ETag \(etag ?? "?") no longer matches); not copied: \(e.detail)"
                    return (source.fail(.preconditionFailed, get.key, why), false, g)
                }
                return (e, retryable, g)
            }
            if g.bodyBytes != size {
                return (source.fail(.integrity, get.key, "GetBlob: the source gave \(g.bodyBytes) bytes, \(size) expected (it changed or was cut short)"), false, g)
            }
        }
        if p.spliceStop != .peerEnded, case .failure(let e, let retryable) = classify(put, p) {
            if e.kind == .integrity, let md5 {
                let why = "the bytes streamed from \(source.description) key \(get.key) do not hash to its Content-MD5 \(Data(md5).base64EncodedString()) (corrupted on the way, or the source's MD5 is wrong); nothing was written: \(e.detail)"
                return (fail(.integrity, put.key, why), false, p)
            }
            return (e, retryable, p)
        }
        if p.spliceStop == .peerEnded || g.spliceStop == .peerEnded {
            // Each side blames the other: should not happen, but is a broken try, not a success.
            return (fail(.transport, put.key, "streamed copy from \(source.description) key \(get.key) stopped with neither side failing"), true, p)
        }
        return nil
    }
}
