import ArgumentParser
import BlockOps
import TSDB

struct BlockAnalyze: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "analyze",
        abstract: "Cardinality and churn report, as `promtool tsdb analyze` prints it.",
        discussion: """
            Without BLOCK_ID, analyzes the block with the latest minTime (as promtool does). \
            Series are read in parallel across cores. Entries with equal counts are ordered by \
            key (promtool leaves their order random).
            """
    )

    @Argument(help: "A block directory, or a directory holding block directories.")
    var path: String

    @Argument(help: "ULID of the block to analyze when PATH holds several.")
    var blockID: String?

    @Option(help: "How many entries to print per section.")
    var limit: Int = 20

    @Option(help: "Parallel readers (0 = one per core).")
    var parallelism: Int = 0

    func validate() throws {
        if limit < 0 { throw ValidationError("--limit must be >= 0") }
        if let blockID, ULID(blockID) == nil { throw ValidationError("\(blockID) is not a ULID") }
    }

    func run() async throws {
        try await withExitCodes {
            let dirs = try Block.directories(at: path)
            var chosen: Block? = nil
            if let blockID {
                guard let d = dirs.first(where: { $0.hasSuffix("/" + blockID) || $0 == blockID }) else {
                    throw BlockOpsError.notFound("block \(blockID) in \(path)")
                }
                chosen = try Block(directory: d)
            } else {
                // promtool picks the last block ordered by minTime.
                var best: (Int64, String)? = nil
                for d in dirs {
                    let b = try Block(directory: d)
                    if best == nil || b.meta.minTime >= best!.0 { best = (b.meta.minTime, d); chosen = b }
                }
            }
            guard let block = chosen else { throw BlockOpsError.notFound("no blocks in \(path)") }
            let report = try await Analyzer.analyze(block, limit: limit, parallelism: parallelism)
            let out = OutputSink()
            try out.write(report.text)
            try out.flush()
        }
    }
}
