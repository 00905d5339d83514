import Foundation
import Synchronization

/// An in-memory bucket for tests.
public final class MemoryBucket: Bucket {
    struct Object {
        var bytes: [UInt8]
        var modified: Double
        var etag: String
    }

    private let objects = Mutex<[String: Object]>([:])
    private let counter = Atomic<Int>(0)
    public let description: String

    public var isLocal: Bool { true }

    public init(name: String = "memory") {
        description = "memory bucket \(name)"
    }

    public func list(prefix: String, recursive: Bool) async throws(ObjectStoreError) -> [String] {
        let keys = objects.withLock { Array($0.keys) }.filter { $0.hasPrefix(prefix) }
        return recursive ? keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) } : delimit(keys, prefix: prefix)
    }

    public func getRange(_ key: String, offset: Int64, length: Int64?) async throws(ObjectStoreError) -> [UInt8] {
        try checkKey(key, bucket: description)
        guard let o = objects.withLock({ $0[key] }) else { throw ObjectStoreError(.notFound, bucket: description, key: key, "") }
        return try slice(o.bytes, offset: offset, length: length, key: key)
    }

    func slice(_ b: [UInt8], offset: Int64, length: Int64?, key: String) throws(ObjectStoreError) -> [UInt8] {
        guard offset >= 0, length.map({ $0 >= 0 }) ?? true else {
            throw ObjectStoreError(.invalidArgument, bucket: description, key: key, "negative range")
        }
        guard offset <= Int64(b.count) else {
            throw ObjectStoreError(.invalidRange, bucket: description, key: key, "offset \(offset) beyond size \(b.count)")
        }
        let end = length.map { min(Int64(b.count), offset + $0) } ?? Int64(b.count)
        return Array(b[Int(offset)..<Int(end)])
    }

    public func attributes(_ key: String) async throws(ObjectStoreError) -> ObjectAttributes {
        try checkKey(key, bucket: description)
        guard let o = objects.withLock({ $0[key] }) else { throw ObjectStoreError(.notFound, bucket: description, key: key, "") }
        return ObjectAttributes(size: Int64(o.bytes.count), lastModified: o.modified, etag: o.etag, md5: MD5.digest(o.bytes))
    }

    public func download(_ key: String, toFile path: String) async throws(ObjectStoreError) {
        let b = try await get(key)
        do { try Data(b).write(to: URL(fileURLWithPath: path)) } catch {
            try? FileManager.default.removeItem(atPath: path)
            throw ObjectStoreError(.io, bucket: description, key: key, "writing \(path): \(error.localizedDescription)")
        }
    }

    public func upload(_ key: String, bytes: [UInt8]) async throws(ObjectStoreError) {
        try checkKey(key, bucket: description)
        let n = counter.add(1, ordering: .relaxed).newValue
        objects.withLock { $0[key] = Object(bytes: bytes, modified: Date().timeIntervalSince1970, etag: "\"\(n)\"") }
    }

    public func upload(_ key: String, fromFile path: String) async throws(ObjectStoreError) {
        guard let d = FileManager.default.contents(atPath: path) else {
            throw ObjectStoreError(.io, bucket: description, key: key, "cannot read \(path)")
        }
        try await upload(key, bytes: [UInt8](d))
    }

    public func delete(_ key: String) async throws(ObjectStoreError) {
        try checkKey(key, bucket: description)
        let removed = objects.withLock { $0.removeValue(forKey: key) }
        if removed == nil { throw ObjectStoreError(.notFound, bucket: description, key: key, "") }
    }
}
