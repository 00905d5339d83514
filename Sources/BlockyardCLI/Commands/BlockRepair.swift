import ArgumentParser
import BlockOps
import Foundation
import TSDB

struct BlockRepairCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "repair",
        abstract: "Repair local blocks that verify flags into new blocks under --out (the originals are not touched).",
        discussion: """
            DIR is a block directory or a directory of blocks. Each block verify flags is \
            repaired as `blockyard repair` does it (see its --help), into \
            --out/<new ULID>/ with a repair.log; the result is verified with --deep before \
            it is kept. Exit status: 0 nothing to repair; 1 repaired, no data dropped; 4 \
            repaired, data dropped; 2 a block cannot be repaired; 3 I/O failure; 64 usage.
            """
    )

    @Argument(help: "A block directory or a directory of blocks.")
    var path: String

    @Option(name: .customLong("out"), help: "Directory to write repaired blocks into.")
    var out: String?

    @Flag(name: .customLong("dry-run"), help: "Print what would change; keep nothing.")
    var dryRun = false

    @Flag(help: "Pick blocks with verify's --deep checks too (chunks that pass their CRC but do not decode).")
    var deep = false

    func validate() throws {
        if out == nil && !dryRun { throw ValidationError("give --out DIR (or --dry-run)") }
    }

    func run() async throws {
        let outcomes = try await withExitCodes { () async throws -> [RepairOutcome] in
            let dirs = try Block.directories(at: path)
            guard !dirs.isEmpty else { throw BlockOpsError.notFound("no blocks in \(path)") }
            let target = out ?? NSTemporaryDirectory() + "blockyard-block-repair"
            var options = RepairOptions()
            options.dryRun = dryRun
            options.deep = deep
            var outcomes: [RepairOutcome] = []
            try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
            for d in dirs {
                outcomes.append(await BlockOps.BlockRepair.repair(directory: d, into: target, options: options))
            }
            let sink = OutputSink()
            try sink.write(RepairReport.render(outcomes, dryRun: dryRun))
            try sink.flush()
            return outcomes
        }
        let code = RepairReport.exitStatus(outcomes)
        if code != 0 { throw ExitCode(code) }
    }
}
