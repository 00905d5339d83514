import ObjectStore
import TSDB

extension Replicator {
    /// Reads the copy back from the destination (ranged reads, chunks in bounded windows) and runs the
    /// verify checks on it, before its meta.json exists there: the meta.json to be written is
    /// served from memory by an overlay, so a copy that fails never becomes visible.
    func verifyCopy(_ id: ULID, meta: [UInt8]) async throws -> [Finding] {
        let overlay = MetaOverlayBucket(base: destination, key: "\(id)/meta.json", bytes: meta)
        return try await BlockVerifier(deep: options.deep).verify(.bucket(overlay, id))
    }
}

/// A bucket that is `base` plus one object held in memory (reads only).
struct MetaOverlayBucket: Bucket {
    let base: any Bucket
    let key: String
    let bytes: [UInt8]

    var description: String { base.description }

    func list(prefix: String, recursive: Bool) async throws(ObjectStoreError) -> [String] {
        var keys = try await base.list(prefix: prefix, recursive: recursive)
        if key.hasPrefix(prefix), !keys.contains(key), recursive || !key.dropFirst(prefix.count).contains("/") {
            keys.append(key)
            keys.sort { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        }
        return keys
    }

    func getRange(_ k: String, offset: Int64, length: Int64?) async throws(ObjectStoreError) -> [UInt8] {
        guard k == key else { return try await base.getRange(k, offset: offset, length: length) }
        guard offset >= 0, offset <= Int64(bytes.count) else {
            throw ObjectStoreError(.invalidRange, bucket: description, key: k, "offset \(offset) beyond size \(bytes.count)")
        }
        let end = length.map { min(Int64(bytes.count), offset + $0) } ?? Int64(bytes.count)
        return Array(bytes[Int(offset)..<Int(end)])
    }

    func attributes(_ k: String) async throws(ObjectStoreError) -> ObjectAttributes {
        k == key ? ObjectAttributes(size: Int64(bytes.count), lastModified: 0, md5: MD5.digest(bytes)) : try await base.attributes(k)
    }

    func download(_ k: String, toFile path: String) async throws(ObjectStoreError) {
        throw ObjectStoreError(.invalidArgument, bucket: description, key: k, "the verify overlay is read-only")
    }

    func upload(_ k: String, bytes: [UInt8]) async throws(ObjectStoreError) {
        throw ObjectStoreError(.invalidArgument, bucket: description, key: k, "the verify overlay is read-only")
    }

    func upload(_ k: String, fromFile path: String) async throws(ObjectStoreError) {
        throw ObjectStoreError(.invalidArgument, bucket: description, key: k, "the verify overlay is read-only")
    }

    func delete(_ k: String) async throws(ObjectStoreError) {
        throw ObjectStoreError(.invalidArgument, bucket: description, key: k, "the verify overlay is read-only")
    }
}
