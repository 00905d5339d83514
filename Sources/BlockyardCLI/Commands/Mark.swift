import ArgumentParser
import BlockOps
import Foundation
import TSDB

struct Mark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mark",
        abstract: "Put a marker next to blocks (Thanos `tools bucket mark`), or take it away with --remove.",
        discussion: "deletion-mark.json hands a block to cleanup; no-compact-mark.json and no-downsample-mark.json keep it out of compaction or downsampling."
    )

    @Argument(help: "A directory of blocks (a FILESYSTEM bucket) instead of an objstore config.")
    var path: String?

    @OptionGroup var bucket: BucketOptions

    @Option(name: .customLong("id"), help: "Block ULID (repeatable).")
    var ids: [String] = []

    @Option(name: .customLong("marker"), help: "deletion-mark.json, no-compact-mark.json or no-downsample-mark.json.")
    var marker: String

    @Option(name: .customLong("details"), help: "Why (stored in the marker).")
    var details = ""

    @Flag(name: .customLong("remove"), help: "Remove the marker instead.")
    var remove = false

    func validate() throws {
        try bucket.validate(path: path)
        guard !ids.isEmpty else { throw ValidationError("give at least one --id") }
        for id in ids where ULID(id) == nil { throw ValidationError("--id \(id) is not a ULID") }
        guard MarkerKind(rawValue: marker) != nil else {
            throw ValidationError("--marker must be one of \(MarkerKind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        if !remove && details.isEmpty { throw ValidationError("give --details: why the block is marked") }
    }

    func run() async throws {
        try await withExitCodes {
            let (b, _) = try await bucket.bucket(path: path)
            let kind = MarkerKind(rawValue: marker)!
            for id in ids.compactMap(ULID.init) {
                guard try await b.exists("\(id)/meta.json") || remove else {
                    throw BlockOpsError.notFound("block \(id) in \(b.description)")
                }
                if remove {
                    let gone = try await BucketBlocks.unmark(id, kind, in: b)
                    print("\(id): \(gone ? "removed" : "had no") \(kind.rawValue)")
                } else {
                    let added = try await BucketBlocks.mark(id, kind, details: details, reason: kind == .deletion ? nil : "manual", in: b)
                    print("\(id): \(added ? "marked with" : "already has") \(kind.rawValue)")
                }
            }
        }
    }
}

struct Cleanup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cleanup",
        abstract: "Delete blocks marked for deletion longer than --delete-delay ago, and partial uploads older than 48h.",
        discussion: "Deletion removes meta.json first and the deletion mark last, so an interrupted cleanup is finished by the next one. A partial upload counts as old only when its ULID and its newest object are both older than the threshold."
    )

    @Argument(help: "A directory of blocks (a FILESYSTEM bucket) instead of an objstore config.")
    var path: String?

    @OptionGroup var bucket: BucketOptions

    @Option(name: .customLong("delete-delay"), help: "How long marked blocks stay.")
    var deleteDelay = DurationArgument(millis: 48 * 3_600_000)

    @Option(name: .customLong("partial-upload-age"), help: "Partial uploads older than this are deleted.")
    var partialAge = DurationArgument(millis: 48 * 3_600_000)

    @Flag(name: .customLong("dry-run"), help: "Print what would be deleted.")
    var dryRun = false

    func validate() throws { try bucket.validate(path: path) }

    func run() async throws {
        try await withExitCodes {
            let catalog = try await bucket.catalog(path: path)
            let (entries, _) = try await catalog.list()
            let plan = BlockOps.Cleanup.plan(entries, deleteDelay: deleteDelay.millis, partialAge: partialAge.millis,
                                             now: Date().timeIntervalSince1970)
            for id in plan.marked + plan.partial {
                if !dryRun { try await BucketBlocks.delete(id, in: catalog.bucket) }
                print("\(dryRun ? "would delete" : "deleted") \(id)\(plan.partial.contains(id) ? " (partial upload)" : "")")
            }
            print("\(dryRun ? "would delete" : "deleted") \(plan.marked.count) marked block(s), \(plan.partial.count) partial upload(s)")
        }
    }
}
