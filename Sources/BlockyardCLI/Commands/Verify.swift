import ArgumentParser
import BlockOps
import Foundation
import ObjectStore
import TSDB

struct Verify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check blocks: every section and chunk CRC, ordering, placement and meta.json stats.",
        discussion: """
            PATH is a block directory or a directory of blocks. For a directory of blocks the \
            bucket-level checks run too: partial uploads, markers, overlapping blocks within a \
            compaction group (same external labels and resolution), duplicated or superseded \
            compactions. Exit status: 0 clean, 1 findings, 2/3 when PATH cannot be read at all.
            """
    )

    @Argument(help: "A block directory, or a directory holding block directories.")
    var path: String

    @Option(name: .customLong("id"), help: "Only these blocks (repeatable).")
    var ids: [String] = []

    @Option(name: [.short, .long], help: "Output format: text or json (one record per finding).")
    var output: String = "text"

    @Flag(help: "Also decode every chunk and check its samples against the index (first and last timestamp, strictly increasing).")
    var deep = false

    func validate() throws {
        guard ["text", "json"].contains(output) else { throw ValidationError("--output must be text or json") }
        for id in ids where ULID(id) == nil { throw ValidationError("--id \(id) is not a ULID") }
    }

    func run() async throws {
        let findings: [Finding] = try await withExitCodes {
            var dirs = try Block.directories(at: path)
            if !ids.isEmpty { dirs = dirs.filter { d in ids.contains { d.hasSuffix("/" + $0) } } }
            var bucketFindings: [Finding] = []
            if !FileManager.default.fileExists(atPath: path + "/meta.json") {
                let only = ids.isEmpty ? nil : Set(ids.compactMap(ULID.init))
                let (entries, _) = try await BucketCatalog(bucket: FilesystemBucket(directory: path)).list(only: only)
                bucketFindings = BucketChecks.findings(entries, options: .init(now: Date().timeIntervalSince1970))
                    .filter { $0.kind != .unreadable }  // the block checks below report those with more detail
            }
            // Blocks are independent: verify them in parallel, report in ULID order.
            return try await withThrowingTaskGroup(of: (Int, [Finding]).self) { g in
                for (i, d) in dirs.enumerated() { g.addTask { [deep] in (i, BlockVerifier(deep: deep).verify(directory: d)) } }
                var all = [[Finding]](repeating: [], count: dirs.count)
                for try await (i, f) in g { all[i] = f }
                let out = OutputSink()
                if output == "text" && !bucketFindings.isEmpty {
                    try out.write("bucket: \(bucketFindings.count) finding(s)\n")
                    for f in bucketFindings { try out.write("  \(f.kind.rawValue): \(f.block): \(f.detail)\n") }
                }
                if output == "text" {
                    for (i, d) in dirs.enumerated() {
                        let name = (d as NSString).lastPathComponent
                        try out.write(all[i].isEmpty ? "\(name): ok\n" : "\(name): \(all[i].count) finding(s)\n")
                        for f in all[i] { try out.write("  \(f.kind.rawValue): \(f.file)\(f.offset.map { "@\($0)" } ?? "")\(f.series.map { " " + $0 } ?? ""): \(f.detail)\n") }
                    }
                } else {
                    for f in bucketFindings + all.joined() { try out.write(f.json.serialized(indent: nil) + "\n") }
                }
                try out.flush()
                return bucketFindings + Array(all.joined())
            }
        }
        if !findings.isEmpty { throw ExitCode(Exit.findings) }
    }
}
