import ArgumentParser
import BlockOps
import Foundation
import TSDB

/// Shared merge flags of `compact` and `block compact`, named as in `thanos compact`.
struct MergeOptions: ParsableArguments {
    @Option(name: .customLong("dedup.replica-label"),
            help: "Label naming a replica (repeatable): removed from block and series identity so replicas merge. Implies vertical compaction.")
    var replicaLabels: [String] = []

    @Option(name: .customLong("dedup.func"), help: "How overlapping samples merge: chain (one sample per timestamp) or penalty (Thanos' HA replica deduplication; needs a replica label).")
    var function: String = "chain"

    func validate() throws {
        guard let f = MergeFunction(rawValue: function) else { throw ValidationError("--dedup.func must be chain or penalty") }
        if f == .penalty && replicaLabels.isEmpty {
            throw ValidationError("--dedup.func=penalty needs at least one --dedup.replica-label")
        }
        for l in replicaLabels where l.isEmpty { throw ValidationError("--dedup.replica-label must not be empty") }
    }

    var mergeFunction: MergeFunction { MergeFunction(rawValue: function) ?? .chain }
}

struct BlockCompact: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compact",
        abstract: "Merge local blocks into one (no planning), as Prometheus' compactor does.",
        discussion: """
            Series are merged in label order; chunks that overlap nothing are copied as bytes, \
            overlapping chunks are merged sample by sample and re-encoded in 120-sample chunks, \
            tombstones are applied. The new block is written under --out as <ULID>.tmp-for-creation \
            and renamed when complete. Without a replica label, overlapping blocks merge with the \
            chain function (one sample per timestamp).
            """
    )

    @Argument(help: "Block directories (or directories of blocks) to merge.")
    var paths: [String]

    @Option(name: .customLong("out"), help: "Directory to write the new block into.")
    var out: String

    @OptionGroup var merge: MergeOptions

    @Option(name: .customLong("label"), help: "Give the result a Thanos section with these external labels (k=v, repeatable).")
    var labels: [String] = []

    func validate() throws {
        guard !paths.isEmpty else { throw ValidationError("give at least one block directory") }
        for l in labels where !l.contains("=") || l.hasPrefix("=") { throw ValidationError("--label \(l): want k=v") }
    }

    func run() async throws {
        try await withExitCodes {
            var dirs: [String] = []
            for p in paths { dirs += try Block.directories(at: p) }
            guard !dirs.isEmpty else { throw BlockOpsError.notFound("no blocks in \(paths.joined(separator: " "))") }
            let blocks = try dirs.map { try Block(directory: $0) }.sorted { ($0.meta.minTime, $0.ulid) < ($1.meta.minTime, $1.ulid) }
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            var options = CompactOptions()
            options.function = merge.mergeFunction
            options.dropLabels = merge.replicaLabels
            if !labels.isEmpty {
                var t = ThanosMeta()
                for l in labels {
                    let p = l.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                    t.labels[String(p[0])] = String(p[1])
                }
                t.resolution = blocks[0].meta.resolution
                t.source = "compactor"
                options.thanos = t
            }
            let start = Date()
            guard let r = try Compactor.compact(blocks, into: out, options: options) else {
                print("no samples left: no block written")
                return
            }
            let secs = Date().timeIntervalSince(start)
            print("\(r.meta.ulid) [\(r.meta.minTime), \(r.meta.maxTime)) \(r.meta.stats.numSeries) series, \(r.meta.stats.numSamples) samples, \(r.meta.stats.numChunks) chunks from \(blocks.count) blocks in \(String(format: "%.3f", secs)) s")
            print("chunks copied \(r.chunksCopied), re-encoded \(r.chunksReencoded), duplicates dropped \(r.duplicateChunksDropped); series merged from several blocks \(r.seriesMerged)")
        }
    }
}
