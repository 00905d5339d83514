import ObjectStore
import TSDB

/// An object in a bucket as a `ByteSource`: every read is one ranged GET.
public struct BucketSource: ByteSource {
    public let bucket: any Bucket
    public let key: String
    public let size: Int

    public init(_ bucket: any Bucket, key: String, size: Int) {
        self.bucket = bucket
        self.key = key
        self.size = size
    }

    public var name: String { key }

    public func read(_ range: Range<Int>) async throws -> ByteStorage {
        guard range.lowerBound >= 0, range.upperBound <= size else {
            throw TSDBError(.truncated, file: key, offset: max(0, range.lowerBound),
                            "need bytes \(range.lowerBound)..<\(range.upperBound), object has \(size)")
        }
        if range.isEmpty { return ByteStorage(copying: [], name: key) }
        let bytes = try await bucket.getRange(key, offset: Int64(range.lowerBound), length: Int64(range.count))
        guard bytes.count == range.count else {
            throw ObjectStoreError(.integrity, bucket: bucket.description, key: key,
                                   "asked for \(range.count) bytes at \(range.lowerBound), got \(bytes.count)")
        }
        return ByteStorage(copying: bytes, name: key)
    }

    /// The whole object in one buffer, filled by up to `concurrency` ranged reads of at
    /// most `piece` bytes at once. Nothing is written to disk.
    public func readAll(concurrency: Int = 8, piece: Int = 8 << 20) async throws -> ByteStorage {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, size), alignment: 16)
        var handedOver = false
        defer { if !handedOver { buffer.deallocate() } }
        let piece = max(1, piece)
        // Each task writes its own disjoint range of the buffer.
        nonisolated(unsafe) let target = buffer
        try await withThrowingTaskGroup(of: Void.self) { g in
            var next = 0
            func start() {
                let lo = next
                let hi = min(size, lo + piece)
                next = hi
                g.addTask {
                    let bytes = try await bucket.getRange(key, offset: Int64(lo), length: Int64(hi - lo))
                    guard bytes.count == hi - lo else {
                        throw ObjectStoreError(.integrity, bucket: bucket.description, key: key,
                                               "asked for \(hi - lo) bytes at \(lo), got \(bytes.count)")
                    }
                    bytes.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: target[lo..<hi]).copyMemory(from: $0) }
                }
            }
            for _ in 0..<max(1, concurrency) where next < size { start() }
            while try await g.next() != nil { if next < size { start() } }
        }
        handedOver = true
        return .owning(UnsafeMutableRawBufferPointer(rebasing: buffer[0..<size]), name: key)
    }
}
