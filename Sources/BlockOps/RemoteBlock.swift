import ObjectStore
import TSDB

/// Opens a block that lives in a bucket by reading its objects into memory with parallel
/// ranged reads; nothing is written to local disk.
///
/// Memory is the size of the block's files. That suits the 2h-to-2d blocks verify usually
/// meets; reading chunk segments in windows, so memory stays flat for any block size, is
/// the next step (the verifier walks chunks in file order, which makes windows natural).
public enum RemoteBlock {
    public static func load(
        _ id: ULID, from bucket: any Bucket, concurrency: Int = 8, piece: Int64 = 8 << 20
    ) async throws -> (block: Block, sizes: [String: Int64]) {
        let prefix = "\(id)/"
        let names = try await bucket.list(prefix: prefix, recursive: true).map { String($0.dropFirst(prefix.count)) }
        guard names.contains("meta.json") else {
            throw BlockOpsError.notFound("meta.json of block \(id) in \(bucket.description)")
        }
        guard names.contains("index") else {
            throw TSDBError(.io, file: "\(id)/index", offset: 0, "the block has a meta.json but no index object")
        }
        let wanted = names.filter { $0 == "meta.json" || $0 == "index" || $0 == "tombstones" || $0.hasPrefix("chunks/") }
        var sizes: [String: Int64] = [:]
        for n in wanted { sizes[n] = try await bucket.attributes(prefix + n).size }

        // One buffer per object, filled by ranged reads of at most `piece` bytes.
        var buffers: [String: UnsafeMutableRawBufferPointer] = [:]
        for n in wanted { buffers[n] = .allocate(byteCount: max(1, Int(sizes[n]!)), alignment: 16) }
        var handedOver = false
        defer { if !handedOver { for b in buffers.values { b.deallocate() } } }
        var jobs: [(String, Int64, Int64)] = []
        for n in wanted {
            var off: Int64 = 0
            let size = sizes[n]!
            repeat {
                jobs.append((n, off, min(piece, size - off)))
                off += piece
            } while off < size
        }
        nonisolated(unsafe) let targets = buffers
        try await withThrowingTaskGroup(of: Void.self) { g in
            var pending = jobs[...]
            func start(_ j: (String, Int64, Int64)) {
                g.addTask {
                    let (n, off, len) = j
                    if len == 0 { return }
                    let bytes = try await bucket.getRange(prefix + n, offset: off, length: len)
                    guard Int64(bytes.count) == len else {
                        throw ObjectStoreError(.integrity, bucket: bucket.description, key: prefix + n,
                                               "asked for \(len) bytes at \(off), got \(bytes.count)")
                    }
                    // Each job writes its own disjoint range of the buffer.
                    bytes.withUnsafeBytes { src in
                        UnsafeMutableRawBufferPointer(rebasing: targets[n]![Int(off)..<Int(off + len)]).copyMemory(from: src)
                    }
                }
            }
            for _ in 0..<max(1, concurrency) { if let j = pending.popFirst() { start(j) } }
            while try await g.next() != nil { if let j = pending.popFirst() { start(j) } }
        }
        func storage(_ n: String) -> ByteStorage {
            let b = buffers[n]!
            return .owning(UnsafeMutableRawBufferPointer(rebasing: b[0..<Int(sizes[n]!)]), name: "\(id)/\(n)")
        }
        // From here the storages own the buffers.
        handedOver = true
        let segments = wanted.filter { $0.hasPrefix("chunks/") && UInt64($0.dropFirst(7)) != nil }
            .sorted { (UInt64($0.dropFirst(7)) ?? 0) < (UInt64($1.dropFirst(7)) ?? 0) }
        let unused = wanted.filter { !($0 == "meta.json" || $0 == "index" || $0 == "tombstones" || segments.contains($0)) }
        for n in unused { buffers[n]!.deallocate() }
        let block = try Block(
            name: "\(id)", metaJSON: storage("meta.json"), index: storage("index"),
            segments: segments.map { ($0, storage($0)) },
            tombstones: names.contains("tombstones") ? storage("tombstones") : nil)
        return (block, sizes)
    }
}
