/// A source and a destination that are both Azure buckets under any `PrefixedBucket` layers,
/// with the key prefixes those layers add: what the copiers that work between two Azure buckets
/// (`ServerSideCopier`, `StreamCopier`) start from.
struct AzurePair: Sendable {
    let source: AzureBucket
    let sourcePrefix: String
    let destination: AzureBucket
    let destinationPrefix: String

    /// `nil` unless both buckets are Azure.
    init?(from source: any Bucket, to destination: any Bucket) {
        let (s, sp) = Self.unwrap(source)
        let (d, dp) = Self.unwrap(destination)
        guard let s = s as? AzureBucket, let d = d as? AzureBucket else { return nil }
        self.source = s
        sourcePrefix = sp
        self.destination = d
        destinationPrefix = dp
    }

    /// Runs `body` with the source's and the destination's full key for `key`; an error naming
    /// either names `key` instead, as the caller knows it.
    func forKey<R>(_ key: String, _ body: (_ from: String, _ to: String) async throws(ObjectStoreError) -> R) async throws(ObjectStoreError) -> R {
        let from = sourcePrefix + key
        let to = destinationPrefix + key
        do {
            return try await body(from, to)
        } catch {
            var e = error
            if e.key == to || e.key == from { e.key = key }
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
