/// Thanos' `prefix:`: every key lives under `prefix/` of the underlying bucket.
public struct PrefixedBucket: Bucket {
    public let base: any Bucket
    public let prefix: String

    public init(_ base: any Bucket, prefix: String) {
        self.base = base
        self.prefix = prefix
    }

    public var description: String { "\(base.description) prefix \(prefix)" }

    func full(_ key: String) -> String { prefix + "/" + key }

    func strip(_ e: ObjectStoreError) -> ObjectStoreError {
        var e = e
        if e.key.hasPrefix(prefix + "/") { e.key.removeFirst(prefix.count + 1) }
        return e
    }

    public func list(prefix p: String, recursive: Bool) async throws(ObjectStoreError) -> [String] {
        do {
            return try await base.list(prefix: full(p), recursive: recursive).map { String($0.dropFirst(prefix.count + 1)) }
        } catch { throw strip(error) }
    }

    public func getRange(_ key: String, offset: Int64, length: Int64?) async throws(ObjectStoreError) -> [UInt8] {
        do { return try await base.getRange(full(key), offset: offset, length: length) } catch { throw strip(error) }
    }

    public func attributes(_ key: String) async throws(ObjectStoreError) -> ObjectAttributes {
        do { return try await base.attributes(full(key)) } catch { throw strip(error) }
    }

    public func download(_ key: String, toFile path: String) async throws(ObjectStoreError) {
        do { try await base.download(full(key), toFile: path) } catch { throw strip(error) }
    }

    public func upload(_ key: String, bytes: [UInt8]) async throws(ObjectStoreError) {
        do { try await base.upload(full(key), bytes: bytes) } catch { throw strip(error) }
    }

    public func upload(_ key: String, fromFile path: String) async throws(ObjectStoreError) {
        do { try await base.upload(full(key), fromFile: path) } catch { throw strip(error) }
    }

    public func delete(_ key: String) async throws(ObjectStoreError) {
        do { try await base.delete(full(key)) } catch { throw strip(error) }
    }

    public func upload(_ key: String, size: Int64, md5: [UInt8]?, from read: @escaping PieceReader) async throws(ObjectStoreError) -> [UInt8] {
        do { return try await base.upload(full(key), size: size, md5: md5, from: read) } catch { throw strip(error) }
    }

    public func getPiece(_ key: String, offset: Int64, length: Int64, ifMatch: String?) async throws(ObjectStoreError) -> RangePiece {
        do { return try await base.getPiece(full(key), offset: offset, length: length, ifMatch: ifMatch) } catch { throw strip(error) }
    }

    public var isLocal: Bool { base.isLocal }
}
