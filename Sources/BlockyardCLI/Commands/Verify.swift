import ArgumentParser
import BlockOps
import Foundation
import ObjectStore
import TSDB

struct Verify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check blocks: every section and chunk CRC, ordering, postings, placement, meta.json; and the bucket around them.",
        discussion: """
            PATH is a block directory, a directory of blocks, or (without PATH) the bucket of \
            --objstore.config-file/--objstore.config. For a bucket the bucket-level checks run \
            too: partial uploads, markers, overlapping blocks within a compaction group (same \
            external labels and resolution), duplicated or superseded compactions. Blocks in a \
            bucket are read with parallel ranged reads in bounded windows (the index is held in \
            memory), never copied to local disk.

            The text report groups findings by block and by kind; --output json prints one \
            record per finding: {"block", "kind", "file", "offset" (bytes into file), "series" \
            (label set), "detail"}.

            Kinds of finding:
            \(Finding.Kind.allCases.map { "  \($0.rawValue): \($0.meaning)" }.joined(separator: "\n"))

            Exit status: 0 nothing found; 1 findings; 2 a block cannot be read at all where no \
            finding can say so; 3 storage failure (a bucket read failed after retries); 64 usage.
            """
    )

    @Argument(help: "A block directory or a directory of blocks (instead of an objstore config).")
    var path: String?

    @OptionGroup var bucket: BucketOptions

    @Option(name: .customLong("id"), help: "Only these blocks (repeatable).")
    var ids: [String] = []

    @Option(name: [.short, .long], help: "Output format: text or json (one record per finding).")
    var output: String = "text"

    @Flag(help: "Also decode every chunk and check its samples against the index (first and last timestamp, strictly increasing).")
    var deep = false

    @Option(help: "Blocks from a remote bucket checked at the same time (each holds its index in memory).")
    var concurrency: Int = 2

    func validate() throws {
        try bucket.validate(path: path)
        guard ["text", "json"].contains(output) else { throw ValidationError("--output must be text or json") }
        for id in ids where ULID(id) == nil { throw ValidationError("--id \(id) is not a ULID") }
        if concurrency < 1 { throw ValidationError("--concurrency must be >= 1") }
    }

    func run() async throws {
        let findings: [Finding] = try await withExitCodes {
            let verifier = BlockVerifier(deep: deep)
            var bucketFindings: [Finding] = []
            var results: [(String, [Finding])] = []
            if let path, FileManager.default.fileExists(atPath: path + "/meta.json") {
                // A single block directory.
                results = [(BlockLocation.directory(path).name, await verifier.verify(directory: path))]
            } else {
                let report = try await BucketVerifier(verifier: verifier, concurrency: concurrency, localRoot: path)
                    .verify(try await bucket.catalog(path: path), only: ids.isEmpty ? nil : Set(ids.compactMap(ULID.init)))
                bucketFindings = report.bucket
                results = report.blocks.map { ($0.0.description, $0.1) }
            }
            let out = OutputSink()
            if output == "text" {
                if !bucketFindings.isEmpty {
                    try out.write("bucket: \(bucketFindings.count) finding(s)\n")
                    try writeGrouped(bucketFindings, to: out) { "\($0.block): \($0.detail)" }
                }
                for (name, fs) in results {
                    try out.write(fs.isEmpty ? "\(name): ok\n" : "\(name): \(fs.count) finding(s)\n")
                    try writeGrouped(fs, to: out) { f in
                        let at = f.file.isEmpty ? "" : f.file + (f.offset.map { "@\($0)" } ?? "") + ": "
                        return at + (f.series.map { $0 + ": " } ?? "") + f.detail
                    }
                }
                let bad = results.filter { !$0.1.isEmpty }.count
                try out.write("\(results.count) block(s) checked, \(bad) with findings; \(bucketFindings.count) bucket finding(s)\n")
            } else {
                for f in bucketFindings + results.flatMap(\.1) { try out.write(f.json.serialized(indent: nil) + "\n") }
            }
            try out.flush()
            return bucketFindings + results.flatMap(\.1)
        }
        if !findings.isEmpty { throw ExitCode(Exit.findings) }
    }

    /// Findings under one heading per kind, kinds in the order they were first found.
    func writeGrouped(_ fs: [Finding], to out: OutputSink, _ line: (Finding) -> String) throws {
        var order: [Finding.Kind] = []
        var byKind: [Finding.Kind: [Finding]] = [:]
        for f in fs {
            if byKind[f.kind] == nil { order.append(f.kind) }
            byKind[f.kind, default: []].append(f)
        }
        for k in order {
            let list = byKind[k]!
            try out.write("  \(k.rawValue) (\(list.count)):\n")
            for f in list { try out.write("    \(line(f))\n") }
        }
    }
}
