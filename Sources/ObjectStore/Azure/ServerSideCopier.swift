/// Copies objects between two buckets by having the destination's storage service read the
/// source itself, so the bytes never pass through this process. Exists only for pairs that can
/// do it (today: AZURE to AZURE, any accounts, prefixes allowed); callers that get `nil`, or a
/// copy that fails with `.unsupported`, stream the object instead.
public struct ServerSideCopier: Sendable, CustomStringConvertible {
    let source: AzureBucket
    let sourcePrefix: String
    let destination: AzureBucket
    let destinationPrefix: String

    /// `nil` when `source` and `destination` cannot copy server side.
    public init?(from source: any Bucket, to destination: any Bucket) {
        let (s, sp) = Self.unwrap(source)
        let (d, dp) = Self.unwrap(destination)
        guard let s = s as? AzureBucket, let d = d as? AzureBucket else { return nil }
        self.source = s
        sourcePrefix = sp
        self.destination = d
        destinationPrefix = dp
    }

    public var description: String { "server-side copy \(source.description) -> \(destination.description)" }

    /// Makes destination `key` a copy of source `key`. `attributes` are the source object's
    /// (size; MD5 and ETag when known): the MD5 becomes the copy's, the ETag pins the version.
    public func copy(_ key: String, attributes: ObjectAttributes) async throws(ObjectStoreError) {
        let from = sourcePrefix + key
        let to = destinationPrefix + key
        do {
            try await destination.copyServerSide(to, from: source, sourceKey: from, size: attributes.size, md5: attributes.md5, etag: attributes.etag)
        } catch {
            var e = error
            if e.key == to { e.key = key }
            throw e
        }
    }

    /// The store under any `PrefixedBucket` layers, and the key prefix they add.
    static func unwrap(_ b: any Bucket) -> (any Bucket, String) {
        guard let p = b as? PrefixedBucket else { return (b, "") }
        let (inner, prefix) = unwrap(p.base)
        return (inner, prefix + p.prefix + "/")
    }
}
