import Foundation
import ObjectStore
import TSDB

/// Putting a verified replacement block into a bucket and retiring the block it replaces,
/// in the order that never loses data (shared by repair and rewrite): extra files first,
/// then the block's objects with meta.json last; the upload re-read; the original copied
/// to a backup bucket when one is given (meta.json last there too); only then the
/// original marked for deletion.
enum BlockReplacement {
    /// Uploads a local block (its own Thanos section kept) and re-reads it. `extra` files
    /// of the block directory go first (before meta.json makes the block visible).
    static func upload(_ dir: String, to bucket: any Bucket, extra: [String] = []) async throws {
        let meta = try Block(directory: dir).meta
        for f in extra {
            try await bucket.upload("\(meta.ulid)/\(f)", fromFile: dir + "/" + f)
        }
        _ = try await BlockTransfer.upload(blockDirectory: dir, to: bucket, labels: nil, source: nil, requireExternalLabels: false)
        try await BlockTransfer.checkUploaded(meta.ulid, in: bucket, against: dir)
    }

    /// Copies a block's objects (markers excepted) into `backup`, meta.json last. A block
    /// whose meta.json is already there with every object at its size is left as it is; a
    /// partial copy (an earlier run cut short) is copied again.
    static func backUp(_ id: ULID, from bucket: any Bucket, to backup: any Bucket, scratch: String) async throws {
        let prefix = "\(id)/"
        let objects = try await bucket.list(prefix: prefix, recursive: true)
            .filter { MarkerKind(rawValue: String($0.dropFirst(prefix.count))) == nil }
        guard objects.contains(prefix + "meta.json") else {
            throw BlockOpsError.notFound("meta.json of block \(id) in \(bucket.description)")
        }
        if try await backup.exists(prefix + "meta.json") {
            var same = true
            for o in objects {
                let want = try await bucket.attributes(o).size
                let have = try? await backup.attributes(o).size
                if have != want { same = false }
            }
            if same { return }
        }
        let ordered = objects.filter { $0 != prefix + "meta.json" } + [prefix + "meta.json"]
        if let root = localRoot(of: bucket) {
            for o in ordered { try await backup.upload(o, fromFile: root + "/" + o) }
            return
        }
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        for (i, o) in ordered.enumerated() {
            let tmp = scratch + "/object-\(i)"
            try await bucket.download(o, toFile: tmp)
            try await backup.upload(o, fromFile: tmp)
            try? FileManager.default.removeItem(atPath: tmp)
        }
    }
}
