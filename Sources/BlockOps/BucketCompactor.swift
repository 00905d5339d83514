import Foundation
import Logging
import ObjectStore
import TSDB

/// Settings of a `blockyard compact` run.
public struct BucketCompactorOptions: Sendable {
    public var policy: CompactionPolicy
    public var function: MergeFunction = .chain
    /// Groups compacted at the same time.
    public var concurrency = 1
    /// Where result blocks are written before upload (emptied at the start of a run).
    public var workDirectory: String
    public var dryRun = false
    /// Blocks marked for deletion longer ago than this (ms) are deleted by cleanup.
    public var deleteDelay: Int64 = 48 * CompactionPolicy.hour
    /// Partial uploads (no meta.json) older than this (ms) are deleted by cleanup.
    public var partialUploadAge: Int64 = 48 * CompactionPolicy.hour
    /// Resolution (ms) -> retention (ms); absent or 0 keeps forever.
    public var retention: [Int64: Int64] = [:]
    public var segmentSize = ChunkWriter.defaultSegmentSize
    /// After compaction, downsample as Thanos' compactor does (raw to 5m, then 5m to 1h).
    public var downsample = true
    /// Where the downsampler's meta.json cache lives (the catalog's, normally).
    public var metaCacheDirectory: String? = nil

    public init(policy: CompactionPolicy, workDirectory: String) {
        self.policy = policy
        self.workDirectory = workDirectory
    }
}

/// What a run planned, did and left, for the summary and the exit status.
public struct CompactionSummary: Sendable {
    public struct Compaction: Sendable {
        public var group: String
        public var inputs: [ULID]
        public var vertical: Bool
        /// The new block (nil in a dry run, or when no samples were left).
        public var output: ULID?
        public var seconds: Double = 0
        public var series: UInt64 = 0
        public var samples: UInt64 = 0
    }
    public struct Skip: Sendable {
        public var group: String
        public var reason: String
    }
    public var compactions: [Compaction] = []
    public var skipped: [Skip] = []
    public var garbageMarked: [ULID] = []
    public var retentionMarked: [ULID] = []
    public var deleted: [ULID] = []
    public var partialDeleted: [ULID] = []
    public var excluded: [Exclusion] = []
    /// The downsampling passes that followed compaction (nil when disabled).
    public var downsampling: DownsampleJob.Report? = nil

    public init() {}
}

/// The scheduled job: plan every group of a bucket the Thanos way, compact, upload the
/// result (meta.json last), check it, and only then mark the sources for deletion; then
/// retention and cleanup. A crash anywhere leaves either the old blocks, or the new block
/// next to sources it covers (the next run marks them as garbage), or a partial upload
/// (cleanup removes it after `partialUploadAge`): never a block that looks whole but is not,
/// and never a source deleted before its replacement is in the bucket.
public final class BucketCompactor: Sendable {
    public let bucket: any Bucket
    public let catalog: BucketCatalog
    public let options: BucketCompactorOptions
    let logger: Logger
    let progress: (@Sendable (String) -> Void)?

    public init(bucket: any Bucket, catalog: BucketCatalog, options: BucketCompactorOptions, logger: Logger,
                progress: (@Sendable (String) -> Void)? = nil) {
        self.bucket = bucket
        self.catalog = catalog
        self.options = options
        self.logger = logger
        self.progress = progress
    }

    /// One pass over the bucket.
    public func run() async throws -> CompactionSummary {
        var summary = CompactionSummary()
        let work = options.workDirectory + "/compact"
        if !options.dryRun {
            try? FileManager.default.removeItem(atPath: work)
            try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        }
        let (entries, _) = try await catalog.list()
        let (groups, garbage, excluded) = CompactionPlanner.groups(entries, policy: options.policy)
        summary.excluded = excluded
        for g in garbage {
            logger.info("marking garbage block for deletion", metadata: ["block": "\(g.ulid)", "reason": "\(g.reason)"])
            if !options.dryRun { try await BucketBlocks.mark(g.ulid, .deletion, details: "outdated block: \(g.reason)", in: bucket) }
            summary.garbageMarked.append(g.ulid)
        }
        let results = try await withThrowingTaskGroup(of: (Int, [CompactionSummary.Compaction], [CompactionSummary.Skip]).self) { tg in
            var next = 0
            func start() {
                let i = next
                next += 1
                let g = groups[i]
                tg.addTask { let (c, s) = try await self.compact(group: g, workDirectory: work + "/\(i)"); return (i, c, s) }
            }
            while next < groups.count && next < max(1, options.concurrency) { start() }
            var out = [([CompactionSummary.Compaction], [CompactionSummary.Skip])](repeating: ([], []), count: groups.count)
            while let (i, c, s) = try await tg.next() {
                out[i] = (c, s)
                if next < groups.count { start() }
            }
            return out
        }
        for (c, s) in results {
            summary.compactions += c
            summary.skipped += s
        }
        if options.downsample {
            var d = DownsampleJob.Options()
            d.concurrency = options.concurrency
            d.dryRun = options.dryRun
            d.workDirectory = options.workDirectory + "/downsample"
            d.metaCacheDirectory = options.metaCacheDirectory
            summary.downsampling = try await DownsampleJob(bucket: bucket, options: d, logger: logger).run()
        }
        try await applyRetention(entries, &summary)
        try await cleanup(entries, &summary)
        return summary
    }

