import ArgumentParser
import BlockOps
import Foundation
import ObjectStore
import TSDB

struct Verify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check blocks: every section and chunk CRC, ordering, postings, placement, meta.json; and the bucket around them.",
        discussion: """
            PATH is a block directory, a directory of blocks, or (without PATH) the bucket of \
            --objstore.config-file/--objstore.config. For a bucket the bucket-level checks run \
            too: partial uploads, markers, overlapping blocks within a compaction group (same \
            external labels and resolution), duplicated or superseded compactions. Blocks in a \
            remote bucket are read with parallel ranged reads into memory, never to local disk. \
            Exit status: 0 clean, 1 findings, 2/3 when the bucket or a block cannot be read at all, \
            64 usage.
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

    @Option(help: "Remote blocks read at the same time (each is held in memory while checked).")
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
            let only = ids.isEmpty ? nil : Set(ids.compactMap(ULID.init))
            if let path, FileManager.default.fileExists(atPath: path + "/meta.json") {
                // A single block directory.
                results = [((path as NSString).lastPathComponent, verifier.verify(directory: path))]
            } else {
                let (b, remote) = try await bucket.bucket(path: path)
                let (entries, _) = try await BucketCatalog(bucket: b).list(only: only)
                bucketFindings = BucketChecks.findings(entries, options: .init(now: Date().timeIntervalSince1970))
                    .filter { $0.kind != .unreadable }  // the block checks report those with more detail
                let complete = entries.filter { !$0.isPartial }
                results = try await withThrowingTaskGroup(of: (Int, [Finding]).self) { g in
                    var pending = complete.indices[...]
                    func start(_ i: Int) {
                        let e = complete[i]
                        g.addTask {
                            if !remote, let path {
                                return (i, verifier.verify(directory: path + "/\(e.ulid)"))
                            }
                            do {
                                let (block, sizes) = try await RemoteBlock.load(e.ulid, from: b)
                                return (i, verifier.verify(block: block, name: e.ulid.description, fileSizes: sizes))
                            } catch let err as TSDBError {
                                return (i, [Finding(block: e.ulid.description, kind: .unreadable, file: err.file, offset: err.offset,
                                                    series: nil, detail: err.description)])
                            }
                        }
                    }
                    let width = remote ? concurrency : ProcessInfo.processInfo.activeProcessorCount
                    for _ in 0..<width { if let i = pending.popFirst() { start(i) } }
                    var all = [[Finding]](repeating: [], count: complete.count)
                    while let (i, f) = try await g.next() {
                        all[i] = f
                        if let i = pending.popFirst() { start(i) }
                    }
                    return complete.indices.map { (complete[$0].ulid.description, all[$0]) }
                }
            }
            let out = OutputSink()
            if output == "text" {
                if !bucketFindings.isEmpty {
                    try out.write("bucket: \(bucketFindings.count) finding(s)\n")
                    for f in bucketFindings { try out.write("  \(f.kind.rawValue): \(f.block): \(f.detail)\n") }
                }
                for (name, fs) in results {
                    try out.write(fs.isEmpty ? "\(name): ok\n" : "\(name): \(fs.count) finding(s)\n")
                    for f in fs {
                        try out.write("  \(f.kind.rawValue): \(f.file)\(f.offset.map { "@\($0)" } ?? "")\(f.series.map { " " + $0 } ?? ""): \(f.detail)\n")
                    }
                }
            } else {
                for f in bucketFindings + results.flatMap(\.1) { try out.write(f.json.serialized(indent: nil) + "\n") }
            }
            try out.flush()
            return bucketFindings + results.flatMap(\.1)
        }
        if !findings.isEmpty { throw ExitCode(Exit.findings) }
    }
}
