import ArgumentParser
import BlockOps
import Foundation
import TSDB

struct WALCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wal",
        abstract: "Recover what a Prometheus or Thanos Receive TSDB directory never wrote into a block.",
        subcommands: [WALRebuild.self]
    )
}

struct WALRebuild: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rebuild",
        abstract: "Replay a data directory's wal/ (checkpoint, segments, chunks_head/) and write blocks aligned to 2h.",
        discussion: """
            Reads the WAL as Prometheus 2.42 replays it on start-up: the newest checkpoint, the \
            segments after it, m-mapped head chunks; snappy and zstd records; series, float and \
            histogram samples, tombstones. A torn last record is the end of the log. Damage (a bad \
            CRC, an unknown record type) is reported with segment and offset, and everything \
            readable before and after it is still recovered. Samples already covered by blocks in \
            DIR are left out (as Prometheus does). One block per 2h window that holds samples is \
            written under --out, with the --label external labels and thanos.source "receive", \
            ready for `blockyard upload`. Exit status: 0 recovered; 1 recovered, but damage was \
            skipped (see the report on stderr); 2 nothing readable; 64 usage.
            """
    )

    @Argument(help: "The TSDB data directory (holding wal/).")
    var directory: String

    @Option(name: .customLong("out"), help: "Directory to write the blocks into.")
    var out: String

    @Option(name: .customLong("label"), help: "External label k=v for the Thanos section (repeatable).")
    var labels: [String] = []

    @Option(name: .customLong("block-range"), help: "Block width.")
    var blockRange = DurationArgument(millis: 2 * 3_600_000)

    func validate() throws {
        for l in labels where !l.contains("=") || l.hasPrefix("=") { throw ValidationError("--label \(l): want k=v") }
        if blockRange.millis <= 0 { throw ValidationError("--block-range must be positive") }
    }

    func run() async throws {
        let damaged: Bool = try await withExitCodes { try rebuild() }
        if damaged { throw ExitCode(Exit.findings) }
    }

    func rebuild() throws -> Bool {
        var options = HeadReplayOptions()
        // Samples that blocks in the directory already hold are not replayed again.
        if let newest = try? Block.directories(at: directory).compactMap({ try? Block(directory: $0).meta.maxTime }).max() {
            options.minValidTime = newest
        }
        let head = try Head.replay(directory: directory, options: options)
        for line in head.report.lines { FileHandle.standardError.write(Data(("wal: " + line + "\n").utf8)) }
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        var o = WALRebuilder.Options()
        o.blockRange = blockRange.millis
        for l in labels {
            let p = l.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            o.labels[String(p[0])] = String(p[1])
        }
        let r = try WALRebuilder.rebuild(head, into: out, options: o)
        for m in r.blocks {
            print("\(m.ulid) [\(m.minTime), \(m.maxTime)) \(m.stats.numSeries) series, \(m.stats.numSamples) samples, \(m.stats.numChunks) chunks")
        }
        print("wrote \(r.blocks.count) block(s) under \(out)" + (r.emptyWindows > 0 ? "; \(r.emptyWindows) window(s) empty after tombstones" : ""))
        return !head.report.wal.damage.isEmpty || head.report.headChunks.damage != nil
    }
}