    /// Compacts one group until its plan is empty. A group that cannot go on (overlaps with
    /// vertical compaction off, a broken input block) is reported and left; others go on.
    func compact(group: CompactionGroup, workDirectory: String) async throws -> ([CompactionSummary.Compaction], [CompactionSummary.Skip]) {
        var group = group
        var done: [CompactionSummary.Compaction] = []
        let key = group.key.description
        // Each compaction removes at least two blocks (or rewrites one with tombstones), so
        // this bound is never the reason to stop in practice.
        for _ in 0..<(2 * group.blocks.count + 2) {
            switch CompactionPlanner.plan(group, policy: options.policy) {
            case .none:
                return (done, [])
            case .blockedByOverlap(let ids):
                let flags = ids.map { "--id \($0)" }.joined(separator: " ")
                return (done, [CompactionSummary.Skip(group: key, reason:
                    "overlapping blocks \(ids.map(\.description).joined(separator: ", ")); vertical compaction is off. "
                    + "Inspect them with `blockyard verify <bucket> \(flags)` and `blockyard inspect`; merge them with "
                    + "--dedup.replica-label (replicas) or --compact.enable-vertical-compaction")])
            case .compact(let ids, let vertical):
                let inputs = ids.compactMap { id in group.blocks.first { $0.ulid == id } }
                var record = CompactionSummary.Compaction(group: key, inputs: ids, vertical: vertical)
                let merged: BlockMeta
                if options.dryRun {
                    merged = Self.plannedMeta(inputs)
                } else {
                    progress?("\(key): compacting \(ids.count) blocks [\(inputs.first!.minTime), \(inputs.map(\.maxTime).max()!))\(vertical ? " (vertical)" : "")")
                    do {
                        guard let m = try await compact(inputs, group: group, vertical: vertical, workDirectory: workDirectory, record: &record) else {
                            // No samples left: the sources hold nothing worth keeping.
                            for id in ids { try await BucketBlocks.mark(id, .deletion, details: "compacted to an empty block", in: bucket) }
                            group.blocks.removeAll { ids.contains($0.ulid) }
                            done.append(record)
                            continue
                        }
                        merged = m
                    } catch let e as CompactionInputError {
                        logger.error("group halted", metadata: ["group": "\(key)", "err": "\(e)"])
                        return (done, [CompactionSummary.Skip(group: key, reason: e.description)])
                    } catch let e as BlockOpsError {
                        logger.error("group halted", metadata: ["group": "\(key)", "err": "\(e)"])
                        return (done, [CompactionSummary.Skip(group: key, reason: e.description)])
                    }
                }
                done.append(record)
                group.blocks.removeAll { ids.contains($0.ulid) }
                group.blocks.append(merged)
                group = CompactionGroup(key: group.key, blocks: group.blocks, noCompact: group.noCompact)
            }
        }
        return (done, [])
    }

    /// The meta a compaction of `inputs` would produce (dry runs plan on with it).
    static func plannedMeta(_ inputs: [BlockMeta]) -> BlockMeta {
        var m = BlockMeta(ulid: ULID(milliseconds: UInt64(Date().timeIntervalSince1970 * 1000)),
                          minTime: inputs.map(\.minTime).min()!, maxTime: inputs.map(\.maxTime).max()!)
        m.compaction.level = inputs.map(\.compaction.level).max()! + 1
        m.compaction.sources = Array(Set(inputs.flatMap(\.compaction.sources))).sorted()
        m.thanos = inputs[0].thanos
        m.thanos?.source = "compactor"
        return m
    }

