import ArgumentParser
import Logging
import TSDB

@main
struct Blockyard: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "blockyard",
        abstract: "Read, verify, inspect and downsample Thanos/Prometheus TSDB blocks, locally or in object storage.",
        discussion: """
            Exit status: 0 success; 1 verify found problems (repair: repaired them); 2 a block or \
            file is unreadable (corrupt, truncated, unsupported) or cannot be repaired; 3 storage \
            or I/O failure; 4 repair had to drop data; 64 usage error.
            """,
        version: BlockyardVersion.string,
        subcommands: [BlockCommand.self, Ls.self, Inspect.self, Verify.self, Compact.self, Downsample.self, Repair.self, Rewrite.self, Mark.self, Cleanup.self, Upload.self, Download.self, Replicate.self, WALCommand.self, Version.self]
    )
}

enum BlockyardVersion {
    static let string = "0.1.0"
}

struct Version: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "version", abstract: "Print the version and build facts.")
    func run() {
        print("blockyard \(BlockyardVersion.string)")
        print("crc32c: \(CRC32C.usesHardware ? "hardware (SSE4.2/ARMv8 CRC)" : "software (slicing-by-8)")")
    }
}
