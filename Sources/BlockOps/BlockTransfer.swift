import Foundation
import ObjectStore
import TSDB

/// Moving whole blocks between a local directory and a bucket, Thanos style: objects
/// first, meta.json last, so a reader never sees a block that is not all there.
public enum BlockTransfer {
    public struct UploadResult: Sendable {
        public var ulid: ULID
        public var skipped: Bool
        public var bytes: Int64
    }

    /// Uploads one local block with external labels: chunks (in parallel), index, then
    /// meta.json with the Thanos section filled in (labels, resolution, source, the files
    /// list with sizes, upload time). A block whose meta.json is already in the bucket is
    /// skipped, so re-running after an interruption finishes the job. Tombstones are not
    /// uploaded (Thanos never does), so a block with deletions is refused rather than
    /// resurrect data.
    ///
    /// `labels` and `source` replace the block's own; nil keeps what its Thanos section
    /// says (blocks made by blockyard's downsampler or compactor carry their group's labels
    /// and source "compactor"). Like Thanos, a block without external labels is refused,
    /// unless `requireExternalLabels` is false: for a replacement of a block already in the
    /// bucket (repair, rewrite), which keeps the labels its original has, even none.
    public static func upload(
        blockDirectory dir: String, to bucket: any Bucket, labels: [String: String]?,
        source: String? = "bucket.upload", concurrency: Int = 4, requireExternalLabels: Bool = true
    ) async throws -> UploadResult {
        let block = try Block(directory: dir)
        let id = block.meta.ulid
        guard block.tombstones.isEmpty else {
            throw BlockOpsError.invalid("\(dir): block has \(block.tombstones.count) tombstones; apply them (rewrite) before uploading")
        }
        var thanos = block.meta.thanos ?? ThanosMeta()
        if let labels { thanos.labels = labels }
        guard !thanos.labels.isEmpty || !requireExternalLabels else {
            throw BlockOpsError.invalid("\(dir): the block has no external labels; Thanos refuses such blocks")
        }
        if let source { thanos.source = source } else if thanos.source.isEmpty { thanos.source = "bucket.upload" }
        if try await bucket.exists("\(id)/meta.json") {
            return UploadResult(ulid: id, skipped: true, bytes: 0)
        }
        let segments = block.chunks.segmentNames  // "chunks/000001", ...
        var files: [ThanosMeta.File] = []
        var total: Int64 = 0
        for rel in segments + ["index"] {
            let size = try fileSize(dir + "/" + rel)
            files.append(ThanosMeta.File(relPath: rel, sizeBytes: size))
            total += size
        }
        files.append(ThanosMeta.File(relPath: "meta.json", sizeBytes: nil))
        files.sort { byteLess($0.relPath, $1.relPath) }

        // Segments and the index in parallel (the bucket splits large ones into parallel
        // blocks too); meta.json only after all of them are in.
        try await withThrowingTaskGroup(of: Void.self) { g in
            var pending = (segments + ["index"])[...]
            var running = 0
            while running < concurrency, let s = pending.popFirst() {
                g.addTask { try await bucket.upload("\(id)/\(s)", fromFile: dir + "/" + s) }
                running += 1
            }
            while try await g.next() != nil {
                if let s = pending.popFirst() {
                    g.addTask { try await bucket.upload("\(id)/\(s)", fromFile: dir + "/" + s) }
                }
            }
        }
        var meta = block.meta
        thanos.files = files
        meta.thanos = thanos
        var json = meta.json
        var section = json["thanos"] ?? .object([])
        if section["index_stats"] == nil { section.set("index_stats", .object([])) }
        section.set("upload_time", .string(rfc3339Nano(Date())))
        json.set("thanos", section)
        try await bucket.upload("\(id)/meta.json", bytes: Array((json.serialized(indent: "\t") + "\n").utf8))
        return UploadResult(ulid: id, skipped: false, bytes: total)
    }

    /// Re-reads an uploaded block: its meta.json must parse and list the same files as the
    /// local copy, and every object must have the size the list gives. Throws naming the
    /// object that differs.
    public static func checkUploaded(_ id: ULID, in bucket: any Bucket, against dir: String) async throws {
        let local = try Block(directory: dir).meta
        let remote = try BlockMeta(bytes: try await bucket.get("\(id)/meta.json"), file: "\(id)/meta.json")
        guard remote.ulid == id, remote.minTime == local.minTime, remote.maxTime == local.maxTime,
              remote.stats == local.stats, remote.compaction == local.compaction else {
            throw BlockOpsError.invalid("\(id)/meta.json in \(bucket.description) does not describe the block that was uploaded")
        }
        for f in remote.thanos?.files ?? [] where f.relPath != "meta.json" {
            let want = try fileSize(dir + "/" + f.relPath)
            let got = try await bucket.attributes("\(id)/\(f.relPath)").size
            guard got == want, f.sizeBytes == nil || f.sizeBytes == want else {
                throw BlockOpsError.invalid("\(id)/\(f.relPath) in \(bucket.description) has \(got) bytes, the block has \(want)")
            }
        }
    }

