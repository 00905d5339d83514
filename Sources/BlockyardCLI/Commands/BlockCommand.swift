import ArgumentParser

struct BlockCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "block",
        abstract: "Work on blocks in a local directory (no object storage).",
        subcommands: [BlockDump.self, BlockAnalyze.self, BlockCompact.self, BlockDownsample.self, BlockRepairCommand.self]
    )
}
