/// Object storage as blockyard needs it: Thanos objstore's small interface.
///
/// Keys are `/`-separated paths relative to the bucket (and its configured prefix).
/// Every implementation passes the same acceptance suite (`Tests/ObjectStoreTests`).
public protocol Bucket: Sendable {
    /// A name for messages: type and location, never credentials.
    var description: String { get }

    /// Keys under `prefix`. Not recursive: direct children, with "directories" returned
    /// once each with a trailing `/` (like Thanos `Iter`). Recursive: every object key.
    /// Sorted byte-wise.
    func list(prefix: String, recursive: Bool) async throws(ObjectStoreError) -> [String]

    /// Bytes `offset..<offset+length` of an object (`length: nil` = to the end).
    /// Not-found is `ObjectStoreError.Kind.notFound`.
    func getRange(_ key: String, offset: Int64, length: Int64?) async throws(ObjectStoreError) -> [UInt8]

    /// Size, modification time, ETag and MD5 of an object.
    func attributes(_ key: String) async throws(ObjectStoreError) -> ObjectAttributes

    /// Streams an object into a local file. On failure the partial file is removed.
    func download(_ key: String, toFile path: String) async throws(ObjectStoreError)

    /// Uploads bytes (replacing any object of that name). Idempotent.
    func upload(_ key: String, bytes: [UInt8]) async throws(ObjectStoreError)

    /// Streams a local file up (large files in blocks where the store supports it).
    func upload(_ key: String, fromFile path: String) async throws(ObjectStoreError)

    /// Deletes an object; deleting a missing object is `notFound`.
    func delete(_ key: String) async throws(ObjectStoreError)

    /// Uploads `size` bytes that `read` supplies piece by piece (ranged reads of another object,
    /// typically), holding only a few pieces in memory at a time where the store allows it.
    /// Returns the MD5 of the bytes written. Replaces any object of that name; on failure no
    /// object of that name appears (or the old one stays). See `StreamedUpload.swift`.
    /// `md5`: the whole object's MD5 when the caller knows it (the source's), stored as the
    /// object's without hashing again where the store can trust the pieces (each piece's MD5
    /// from the source service, checked by this one). Returns the object's MD5.
    func upload(_ key: String, size: Int64, md5: [UInt8]?, from read: @escaping PieceReader) async throws(ObjectStoreError) -> [UInt8]

    /// A ranged read with the MD5 of the range as the service computed it, when it gives one
    /// (Azure, for ranges up to 4 MiB), and `ifMatch` pinning the object's version.
    func getPiece(_ key: String, offset: Int64, length: Int64, ifMatch: String?) async throws(ObjectStoreError) -> RangePiece

    /// Reads are local (disk or memory), so hashing an object to compare it costs no network.
    var isLocal: Bool { get }
}

extension Bucket {
    /// The whole object.
    public func get(_ key: String) async throws(ObjectStoreError) -> [UInt8] {
        try await getRange(key, offset: 0, length: nil)
    }

    public func exists(_ key: String) async throws(ObjectStoreError) -> Bool {
        do {
            _ = try await attributes(key)
            return true
        } catch where error.kind == .notFound {
            return false
        }
    }
}

public struct ObjectAttributes: Sendable, Equatable {
    public var size: Int64
    /// Seconds since the Unix epoch.
    public var lastModified: Double
    public var etag: String?
    /// MD5 of the whole object when the store knows it.
    public var md5: [UInt8]?

    public init(size: Int64, lastModified: Double, etag: String? = nil, md5: [UInt8]? = nil) {
        self.size = size
        self.lastModified = lastModified
        self.etag = etag
        self.md5 = md5
    }
}

/// Every failure of the bucket layer. Messages name the bucket and key, never secrets.
public struct ObjectStoreError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Kind: String, Sendable {
        case notFound = "not found"
        case alreadyExists = "already exists"
        case preconditionFailed = "precondition failed"
        case unauthorized
        case forbidden
        case invalidRange = "invalid range"
        case integrity = "integrity check failed"
        case transport = "transport error"
        case server = "server error"
        case throttled
        case config = "configuration error"
        case io = "local I/O error"
        case invalidArgument = "invalid argument"
        case cancelled
        /// The service will not do this (a server-side copy it cannot or may not make).
        case unsupported = "not supported"
    }

    public var kind: Kind
    public var bucket: String
    public var key: String
    public var detail: String

    public init(_ kind: Kind, bucket: String, key: String, _ detail: String) {
        self.kind = kind
        self.bucket = bucket
        self.key = key
        self.detail = detail
    }

    public var description: String {
        let where_ = key.isEmpty ? bucket : "\(bucket) key \(key)"
        return "\(where_): \(kind.rawValue)" + (detail.isEmpty ? "" : ": \(detail)")
    }

    /// Whether trying again may succeed.
    public var isRetryable: Bool { [.transport, .server, .throttled].contains(kind) }
}

/// Validates a key: relative, no empty, `.` or `..` segments.
func checkKey(_ key: String, bucket: String) throws(ObjectStoreError) {
    if key.isEmpty || key.hasPrefix("/") || key.split(separator: "/", omittingEmptySubsequences: false).contains(where: { $0.isEmpty || $0 == "." || $0 == ".." }) {
        throw ObjectStoreError(.invalidArgument, bucket: bucket, key: key, "object keys are relative paths without empty, . or .. segments")
    }
}

/// Groups recursive keys into a delimiter listing (children of `prefix`).
func delimit(_ keys: [String], prefix: String) -> [String] {
    var out: [String] = []
    var seen = Set<String>()
    for k in keys where k.hasPrefix(prefix) {
        let rest = k.dropFirst(prefix.count)
        if let slash = rest.firstIndex(of: "/") {
            let d = prefix + rest[..<slash] + "/"
            if seen.insert(d).inserted { out.append(d) }
        } else {
            out.append(k)
        }
    }
    return out.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
}
