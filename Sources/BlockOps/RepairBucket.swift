import Foundation
import Logging
import ObjectStore
import TSDB

/// Settings of a `blockyard repair` run on a bucket.
public struct BucketRepairOptions: Sendable {
    /// Only these blocks; empty: every block verify flags.
    public var ids: [ULID] = []
    /// Scratch space for repaired blocks before upload (a subdirectory per block).
    public var workDirectory: String
    /// Where originals are copied before they are marked for deletion.
    public var backup: (any Bucket)? = nil
    public var repair = RepairOptions()

    public init(workDirectory: String) { self.workDirectory = workDirectory }
}

/// Repairs the blocks of a bucket that verify flags: each is verified where it is (in place,
/// or streamed by ranged reads), and one with findings is read in place or downloaded into
/// the work directory, repaired and verified locally, uploaded with its repair.log
/// and meta.json last, re-read; then the original is backed up (when a backup bucket is
/// given) and marked for deletion. Nothing is marked that has no verified replacement in
/// the bucket. A run cut short anywhere is finished by the next: a replacement that made
/// it into the bucket (meta.json written) is found by its repair.log, and only the backup
/// and the mark are done again; a partial upload is left for cleanup and the block is
/// repaired anew.
public final class BucketRepairer: Sendable {
    public let bucket: any Bucket
    public let catalog: BucketCatalog
    public let options: BucketRepairOptions
    let logger: Logger
    let progress: (@Sendable (String) -> Void)?

    public init(bucket: any Bucket, catalog: BucketCatalog, options: BucketRepairOptions, logger: Logger,
                progress: (@Sendable (String) -> Void)? = nil) {
        self.bucket = bucket
        self.catalog = catalog
        self.options = options
        self.logger = logger
        self.progress = progress
    }

    public func run() async throws -> [RepairOutcome] {
        let (entries, _) = try await catalog.list()
        let byID = Dictionary(entries.map { ($0.ulid, $0) }, uniquingKeysWith: { a, _ in a })
        var targets: [BlockEntry] = []
        if options.ids.isEmpty {
            // Partial uploads are cleanup's; a meta.json that does not parse is reported.
            targets = entries.filter { !$0.isPartial && !$0.markers.contains(.deletion) }
        } else {
            for id in options.ids {
                guard let e = byID[id], !e.isPartial else {
                    throw BlockOpsError.notFound(byID[id] == nil ? "block \(id) in \(bucket.description)" : "meta.json of block \(id) (a partial upload)")
                }
                targets.append(e)
            }
        }
        var out: [RepairOutcome] = []
        for e in targets { out.append(try await repair(e, entries)) }
        return out
    }

    func repair(_ e: BlockEntry, _ entries: [BlockEntry]) async throws -> RepairOutcome {
        let id = e.ulid
        var outcome = RepairOutcome(block: id.description, status: .clean, dryRun: options.repair.dryRun)
        if e.markers.contains(.deletion) {
            outcome.status = .skipped("marked for deletion")
            return outcome
        }
        if let err = e.metaError {
            outcome.status = .unrepairable("meta.json does not parse (\(err)); it cannot be rebuilt from the data")
            return outcome
        }
        if let done = try await replacement(of: e, among: entries) {
            outcome.status = .finishedEarlier(done)
            if !options.repair.dryRun { try await retire(id, replacedBy: done) }
            return outcome
        }
        progress?("\(id): reading and verifying")
        let findings = try await RepairChecks.findings(id, in: bucket, deep: options.repair.deep)
        guard !findings.isEmpty else { return outcome }
        let work = options.workDirectory + "/\(id)"
        try? FileManager.default.removeItem(atPath: work)
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        let block: Block
        do { block = try await BlockTransfer.openLocally(id, in: bucket, scratch: work + "/input") } catch let err as TSDBError {
            outcome.status = .unrepairable("the block cannot be opened: \(err.description)")
            return outcome
        }
        progress?("\(id): repairing (\(findings.count) finding(s))")
        outcome = await BlockRepair.repair(block, name: id.description, findings: findings, into: work, options: options.repair)
        guard case .repaired(let newID) = outcome.status, !options.repair.dryRun else { return outcome }
        let dir = work + "/\(newID)"
        try ensureThanosSection(dir, from: block.meta)
        progress?("\(id): uploading \(newID)")
        try await BlockReplacement.upload(dir, to: bucket, extra: [BlockRepair.logFile])
        logger.info("uploaded repaired block", metadata: ["block": "\(id)", "new": "\(newID)", "changes": "\(outcome.events.count)",
                                                          "data_dropped": "\(outcome.dataLost)"])
        try await retire(id, replacedBy: newID)
        return outcome
    }

    /// Backs the original up (when a backup bucket is given), then marks it for deletion.
    func retire(_ id: ULID, replacedBy newID: ULID) async throws {
        if let backup = options.backup {
            progress?("\(id): backing up to \(backup.description)")
            try await BlockReplacement.backUp(id, from: bucket, to: backup, scratch: options.workDirectory + "/backup-\(id)")
        }
        try await BucketBlocks.mark(id, .deletion, details: "repaired into \(newID) by blockyard repair", in: bucket)
        logger.info("marked repaired block for deletion", metadata: ["block": "\(id)", "replacement": "\(newID)"])
    }

    /// A block already in the bucket that an earlier repair of `e` uploaded whole: same
    /// group, range and sources, `thanos.source` bucket.repair, and a repair.log naming `e`.
    func replacement(of e: BlockEntry, among entries: [BlockEntry]) async throws -> ULID? {
        guard let m = e.meta else { return nil }
        for c in entries where c.ulid != e.ulid {
            guard let cm = c.meta, !c.markers.contains(.deletion), cm.thanos?.source == "bucket.repair",
                  cm.minTime == m.minTime, cm.maxTime == m.maxTime, GroupKey(cm) == GroupKey(m),
                  Set(cm.compaction.sources) == Set(m.compaction.sources), c.objects.contains(BlockRepair.logFile)
            else { continue }
            let text = String(decoding: try await bucket.get("\(c.ulid)/\(BlockRepair.logFile)"), as: UTF8.self)
            if BlockRepair.repairedBlock(fromLog: text) == e.ulid { return c.ulid }
        }
        return nil
    }

    /// A bucket block without a Thanos section (a plain Prometheus block in a directory)
    /// gets an empty one, as Thanos' tools give it, so it can be uploaded as it is.
    func ensureThanosSection(_ dir: String, from original: BlockMeta) throws {
        var meta = try Block(directory: dir).meta
        guard meta.thanos == nil else { return }
        var t = ThanosMeta()
        t.source = "bucket.repair"
        meta.thanos = t
        try writeFile(dir + "/meta.json", Array((meta.serialized() + "\n").utf8))
    }
}
