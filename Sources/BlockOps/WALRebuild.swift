import Foundation
import TSDB

/// Turns a replayed head (a Prometheus or Thanos Receive data directory whose WAL never made
/// it into a block) into blocks aligned to `blockRange` boundaries, as the head would have
/// been cut had the process lived: one block per window that holds samples, ready for
/// `blockyard upload`.
public enum WALRebuilder {
    public struct Options: Sendable {
        /// Block width (Prometheus and Thanos Receive cut 2h blocks).
        public var blockRange: Int64 = 2 * 3_600_000
        /// External labels for the Thanos section (`--label`); none: a plain Prometheus block.
        public var labels: [String: String] = [:]
        /// `thanos.source` of the blocks.
        public var source = "receive"
        /// Samples per chunk (the head cuts float chunks at 120).
        public var samplesPerChunk = 120
        public init() {}
    }

    public struct Result: Sendable {
        public var blocks: [BlockMeta] = []
        /// Windows that had samples before tombstones and none after.
        public var emptyWindows = 0
    }

    /// Writes the blocks into `parent` and returns their metas, oldest first.
    public static func rebuild(_ head: Head, into parent: String, options: Options = Options()) throws -> Result {
        var result = Result()
        for window in head.blockRanges(width: options.blockRange) {
            // Pass 1: the window's label strings, which the index's symbol table needs first.
            var strings = Set<String>()
            var it = head.series(in: window)
            var any = false
            while let s = try it.next() {
                any = true
                for l in s.labels {
                    strings.insert(l.name)
                    strings.insert(l.value)
                }
            }
            guard any else {
                result.emptyWindows += 1
                continue
            }
            let symbols = SymbolSet(strings)
            let ulid = ULID(milliseconds: UInt64(Date().timeIntervalSince1970 * 1000))
            let writer = try BlockWriter(parent: parent, ulid: ulid, symbols: symbols)
            do {
                var series = head.series(in: window)
                while let s = try series.next() {
                    guard let refs = symbols.refs(s.labels) else { continue }
                    try writer.add(labels: refs, chunks: try chunks(s, options: options))
                }
                var meta = BlockMeta(ulid: ulid, minTime: window.lowerBound, maxTime: window.upperBound)
                meta.compaction.level = 1
                meta.compaction.sources = [ulid]
                if !options.labels.isEmpty {
                    var t = ThanosMeta()
                    t.labels = options.labels
                    t.source = options.source
                    meta.thanos = t
                }
                result.blocks.append(try writer.commit(meta))
            } catch {
                writer.discard()
                throw error
            }
        }
        return result
    }

    /// A series' chunks: floats in chunks of `samplesPerChunk`; native histograms cut where
    /// the bucket layout changes or a counter resets (that chunk gets the counter-reset
    /// header), and at `samplesPerChunk`, as the head cuts them.
    static func chunks(_ s: HeadSeries, options: Options) throws(TSDBError) -> [OutputChunk] {
        var out: [OutputChunk] = []
        let n = options.samplesPerChunk
        var firstChunk = true
        for run in s.runs {
            switch run {
            case .floats(let ts, let vs):
                var i = 0
                while i < ts.count {
                    let j = min(ts.count, i + n)
                    var e = XOREncoder()
                    for k in i..<j { e.append(ts[k], vs[k]) }
                    out.append(OutputChunk(minTime: ts[i], maxTime: ts[j - 1], payload: .encoded(.xor, e.bytes())))
                    i = j
                }
            case .histograms(let ts, let hs):
                try cut(ts, hs, first: firstChunk, limit: n, encoding: .histogram, into: &out,
                        isGauge: { $0.counterResetHint == .gauge }, boundary: HistogramEncoder.cut,
                        encode: HistogramEncoder.encode)
            case .floatHistograms(let ts, let hs):
                try cut(ts, hs, first: firstChunk, limit: n, encoding: .floatHistogram, into: &out,
                        isGauge: { $0.counterResetHint == .gauge }, boundary: floatBoundary,
                        encode: FloatHistogramEncoder.encode)
            }
            firstChunk = false
        }
        return out
    }

    /// Cuts one run of histogram samples into chunks: where `boundary` says (another layout,
    /// or a counter reset, which gets the counter-reset header), and at `limit` samples. The
    /// first chunk of a series has an unknown header, gauges a gauge header.
    static func cut<H>(_ ts: [Int64], _ hs: [H], first: Bool, limit: Int, encoding: ChunkEncoding, into out: inout [OutputChunk],
                       isGauge: (H) -> Bool, boundary: (H, H) -> (cut: Bool, reset: Bool),
                       encode: ([(timestamp: Int64, histogram: H)], HistogramCounterResetHint) throws(TSDBError) -> [UInt8]) throws(TSDBError) {
        func header(_ k: Int, reset: Bool, first: Bool) -> HistogramCounterResetHint {
            if k < hs.count && isGauge(hs[k]) { return .gauge }
            return reset ? .counterReset : (first ? .unknown : .notCounterReset)
        }
        var start = 0
        var h = header(0, reset: false, first: first)
        for k in 1...max(1, ts.count) where !ts.isEmpty {
            var edge = k == ts.count || k - start == limit
            var reset = false
            if !edge { (edge, reset) = boundary(hs[k - 1], hs[k]) }
            guard edge else { continue }
            let samples = (start..<k).map { (timestamp: ts[$0], histogram: hs[$0]) }
            out.append(OutputChunk(minTime: ts[start], maxTime: ts[k - 1], payload: .encoded(encoding, try encode(samples, h))))
            start = k
            h = header(k, reset: reset, first: false)
        }
    }

    /// Where a float-histogram chunk must end: another schema, zero threshold or custom
    /// bounds, gauge against counter, or a counter reset (the count went down). Other layout
    /// changes share a chunk (the encoder writes the union of the buckets).
    static func floatBoundary(_ a: FloatHistogram, _ b: FloatHistogram) -> (cut: Bool, reset: Bool) {
        if a.isStale || b.isStale { return (false, false) }
        if a.schema != b.schema || a.zeroThreshold.bitPattern != b.zeroThreshold.bitPattern
            || a.customValues.map(\.bitPattern) != b.customValues.map(\.bitPattern)
            || (a.counterResetHint == .gauge) != (b.counterResetHint == .gauge) {
            return (true, false)
        }
        if b.counterResetHint != .gauge && (b.count < a.count || b.zeroCount < a.zeroCount) { return (true, true) }
        return (false, false)
    }
}
