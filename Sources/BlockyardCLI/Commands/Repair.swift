import ArgumentParser
import BlockOps
import Foundation
import TSDB

#if canImport(Glibc)
import Glibc
#endif

struct Repair: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "repair",
        abstract: "Repair what verify finds in a bucket's blocks: write a fixed copy, upload it, retire the original.",
        discussion: """
            Each block given with --id (default: every block verify flags; blocks marked for \
            deletion are left out) is read (in place for a directory, by ranged reads for a \
            remote bucket), verified, and repaired into a new block under --data-dir: \
            overlapping and out-of-order chunks merged sample by sample (one sample per \
            timestamp), exact duplicate chunks dropped, chunks and samples outside \
            [minTime, maxTime) trimmed (Prometheus issue 347 included), series re-sorted and \
            duplicates merged, label names sorted, chunks that fail their CRC or do not decode \
            dropped (the series and time range lost named), stats and the Thanos files list \
            recomputed; downsampled blocks too, aggregate chunks included. The new block has a \
            new ULID, thanos.source bucket.repair, the original's external labels, resolution \
            and compaction level and sources, and a repair.log of every change. \
            Order: the new block is verified (--deep), uploaded (repair.log first, meta.json \
            last) and re-read; then the original is copied to --objstore-backup.* when given, \
            and only then marked for deletion. Nothing is marked that has no verified \
            replacement. A run cut short is finished by the next one. --dry-run prints what \
            would change and writes nothing to the bucket. \
            Exit status: 0 nothing to repair; 1 repaired (or would be), no data dropped; 4 \
            repaired, but data had to be dropped (chunks that do not decode, samples outside \
            the block); 2 a block cannot be repaired (unreadable; see the message) or is \
            unreadable; 3 storage failure; 64 usage. When several apply, the first of 2, 4, 1.
            """
    )

    @Argument(help: "A directory of blocks (a FILESYSTEM bucket) instead of an objstore config.")
    var path: String?

    @OptionGroup var bucket: BucketOptions
    @OptionGroup var backup: SecondBucketOptions<BackupBucket>

    @Option(name: .customLong("id"), help: "Repair this block (repeatable); default: every block verify flags.")
    var ids: [String] = []

    @Flag(name: .customLong("dry-run"), help: "Repair into scratch space, print what would change, upload and mark nothing.")
    var dryRun = false

    @Flag(help: "Pick blocks with verify's --deep checks too (chunks that pass their CRC but do not decode).")
    var deep = false

    @Option(name: .customLong("data-dir"), help: "Scratch space for repaired blocks before upload.")
    var dataDir = NSTemporaryDirectory() + "blockyard-repair"

    func validate() throws {
        try bucket.validate(path: path)
        for id in ids where ULID(id) == nil { throw ValidationError("--id \(id) is not a ULID") }
    }

    func run() async throws {
        let outcomes = try await withExitCodes { () async throws -> [RepairOutcome] in
            let catalog = try await bucket.catalog(path: path)
            let logger = bucket.log.logger("blockyard.repair")
            var o = BucketRepairOptions(workDirectory: dataDir)
            o.ids = ids.compactMap(ULID.init)
            o.backup = try await backup.bucket(logger: bucket.log.logger("blockyard.objstore"))
            o.repair.dryRun = dryRun
            o.repair.deep = deep
            let report: (@Sendable (String) -> Void)? = isatty(2) != 0 ? { @Sendable (s: String) in printProgress(s) } : nil
            let outcomes = try await BucketRepairer(bucket: catalog.bucket, catalog: catalog, options: o, logger: logger, progress: report).run()
            let out = OutputSink()
            try out.write(RepairReport.render(outcomes, dryRun: dryRun))
            try out.flush()
            return outcomes
        }
        let code = RepairReport.exitStatus(outcomes)
        if code != 0 { throw ExitCode(code) }
    }
}

/// What `repair` and `block repair` print, and their exit status.
enum RepairReport {
    static func render(_ outcomes: [RepairOutcome], dryRun: Bool) -> String {
        var s = ""
        for o in outcomes {
            switch o.status {
            case .clean:
                s += "\(o.block): ok, nothing to repair\n"
            case .skipped(let why):
                s += "\(o.block): left alone: \(why)\n"
            case .unrepairable(let why):
                s += "\(o.block): cannot be repaired: \(why)\n"
            case .finishedEarlier(let id):
                s += "\(o.block): \(dryRun ? "would finish" : "finished") an earlier repair into \(id) (backup and deletion mark)\n"
            case .nothingLeft:
                s += "\(o.block): every sample had to be dropped; no block \(dryRun ? "would be" : "was") written and the original is left alone\n"
            case .repaired(let id):
                let what = dryRun ? "would be repaired (dry run; the result verified, then was removed)" : "repaired into \(id)"
                s += "\(o.block): \(what): \(o.events.count) change(s)\(o.dataLost ? ", data dropped" : "")\n"
            }
            if !o.findings.isEmpty && o.status != .clean {
                s += "  verify found \(o.findings.count): " + Dictionary(grouping: o.findings, by: \.kind).map { "\($0.key.rawValue) \($0.value.count)" }.sorted().joined(separator: ", ") + "\n"
            }
            for e in o.events { s += "  \(e.lost ? "[data dropped] " : "")\(e.description)\n" }
        }
        let repaired = outcomes.filter(\.repaired)
        s += "summary: \(outcomes.count) block(s) looked at, \(repaired.count) \(dryRun ? "would be repaired" : "repaired"), "
        s += "\(repaired.filter(\.dataLost).count) with data dropped, \(outcomes.filter { if case .unrepairable = $0.status { true } else { false } }.count) cannot be repaired\n"
        return s
    }

    /// 2 when a block cannot be repaired; else 4 when data was dropped; else 1 when
    /// anything was repaired; else 0.
    static func exitStatus(_ outcomes: [RepairOutcome]) -> Int32 {
        if outcomes.contains(where: { if case .unrepairable = $0.status { true } else { false } }) { return Exit.badData }
        if outcomes.contains(where: { $0.repaired && $0.dataLost }) { return Exit.dataDropped }
        if outcomes.contains(where: \.repaired) { return Exit.findings }
        return 0
    }
}
