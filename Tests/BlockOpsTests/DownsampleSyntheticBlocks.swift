import Foundation
import TestSupport
import TSDB

/// Raw blocks long enough for the downsampling rules (40 h, 10 days), written with the
/// block writer: a counter, a counter that restarts, and a gauge, one sample per `step`,
/// XOR chunks of 120 samples, and a Thanos section as a sidecar upload has it.
enum SyntheticBlocks {
    static func make(parent: String, start: Int64 = 1_700_000_000_000, hours: Int64, step: Int64 = 60_000,
                     labels: [String: String], seed: UInt64 = 1) throws -> BlockMeta {
        let series: [[(String, String)]] = [
            [("__name__", "requests_total"), ("job", "api")],
            [("__name__", "restarts_total"), ("job", "api")],
            [("__name__", "temperature"), ("job", "api")],
        ]
        let symbols = SymbolSet(series.flatMap { $0.flatMap { [$0.0, $0.1] } })
        let id = ULID(milliseconds: UInt64(start + hours * 3_600_000))
        let w = try BlockWriter(parent: parent, ulid: id, symbols: symbols)
        var rng = SeededRandom(seed: seed)
        let n = Int(hours * 3_600_000 / step)
        var lastT = start
        for (k, labels) in series.enumerated() {
            var value = 0.0
            var chunks: [OutputChunk] = []
            var e = XOREncoder()
            for i in 0..<n {
                let t = start + Int64(i) * step + Int64(rng.next() % 500)
                switch k {
                case 0: value += Double(rng.next() % 100)
                case 1: value = i % 1000 == 999 ? 3 : value + 1  // restarts every 1000 samples
                default: value = 20 + Double(rng.next() % 1000) / 100 - 5
                }
                e.append(t, value)
                lastT = max(lastT, t)
                if e.count == 120 || i == n - 1 {
                    chunks.append(OutputChunk(minTime: e.minTime, maxTime: e.maxTime, payload: .encoded(.xor, e.bytes())))
                    e = XOREncoder()
                }
            }
            try w.add(labels: symbols.refs(Labels(labels.map { Label(name: $0.0, value: $0.1) }))!, chunks: chunks)
        }
        var meta = BlockMeta(ulid: id, minTime: start, maxTime: lastT + 1)
        meta.compaction.sources = [id]
        var t = ThanosMeta()
        t.labels = labels
        t.source = "sidecar"
        meta.thanos = t
        return try w.commit(meta)
    }
}
