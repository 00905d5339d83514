import ArgumentParser
import BlockOps
import Foundation
import ObjectStore
import TSDB

struct Inspect: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "List blocks with their meta.json facts (Thanos `tools bucket inspect` columns, plus SIZE).",
        discussion: """
            The bucket is a local directory (one <ULID>/ per block) or an objstore config. \
            meta.json files are fetched in parallel and cached by ULID for remote buckets. \
            Partial uploads (no meta.json) and marked blocks are shown as such.
            """
    )

    @Argument(help: "A local directory laid out like a bucket (instead of an objstore config).")
    var path: String?

    @OptionGroup var bucket: BucketOptions

    @Option(name: [.short, .long], help: "Output format: table, csv, tsv or json.")
    var output: OutputFormat = .table

    @Option(name: [.short, .customLong("selector")], help: "Only blocks whose external labels match k=v (repeatable).")
    var selector: [String] = []

    @Option(name: .customLong("sort-by"), help: "Columns to sort by, comma-separated (default FROM,UNTIL).")
    var sortBy: String = "FROM,UNTIL"

    @Flag(name: .customLong("all-containers"), help: "Summarise every container of the account (AZURE config, `container` ignored) or every subdirectory of the directory, one row per cluster.")
    var allContainers = false

    static let header = ["ULID", "FROM", "UNTIL", "RANGE", "UNTIL-DOWN", "#SERIES", "#SAMPLES", "#CHUNKS",
                         "COMP-LEVEL", "COMP-FAILED", "LABELS", "RESOLUTION", "SOURCE", "SIZE"]

    func validate() throws {
        try bucket.validate(path: path)
        if allContainers && !selector.isEmpty { throw ValidationError("--selector does not apply with --all-containers") }
        for s in selector where !s.contains("=") { throw ValidationError("--selector \(s): want k=v") }
        for c in sortBy.split(separator: ",") where !Self.header.contains(String(c)) {
            throw ValidationError("--sort-by \(c): not a column (\(Self.header.joined(separator: ", ")))")
        }
    }

    func run() async throws {
        try await withExitCodes {
            if allContainers {
                let all = try await AllContainers.summaries(bucket, path: path)
                let out = OutputSink()
                if output == .json {
                    try out.write(JSONValue.array(all.map(AllContainers.json)).serialized(indent: "  ") + "\n")
                } else {
                    try out.write(renderTable(header: AllContainers.header, rows: all.map(AllContainers.row), format: output))
                }
                try out.flush()
                return
            }
            let (entries, _) = try await bucket.catalog(path: path).list()
            let want = selector.map { s -> (String, String) in
                let p = s.split(separator: "=", maxSplits: 1)
                return (String(p[0]), p.count > 1 ? String(p[1]) : "")
            }
            let now = Date().timeIntervalSince1970
            let rows = entries.filter { e in want.isEmpty || want.allSatisfy { e.meta?.thanos?.labels[$0.0] == $0.1 } }
                .map { row($0, now: now) }
            let keys = sortBy.split(separator: ",").compactMap { Self.header.firstIndex(of: String($0)) }
            let order = rows.indices.sorted { a, b in
                for k in keys where rows[a].sort[k] != rows[b].sort[k] { return rows[a].sort[k] < rows[b].sort[k] }
                return rows[a].cells[0] < rows[b].cells[0]
            }
            let out = OutputSink()
            if output == .json {
                try out.write(JSONValue.array(order.map { rows[$0].json }).serialized(indent: "  ") + "\n")
            } else {
                try out.write(renderTable(header: Self.header, rows: order.map { rows[$0].cells }, format: output))
            }
            try out.flush()
        }
    }

    struct Row {
        var cells: [String]
        var sort: [String]
        var json: JSONValue
    }

    func row(_ e: BlockEntry, now: Double) -> Row {
        let id = e.ulid.description
        let size = e.sizeBytes.map(humanBytes) ?? "-"
        guard let m = e.meta else {
            var state = e.metaError.map { "meta.json unreadable: \($0)" } ?? "partial upload (no meta.json)"
            if e.isPartial, let t = e.newestObject, t > 0 {
                state += ", newest object \(goDuration(millis: Int64((now - t) * 1000) / 1000 * 1000)) old"
            }
            var cells = [id] + Array(repeating: "-", count: Self.header.count - 2) + [size]
            cells[10] = state
            return Row(cells: cells, sort: [id] + Array(repeating: "", count: Self.header.count - 1),
                       json: .object([("ulid", .string(id)), ("state", .string(e.metaError == nil ? "partial" : "unreadable")),
                                      ("detail", .string(state)), ("size_bytes", e.sizeBytes.map { .int($0) } ?? .null)]))
        }
        let range = m.maxTime - m.minTime
        let res = m.resolution
        let untilDown: String = switch res {
        case 0: goDuration(millis: 40 * 3_600_000 - range)
        case 300_000: goDuration(millis: 240 * 3_600_000 - range)
        default: "-"
        }
        let labels = (m.thanos?.labels ?? [:]).sorted { byteLess($0.key, $1.key) }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
        let marks = e.markers.map { $0.rawValue.replacingOccurrences(of: ".json", with: "") }
        let cells = [
            id, time(m.minTime), time(m.maxTime), goDuration(millis: range), untilDown,
            grouped(m.stats.numSeries), grouped(m.stats.numSamples), grouped(m.stats.numChunks),
            String(m.compaction.level), String(m.compaction.failed),
            labels + (marks.isEmpty ? "" : " [" + marks.joined(separator: ",") + "]"),
            goDuration(millis: res), m.thanos?.source ?? "", size,
        ]
        func pad(_ v: Int64) -> String {
            let s = String(UInt64(bitPattern: v) ^ (1 << 63))
            return String(repeating: "0", count: 20 - s.count) + s
        }
        let sort = [id, pad(m.minTime), pad(m.maxTime), pad(range), cells[4], pad(Int64(m.stats.numSeries)),
                    pad(Int64(m.stats.numSamples)), pad(Int64(m.stats.numChunks)), pad(Int64(m.compaction.level)),
                    cells[9], labels, pad(res), cells[12], pad(e.sizeBytes ?? -1)]
        let json: JSONValue = .object([
            ("ulid", .string(id)), ("minTime", .int(m.minTime)), ("maxTime", .int(m.maxTime)),
            ("series", .int(Int64(m.stats.numSeries))), ("samples", .int(Int64(m.stats.numSamples))),
            ("chunks", .int(Int64(m.stats.numChunks))), ("level", .int(Int64(m.compaction.level))),
            ("failed", .bool(m.compaction.failed)),
            ("labels", .object((m.thanos?.labels ?? [:]).sorted { byteLess($0.key, $1.key) }.map { ($0.key, .string($0.value)) })),
            ("resolution", .int(res)), ("source", .string(m.thanos?.source ?? "")),
            ("markers", .array(e.markers.map { .string($0.rawValue) })), ("size_bytes", e.sizeBytes.map { .int($0) } ?? .null),
        ])
        return Row(cells: cells, sort: sort, json: json)
    }

    /// One formatter for every row: building one costs more than formatting.
    static let formatter: DateFormatter = {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyy-MM-dd HH:mm:ss"
        return f
    }()

    func time(_ ms: Int64) -> String {
        Self.formatter.string(from: Date(timeIntervalSince1970: Double(ms) / 1000))
    }
}