    /// Merges, checks, uploads and re-checks one planned compaction, then marks its sources.
    func compact(_ inputs: [BlockMeta], group: CompactionGroup, vertical: Bool, workDirectory: String,
                 record: inout CompactionSummary.Compaction) async throws -> BlockMeta? {
        let start = Date()
        try? FileManager.default.removeItem(atPath: workDirectory)
        try FileManager.default.createDirectory(atPath: workDirectory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: workDirectory) }
        // Inputs are read where they are: mapped from a local bucket, else streamed by ranged
        // reads as the merge reaches them (their index in memory; nothing downloaded to disk).
        var blocks: [CompactInput] = []
        for m in inputs {
            if let root = localRoot(of: bucket) {
                blocks.append(.local(try Block(directory: root + "/\(m.ulid)")))
            } else {
                blocks.append(.streamed(try await SourceBlock.open(.bucket(bucket, m.ulid))))
            }
        }
        var o = CompactOptions()
        o.function = options.function
        o.dropLabels = options.policy.replicaLabels
        o.segmentSize = options.segmentSize
        var t = ThanosMeta()
        t.labels = group.key.labels
        t.resolution = group.key.resolution
        t.source = "compactor"
        o.thanos = t
        let merge = (blocks, o)
        guard let r = try await offPool({ try Compactor.compact(inputs: merge.0, into: workDirectory, options: merge.1) }) else { return nil }
        // The result must pass verify's checks before anyone sees it.
        let findings = await BlockVerifier().verify(directory: r.directory)
        if !findings.isEmpty {
            throw BlockOpsError.invalid("compacted block \(r.meta.ulid) failed verification: \(findings.prefix(3).map(\.description).joined(separator: "; "))")
        }
        progress?("\(group.key): uploading \(r.meta.ulid)")
        _ = try await BlockTransfer.upload(blockDirectory: r.directory, to: bucket, labels: nil, source: nil)
        try await BlockTransfer.checkUploaded(r.meta.ulid, in: bucket, against: r.directory)
        for m in inputs {
            try await BucketBlocks.mark(m.ulid, .deletion, details: "source of compacted block \(r.meta.ulid)", in: bucket)
        }
        record.output = r.meta.ulid
        record.seconds = Date().timeIntervalSince(start)
        record.series = r.meta.stats.numSeries
        record.samples = r.meta.stats.numSamples
        logger.info("compacted blocks", metadata: [
            "group": "\(group.key)", "new": "\(r.meta.ulid)", "sources": "\(inputs.map(\.ulid.description))",
            "vertical": "\(vertical)", "duration_ms": "\(Int(record.seconds * 1000))",
        ])
        return try BlockMeta(bytes: try Data(contentsOf: URL(fileURLWithPath: r.directory + "/meta.json")), file: "meta.json")
    }

    func applyRetention(_ entries: [BlockEntry], _ summary: inout CompactionSummary) async throws {
        guard !options.retention.isEmpty else { return }
        for id in RetentionPolicy.expired(entries, retention: options.retention, now: options.policy.now) {
            logger.info("marking block past retention for deletion", metadata: ["block": "\(id)"])
            if !options.dryRun { try await BucketBlocks.mark(id, .deletion, details: "past retention", in: bucket) }
            summary.retentionMarked.append(id)
        }
    }

    func cleanup(_ entries: [BlockEntry], _ summary: inout CompactionSummary) async throws {
        let plan = Cleanup.plan(entries, deleteDelay: options.deleteDelay, partialAge: options.partialUploadAge, now: options.policy.now)
        for id in plan.marked {
            if !options.dryRun { try await BucketBlocks.delete(id, in: bucket) }
            summary.deleted.append(id)
        }
        for id in plan.partial {
            if !options.dryRun { try await BucketBlocks.delete(id, in: bucket) }
            summary.partialDeleted.append(id)
        }
    }
}

/// What cleanup deletes: blocks marked for deletion longer ago than the delete delay, and
/// partial uploads older than `partialAge` by both their ULID and their newest object (an
/// old block being copied in by a migration is young by its objects, and is left alone).
public enum Cleanup {
    public static func plan(_ entries: [BlockEntry], deleteDelay: Int64, partialAge: Int64, now: Double) -> (marked: [ULID], partial: [ULID]) {
        var marked: [ULID] = [], partial: [ULID] = []
        let nowMs = Int64(now * 1000)
        for e in entries {
            if e.markers.contains(.deletion) {
                if let t = e.markerTimes[.deletion], nowMs - t * 1000 >= deleteDelay { marked.append(e.ulid) }
                continue
            }
            if e.isPartial, nowMs - Int64(e.ulid.timestamp) >= partialAge, let newest = e.newestObject,
               nowMs - Int64(newest * 1000) >= partialAge {
                partial.append(e.ulid)
            }
        }
        return (marked, partial)
    }
}

/// The directory behind a FILESYSTEM bucket (through a prefix), for reading blocks in place.
func localRoot(of bucket: any Bucket) -> String? {
    if let f = bucket as? FilesystemBucket { return f.root }
    if let p = bucket as? PrefixedBucket, let base = localRoot(of: p.base) { return base + "/" + p.prefix }
    return nil
}
