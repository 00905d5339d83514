import ArgumentParser
import BlockOps
import Foundation
import TSDB

struct Rewrite: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rewrite",
        abstract: "Rewrite blocks: delete series or time ranges, relabel series (Thanos `tools bucket rewrite`).",
        discussion: """
            Each --id block is read, rewritten into a new block under --tmp.dir and verified: \
            the relabel config (a list of Prometheus relabel rules: replace, keep, drop, \
            keepequal, dropequal, hashmod, labelmap, labeldrop, labelkeep, lowercase, \
            uppercase) is applied to every series first, series that become equal are merged, \
            then the deletion config (a list of {matchers: '<selector>', intervals: [{mint, \
            maxt}], request_id}) deletes what matches the relabelled series: the given ms \
            ranges (inclusive), or the whole series. As in Thanos, a matcher on a label a \
            series lacks never matches. The new block gets a new ULID, thanos.source \
            bucket.rewrite, its own ULID as compaction.sources, and a thanos.rewrites entry \
            recording the old sources and the deletions and relabels applied. A dry run (the \
            default, as in Thanos) prints the change log and changes nothing; --no-dry-run \
            uploads the new block (meta.json last) and re-reads it, and with --delete-blocks \
            then marks the source for deletion. The change log (Thanos' `Deleted <series> \
            [{mint maxt}]` / `Relabelled <old> <new>` lines) is written to --tmp.dir, not to \
            the bucket: it names what a purge removed. Unknown config fields are refused. \
            Exit status: 0 done (or dry run printed); 2 a block is unreadable; 3 storage \
            failure; 64 usage or a bad config.
            """
    )

    @Argument(help: "A directory of blocks (a FILESYSTEM bucket) instead of an objstore config.")
    var path: String?

    @OptionGroup var bucket: BucketOptions

    @Option(name: .customLong("id"), help: "Block to rewrite (repeatable, required).")
    var ids: [String] = []

    @Option(name: .customLong("rewrite.to-delete-config-file"), help: "YAML file: a list of deletion requests.")
    var deleteFile: String?

    @Option(name: .customLong("rewrite.to-delete-config"), help: "The deletion requests as inline YAML.")
    var deleteYAML: String?

    @Option(name: .customLong("rewrite.to-relabel-config-file"), help: "YAML file: a list of relabel rules.")
    var relabelFile: String?

    @Option(name: .customLong("rewrite.to-relabel-config"), help: "The relabel rules as inline YAML.")
    var relabelYAML: String?

    @Flag(name: .customLong("dry-run"), inversion: .prefixedNo, help: "Print the changes instead of making them (--no-dry-run to rewrite).")
    var dryRun = true

    @Flag(name: .customLong("delete-blocks"), help: "Mark each source block for deletion once its rewrite is uploaded and re-read.")
    var deleteBlocks = false

    @Flag(name: .customLong("rewrite.add-change-log"), inversion: .prefixedNo, help: "Write the change log into --tmp.dir.")
    var changeLog = true

    @Option(name: .customLong("tmp.dir"), help: "Working directory for the new blocks and change logs.")
    var tmpDir = NSTemporaryDirectory() + "blockyard-rewrite"

    func validate() throws {
        try bucket.validate(path: path)
        guard !ids.isEmpty else { throw ValidationError("give at least one --id") }
        for id in ids where ULID(id) == nil { throw ValidationError("--id \(id) is not a ULID") }
        if deleteFile != nil && deleteYAML != nil { throw ValidationError("give --rewrite.to-delete-config-file or --rewrite.to-delete-config, not both") }
        if relabelFile != nil && relabelYAML != nil { throw ValidationError("give --rewrite.to-relabel-config-file or --rewrite.to-relabel-config, not both") }
        if deleteFile == nil && deleteYAML == nil && relabelFile == nil && relabelYAML == nil {
            throw ValidationError("rewrite configuration should be provided: --rewrite.to-delete-config(-file) and/or --rewrite.to-relabel-config(-file)")
        }
        if deleteBlocks && dryRun { throw ValidationError("--delete-blocks needs --no-dry-run") }
    }

    /// The config text from a file or inline; nil when neither is given.
    static func text(file: String?, inline: String?, flag: String) throws -> (String, String)? {
        if let inline { return (inline, "--\(flag)") }
        guard let file else { return nil }
        guard let d = FileManager.default.contents(atPath: file) else { throw BlockOpsError.invalid("--\(flag)-file: cannot read \(file)") }
        return (String(decoding: d, as: UTF8.self), file)
    }

    func run() async throws {
        try await withExitCodes {
            var spec = RewriteSpec()
            if let (t, origin) = try Self.text(file: relabelFile, inline: relabelYAML, flag: "rewrite.to-relabel-config") {
                spec.relabels = try RewriteConfig.relabelConfigs(yaml: t, origin: origin)
            }
            if let (t, origin) = try Self.text(file: deleteFile, inline: deleteYAML, flag: "rewrite.to-delete-config") {
                spec.deletions = try RewriteConfig.deletionRequests(yaml: t, origin: origin)
            }
            guard !spec.isEmpty else { throw BlockOpsError.invalid("the rewrite configs hold no rules and no deletion requests") }
            let catalog = try await bucket.catalog(path: path)
            var o = BucketRewriteOptions(ids: ids.compactMap(ULID.init), spec: spec, workDirectory: tmpDir)
            o.dryRun = dryRun
            o.deleteBlocks = deleteBlocks
            o.writeChangeLog = changeLog
            let outcomes = try await BucketRewriter(bucket: catalog.bucket, catalog: catalog, options: o,
                                                    logger: bucket.log.logger("blockyard.rewrite")).run()
            let out = OutputSink()
            try out.write(Self.render(outcomes, dryRun: dryRun))
            try out.flush()
        }
    }

    static func render(_ outcomes: [RewriteOutcome], dryRun: Bool) -> String {
        var s = ""
        for o in outcomes {
            if dryRun { s += BlockRewrite.changeLog(o.events) }
            let counts = Dictionary(grouping: o.events, by: \.action).map { "\($0.key.rawValue) \($0.value.count)" }.sorted().joined(separator: ", ")
            switch o.status {
            case .unchanged:
                s += "\(o.block): nothing matched; no new block\n"
            case .nothingLeft:
                s += "\(o.block): every series deleted; no new block \(dryRun ? "would be" : "was") written\(o.markedForDeletion ? "; source marked for deletion" : "")\n"
            case .finishedEarlier(let id):
                s += "\(o.block): rewritten earlier into \(id)\(o.markedForDeletion ? "; source marked for deletion" : "")\n"
            case .rewritten(let id):
                let a = o.after ?? BlockMeta.Stats()
                s += "\(o.block): \(dryRun ? "would be rewritten (dry run)" : "rewritten into \(id)"): \(counts); "
                s += "series \(o.before.numSeries) -> \(a.numSeries), samples \(o.before.numSamples) -> \(a.numSamples)"
                s += o.markedForDeletion ? "; source marked for deletion\n" : "\n"
            }
            if let p = o.changeLogPath { s += "  change log: \(p)\n" }
        }
        return s
    }
}
