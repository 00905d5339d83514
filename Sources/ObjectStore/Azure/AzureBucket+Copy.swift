import Foundation

/// Server-side copies between Azure buckets: the destination service reads the source blob by
/// URL (Put Block From URL, one request per range), then Put Block List commits the blob with the
/// source's MD5. No blob bytes pass through this process.
extension AzureBucket {
    /// How another service may read one of this bucket's blobs.
    struct CopySource: Sendable {
        /// The blob's URL, with a SAS query when the bucket authorises by key or SAS.
        var url: String
        /// `Bearer …` for `x-ms-copy-source-authorization` when the bucket uses Azure AD.
        var authorization: String?
    }

    /// A read URL for `key`, valid for `validFor`. Shared Key credentials sign a fresh service SAS
    /// (read only, this blob only, started 5 minutes back for clock skew); a SAS credential passes
    /// its own token on; Azure AD passes a bearer token in the copy-source authorization header.
    func copySource(_ key: String, validFor: Double = 900) async throws(ObjectStoreError) -> CopySource {
        let base = String(endpoint.baseURL.dropLast(endpoint.basePath.count)) + rawPath(key)
        switch credential {
        case .sharedKey(let signer):
            let now = Date().timeIntervalSince1970
            let sas = signer.blobSAS(
                container: container, blob: key, permissions: "r", start: now - 300, expiry: now + validFor,
                protocols: endpoint.isHTTPS ? "https" : "https,http")
            return CopySource(url: base + "?" + sas, authorization: nil)
        case .sas(let token):
            return CopySource(url: token.isEmpty ? base : base + "?" + token, authorization: nil)
        case .bearer(let source):
            do {
                return CopySource(url: base, authorization: "Bearer " + (try await source.token()))
            } catch {
                throw ObjectStoreError(error.kind, bucket: description, key: key, "copy source: getting a token from \(error.bucket): \(error.detail)")
            }
        }
    }

    /// Makes `key` here a copy of `sourceKey` in `source`, of `size` bytes. `md5` (the source's
    /// Content-MD5, when it has one) becomes this blob's MD5; `etag` pins the source version
    /// (`x-ms-source-if-match`), so a blob replaced mid-copy fails instead of mixing versions.
    /// A refusal by the service to read the source (unreachable, not authorised, not supported)
    /// is `.unsupported`, so the caller can stream instead.
    func copyServerSide(
        _ key: String, from source: AzureBucket, sourceKey: String, size: Int64, md5: [UInt8]?, etag: String?
    ) async throws(ObjectStoreError) {
        try checkKey(key, bucket: description)
        if size == 0 {
            // Nothing to read: an empty Put Blob (Put Block From URL cannot copy zero bytes).
            try await putBlob(key, body: .bytes([]), md5: MD5.digest([]))
            return
        }
        let ranges = StreamedUpload.pieces(size, tuning.copyRangeSize)
        let ids = blockIDs(ranges.count)
        let err = await Self.bounded(count: ranges.count, parallelism: tuning.copyParallelism) { i throws(ObjectStoreError) -> Range<Int64> in
            ranges[i]
        } work: { i, r in
            do throws(ObjectStoreError) {
                try await self.putBlockFromURL(key, id: ids[i], source: source, sourceKey: sourceKey, range: r, etag: etag)
            } catch { return error }
            return nil
        }
        if let err { throw err }
        let op = blockListOp(key, ids: ids, md5: md5)
        _ = try await send(op)
    }

    private func putBlockFromURL(_ key: String, id: String, source: AzureBucket, sourceKey: String, range: Range<Int64>, etag: String?) async throws(ObjectStoreError) {
        // One source URL per range, valid for an hour: retries reuse it, and a range never
        // takes that long.
        let src = try await source.copySource(sourceKey, validFor: 3600)
        if let a = src.authorization { redactor.remember(String(a.dropFirst("Bearer ".count))) }
        var headers = [("x-ms-copy-source", src.url), ("x-ms-source-range", "bytes=\(range.lowerBound)-\(range.upperBound - 1)")]
        if let a = src.authorization { headers.append(("x-ms-copy-source-authorization", a)) }
        if let etag { headers.append(("x-ms-source-if-match", etag)) }
        do {
            _ = try await send(Op("PutBlockFromURL", "PUT", key: key, query: [("comp", "block"), ("blockid", id)], headers: headers, expect: [201]))
        } catch {
            throw Self.refusal(error) ? ObjectStoreError(.unsupported, bucket: error.bucket, key: error.key, "server-side copy refused: \(error.detail)") : error
        }
    }

    /// Answers that mean "this service will not read that source": stream instead.
    static func refusal(_ e: ObjectStoreError) -> Bool {
        let refusingCodes = ["CannotVerifyCopySource", "FeatureNotSupported", "NotImplemented", "UnsupportedHeader", "AuthorizationSourceIPMismatch"]
        if refusingCodes.contains(where: { e.detail.contains(" \($0)") }) { return true }
        return e.kind == .forbidden || e.kind == .unauthorized
    }

    /// Put Block List of `ids`, with `md5` as the blob's Content-MD5 when known.
    func blockListOp(_ key: String, ids: [String], md5: [UInt8]?) -> Op {
        var xml = "<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>"
        for id in ids { xml += "<Latest>\(id)</Latest>" }
        xml += "</BlockList>"
        let body = Array(xml.utf8)
        var headers = [("Content-MD5", Data(MD5.digest(body)).base64EncodedString())]
        if let md5 { headers.append(("x-ms-blob-content-md5", Data(md5).base64EncodedString())) }
        return Op("PutBlockList", "PUT", key: key, query: [("comp", "blocklist")], headers: headers, body: .bytes(body), expect: [201])
    }
}
