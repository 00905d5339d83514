import BlockOps
import Foundation
import ObjectStore
import TSDB

/// `inspect --all-containers` and `ls --all-containers`: every container of an account (one per
/// cluster), each summarised from its block listing.
enum AllContainers {
    static let header = ["CONTAINER", "BLOCKS", "SIZE", "FROM", "UNTIL", "COVERED", "RESOLUTIONS", "STREAMS",
                         "PARTIAL", "MARKED-DELETE", "NO-COMPACT"]

    /// Lists the account's containers and summarises each, several at a time (meta.json
    /// files cached per container as for one bucket).
    static func summaries(_ options: BucketOptions, path: String?) async throws -> [ContainerSummary] {
        let (account, remote) = try await options.account(path: path)
        return try await AccountCatalog.summarize(account, concurrency: 4) { _, b in options.catalog(b, remote: remote) }
    }

    static func time(_ ms: Int64?) -> String {
        guard let ms else { return "-" }
        return Inspect.formatter.string(from: Date(timeIntervalSince1970: Double(ms) / 1000))
    }

    static func resolutions(_ s: ContainerSummary) -> String {
        s.resolutions.isEmpty ? "-" : s.resolutions.map { goDuration(millis: $0) }.joined(separator: ",")
    }

    static func row(_ s: ContainerSummary) -> [String] {
        if let e = s.error { return [s.container, "-", "-", "-", "-", "-", "-", "-", "-", "-", "listing failed: \(e)"] }
        return [s.container, String(s.blocks), humanBytes(s.bytes), time(s.minTime), time(s.maxTime),
                s.blocks == 0 ? "-" : goDuration(millis: s.covered), resolutions(s), String(s.labelSets.count),
                String(s.partial), String(s.markedForDeletion), String(s.markedNoCompact)]
    }

    static func json(_ s: ContainerSummary) -> JSONValue {
        var o: [(String, JSONValue)] = [("container", .string(s.container))]
        if let e = s.error { return .object(o + [("error", .string(e))]) }
        o += [
            ("blocks", .int(Int64(s.blocks))), ("size_bytes", .int(s.bytes)),
            ("minTime", s.minTime.map { .int($0) } ?? .null), ("maxTime", s.maxTime.map { .int($0) } ?? .null),
            ("covered_ms", .int(s.covered)), ("resolutions", .array(s.resolutions.map { .int($0) })),
            ("label_sets", .array(s.labelSets.map { l in .object(l.sorted { byteLess($0.key, $1.key) }.map { ($0.key, .string($0.value)) }) })),
            ("partial", .int(Int64(s.partial))), ("unreadable", .int(Int64(s.unreadable))),
            ("marked_for_deletion", .int(Int64(s.markedForDeletion))), ("marked_no_compact", .int(Int64(s.markedNoCompact))),
        ]
        return .object(o)
    }

    /// One line per container for `ls`.
    static func line(_ s: ContainerSummary, wide: Bool) -> String {
        if let e = s.error { return "\(s.container) -- listing failed: \(e)" }
        var l = "\(s.container) -- \(s.blocks) block(s), \(humanBytes(s.bytes)), \(time(s.minTime)) - \(time(s.maxTime))"
        if s.partial > 0 { l += ", \(s.partial) partial" }
        if s.markedForDeletion > 0 { l += ", \(s.markedForDeletion) marked for deletion" }
        if wide {
            l += ", covered \(s.blocks == 0 ? "-" : goDuration(millis: s.covered)), resolutions \(resolutions(s))"
            l += ", streams {" + s.labelSets.map { $0.sorted { byteLess($0.key, $1.key) }.map { "\($0.key)=\($0.value)" }.joined(separator: ",") }.joined(separator: "} {") + "}"
        }
        return l
    }
}
