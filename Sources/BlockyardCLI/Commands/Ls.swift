import ArgumentParser
import BlockOps
import Foundation
import ObjectStore
import TSDB

struct Ls: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ls",
        abstract: "List block ULIDs in a bucket (Thanos `tools bucket ls`), sorted.",
        discussion: "`-o wide` adds time range, level, resolution and labels; `-o json` prints one meta.json per line."
    )

    @Argument(help: "A local directory laid out like a bucket (instead of an objstore config).")
    var path: String?

    @OptionGroup var bucket: BucketOptions

    @Option(name: [.short, .long], help: "Output: '' (ULIDs), wide or json.")
    var output: String = ""

    @Flag(name: .customLong("exclude-delete"), help: "Leave out blocks marked for deletion.")
    var excludeDelete = false

    @Flag(name: .customLong("all-containers"), help: "One line per container of the account (AZURE config, `container` ignored) or subdirectory of the directory, summarising its blocks.")
    var allContainers = false

    func validate() throws {
        try bucket.validate(path: path)
        guard ["", "wide", "json"].contains(output) else { throw ValidationError("-o must be wide or json") }
    }

    func run() async throws {
        try await withExitCodes {
            if allContainers {
                let out = OutputSink()
                for s in try await AllContainers.summaries(bucket, path: path) {
                    try out.write((output == "json" ? AllContainers.json(s).serialized(indent: nil) : AllContainers.line(s, wide: output == "wide")) + "\n")
                }
                try out.flush()
                return
            }
            let (entries, _) = try await bucket.catalog(path: path).list()
            let out = OutputSink()
            for e in entries {
                if excludeDelete && e.markers.contains(.deletion) { continue }
                switch output {
                case "json":
                    if let m = e.meta { try out.write(m.json.serialized(indent: nil) + "\n") }
                case "wide":
                    if let m = e.meta {
                        let labels = (m.thanos?.labels ?? [:]).sorted { byteLess($0.key, $1.key) }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
                        try out.write("\(e.ulid) -- \(m.minTime) - \(m.maxTime) Diff: \(goDuration(millis: m.maxTime - m.minTime)), Compaction: \(m.compaction.level), Downsample: \(m.resolution), Source: \(m.thanos?.source ?? ""), Labels: {\(labels)}\n")
                    } else {
                        try out.write("\(e.ulid) -- partial upload (no meta.json)\n")
                    }
                default:
                    try out.write("\(e.ulid)\(e.meta == nil ? " (partial)" : "")\n")
                }
            }
            try out.flush()
        }
    }
}
