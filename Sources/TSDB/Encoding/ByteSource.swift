/// Read-only bytes of one file, read by range: a local file here, an object in a bucket in
/// BlockOps. Readers that walk a file front to back ask for bounded windows, so the memory
/// they hold does not depend on the file's size.
public protocol ByteSource: Sendable {
    /// Names the file in messages (a path or a bucket key, never credentials).
    var name: String { get }
    /// The file's size in bytes.
    var size: Int { get }
    /// Bytes `range` (inside `0..<size`) in a storage of their own, which the caller may
    /// keep as long as it likes. Storage failures are thrown as the storage reports them.
    func read(_ range: Range<Int>) async throws -> ByteStorage
}

/// A `ByteSource` over bytes already at hand (a heap buffer, a mapped file): reads are
/// views that keep the storage alive, not copies.
public struct StorageSource: ByteSource {
    public let storage: ByteStorage

    public init(_ storage: ByteStorage) { self.storage = storage }

    public var name: String { storage.name }
    public var size: Int { storage.count }

    public func read(_ range: Range<Int>) async throws -> ByteStorage {
        guard range.lowerBound >= 0, range.upperBound <= storage.count else {
            throw TSDBError(.truncated, file: name, offset: max(0, range.lowerBound),
                            "need bytes \(range.lowerBound)..<\(range.upperBound), file has \(storage.count)")
        }
        return storage.view(range)
    }
}
