/// Encodes an integer native-histogram chunk (encoding 2), the inverse of
/// `HistogramIterator`. Layout: docs/format/chunks.md and `HistogramChunk.swift`.
///
/// Every sample of a chunk shares one layout (schema, zero threshold, spans, custom bounds):
/// the caller starts a new chunk where the layout changes, as `cut(_:)` tells. A stale
/// marker (sum = stale NaN) is written as Prometheus writes it: an empty histogram whose
/// bucket fields are left out, so the buckets' running deltas skip over it.
public enum HistogramEncoder {
    public static let maxSamples = Int(UInt16.max)

    /// Whether `h` cannot join a chunk whose samples so far end with `previous`: another
    /// layout, or a counter reset (the count, the zero count or a bucket went down), which
    /// Prometheus marks by starting a chunk with the counter-reset header.
    public static func cut(_ previous: Histogram, _ h: Histogram) -> (cut: Bool, reset: Bool) {
        if previous.isStale || h.isStale { return (false, false) }
        guard sameLayout(previous, h) else { return (true, false) }
        if h.counterResetHint == .gauge || previous.counterResetHint == .gauge {
            return (h.counterResetHint != previous.counterResetHint, false)
        }
        if h.count < previous.count || h.zeroCount < previous.zeroCount { return (true, true) }
        for (a, b) in [(previous.positiveBuckets, h.positiveBuckets), (previous.negativeBuckets, h.negativeBuckets)] {
            var x: Int64 = 0, y: Int64 = 0
            for (da, db) in zip(a, b) {
                x &+= da
                y &+= db
                if y < x { return (true, true) }
            }
        }
        return (false, false)
    }

    static func sameLayout(_ a: Histogram, _ b: Histogram) -> Bool {
        a.schema == b.schema && a.zeroThreshold.bitPattern == b.zeroThreshold.bitPattern
            && a.positiveSpans == b.positiveSpans && a.negativeSpans == b.negativeSpans
            && a.customValues.map(\.bitPattern) == b.customValues.map(\.bitPattern)
    }

    public static func encode(
        _ samples: [(timestamp: Int64, histogram: Histogram)], header: HistogramCounterResetHint
    ) throws(TSDBError) -> [UInt8] {
        guard samples.count <= maxSamples else {
            throw TSDBError(.unsupported, offset: 0, "\(samples.count) samples do not fit one histogram chunk (at most \(maxSamples))")
        }
        var out: [UInt8] = [UInt8(truncatingIfNeeded: samples.count >> 8), UInt8(truncatingIfNeeded: samples.count),
                            FloatHistogramEncoder.flags(header)]
        guard let first = samples.first else { return out }
        let live = samples.filter { !$0.histogram.isStale }
        if first.histogram.isStale, !live.isEmpty {
            throw TSDBError(.unsupported, offset: 0, "a histogram chunk that starts with a stale marker holds only stale markers")
        }
        let lead = live.first?.histogram ?? Histogram(sum: first.histogram.sum)
        for s in live.dropFirst() where !sameLayout(s.histogram, lead) {
            throw TSDBError(.unsupported, offset: 0,
                            "histograms at \(first.timestamp) and \(s.timestamp) have different bucket layouts; they cannot share a chunk")
        }
        var bits = BitWriter(capacity: 64 + samples.count * 16)
        bits.writeHistogramLayout(schema: lead.schema, zeroThreshold: lead.zeroThreshold,
                                  positive: lead.positiveSpans, negative: lead.negativeSpans, customValues: lead.customValues)
        let np = lead.positiveBuckets.count, nn = lead.negativeBuckets.count
        var t0: Int64 = 0, tDelta: Int64 = 0
        var cnt: Int64 = 0, zCnt: Int64 = 0, cntDelta: Int64 = 0, zCntDelta: Int64 = 0
        var sum: Double = 0, leading: UInt8 = 0xFF, trailing: UInt8 = 0
        var p = [Int64](repeating: 0, count: np), n = [Int64](repeating: 0, count: nn)
        var pDelta = p, nDelta = n
        for (i, s) in samples.enumerated() {
            let h = s.histogram
            let stale = h.isStale
            let c = stale ? 0 : Int64(bitPattern: h.count), z = stale ? 0 : Int64(bitPattern: h.zeroCount)
            if i == 0 {
                bits.writeVarbitInt(s.timestamp)
                bits.writeVarbitUint(UInt64(bitPattern: c))
                bits.writeVarbitUint(UInt64(bitPattern: z))
                bits.write(h.sum.bitPattern, bits: 64)
                if !stale {
                    for k in 0..<np { p[k] = h.positiveBuckets[k]; bits.writeVarbitInt(p[k]) }
                    for k in 0..<nn { n[k] = h.negativeBuckets[k]; bits.writeVarbitInt(n[k]) }
                }
            } else {
                let d = s.timestamp &- t0
                bits.writeVarbitInt(d &- tDelta)
                tDelta = d
                let cd = c &- cnt, zd = z &- zCnt
                bits.writeVarbitInt(cd &- cntDelta)
                bits.writeVarbitInt(zd &- zCntDelta)
                cntDelta = cd
                zCntDelta = zd
                xorWriteValue(&bits, h.sum, sum, &leading, &trailing)
                if !stale {
                    for k in 0..<np {
                        let bd = h.positiveBuckets[k] &- p[k]
                        bits.writeVarbitInt(bd &- pDelta[k])
                        pDelta[k] = bd
                        p[k] = h.positiveBuckets[k]
                    }
                    for k in 0..<nn {
                        let bd = h.negativeBuckets[k] &- n[k]
                        bits.writeVarbitInt(bd &- nDelta[k])
                        nDelta[k] = bd
                        n[k] = h.negativeBuckets[k]
                    }
                }
            }
            t0 = s.timestamp
            cnt = c
            zCnt = z
            sum = h.sum
        }
        out.append(contentsOf: bits.finish())
        return out
    }
}
