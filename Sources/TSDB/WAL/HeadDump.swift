/// Which samples a head dump prints.
public enum HeadDumpStyle: Sendable {
    /// What Prometheus 2.42's `promtool tsdb dump` prints: each series' float samples up to
    /// its first non-float sample (its iterator loop stops there).
    case promtool242
    /// Every sample; histograms as `{count:N, sum:S, buckets...}` (promtool >= 2.48's form),
    /// as `blockyard block dump` prints them.
    case allSamples
}

extension Head {
    /// Prints the head in `promtool tsdb dump` form, series in label order, samples of `range`
    /// in time order; `sink` receives the text in pieces of about `chunkSize` bytes.
    public func dump(
        in range: Range<Int64>? = nil, style: HeadDumpStyle = .allSamples, chunkSize: Int = 1 << 18,
        _ sink: ([UInt8]) throws -> Void
    ) throws {
        var it = range.map { series(in: $0) } ?? allSeries()
        var out: [UInt8] = []
        out.reserveCapacity(chunkSize + 4096)
        var prefix: [UInt8] = []
        series: while let s = try it.next() {
            prefix.removeAll(keepingCapacity: true)
            DumpLine.appendPrefix(s.labels, to: &prefix)
            for run in s.runs {
                switch run {
                case .floats(let ts, let vs):
                    for k in ts.indices { DumpLine.appendFloat(prefix: prefix, vs[k], ts[k], to: &out) }
                case .histograms(let ts, let hs):
                    if style == .promtool242 { continue series }
                    for k in ts.indices { DumpLine.appendText(prefix: prefix, hs[k].description, ts[k], to: &out) }
                case .floatHistograms(let ts, let hs):
                    if style == .promtool242 { continue series }
                    for k in ts.indices { DumpLine.appendText(prefix: prefix, hs[k].description, ts[k], to: &out) }
                }
                if out.count >= chunkSize {
                    try sink(out)
                    out.removeAll(keepingCapacity: true)
                }
            }
        }
        if !out.isEmpty { try sink(out) }
    }
}
