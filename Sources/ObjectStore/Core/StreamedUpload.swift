/// Supplies the bytes of a streamed upload: exactly `length` bytes starting at `offset`.
public typealias RangeReader = @Sendable (_ offset: Int64, _ length: Int64) async throws(ObjectStoreError) -> [UInt8]

extension Bucket {
    /// Not local unless the store says so.
    public var isLocal: Bool { false }

    /// The generic streamed upload: every piece gathered, then one `upload(bytes:)`. Only for
    /// stores that hold objects in memory anyway (the in-memory bucket, test wrappers); the
    /// FILESYSTEM and AZURE buckets stream with bounded memory.
    public func upload(_ key: String, size: Int64, from read: @escaping RangeReader) async throws(ObjectStoreError) -> [UInt8] {
        var all: [UInt8] = []
        all.reserveCapacity(Int(min(size, 64 << 20)))
        var hasher = MD5.Hasher()
        try await StreamedUpload.pipeline(size: size, pieceSize: 8 << 20, parallelism: 1, bucket: description, key: key) { _, range throws(ObjectStoreError) in
            try await StreamedUpload.read(read, range, bucket: description, key: key)
        } inOrder: { _, _, bytes in
            hasher.update(bytes)
            all.append(contentsOf: bytes)
        }
        try await upload(key, bytes: all)
        return hasher.finalize()
    }

    /// The MD5 of an object, computed by reading it in pieces (memory stays at one piece).
    public func computeMD5(_ key: String, size: Int64, pieceSize: Int64 = 8 << 20) async throws(ObjectStoreError) -> [UInt8] {
        var hasher = MD5.Hasher()
        var offset: Int64 = 0
        while offset < size {
            let n = min(pieceSize, size - offset)
            let bytes = try await getRange(key, offset: offset, length: n)
            guard Int64(bytes.count) == n else {
                throw ObjectStoreError(.integrity, bucket: description, key: key, "asked for \(n) bytes at \(offset), got \(bytes.count) (the object shrank?)")
            }
            hasher.update(bytes)
            offset += n
        }
        return hasher.finalize()
    }
}

/// The piece pipeline streamed uploads share: pieces are fetched (and, by the store, written)
/// concurrently, and handed to an in-order consumer (the whole-object MD5). A piece never starts
/// more than `parallelism` places ahead of the first piece not yet consumed, so at most
/// `parallelism` pieces are held at once whatever the object's size.
package enum StreamedUpload {
    /// Splits `size` into pieces of `pieceSize` (none for an empty object).
    package static func pieces(_ size: Int64, _ pieceSize: Int) -> [Range<Int64>] {
        let p = Int64(max(1, pieceSize))
        return stride(from: Int64(0), to: size, by: Int(p)).map { $0..<min(size, $0 + p) }
    }

    /// One read, checked for length: a reader that returns fewer bytes than asked means the
    /// source changed or was cut short, and must not become a shorter object.
    package static func read(_ reader: RangeReader, _ r: Range<Int64>, bucket: String, key: String) async throws(ObjectStoreError) -> [UInt8] {
        let want = r.upperBound - r.lowerBound
        let bytes = try await reader(r.lowerBound, want)
        guard Int64(bytes.count) == want else {
            throw ObjectStoreError(.integrity, bucket: bucket, key: key, "the source gave \(bytes.count) bytes for range \(r.lowerBound)-\(r.upperBound - 1) (\(want) asked): it changed or was cut short")
        }
        return bytes
    }

    /// Runs `work` for every piece (at most `parallelism` at once, within the window described
    /// above) and `inOrder` for each piece's bytes in index order. The first error cancels the rest.
    package static func pipeline(
        size: Int64, pieceSize: Int, parallelism: Int, bucket: String, key: String,
        work: @escaping @Sendable (Int, Range<Int64>) async throws(ObjectStoreError) -> [UInt8],
        inOrder: (Int, Range<Int64>, [UInt8]) throws(ObjectStoreError) -> Void
    ) async throws(ObjectStoreError) {
        let ranges = pieces(size, pieceSize)
        let width = max(1, parallelism)
        let failure: ObjectStoreError? = await withTaskGroup(of: (Int, Result<[UInt8], ObjectStoreError>).self) { group in
            var next = 0
            var consumed = 0
            var done: [Int: [UInt8]] = [:]
            func launch() {
                while next < ranges.count && next < consumed + width && !Task.isCancelled {
                    let i = next
                    next += 1
                    group.addTask {
                        do throws(ObjectStoreError) { return (i, .success(try await work(i, ranges[i]))) } catch { return (i, .failure(error)) }
                    }
                }
            }
            launch()
            while let (i, result) = await group.next() {
                switch result {
                case .failure(let e):
                    group.cancelAll()
                    return e
                case .success(let bytes):
                    done[i] = bytes
                    while let b = done.removeValue(forKey: consumed) {
                        do throws(ObjectStoreError) { try inOrder(consumed, ranges[consumed], b) } catch {
                            group.cancelAll()
                            return error
                        }
                        consumed += 1
                    }
                    launch()
                }
            }
            if Task.isCancelled && consumed < ranges.count {
                return ObjectStoreError(.cancelled, bucket: bucket, key: key, "upload cancelled")
            }
            return nil
        }
        if let failure { throw failure }
    }
}
