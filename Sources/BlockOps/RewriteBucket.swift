import Foundation
import Logging
import ObjectStore
import TSDB

/// Settings of a `blockyard rewrite` run.
public struct BucketRewriteOptions: Sendable {
    public var ids: [ULID]
    public var spec: RewriteSpec
    /// Scratch space: the new block is written here before upload, and its change log kept
    /// here (`<ULID>.change.log`).
    public var workDirectory: String
    /// Thanos' default: print what would change, write nothing to the bucket.
    public var dryRun = true
    /// Mark each source block for deletion once its rewrite is uploaded and re-read.
    public var deleteBlocks = false
    public var writeChangeLog = true
    public var segmentSize = ChunkWriter.defaultSegmentSize

    public init(ids: [ULID], spec: RewriteSpec, workDirectory: String) {
        self.ids = ids
        self.spec = spec
        self.workDirectory = workDirectory
    }
}

/// Rewrites chosen blocks of a bucket: each is read, rewritten and verified locally, then
/// uploaded with meta.json last and re-read, and (with `deleteBlocks`) its source marked
/// for deletion. A re-run after a crash between upload and mark finds the upload by its
/// `thanos.rewrites` entry and only marks the source.
public final class BucketRewriter: Sendable {
    public let bucket: any Bucket
    public let catalog: BucketCatalog
    public let options: BucketRewriteOptions
    let logger: Logger

    public init(bucket: any Bucket, catalog: BucketCatalog, options: BucketRewriteOptions, logger: Logger) {
        self.bucket = bucket
        self.catalog = catalog
        self.options = options
        self.logger = logger
    }

    public func run() async throws -> [RewriteOutcome] {
        let (entries, _) = try await catalog.list()
        let byID = Dictionary(entries.map { ($0.ulid, $0) }, uniquingKeysWith: { a, _ in a })
        var metas: [BlockMeta] = []
        for id in options.ids {
            guard let m = byID[id]?.meta else { throw BlockOpsError.notFound("block \(id) in \(bucket.description)") }
            metas.append(m)
        }
        try FileManager.default.createDirectory(atPath: options.workDirectory, withIntermediateDirectories: true)
        var out: [RewriteOutcome] = []
        for m in metas { out.append(try await rewrite(m, entries)) }
        return out
    }

    func rewrite(_ meta: BlockMeta, _ entries: [BlockEntry]) async throws -> RewriteOutcome {
        let id = meta.ulid
        if let done = entries.first(where: { e in
            e.meta.map { BlockRewrite.isRewrite($0, of: meta, spec: options.spec) } == true && !e.markers.contains(.deletion)
        }) {
            var o = RewriteOutcome(block: id, status: .finishedEarlier(done.ulid), dryRun: options.dryRun)
            if !options.dryRun && options.deleteBlocks {
                o.markedForDeletion = try await BucketBlocks.mark(id, .deletion, details: "rewritten into \(done.ulid) by blockyard rewrite", in: bucket)
            }
            return o
        }
        let work = options.workDirectory + "/\(id).work"
        try? FileManager.default.removeItem(atPath: work)
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        let block = try await BlockTransfer.openLocally(id, in: bucket, scratch: work + "/input")
        var (outcome, dir) = try BlockRewrite.rewrite(block, spec: options.spec, into: work, segmentSize: options.segmentSize)
        outcome.dryRun = options.dryRun
        if options.writeChangeLog, !outcome.events.isEmpty {
            let name = { if case .rewritten(let n) = outcome.status { return n.description } else { return id.description + ".deleted" } }()
            let path = options.workDirectory + "/\(name).\(BlockRewrite.changeLogFile)"
            try writeFile(path, Array(BlockRewrite.changeLog(outcome.events).utf8))
            outcome.changeLogPath = path
        }
        if let dir {
            // The result must be whole before anyone sees it.
            let check = await RepairChecks.findings(directory: dir, deep: true)
            guard check.isEmpty else {
                throw BlockOpsError.invalid("the rewrite of \(id) did not verify (\(check.prefix(3).map(\.description).joined(separator: "; "))); nothing was uploaded")
            }
        }
        guard !options.dryRun else { return outcome }
        switch outcome.status {
        case .rewritten(let newID):
            try await BlockReplacement.upload(dir!, to: bucket)
            logger.info("uploaded rewritten block", metadata: ["block": "\(id)", "new": "\(newID)", "changes": "\(outcome.events.count)"])
            if options.deleteBlocks {
                outcome.markedForDeletion = try await BucketBlocks.mark(id, .deletion, details: "rewritten into \(newID) by blockyard rewrite", in: bucket)
            }
        case .nothingLeft:
            // Every series was deleted: the rewrite is no block at all.
            if options.deleteBlocks {
                outcome.markedForDeletion = try await BucketBlocks.mark(id, .deletion, details: "every series deleted by blockyard rewrite", in: bucket)
            }
        case .unchanged, .finishedEarlier:
            break
        }
        return outcome
    }
}
