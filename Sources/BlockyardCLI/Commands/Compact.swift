import ArgumentParser
import BlockOps
import Foundation
import TSDB

#if canImport(Glibc)
import Glibc
#endif

/// A duration flag in Thanos' spelling (`48h`, `30m`, `14d`).
struct DurationArgument: ExpressibleByArgument, Sendable {
    var millis: Int64
    init?(argument: String) {
        guard let v = parseDuration(argument) else { return nil }
        millis = v
    }
    init(millis: Int64) { self.millis = millis }
    var defaultValueDescription: String { goDuration(millis: millis) }
}

struct Compact: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compact",
        abstract: "Compact a bucket's blocks as Thanos' compactor does: plan per group, merge, upload, mark sources.",
        discussion: """
            Blocks are grouped by external labels and resolution; each group is planned with \
            Thanos' rules (ranges 2h, 8h, 2d, 14d; the newest block left out; aligned windows; \
            no-compact marks; overlapping blocks merged when vertical compaction is on). Results \
            are written under --data-dir, checked, uploaded with meta.json last and re-read; only \
            then are their sources marked for deletion. Then blocks are downsampled as Thanos' \
            compactor does (raw blocks of 40h or more to 5m, 5m blocks of 10 days or more to 1h; \
            --downsampling.disable turns it off), blocks past retention are marked, \
            and cleanup deletes blocks marked longer ago than --delete-delay and partial uploads \
            older than 48h. A group that cannot be compacted (overlaps without vertical compaction, \
            a broken input block) is reported and skipped; the others go on. \
            Exit status: 0 all planned work done; 1 a group was skipped or a block failed to \
            downsample (see the summary); 2 a \
            block is unreadable; 3 storage failure; 64 usage.
            """
    )

    @Argument(help: "A directory of blocks (a FILESYSTEM bucket) instead of an objstore config.")
    var path: String?

    @OptionGroup var bucket: BucketOptions
    @OptionGroup var merge: MergeOptions

    @Option(name: .customLong("data-dir"), help: "Scratch space for result blocks before upload.")
    var dataDir = "./data"

    @Flag(name: .customLong("wait"), help: "Keep running: repeat every --wait-interval.")
    var wait = false

    @Option(name: .customLong("wait-interval"), help: "Pause between runs with --wait.")
    var waitInterval = DurationArgument(millis: 5 * 60_000)

    @Flag(name: .customLong("dry-run"), help: "Print the plan; change nothing.")
    var dryRun = false

    @Option(name: [.customLong("compact.concurrency"), .customLong("concurrency")], help: "Groups compacted at the same time.")
    var concurrency = 1

    @Flag(name: .customLong("compact.enable-vertical-compaction"), help: "Merge overlapping blocks of a group (implied by --dedup.replica-label).")
    var vertical = false

    @Option(name: .customLong("delete-delay"), help: "How long blocks marked for deletion stay before cleanup deletes them.")
    var deleteDelay = DurationArgument(millis: 48 * 3_600_000)

    @Option(name: .customLong("consistency-delay"), help: "Uploads younger than this are left alone (not for blocks a compactor made).")
    var consistencyDelay = DurationArgument(millis: 30 * 60_000)

    @Flag(name: .customLong("downsampling.disable"), help: "Do not downsample after compacting (Thanos' flag).")
    var noDownsampling = false

    @Option(name: .customLong("retention.resolution-raw"), help: "How long raw blocks are kept (0d = forever).")
    var retentionRaw = DurationArgument(millis: 0)

    @Option(name: .customLong("retention.resolution-5m"), help: "How long 5m blocks are kept (0d = forever).")
    var retention5m = DurationArgument(millis: 0)

    @Option(name: .customLong("retention.resolution-1h"), help: "How long 1h blocks are kept (0d = forever).")
    var retention1h = DurationArgument(millis: 0)

    func validate() throws {
        try bucket.validate(path: path)
        if concurrency < 1 { throw ValidationError("--compact.concurrency must be >= 1") }
        if wait && waitInterval.millis <= 0 { throw ValidationError("--wait-interval must be positive") }
    }

    func run() async throws {
        let skipped = try await withExitCodes { try await runJob() }
        if skipped { throw ExitCode(Exit.findings) }
    }

    /// Runs once (or forever with --wait); returns whether any group was skipped.
    func runJob() async throws -> Bool {
            let catalog = try await bucket.catalog(path: path)
            let logger = bucket.log.logger("blockyard.compact")
            let tty = isatty(2) != 0
            var anySkipped = false
            while true {
                var policy = CompactionPolicy(now: Date().timeIntervalSince1970)
                policy.replicaLabels = merge.replicaLabels
                policy.verticalCompaction = vertical
                policy.consistencyDelay = Double(consistencyDelay.millis) / 1000
                var o = BucketCompactorOptions(policy: policy, workDirectory: dataDir)
                o.function = merge.mergeFunction
                o.concurrency = concurrency
                o.dryRun = dryRun
                o.deleteDelay = deleteDelay.millis
                o.downsample = !noDownsampling
                o.metaCacheDirectory = catalog.cacheDirectory
                let retention: [Int64: Int64] = [0: retentionRaw.millis, 300_000: retention5m.millis, 3_600_000: retention1h.millis]
                o.retention = retention.filter { $0.value > 0 }
                let report: (@Sendable (String) -> Void)? = tty ? { @Sendable (s: String) in printProgress(s) } : nil
                let job = BucketCompactor(bucket: catalog.bucket, catalog: catalog, options: o, logger: logger, progress: report)
                let summary = try await job.run()
                let out = OutputSink()
                try out.write(Self.render(summary, dryRun: dryRun))
                try out.flush()
                anySkipped = anySkipped || !summary.skipped.isEmpty || (summary.downsampling?.failures ?? 0) > 0
                guard wait else { break }
                try await Task.sleep(nanoseconds: UInt64(waitInterval.millis) * 1_000_000)
            }
            return anySkipped
    }

    static func render(_ s: CompactionSummary, dryRun: Bool) -> String {
        var out = ""
        let verb = dryRun ? "would compact" : "compacted"
        for c in s.compactions {
            out += "\(verb) \(c.group): \(c.inputs.count) blocks\(c.vertical ? " (vertical)" : "")"
            if let o = c.output { out += " -> \(o), \(c.series) series, \(c.samples) samples, \(String(format: "%.2f", c.seconds)) s" }
            out += "\n    " + c.inputs.map(\.description).joined(separator: " ") + "\n"
        }
        for k in s.skipped { out += "skipped \(k.group): \(k.reason)\n" }
        for pass in s.downsampling?.passes ?? [] {
            for o in pass.outcomes { out += "downsample pass \(pass.number): " + Downsample.text(o) + "\n" }
        }
        for e in s.excluded { out += "left out \(e.ulid): \(e.reason)\n" }
        let d = dryRun ? "would mark" : "marked"
        for id in s.garbageMarked { out += "\(d) \(id) for deletion (its sources are in another block)\n" }
        for id in s.retentionMarked { out += "\(d) \(id) for deletion (past retention)\n" }
        for id in s.deleted { out += "\(dryRun ? "would delete" : "deleted") \(id) (marked for deletion longer than the delete delay)\n" }
        for id in s.partialDeleted { out += "\(dryRun ? "would delete" : "deleted") partial upload \(id)\n" }
        out += "summary: \(s.compactions.count) compaction(s)\(dryRun ? " planned" : " done"), \(s.skipped.count) group(s) skipped, "
        out += "\(s.downsampling?.downsampled.count ?? 0) downsampled, "
        out += "\(s.garbageMarked.count + s.retentionMarked.count) block(s) marked for deletion, \(s.deleted.count + s.partialDeleted.count) deleted\n"
        return out
    }
}

/// A progress line on stderr (only when stderr is a terminal).
func printProgress(_ s: String) {
    var line = "… " + s + "\n"
    line.withUTF8 { p in _ = Glibc.write(2, p.baseAddress, p.count) }
}
