/// Supplies the bytes of a streamed upload: exactly `length` bytes starting at `offset`.
public typealias RangeReader = @Sendable (_ offset: Int64, _ length: Int64) async throws(ObjectStoreError) -> [UInt8]

/// One piece of a streamed upload, with its MD5 when the source service gave one.
public struct RangePiece: Sendable {
    public var bytes: [UInt8]
    public var md5: [UInt8]?
    public init(bytes: [UInt8], md5: [UInt8]? = nil) {
        self.bytes = bytes
        self.md5 = md5
    }
}

/// Supplies the pieces of a streamed upload.
public typealias PieceReader = @Sendable (_ offset: Int64, _ length: Int64) async throws(ObjectStoreError) -> RangePiece

extension Bucket {
    /// Not local unless the store says so.
    public var isLocal: Bool { false }

    /// The generic streamed upload: every piece gathered, then one `upload(bytes:)`. Only for
    /// stores that hold objects in memory anyway (the in-memory bucket, test wrappers); the
    /// FILESYSTEM and AZURE buckets stream with bounded memory.
    /// A streamed upload from plain ranged reads.
    public func upload(_ key: String, size: Int64, from read: @escaping RangeReader) async throws(ObjectStoreError) -> [UInt8] {
        try await upload(key, size: size, md5: nil) { offset, length throws(ObjectStoreError) in RangePiece(bytes: try await read(offset, length)) }
    }

    public func upload(_ key: String, size: Int64, md5: [UInt8]?, from read: @escaping PieceReader) async throws(ObjectStoreError) -> [UInt8] {
        var all: [UInt8] = []
        all.reserveCapacity(Int(min(size, 64 << 20)))
        for r in StreamedUpload.pieces(size, 8 << 20) {
            all += try await StreamedUpload.read(read, r, bucket: description, key: key).bytes
        }
        try await upload(key, bytes: all)
        return MD5.digest(all)
    }

    /// No range MD5, no version pin: a plain ranged read.
    public func getPiece(_ key: String, offset: Int64, length: Int64, ifMatch: String?) async throws(ObjectStoreError) -> RangePiece {
        RangePiece(bytes: try await getRange(key, offset: offset, length: length))
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
/// concurrently, and hashed in index order for the whole-object MD5. At most `parallelism` pieces
/// are in flight, and a piece never starts more than `2 × parallelism` places ahead of the first
/// piece not yet hashed (one slow piece does not stall the others at once), so at most
/// `2 × parallelism` pieces are held whatever the object's size.
package enum StreamedUpload {
    /// Splits `size` into pieces of `pieceSize` (none for an empty object).
    package static func pieces(_ size: Int64, _ pieceSize: Int) -> [Range<Int64>] {
        let p = Int64(max(1, pieceSize))
        return stride(from: Int64(0), to: size, by: Int(p)).map { $0..<min(size, $0 + p) }
    }

    /// One read, checked for length: a reader that returns fewer bytes than asked means the
    /// source changed or was cut short, and must not become a shorter object.
    package static func read(_ reader: PieceReader, _ r: Range<Int64>, bucket: String, key: String) async throws(ObjectStoreError) -> RangePiece {
        let want = r.upperBound - r.lowerBound
        let piece = try await reader(r.lowerBound, want)
        guard Int64(piece.bytes.count) == want else {
            throw ObjectStoreError(.integrity, bucket: bucket, key: key, "the source gave \(piece.bytes.count) bytes for range \(r.lowerBound)-\(r.upperBound - 1) (\(want) asked): it changed or was cut short")
        }
        return piece
    }

    /// The running hash, held by reference: the group's body updates it as pieces complete.
    final class OrderedHash: @unchecked Sendable {
        var hasher = MD5.Hasher()
    }

    /// What one piece's task gives back.
    struct Piece: Sendable {
        var index: Int
        var bytes: [UInt8]
        var error: ObjectStoreError?
    }

    /// The do/catch lives here, not in the child-task closure: written inline there (a typed
    /// `do throws` returning a tuple), release builds of Swift 6.3 lost pieces' results.
    static func run(_ work: @escaping @Sendable (Int, Range<Int64>) async throws(ObjectStoreError) -> [UInt8], _ i: Int, _ r: Range<Int64>) async -> Piece {
        do {
            return Piece(index: i, bytes: try await work(i, r), error: nil)
        } catch {
            return Piece(index: i, bytes: [], error: error)
        }
    }

    /// Where the pipeline stands: the next piece to start, the first not yet hashed, and how
    /// many are running.
    struct Window {
        var count: Int
        var width: Int
        var next = 0
        var consumed = 0
        var inFlight = 0
    }

    /// Starts pieces while fewer than `width` run and none would be `2 × width` ahead of the first
    /// piece not yet hashed.
    static func launch(
        _ w: inout Window, _ group: inout TaskGroup<Piece>, _ ranges: [Range<Int64>],
        _ work: @escaping @Sendable (Int, Range<Int64>) async throws(ObjectStoreError) -> [UInt8]
    ) {
        while w.next < w.count && w.inFlight < w.width && w.next < w.consumed + 2 * w.width {
            let i = w.next
            let r = ranges[i]
            w.next += 1
            w.inFlight += 1
            group.addTask { await run(work, i, r) }
        }
    }

    /// Runs `work` for every piece (at most `parallelism` at once, within the window described
    /// above); returns the MD5 of the pieces' bytes in order (empty when not `hashing`; `work`
    /// then returns no bytes to hold). The first error cancels the rest.
    package static func pipeline(
        size: Int64, pieceSize: Int, parallelism: Int, bucket: String, key: String, hashing: Bool = true,
        work: @escaping @Sendable (Int, Range<Int64>) async throws(ObjectStoreError) -> [UInt8]
    ) async throws(ObjectStoreError) -> [UInt8] {
        let ranges = pieces(size, pieceSize)
        let width = max(1, parallelism)
        let hash = OrderedHash()
        let failure: ObjectStoreError? = await withTaskGroup(of: Piece.self) { group in
            var w = Window(count: ranges.count, width: width)
            var done: [Int: [UInt8]] = [:]
            launch(&w, &group, ranges, work)
            while let piece = await group.next() {
                w.inFlight -= 1
                if let e = piece.error {
                    group.cancelAll()
                    return e
                }
                done[piece.index] = piece.bytes
                // Start the next pieces before hashing: hashing is the slow part of this loop.
                launch(&w, &group, ranges, work)
                while let b = done.removeValue(forKey: w.consumed) {
                    if hashing { hash.hasher.update(b) }
                    w.consumed += 1
                }
                launch(&w, &group, ranges, work)
            }
            if w.consumed < ranges.count {
                return ObjectStoreError(.cancelled, bucket: bucket, key: key, "upload cancelled after \(w.consumed) of \(ranges.count) pieces")
            }
            return nil
        }
        if let failure { throw failure }
        return hash.hasher.finalize()
    }
}
