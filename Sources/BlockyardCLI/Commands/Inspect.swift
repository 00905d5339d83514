import ArgumentParser
import BlockOps
import Foundation
import TSDB

struct Inspect: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List blocks with their meta.json facts (Thanos `tools bucket inspect` columns, plus SIZE).",
        discussion: "PATH is a local directory laid out like a bucket: one <ULID>/ directory per block."
    )

    @Argument(help: "Directory holding block directories.")
    var path: String

    @Option(name: [.short, .long], help: "Output format: table, csv, tsv or json.")
    var output: OutputFormat = .table

    @Option(name: [.short, .customLong("selector")], help: "Only blocks whose external labels match k=v (repeatable).")
    var selector: [String] = []

    @Option(name: .customLong("sort-by"), help: "Columns to sort by, comma-separated (default FROM,UNTIL).")
    var sortBy: String = "FROM,UNTIL"

    static let header = ["ULID", "FROM", "UNTIL", "RANGE", "UNTIL-DOWN", "#SERIES", "#SAMPLES", "#CHUNKS",
                         "COMP-LEVEL", "COMP-FAILED", "LABELS", "RESOLUTION", "SOURCE", "SIZE"]

    func validate() throws {
        for s in selector where !s.contains("=") { throw ValidationError("--selector \(s): want k=v") }
        for c in sortBy.split(separator: ",") where !Self.header.contains(String(c)) {
            throw ValidationError("--sort-by \(c): not a column (\(Self.header.joined(separator: ", ")))")
        }
    }

    func run() async throws {
        try await withExitCodes {
            var entries = try LocalCatalog.list(path)
            let want = selector.map { s -> (String, String) in
                let p = s.split(separator: "=", maxSplits: 1)
                return (String(p[0]), p.count > 1 ? String(p[1]) : "")
            }
            entries = entries.filter { e in
                want.allSatisfy { e.meta?.thanos?.labels[$0.0] == $0.1 }
            }
            let rows = entries.map(row)
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

    func row(_ e: BlockEntry) -> Row {
        let id = e.ulid.description
        guard let m = e.meta else {
            let state = e.metaError.map { "meta.json unreadable: \($0)" } ?? "partial (no meta.json)"
            var cells = [id] + Array(repeating: "-", count: Self.header.count - 2) + [humanBytes(e.sizeBytes)]
            cells[10] = state
            return Row(cells: cells, sort: [id] + Array(repeating: "", count: Self.header.count - 1),
                       json: .object([("ulid", .string(id)), ("state", .string(state)), ("size_bytes", .int(e.sizeBytes))]))
        }
        let range = m.maxTime - m.minTime
        let res = m.resolution
        let untilDown: String = switch res {
        case 0: goDuration(millis: 40 * 3_600_000 - range)
        case 300_000: goDuration(millis: 240 * 3_600_000 - range)
        default: "-"
        }
        let labels = (m.thanos?.labels ?? [:]).sorted { byteLess($0.key, $1.key) }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
        var marks = e.markers.map { $0.rawValue.replacingOccurrences(of: ".json", with: "") }
        if marks.isEmpty { marks = [] }
        let cells = [
            id, time(m.minTime), time(m.maxTime), goDuration(millis: range), untilDown,
            grouped(m.stats.numSeries), grouped(m.stats.numSamples), grouped(m.stats.numChunks),
            String(m.compaction.level), String(m.compaction.failed), labels + (marks.isEmpty ? "" : " [" + marks.joined(separator: ",") + "]"),
            goDuration(millis: res), m.thanos?.source ?? "", humanBytes(e.sizeBytes),
        ]
        func pad(_ v: Int64) -> String {
            let s = String(UInt64(bitPattern: v) ^ (1 << 63))
            return String(repeating: "0", count: 20 - s.count) + s
        }
        let sort = [id, pad(m.minTime), pad(m.maxTime), pad(range), cells[4], pad(Int64(m.stats.numSeries)),
                    pad(Int64(m.stats.numSamples)), pad(Int64(m.stats.numChunks)), pad(Int64(m.compaction.level)),
                    cells[9], labels, pad(res), cells[12], pad(e.sizeBytes)]
        let json: JSONValue = .object([
            ("ulid", .string(id)), ("minTime", .int(m.minTime)), ("maxTime", .int(m.maxTime)),
            ("series", .int(Int64(m.stats.numSeries))), ("samples", .int(Int64(m.stats.numSamples))),
            ("chunks", .int(Int64(m.stats.numChunks))), ("level", .int(Int64(m.compaction.level))),
            ("failed", .bool(m.compaction.failed)),
            ("labels", .object((m.thanos?.labels ?? [:]).sorted { byteLess($0.key, $1.key) }.map { ($0.key, .string($0.value)) })),
            ("resolution", .int(res)), ("source", .string(m.thanos?.source ?? "")),
            ("markers", .array(e.markers.map { .string($0.rawValue) })), ("size_bytes", .int(e.sizeBytes)),
        ])
        return Row(cells: cells, sort: sort, json: json)
    }

    func time(_ ms: Int64) -> String {
        let d = Date(timeIntervalSince1970: Double(ms) / 1000)
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyy-MM-dd HH:mm:ss"
        return f.string(from: d)
    }
}
