import Foundation
#if canImport(Glibc)
import Glibc
#endif
import ObjectStore
import TSDB

/// What a bucket listing knows about one block: its meta.json (absent for a partial
/// upload), markers, objects, total size, and the newest object's time.
public struct BlockEntry: Sendable {
    public var ulid: ULID
    public var meta: BlockMeta?
    /// meta.json exists but could not be read or parsed.
    public var metaError: String?
    public var markers: [MarkerKind]
    public var objects: [String]
    public var sizeBytes: Int64?
    /// Newest object modification time (seconds since the epoch), for partial blocks.
    public var newestObject: Double?
    /// Marker files present but unreadable (and why).
    public var markerErrors: [(MarkerKind, String)] = []
    /// The time (Unix seconds) each readable marker records.
    public var markerTimes: [MarkerKind: Int64] = [:]

    public var isPartial: Bool { meta == nil && metaError == nil }
}

/// Lists the blocks of a bucket laid out the Thanos way (`<ULID>/meta.json`, `index`,
/// `chunks/…`, markers). One recursive listing finds every object; meta.json files are
/// then fetched with bounded parallelism and cached on local disk by ULID (a block's
/// meta.json never changes once written, so the cache needs no invalidation).
public struct BucketCatalog: Sendable {
    public let bucket: any Bucket
    public var cacheDirectory: String?
    public var concurrency: Int

    public init(bucket: any Bucket, cacheDirectory: String? = nil, concurrency: Int = 32) {
        self.bucket = bucket
        self.cacheDirectory = cacheDirectory
        self.concurrency = max(1, concurrency)
    }

    /// Counters of the last `list` (for tests and the summary line).
    public struct Stats: Sendable { public var metaFetched = 0; public var metaFromCache = 0 }

    public func list(only: Set<ULID>? = nil) async throws -> ([BlockEntry], Stats) {
        var byBlock: [ULID: [String]] = [:]
        for key in try await bucket.list(prefix: "", recursive: true) {
            guard let slash = key.firstIndex(of: "/"), let id = ULID(String(key[..<slash])) else { continue }
            if let only, !only.contains(id) { continue }
            byBlock[id, default: []].append(String(key[key.index(after: slash)...]))
        }
        let ids = byBlock.keys.sorted()
        var results = [BlockEntry?](repeating: nil, count: ids.count)
        var stats = Stats()
        try await withThrowingTaskGroup(of: (Int, BlockEntry, Bool).self) { g in
            var next = 0
            func start() {
                let i = next
                next += 1
                let id = ids[i]
                let objects = byBlock[id]!.sorted()
                g.addTask { let (e, cached) = try await entry(id, objects); return (i, e, cached) }
            }
            while next < ids.count && next < concurrency { start() }
            while let (i, e, cached) = try await g.next() {
                results[i] = e
                if e.meta != nil { if cached { stats.metaFromCache += 1 } else { stats.metaFetched += 1 } }
                if next < ids.count { start() }
            }
        }
        return (results.compactMap { $0 }, stats)
    }

    func entry(_ id: ULID, _ objects: [String]) async throws -> (BlockEntry, Bool) {
        var e = BlockEntry(ulid: id, meta: nil, metaError: nil,
                           markers: MarkerKind.allCases.filter { objects.contains($0.rawValue) }, objects: objects)
        for kind in e.markers {
            do {
                let m = try Marker(kind: kind, bytes: try await bucket.get("\(id)/\(kind.rawValue)"), file: "\(id)/\(kind.rawValue)")
                e.markerTimes[kind] = m.time
            } catch let err as TSDBError {
                e.markerErrors.append((kind, err.detail))
            } catch let err as ObjectStoreError where err.kind == .notFound {
                e.markers.removeAll { $0 == kind }  // removed since the listing
            }
        }
        var cached = false
        if objects.contains("meta.json") {
            if let m = readCache(id) {
                e.meta = m
                cached = true
            } else {
                do {
                    let bytes = try await bucket.get("\(id)/meta.json")
                    let m = try BlockMeta(bytes: bytes, file: "\(id)/meta.json")
                    e.meta = m
                    writeCache(id, bytes)
                } catch let err as ObjectStoreError where err.kind == .notFound {
                    // Deleted between the listing and the read: treat as partial.
                } catch let err as TSDBError {
                    e.metaError = err.detail
                }
            }
        }
        if let files = e.meta?.thanos?.files, !files.isEmpty, files.allSatisfy({ $0.relPath == "meta.json" || $0.sizeBytes != nil }) {
            e.sizeBytes = files.reduce(0) { $0 + ($1.sizeBytes ?? 0) }
        } else if e.meta == nil || objects.count <= 64 {
            // No size list in meta.json (a Prometheus block, or a partial upload): ask the
            // store, which also gives the newest modification time.
            var total: Int64 = 0
            var newest: Double = 0
            for o in objects {
                if let a = try? await bucket.attributes("\(id)/\(o)") {
                    if o != "meta.json" && MarkerKind(rawValue: o) == nil { total += a.size }
                    newest = max(newest, a.lastModified)
                }
            }
            e.sizeBytes = total
            e.newestObject = newest
        }
        return (e, cached)
    }

    func cachePath(_ id: ULID) -> String? { cacheDirectory.map { "\($0)/\(id)/meta.json" } }

    func readCache(_ id: ULID) -> BlockMeta? {
        guard let p = cachePath(id), let d = FileManager.default.contents(atPath: p) else { return nil }
        guard let m = try? BlockMeta(bytes: d, file: p), m.ulid == id else {
            try? FileManager.default.removeItem(atPath: p)
            return nil
        }
        return m
    }

    func writeCache(_ id: ULID, _ bytes: [UInt8]) {
        guard let p = cachePath(id) else { return }
        let dir = (p as NSString).deletingLastPathComponent
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let tmp = p + ".tmp-\(UUID().uuidString)"
        // Write then rename: a reader never sees half a cached file.
        if FileManager.default.createFile(atPath: tmp, contents: Data(bytes)), rename(tmp, p) != 0 {
            try? FileManager.default.removeItem(atPath: tmp)
        }
    }
}
