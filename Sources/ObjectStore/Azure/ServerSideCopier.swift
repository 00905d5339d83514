/// Copies objects between two buckets by having the destination's storage service read the
/// source itself, so the bytes never pass through this process. Exists only for pairs that can
/// do it (today: AZURE to AZURE, any accounts, prefixes allowed); callers that get `nil`, or a
/// copy that fails with `.unsupported`, stream the object instead.
public struct ServerSideCopier: Sendable, CustomStringConvertible {
    let pair: AzurePair

    /// `nil` when `source` and `destination` cannot copy server side.
    public init?(from source: any Bucket, to destination: any Bucket) {
        guard let pair = AzurePair(from: source, to: destination) else { return nil }
        self.pair = pair
    }

    public var description: String { "server-side copy \(pair.source.description) -> \(pair.destination.description)" }

    /// Makes destination `key` a copy of source `key`. `attributes` are the source object's
    /// (size; MD5 and ETag when known): the MD5 becomes the copy's, the ETag pins the version.
    public func copy(_ key: String, attributes: ObjectAttributes) async throws(ObjectStoreError) {
        try await pair.forKey(key) { from, to throws(ObjectStoreError) in
            try await pair.destination.copyServerSide(to, from: pair.source, sourceKey: from, size: attributes.size, md5: attributes.md5, etag: attributes.etag)
        }
    }
}
