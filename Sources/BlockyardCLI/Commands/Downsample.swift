import ArgumentParser
import BlockOps
import Foundation
import ObjectStore
import TSDB

struct Downsample: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "downsample",
        abstract: "Downsample a bucket's blocks to 5m and 1h, as Thanos' compactor does.",
        discussion: """
            Two passes, each planned from the bucket's listing: raw blocks of at least 40 h whose \
            sources have no 5m block yet get one, 5m blocks of at least 10 days get a 1h block \
            (the second pass picks up the 5m blocks the first made). Blocks with \
            no-downsample-mark.json and leftovers of compactions are left alone. Each new block \
            is uploaded with meta.json last, read back and verified; one that does not verify is \
            removed again. A block that fails is reported and the run goes on. Exit status: 0 all \
            made, 2 a block could not be downsampled, 3 storage failed.
            """
    )

    @Argument(help: "A directory laid out as a bucket (instead of an objstore config).")
    var path: String?

    @OptionGroup var bucket: BucketOptions

    @Option(name: .customLong("id"), help: "Only these blocks are candidates (repeatable).")
    var ids: [String] = []

    @Flag(name: .customLong("dry-run"), help: "Print what would be downsampled (both passes) and change nothing.")
    var dryRun = false

    @Option(help: "Blocks downsampled at the same time.")
    var concurrency: Int = 1

    @Option(name: .customLong("data-dir"), help: "Work directory for downloads and new blocks (default: a temporary one).")
    var dataDir: String?

    @Flag(help: "Also list the blocks left alone and why.")
    var verbose = false

    @Option(name: [.short, .long], help: "Output format: text or json (one record per block).")
    var output: String = "text"

    func validate() throws {
        try bucket.validate(path: path)
        for id in ids where ULID(id) == nil { throw ValidationError("--id \(id) is not a ULID") }
        if concurrency < 1 { throw ValidationError("--concurrency must be >= 1") }
        guard ["text", "json"].contains(output) else { throw ValidationError("--output must be text or json") }
    }

    func run() async throws {
        let report: DownsampleJob.Report = try await withExitCodes {
            let catalog = try await bucket.catalog(path: path)
            let b = catalog.bucket
            var o = DownsampleJob.Options()
            o.metaCacheDirectory = catalog.cacheDirectory
            o.metaConcurrency = catalog.concurrency
            o.concurrency = concurrency
            o.dryRun = dryRun
            o.only = ids.isEmpty ? nil : Set(ids.compactMap(ULID.init))
            o.workDirectory = dataDir
            let report = try await DownsampleJob(bucket: b, options: o, logger: bucket.log.logger("blockyard.downsample")).run()
            let out = OutputSink()
            for pass in report.passes {
                if output == "text" && (!pass.outcomes.isEmpty || verbose) { try out.write("pass \(pass.number):\n") }
                for outcome in pass.outcomes { try out.write(output == "json" ? Self.json(outcome, pass: pass.number) + "\n" : "  " + Self.text(outcome) + "\n") }
                if verbose {
                    for s in pass.skipped {
                        try out.write(output == "json"
                            ? JSONValue.object([("pass", .int(Int64(pass.number))), ("block", .string("\(s.ulid)")),
                                                ("skipped", .string(s.reason.description))]).serialized(indent: nil) + "\n"
                            : "  \(s.ulid) left alone: \(s.reason)\n")
                    }
                }
            }
            if output == "text" {
                let all = report.passes.flatMap(\.outcomes)
                let planned = all.filter { if case .planned = $0 { true } else { false } }.count
                try out.write(dryRun ? "would downsample \(planned) block(s)\n"
                                     : "downsampled \(report.downsampled.count) block(s), \(report.failures) failed\n")
            }
            try out.flush()
            return report
        }
        let kinds = report.passes.flatMap(\.outcomes).compactMap { if case .failed(_, _, let k) = $0 { k } else { nil } }
        if kinds.contains(.storage) { throw ExitCode(Exit.storage) }
        if !kinds.isEmpty { throw ExitCode(Exit.badData) }
    }

    static func text(_ o: DownsampleJob.Outcome) -> String {
        switch o {
        case .planned(let t, let after):
            return after.map { "\(t.description.replacingOccurrences(of: t.ulid.description, with: "(the 5m block of \($0))"))" } ?? "\(t)"
        case .downsampled(let t, let m, let s):
            return "\(t): made \(m.ulid) (\(grouped(m.stats.numSeries)) series, \(grouped(m.stats.numChunks)) chunks) in \(String(format: "%.1f", s)) s"
        case .failed(let t, let e, _):
            return "\(t): FAILED: \(e)"
        }
    }

    static func json(_ o: DownsampleJob.Outcome, pass: Int) -> String {
        let t = o.task
        var f: [(String, JSONValue)] = [("pass", .int(Int64(pass))), ("block", .string("\(t.ulid)")),
                                        ("from", .string(DownsampleResolution.name(t.from))), ("to", .string(DownsampleResolution.name(t.to)))]
        switch o {
        case .planned(_, let after):
            f.append(("status", .string("planned")))
            if let after { f.append(("after", .string("\(after)"))) }
        case .downsampled(_, let m, let s):
            f += [("status", .string("downsampled")), ("output", .string("\(m.ulid)")), ("series", .int(Int64(m.stats.numSeries))),
                  ("chunks", .int(Int64(m.stats.numChunks))), ("seconds", .number(String(format: "%.3f", s)))]
        case .failed(_, let e, _):
            f += [("status", .string("failed")), ("error", .string(e))]
        }
        return JSONValue.object(f).serialized(indent: nil)
    }
}

struct BlockDownsample: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "downsample",
        abstract: "Downsample one local block to 5m or 1h (Thanos aggregate chunks).",
        discussion: """
            Writes the new block into --out as <ULID>/, visible only once complete, and prints its \
            ULID. A raw block can go to 5m or 1h, a 5m block to 1h. The 40 h / 10 day rules of \
            the bucket command do not apply here.
            """
    )

    @Argument(help: "A block directory.")
    var path: String

    @Option(help: "Target resolution: 5m or 1h.")
    var resolution: String

    @Option(name: .customLong("out"), help: "Directory to write the new block into.")
    var out: String

    func validate() throws {
        guard ["5m", "1h"].contains(resolution) else { throw ValidationError("--resolution must be 5m or 1h") }
    }

    func run() async throws {
        try await withExitCodes {
            let r = resolution == "5m" ? DownsampleResolution.fiveMinutes : DownsampleResolution.oneHour
            let block = try Block(directory: path)
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            let started = ContinuousClock.now
            let result = try BlockDownsampler.downsample(block, to: r, parent: out)
            let d = (ContinuousClock.now - started).components
            let s = result.meta.stats
            print("\(result.meta.ulid) \(DownsampleResolution.name(block.meta.resolution)) -> \(resolution): \(grouped(s.numSeries)) series, "
                  + "\(grouped(s.numChunks)) chunks, \(grouped(s.numSamples)) windows in \(String(format: "%.2f", Double(d.seconds) + Double(d.attoseconds) / 1e18)) s")
        }
    }
}
