import Foundation

/// Streamed copies between Azure buckets, for when the destination service cannot read the source
/// itself: one Get Blob of the source streams straight into one Put Blob here
/// (`CurlEngine.splice`), through a ring buffer of `tuning.spliceBuffer` bytes on the transport
/// thread, whatever the object's size.
///
/// Integrity: when the source reports an MD5, the Put Blob carries it as its Content-MD5, so this
/// service hashes what it received and refuses the blob (Md5Mismatch, nothing written) unless every
/// byte matches the source's own hash: one check covers both legs, and nothing is hashed in this
/// process. When it reports none (a blob Thanos uploaded as a block list), the bytes are hashed
/// here as they pass, and the MD5 this service computed for the Put Blob (its response's
/// Content-MD5, also stored as the blob's) must equal that hash; a blob that does not is deleted
/// and the copy fails. That proves the destination holds what was read, not that the read matches
/// what the source stores; TLS covers that leg on the wire, and a block's own checksums (`verify`)
/// cover it end to end. The Get
/// Blob is pinned to the ETag the object was sized with (If-Match), so a blob replaced before the
/// copy starts fails (412) instead of being stored under the old MD5; a response is one version,
/// so a blob replaced during the copy cannot mix versions either.
///
/// A failed try (either side: 5xx, throttling, a broken or cut-short connection) starts both
/// requests again, up to the larger of the two buckets' try counts, with the usual backoff.
extension AzureBucket {
    /// Returns the MD5 of the copy: the source's when given, else the one hashed on the way.
    @discardableResult
    func copyStreamed(_ key: String, from source: AzureBucket, sourceKey: String, size: Int64, md5: [UInt8]?, etag: String?) async throws(ObjectStoreError) -> [UInt8] {
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
            let (g, p, hashed) = await CurlEngine.shared.splice(getRequest, into: putRequest, buffer: tuning.spliceBuffer, hashing: md5 == nil)
            source.log(get, getRequest, g, attempt: attempt)
            log(put, putRequest, p, attempt: attempt)
            guard let failure = spliceFailure(get, g, put, p, source: source, size: size, md5: md5, etag: etag) else {
                if let md5 { return md5 }
                return try await checkHashed(key, hashed ?? [], answer: p, source: source, sourceKey: sourceKey)
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

    /// A copy made without the source's MD5: the service's MD5 of what it stored must be the hash of
    /// what was read. A copy that is not is deleted (it would pass a later size-only comparison).
    private func checkHashed(_ key: String, _ hashed: [UInt8], answer p: HTTPResponse, source: AzureBucket, sourceKey: String) async throws(ObjectStoreError) -> [UInt8] {
        let ours = Data(hashed).base64EncodedString()
        var stored = p.header("content-md5")
        if stored == nil { stored = try await attributes(key).md5.map { Data($0).base64EncodedString() } }
        guard let stored else {
            // Neither the answer nor the blob's properties carry an MD5: the caller checks the
            // copy's size, and the returned hash becomes what a re-run compares against.
            return hashed
        }
        if stored == ours { return hashed }
        var why = "the service stored MD5 \(stored) for the bytes streamed from \(source.description) key \(sourceKey), which hash to \(ours) here (corrupted on the way); the copy was deleted"
        do { try await delete(key) } catch { why = "the service stored MD5 \(stored) for the bytes streamed from \(source.description) key \(sourceKey), which hash to \(ours) here (corrupted on the way); deleting the bad copy failed too, delete it by hand: \(error.detail)" }
        throw fail(.integrity, key, why)
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