    /// A block of a bucket opened from local disk: in place for a FILESYSTEM bucket, else
    /// downloaded into `scratch` first (as Thanos' compactor does) and memory-mapped from
    /// there, so memory does not grow with the block. For repair and rewrite, which read a
    /// block in their own orders; verify and the compactor stream from the bucket instead.
    public static func openLocally(_ id: ULID, in bucket: any Bucket, scratch: String) async throws -> Block {
        if let root = localRoot(of: bucket) {
            return try Block(directory: root + "/\(id)")
        }
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        _ = try await download(id, from: bucket, to: scratch)
        return try Block(directory: scratch + "/\(id)")
    }

    /// Downloads a block into `directory/<ULID>`: every object into a temporary directory,
    /// meta.json last, sizes checked against the Thanos files list, then one rename. An
    /// interrupted download leaves only the temporary directory, never a block.
    public static func download(_ id: ULID, from bucket: any Bucket, to directory: String, concurrency: Int = 4) async throws -> Int64 {
        let final = directory + "/\(id)"
        guard !FileManager.default.fileExists(atPath: final) else {
            throw BlockOpsError.invalid("\(final) already exists")
        }
        let objects = try await bucket.list(prefix: "\(id)/", recursive: true).map { String($0.dropFirst(27)) }
        guard objects.contains("meta.json") else {
            throw BlockOpsError.notFound(objects.isEmpty ? "block \(id) in \(bucket.description)" : "meta.json of block \(id) (a partial upload)")
        }
        let tmp = directory + "/.\(id).tmp-download"
        try? FileManager.default.removeItem(atPath: tmp)
        try FileManager.default.createDirectory(atPath: tmp + "/chunks", withIntermediateDirectories: true)
        do {
            let metaBytes = try await bucket.get("\(id)/meta.json")
            let meta = try BlockMeta(bytes: metaBytes, file: "\(id)/meta.json")
            let data = objects.filter { $0 != "meta.json" && MarkerKind(rawValue: $0) == nil }
            try await withThrowingTaskGroup(of: Void.self) { g in
                var pending = data[...]
                var running = 0
                while running < concurrency, let o = pending.popFirst() {
                    g.addTask { try await fetch(o) }
                    running += 1
                }
                while try await g.next() != nil {
                    if let o = pending.popFirst() { g.addTask { try await fetch(o) } }
                }
                @Sendable func fetch(_ o: String) async throws {
                    let dest = tmp + "/" + o
                    try FileManager.default.createDirectory(atPath: (dest as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                    try await bucket.download("\(id)/\(o)", toFile: dest)
                }
            }
            var total: Int64 = 0
            for f in meta.thanos?.files ?? [] where f.relPath != "meta.json" {
                let size = try fileSize(tmp + "/" + f.relPath)
                if let want = f.sizeBytes, want != size {
                    throw BlockOpsError.invalid("\(id)/\(f.relPath): downloaded \(size) bytes, meta.json lists \(want)")
                }
                total += size
            }
            try Data(metaBytes).write(to: URL(fileURLWithPath: tmp + "/meta.json"))
            try FileManager.default.moveItem(atPath: tmp, toPath: final)
            return total
        } catch {
            try? FileManager.default.removeItem(atPath: tmp)
            throw error
        }
    }

    static func fileSize(_ path: String) throws -> Int64 {
        do {
            let a = try FileManager.default.attributesOfItem(atPath: path)
            return (a[.size] as? NSNumber)?.int64Value ?? 0
        } catch {
            throw TSDBError(.io, file: path, offset: 0, "stat: \(error.localizedDescription)")
        }
    }

    /// Go's time.RFC3339Nano in UTC (trailing zeros of the fraction trimmed).
    static func rfc3339Nano(_ d: Date) -> String {
        let secs = floor(d.timeIntervalSince1970)
        var nanos = Int((d.timeIntervalSince1970 - secs) * 1e9)
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyy-MM-dd'T'HH:mm:ss"
        var s = f.string(from: Date(timeIntervalSince1970: secs))
        if nanos > 0 {
            var frac = String(nanos)
            frac = String(repeating: "0", count: 9 - frac.count) + frac
            while frac.hasSuffix("0") { frac.removeLast() }
            s += "." + frac
            nanos = 0
        }
        return s + "Z"
    }
}
