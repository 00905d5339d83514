import ArgumentParser
import BlockOps
import Foundation
import ObjectStore
import TSDB

struct Upload: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "upload",
        abstract: "Upload local Prometheus blocks with external labels (Thanos `tools bucket upload-blocks`).",
        discussion: """
            Each block goes up as Thanos ships it: chunks, then index, then meta.json last with \
            the Thanos section (labels, resolution 0, source bucket.upload, files with sizes). \
            Blocks already in the bucket are skipped, so a re-run finishes an interrupted upload.
            """
    )

    @Argument(help: "A block directory or a directory of blocks.")
    var blocks: String

    @Option(name: .customLong("label"), help: "External label k=v (repeatable, at least one).")
    var label: [String] = []

    @OptionGroup var bucket: BucketOptions

    @Option(name: .customLong("to"), help: "Destination bucket as a local directory (instead of an objstore config).")
    var to: String?

    @Option(help: "Blocks uploaded at the same time.")
    var concurrency: Int = 2

    func validate() throws {
        try bucket.validate(path: to)
        guard !label.isEmpty else { throw ValidationError("give at least one --label k=v (Thanos needs external labels)") }
        for l in label where !l.contains("=") || l.hasPrefix("=") { throw ValidationError("--label \(l): want k=v") }
        if concurrency < 1 { throw ValidationError("--concurrency must be >= 1") }
    }

    func run() async throws {
        try await withExitCodes {
            var labels: [String: String] = [:]
            for l in label {
                let p = l.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                labels[String(p[0])] = String(p[1])
            }
            let (b, _) = try await bucket.bucket(path: to)
            var uploaded = 0, skipped = 0
            var bytes: Int64 = 0
            let dirs = try Block.directories(at: blocks)
            let external = labels
            try await withThrowingTaskGroup(of: BlockTransfer.UploadResult.self) { g in
                var pending = dirs[...]
                func start(_ d: String) { g.addTask { try await BlockTransfer.upload(blockDirectory: d, to: b, labels: external) } }
                for _ in 0..<concurrency { if let d = pending.popFirst() { start(d) } }
                while let r = try await g.next() {
                    if r.skipped { skipped += 1 } else { uploaded += 1; bytes += r.bytes }
                    print("\(r.ulid) \(r.skipped ? "already in bucket, skipped" : "uploaded \(humanBytes(r.bytes))")")
                    if let d = pending.popFirst() { start(d) }
                }
            }
            print("uploaded \(uploaded) block(s), \(humanBytes(bytes)); skipped \(skipped)")
        }
    }
}

struct Download: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "download",
        abstract: "Download blocks from a bucket into a local directory.",
        discussion: "Each block arrives in a temporary directory and is renamed into place only when whole."
    )

    @Argument(help: "Block ULIDs.")
    var ids: [String]

    @Option(name: .customLong("to"), help: "Local directory to put the blocks in.")
    var to: String

    @Option(name: .customLong("from"), help: "Source bucket as a local directory (instead of an objstore config).")
    var from: String?

    @OptionGroup var bucket: BucketOptions

    func validate() throws {
        try bucket.validate(path: from)
        guard !ids.isEmpty else { throw ValidationError("give at least one ULID") }
        for id in ids where ULID(id) == nil { throw ValidationError("\(id) is not a ULID") }
    }

    func run() async throws {
        try await withExitCodes {
            let (b, _) = try await bucket.bucket(path: from)
            try FileManager.default.createDirectory(atPath: to, withIntermediateDirectories: true)
            for id in ids.compactMap(ULID.init) {
                let n = try await BlockTransfer.download(id, from: b, to: to)
                print("\(id) downloaded \(humanBytes(n))")
            }
        }
    }
}
