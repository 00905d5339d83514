import Foundation
import ArgumentParser

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case table, csv, tsv, json
}

/// Renders rows as an aligned table, CSV, TSV.
func renderTable(header: [String], rows: [[String]], format: OutputFormat) -> String {
    switch format {
    case .csv:
        func q(_ s: String) -> String {
            s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
        }
        return ([header] + rows).map { $0.map(q).joined(separator: ",") }.joined(separator: "\n") + "\n"
    case .tsv:
        return ([header] + rows).map { $0.joined(separator: "\t") }.joined(separator: "\n") + "\n"
    case .table, .json:
        var widths = header.map(\.count)
        for r in rows { for (i, c) in r.enumerated() { widths[i] = max(widths[i], c.count) } }
        func line(_ r: [String]) -> String {
            r.enumerated().map { i, c in i == r.count - 1 ? c : c.padding(toLength: widths[i], withPad: " ", startingAt: 0) }
                .joined(separator: "  ")
        }
        return ([header] + rows).map(line).joined(separator: "\n") + "\n"
    }
}

/// 1234567 -> "1,234,567".
func grouped(_ v: UInt64) -> String {
    let s = String(v)
    var out = ""
    for (i, c) in s.enumerated() {
        if i > 0 && (s.count - i) % 3 == 0 { out.append(",") }
        out.append(c)
    }
    return out
}

func humanBytes(_ v: Int64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var x = Double(v)
    var u = 0
    while x >= 1024 && u < units.count - 1 { x /= 1024; u += 1 }
    return u == 0 ? "\(v) B" : String(format: "%.1f %@", x, units[u])
}
