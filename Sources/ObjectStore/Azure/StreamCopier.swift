/// Copies objects between two Azure buckets through this process without holding them: one Get
/// Blob of the source streams into one Put Blob of the destination, which checks every byte
/// against the source's MD5 (`AzureBucket.copyStreamed`). For pairs whose service cannot copy
/// server side (or when that is turned off); `nil` for any other pair of buckets.
///
/// It takes objects whose MD5 the source reports (the check needs it) up to
/// `AzureTuning.spliceMaxSize`; for the rest the caller streams piece by piece
/// (`Bucket.upload(_:size:md5:from:)`), where each ranged read brings the source's MD5 of its range.
public struct StreamCopier: Sendable, CustomStringConvertible {
    let pair: AzurePair

    /// `nil` unless both buckets are Azure (under any prefixes).
    public init?(from source: any Bucket, to destination: any Bucket) {
        guard let pair = AzurePair(from: source, to: destination) else { return nil }
        self.pair = pair
    }

    public var description: String { "streamed copy \(pair.source.description) -> \(pair.destination.description)" }

    /// Whether `copy` takes an object with these attributes: its MD5 is known and its size is
    /// within the single-request limit.
    public func accepts(_ attributes: ObjectAttributes) -> Bool {
        attributes.md5 != nil && attributes.size <= pair.destination.tuning.spliceMaxSize
    }

    /// Makes destination `key` a copy of source `key`; `attributes` are the source object's as
    /// sized (see `accepts`): the MD5 is checked by the destination service, the ETag pins the
    /// version read.
    public func copy(_ key: String, attributes: ObjectAttributes) async throws(ObjectStoreError) {
        guard let md5 = attributes.md5, accepts(attributes) else {
            throw ObjectStoreError(.invalidArgument, bucket: pair.destination.description, key: key, "a streamed copy needs the source's MD5 and at most \(pair.destination.tuning.spliceMaxSize) bytes")
        }
        try await pair.forKey(key) { from, to throws(ObjectStoreError) in
            try await pair.destination.copyStreamed(to, from: pair.source, sourceKey: from, size: attributes.size, md5: md5, etag: attributes.etag)
        }
    }
}
