import ArgumentParser
import BlockOps
import Foundation
import ObjectStore
import Synchronization
import TSDB

struct Replicate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replicate",
        abstract: "Copy blocks from one bucket to another (Thanos `tools bucket replicate`), many at a time, resumable and checked.",
        discussion: """
            Source: --objstore.config-file/--objstore.config or a local directory. Destination: \
            --objstore-to.config-file/--objstore-to.config or --to DIR. Either side may be AZURE or \
            FILESYSTEM. Blocks are copied oldest first, several blocks and several objects at a time; \
            objects the destination already has (same size and MD5) are skipped, so a re-run after an \
            interruption finishes the job. Each copied object is checked in the destination (size, \
            MD5) and only then is the block's meta.json written, last, in oldest-first order. When \
            both sides are Azure the destination service copies the bytes itself (Put Block From \
            URL; the source is authorised by a short-lived SAS or a bearer token); if it refuses, \
            objects are streamed through bounded memory instead, each in one read and one write, \
            checked by the destination against the source's MD5. An object the source has no MD5 for \
            (Thanos uploads large files without one) is checked by size, and by the block's own \
            checksums with --verify; --checked-reads reads such objects in 4 MiB ranges the source \
            hashes instead (slower; every byte checked against what the source stores). \
            Markers are not copied. \
            Exit status: 0 every selected block is in the destination; 1 --verify found problems in \
            a copy (its meta.json was not written); 2 a source block is unreadable or inconsistent; \
            3 storage failure or a conflicting block in the destination; 64 usage. With several \
            failures the highest applies.
            """,
        aliases: ["migrate"]
    )

    @Argument(help: "Source as a local directory laid out like a bucket (instead of an objstore config).")
    var path: String?

    @OptionGroup var bucket: BucketOptions

    @OptionGroup var destination: DestinationBucketOptions

    @Option(name: .customLong("id"), help: "Only these blocks (repeatable; label, resolution and compaction filters are then ignored, as in Thanos).")
    var ids: [String] = []

    @Option(name: .customLong("min-time"), help: "Only blocks overlapping this time or later: RFC 3339, Unix milliseconds, or a duration relative to now (-2d).")
    var minTime: String?

    @Option(name: .customLong("max-time"), help: "Only blocks overlapping this time or earlier (same forms as --min-time).")
    var maxTime: String?

    @Option(name: .customLong("resolution"), help: "Only blocks of these resolutions (0s, 5m, 1h; repeatable). Default: all.")
    var resolutions: [String] = []

    @Option(name: .customLong("compaction-min"), help: "Only blocks of at least this compaction level.")
    var compactionMin: Int = 1

    @Option(name: .customLong("compaction-max"), help: "Only blocks of at most this compaction level (default: no limit).")
    var compactionMax: Int?

    @Option(name: .customLong("matcher"), help: "Only blocks whose external labels match this selector, e.g. '{cluster=\"eu1\",replica=~\"0|1\"}' (repeatable; all must match).")
    var matchers: [String] = []

    @Flag(name: .customLong("include-marked-for-deletion"), help: "Also copy blocks that have a deletion mark (skipped by default).")
    var includeMarked = false

    @Flag(name: .customLong("ignore-marked-for-deletion"), help: .hidden)
    var ignoreMarked = false

    @Option(name: .customLong("set-label"), help: "Set this external label in the copied meta.json, k=v (repeatable).")
    var setLabels: [String] = []

    @Option(name: .customLong("drop-label"), help: "Remove this external label from the copied meta.json (repeatable).")
    var dropLabels: [String] = []

    @Option(help: "Blocks copied at the same time.")
    var concurrency: Int = 4

    @Option(name: .customLong("object-concurrency"), help: "Objects copied at the same time within one block.")
    var objectConcurrency: Int = 4

    @Flag(help: "Before committing each copy, read it back from the destination and run the verify checks on it.")
    var verify = false

    @Flag(help: "With --verify, also decode every chunk.")
    var deep = false

    @Flag(name: .customLong("no-server-side-copy"), help: "Stream every object through this process even when both sides are Azure.")
    var noServerSideCopy = false

    @Flag(name: .customLong("checked-reads"), help: "Streaming an object the source has no MD5 for, read it in 4 MiB ranges the source service hashes, each checked by the destination (slower than one unchecked read).")
    var checkedReads = false

    @Flag(name: .customLong("dry-run"), help: "Print the plan (what would be copied or skipped) and write nothing.")
    var dryRun = false

    func validate() throws {
        try bucket.validate(path: path)
        for id in ids where ULID(id) == nil { throw ValidationError("--id \(id) is not a ULID") }
        if let t = minTime, parseTimeOrDuration(t) == nil { throw ValidationError("--min-time \(t): want RFC 3339, milliseconds or a duration like -2d") }
        if let t = maxTime, parseTimeOrDuration(t) == nil { throw ValidationError("--max-time \(t): want RFC 3339, milliseconds or a duration like -2d") }
        for r in resolutions where parseDurationMillis(r) == nil { throw ValidationError("--resolution \(r): want a duration like 0s, 5m or 1h") }
        if let m = compactionMax, m < compactionMin { throw ValidationError("--compaction-max must be >= --compaction-min") }
        for l in setLabels where !l.contains("=") || l.hasPrefix("=") { throw ValidationError("--set-label \(l): want k=v") }
        if concurrency < 1 || objectConcurrency < 1 { throw ValidationError("--concurrency and --object-concurrency must be >= 1") }
        if deep && !verify { throw ValidationError("--deep needs --verify") }
        if includeMarked && ignoreMarked { throw ValidationError("--include-marked-for-deletion and --ignore-marked-for-deletion contradict each other") }
    }

    func filter() throws -> ReplicateFilter {
        var f = ReplicateFilter()
        f.ids = Set(ids.compactMap(ULID.init))
        let now = Date()
        if let t = minTime { f.minTime = parseTimeOrDuration(t, now: now)! }
        if let t = maxTime { f.maxTime = parseTimeOrDuration(t, now: now)! }
        if !resolutions.isEmpty { f.resolutions = Set(resolutions.compactMap(parseDurationMillis)) }
        f.compactionMin = compactionMin
        f.compactionMax = compactionMax ?? Int.max
        for m in matchers {
            let text = m.trimmingCharacters(in: .whitespaces)
            f.matchers += try parseSelector(text.hasPrefix("{") ? text : "{" + text + "}")
        }
        f.includeMarkedForDeletion = includeMarked
        return f
    }

    func rewrite() -> LabelRewrite {
        var r = LabelRewrite()
        for l in setLabels {
            let p = l.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            r.assign[String(p[0])] = String(p[1])
        }
        r.remove = Set(dropLabels)
        return r
    }

    func run() async throws {
        let summary: ReplicateSummary = try await withExitCodes {
            let logger = bucket.log.logger("blockyard.replicate")
            let filter = try filter()
            let rewrite = rewrite()
            let catalog = try await bucket.catalog(path: path)
            let dest = try await destination.bucket(logger: bucket.log.logger("blockyard.objstore"))
            let (entries, _) = try await catalog.list(only: filter.ids.isEmpty ? nil : filter.ids)
            let (selected, skipped) = ReplicatePlan.select(entries, filter: filter, rewrite: rewrite)
            var options = Replicator.Options()
            options.concurrency = concurrency
            options.objectConcurrency = objectConcurrency
            options.rewrite = rewrite
            options.verify = verify
            options.deep = deep
            options.dryRun = dryRun
            options.serverSideCopy = !noServerSideCopy
            options.checkedReads = checkedReads
            let replicator = Replicator(source: catalog.bucket, destination: dest, options: options, logger: logger)
            let out = OutputSink()
            try out.write("replicating \(selected.count) block(s) from \(catalog.bucket.description) to \(dest.description)"
                + " (\(replicator.copiesServerSide ? "server-side copy" : "streamed"))\(dryRun ? ", dry run" : "")\n")
            for (e, why) in skipped {
                // Blocks outside the filters are listed only in a dry run (there may be thousands).
                if case .notSelected = why, !dryRun || !filter.ids.isEmpty { continue }
                try out.write("\(e.ulid) \(why)\n")
            }
            try out.flush()
            let lines = OutputLines()
            let started = ContinuousClock.now
            var summary = await replicator.run(selected) { r in lines.print(Self.line(r)) }
            for (_, why) in skipped {
                if case .notSelected = why { summary.notSelected += 1 } else { summary.skipped += 1 }
            }
            let d = ContinuousClock.now - started
            let secs = Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
            if let why = summary.fellBack { try out.write("server-side copy was refused (\(why)); objects were streamed\n") }
            try out.write(Self.summaryLine(summary, dryRun: dryRun, seconds: secs) + "\n")
            try out.flush()
            return summary
        }
        if summary.exitCode != 0 { throw ExitCode(summary.exitCode) }
    }

    static func line(_ r: ReplicateBlockReport) -> String {
        let objects = "\(r.objectsCopied) object(s) \(humanBytes(r.bytesCopied))"
        let skipped = r.objectsSkipped > 0 ? ", \(r.objectsSkipped) already there (\(humanBytes(r.bytesSkipped)))" : ""
        switch r.outcome {
        case .copied:
            let how = r.objectsServerSide == r.objectsCopied ? "server-side" : (r.objectsServerSide == 0 ? "streamed" : "\(r.objectsServerSide) server-side")
            return "\(r.ulid) copied \(objects) (\(how))\(skipped) in \(String(format: "%.2f", r.seconds))s"
        case .alreadyThere:
            return "\(r.ulid) already in the destination (\(r.objectsSkipped) object(s), \(humanBytes(r.bytesSkipped))\(r.objectsSizeOnly > 0 ? ", \(r.objectsSizeOnly) compared by size only" : "")), skipped"
        case .planned:
            return "\(r.ulid) would copy \(objects)\(skipped)"
        case .failed:
            var s = "\(r.ulid) FAILED: \(r.error ?? "unknown error")"
            for f in r.findings.prefix(20) {
                s += "\n  \(f.kind.rawValue): \(f.file)\(f.offset.map { "@\($0)" } ?? ""): \(f.detail)"
            }
            return s
        }
    }

    static func summaryLine(_ s: ReplicateSummary, dryRun: Bool, seconds: Double) -> String {
        let verb = dryRun ? "would copy \(s.planned) block(s)" : "copied \(s.copied) block(s)"
        var line = "\(verb) (\(s.objectsCopied) object(s), \(humanBytes(s.bytesCopied))"
        if s.objectsServerSide > 0 { line += ", \(s.objectsServerSide) server-side" }
        line += "); already there \(s.alreadyThere) block(s) (\(s.objectsSkipped) object(s) skipped, \(humanBytes(s.bytesSkipped)))"
        line += "; failed \(s.failed); skipped \(s.skipped); not selected \(s.notSelected)"
        return line + String(format: "; %.2fs", seconds)
    }
}

/// Lines printed from concurrent callbacks, one at a time.
final class OutputLines: Sendable {
    private let lock = Mutex(())

    func print(_ s: String) {
        lock.withLock { _ in
            var t = s + "\n"
            t.withUTF8 { p in _ = write(1, p.baseAddress, p.count) }
        }
    }
}
