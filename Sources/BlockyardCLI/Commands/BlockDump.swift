import ArgumentParser
import BlockOps
import TSDB

struct BlockDump: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dump",
        abstract: "Print samples as `promtool tsdb dump` does.",
        discussion: """
            PATH is a block directory or a directory of blocks. Float samples print exactly as \
            Prometheus 2.42's `promtool tsdb dump` prints them: `{labels} value timestamp`, \
            series in label order. Native histogram samples print as `{labels} {count:N, sum:S, \
            [lo,hi):n, ...} timestamp` (promtool >= 2.48's form); Thanos downsampled blocks print \
            one line per aggregate with an `__aggr__` label (count, sum, min, max, counter).
            """
    )

    @Argument(help: "A block directory, or a directory holding block directories.")
    var path: String

    @Option(name: .customLong("min-time"), help: "Earliest sample timestamp to print (ms, inclusive).")
    var minTime: Int64 = .min

    @Option(name: .customLong("max-time"), help: "Latest sample timestamp to print (ms, inclusive).")
    var maxTime: Int64 = .max

    @Option(name: .customLong("match"), help: "Series selector, e.g. 'up{job=\"x\"}'. Repeatable; series matching any are printed.")
    var match: [String] = []

    func validate() throws {
        if minTime > maxTime { throw ValidationError("--min-time \(minTime) is after --max-time \(maxTime)") }
        for m in match {
            do { _ = try parseSelector(m) } catch { throw ValidationError("--match \(m): \(error)") }
        }
    }

    func run() async throws {
        try await withExitCodes {
            let blocks = try Block.directories(at: path).map { (d) throws(TSDBError) in try Block(directory: d) }
            let out = OutputSink()
            let selectors = try (match.isEmpty ? ["{__name__=~\"(?s:.*)\"}"] : match).map { try parseSelector($0) }
            if selectors.count == 1 {
                var o = DumpOptions()
                o.minTime = minTime
                o.maxTime = maxTime
                o.matchers = selectors[0]
                try Dumper(blocks: blocks, options: o, out: out).run()
            } else {
                try Dumper.run(blocks: blocks, selectors: selectors, minTime: minTime, maxTime: maxTime, out: out)
            }
        }
    }
}
