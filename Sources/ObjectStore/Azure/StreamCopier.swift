/// Copies objects between two Azure buckets through this process without holding them: one Get
/// Blob of the source streams into one Put Blob of the destination (`AzureBucket.copyStreamed`).
/// When the source reports the object's MD5, the destination service checks every byte against it;
/// when it does not, the copy takes the MD5 the destination computed (see `copyStreamed` for what
/// that does and does not check). For pairs whose service cannot copy server side (or when that is turned off); `nil`
/// for any other pair of buckets.
///
/// It takes objects up to `AzureTuning.spliceMaxSize` (with `checkedReadsOnly`, only those whose
/// MD5 the source reports); for the rest the caller streams piece by piece
/// (`Bucket.upload(_:size:md5:from:)`), where each ranged read brings the source's MD5 of its range.
public struct StreamCopier: Sendable, CustomStringConvertible {
    let pair: AzurePair
    /// Refuse objects without a source MD5, so the caller reads them in ranges the source service
    /// hashes: slower, but the read itself is checked against what the source stores.
    public let checkedReadsOnly: Bool

    /// `nil` unless both buckets are Azure (under any prefixes).
    public init?(from source: any Bucket, to destination: any Bucket, checkedReadsOnly: Bool = false) {
        guard let pair = AzurePair(from: source, to: destination) else { return nil }
        self.pair = pair
        self.checkedReadsOnly = checkedReadsOnly
    }

    public var description: String { "streamed copy \(pair.source.description) -> \(pair.destination.description)" }

    /// Whether `copy` takes an object with these attributes: its size is within the
    /// single-request limit (and, with `checkedReadsOnly`, its MD5 is known).
    public func accepts(_ attributes: ObjectAttributes) -> Bool {
        (attributes.md5 != nil || !checkedReadsOnly) && attributes.size <= pair.destination.tuning.spliceMaxSize
    }

    /// Makes destination `key` a copy of source `key`; `attributes` are the source object's as
    /// sized (see `accepts`): the ETag pins the version read. Returns the copy's MD5: the source's,
    /// or the one the destination computed (nil when it reported none).
    @discardableResult
    public func copy(_ key: String, attributes: ObjectAttributes) async throws(ObjectStoreError) -> [UInt8]? {
        guard accepts(attributes) else {
            throw ObjectStoreError(.invalidArgument, bucket: pair.destination.description, key: key, "a streamed copy takes at most \(pair.destination.tuning.spliceMaxSize) bytes\(checkedReadsOnly ? " and needs the source's MD5" : "")")
        }
        return try await pair.forKey(key) { from, to throws(ObjectStoreError) in
            try await pair.destination.copyStreamed(to, from: pair.source, sourceKey: from, size: attributes.size, md5: attributes.md5, etag: attributes.etag)
        }
    }
}
