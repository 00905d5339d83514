import TSDB

/// Turns an input series' labels into the output's when a compaction repairs or relabels:
/// label names put in order (a name given twice kept once, its first value), the relabel
/// applied, replica labels removed. Every change is reported to the log it is given; the
/// compactor calls it twice per series (once to collect the output's symbols, once to
/// order the series) and passes a log only the second time.
struct SeriesLabeller: Sendable {
    let relabel: (@Sendable (Labels) -> Labels?)?
    let repair: Bool
    let dropNames: [String]

    init?(_ options: CompactOptions) {
        guard options.relabel != nil || options.repair else { return nil }
        relabel = options.relabel
        repair = options.repair
        dropNames = options.dropLabels
    }

    /// The output labels, or nil when the series is dropped. `chunks` give the time range
    /// a dropped series loses, for the log.
    func apply(_ labels: Labels, chunks: [ChunkMeta], log: ((RepairEvent) -> Void)?) -> Labels? {
        var current = labels
        if repair {
            let fixed = Self.fixed(labels)
            if fixed.pairs != labels.pairs, let log {
                let names = labels.pairs.map(\.name)
                let repeated = Set(names.filter { n in names.filter { $0 == n }.count > 1 })
                log(RepairEvent(action: .sortedLabels, series: fixed.description,
                                detail: repeated.isEmpty ? "label names were out of order: \(labels.description)"
                                    : "label names out of order or given twice (\(repeated.sorted().joined(separator: ", ")); the first value kept): \(labels.description)"))
            }
            current = fixed
        }
        if let relabel {
            guard let r = relabel(current) else {
                log?(RepairEvent(action: .droppedSeries, series: current.description, detail: "dropped by relabelling",
                                 lost: true, intervals: Self.span(chunks)))
                return nil
            }
            if r.pairs != current.pairs {
                log?(RepairEvent(action: .relabelled, series: current.description, detail: r.description))
            }
            current = r
        }
        if !dropNames.isEmpty, current.contains(where: { dropNames.contains($0.name) }) {
            current = Labels(sortedUnchecked: current.pairs.filter { !dropNames.contains($0.name) })
        }
        if current.isEmpty {
            log?(RepairEvent(action: .droppedSeries, series: labels.description, detail: "no labels left",
                             lost: true, intervals: Self.span(chunks)))
            return nil
        }
        return current
    }

    /// Label names in byte order (stable), each name once.
    static func fixed(_ labels: Labels) -> Labels {
        let order = labels.pairs.indices.sorted {
            let c = byteCompare(labels.pairs[$0].name, labels.pairs[$1].name)
            return c != 0 ? c < 0 : $0 < $1
        }
        var out: [Label] = []
        for i in order where out.last?.name != labels.pairs[i].name { out.append(labels.pairs[i]) }
        return Labels(sortedUnchecked: out)
    }

    /// The time range of a series' chunks, as Thanos logs a deleted series.
    static func span(_ chunks: [ChunkMeta]) -> [ClosedRange<Int64>] {
        guard let a = chunks.map(\.minTime).min(), let b = chunks.map(\.maxTime).max(), a <= b else { return [] }
        return [a...b]
    }
}
