import Foundation
import ObjectStore
import TSDB

/// Marking and deleting whole blocks in a bucket, in the order that keeps every reader
/// safe: a marker is one small object; deletion removes meta.json first (the block stops
/// being a block), then its other objects, and its deletion mark last (Thanos
/// `block.Delete`), so a deletion cut short is finished by the next cleanup.
public enum BucketBlocks {
    /// Writes `<id>/<marker>`; returns false (and writes nothing) when it already exists.
    @discardableResult
    public static func mark(_ id: ULID, _ kind: MarkerKind, details: String, reason: String? = nil,
                            in bucket: any Bucket, now: Date = Date()) async throws -> Bool {
        let key = "\(id)/\(kind.rawValue)"
        if try await bucket.exists(key) { return false }
        let m = Marker(kind: kind, id: id, details: details, time: Int64(now.timeIntervalSince1970), reason: reason)
        try await bucket.upload(key, bytes: Array(m.serialized().utf8))
        return true
    }

    /// Removes `<id>/<marker>`; returns false when there was none.
    @discardableResult
    public static func unmark(_ id: ULID, _ kind: MarkerKind, in bucket: any Bucket) async throws -> Bool {
        let key = "\(id)/\(kind.rawValue)"
        guard try await bucket.exists(key) else { return false }
        try await remove(key, in: bucket)
        return true
    }

    /// Deletes every object of a block: meta.json first, the deletion mark last. Objects
    /// already gone (a retried or concurrent deletion) are not an error.
    public static func delete(_ id: ULID, in bucket: any Bucket) async throws {
        let prefix = "\(id)/"
        let keys = try await bucket.list(prefix: prefix, recursive: true)
        let meta = prefix + "meta.json"
        let mark = prefix + MarkerKind.deletion.rawValue
        if keys.contains(meta) { try await remove(meta, in: bucket) }
        for k in keys where k != meta && k != mark { try await remove(k, in: bucket) }
        if keys.contains(mark) { try await remove(mark, in: bucket) }
    }

    /// Deletes one object; one that is already gone is not an error.
    static func remove(_ key: String, in bucket: any Bucket) async throws(ObjectStoreError) {
        do {
            try await bucket.delete(key)
        } catch where error.kind == .notFound {
        }
    }
}
