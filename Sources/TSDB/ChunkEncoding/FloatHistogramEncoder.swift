/// Encodes a float native-histogram chunk (encoding 3), the inverse of
/// `FloatHistogramIterator`. Layout: docs/format/chunks.md.
///
/// The encoder takes a whole chunk's samples at once. A chunk has one bucket layout, so
/// when the samples' layouts differ, every sample is written with the union of their
/// buckets (missing buckets as 0), which is the chunk Prometheus' appender ends up with
/// after it recodes on new buckets. When every sample has the same spans, those spans are
/// written unchanged. Schema, zero threshold and custom bounds must agree (Prometheus cuts
/// a new chunk when they change); a stale sample (sum = stale NaN) carries no buckets.
public enum FloatHistogramEncoder {
    public static let maxSamples = Int(UInt16.max)

    /// The flags byte of a histogram chunk for a counter-reset header.
    public static func flags(_ header: HistogramCounterResetHint) -> UInt8 {
        switch header {
        case .unknown: 0
        case .counterReset: 0b1000_0000
        case .notCounterReset: 0b0100_0000
        case .gauge: 0b1100_0000
        }
    }

    public static func encode(
        _ samples: [(timestamp: Int64, histogram: FloatHistogram)], header: HistogramCounterResetHint
    ) throws(TSDBError) -> [UInt8] {
        guard samples.count <= maxSamples else {
            throw TSDBError(.unsupported, offset: 0, "\(samples.count) samples do not fit one histogram chunk (at most \(maxSamples))")
        }
        var out: [UInt8] = [UInt8(truncatingIfNeeded: samples.count >> 8), UInt8(truncatingIfNeeded: samples.count), flags(header)]
        guard let first = samples.first else { return out }
        let live = samples.filter { !$0.histogram.isStale }
        if first.histogram.isStale, !live.isEmpty {
            throw TSDBError(.unsupported, offset: 0, "a histogram chunk that starts with a stale marker holds only stale markers")
        }
        let lead = live.first?.histogram ?? FloatHistogram(sum: first.histogram.sum)
        for s in live.dropFirst() {
            let h = s.histogram
            guard h.schema == lead.schema, h.zeroThreshold.bitPattern == lead.zeroThreshold.bitPattern,
                  sameBits(h.customValues, lead.customValues)
            else {
                throw TSDBError(.unsupported, offset: 0,
                                "histograms at \(first.timestamp) and \(s.timestamp) differ in schema, zero threshold or custom bounds; they cannot share a chunk")
            }
        }
        let positive = BucketLayout(live.map(\.histogram.positiveSpans))
        let negative = BucketLayout(live.map(\.histogram.negativeSpans))

        var bits = BitWriter(capacity: 64 + samples.count * 16)
        bits.writeHistogramLayout(schema: lead.schema, zeroThreshold: lead.zeroThreshold,
                                  positive: positive.spans, negative: negative.spans, customValues: lead.customValues)
        let np = positive.count, nn = negative.count
        var pWindows = [XORWindow](repeating: XORWindow(), count: np)
        var nWindows = [XORWindow](repeating: XORWindow(), count: nn)
        var cnt = XORWindow(), zCnt = XORWindow(), sum = XORWindow()
        var pb: [Double] = [], nb: [Double] = []
        var t0: Int64 = 0, tDelta: Int64 = 0
        for (i, s) in samples.enumerated() {
            let h = s.histogram
            let stale = h.isStale
            if !stale {
                positive.expand(h.positiveSpans, h.positiveBuckets, into: &pb)
                negative.expand(h.negativeSpans, h.negativeBuckets, into: &nb)
            }
            if i == 0 {
                bits.writeVarbitInt(s.timestamp)
                // A stale first sample is written as an empty histogram carrying the marker.
                let c = stale ? 0 : h.count, z = stale ? 0 : h.zeroCount
                for v in [c, z, h.sum] { bits.write(v.bitPattern, bits: 64) }
                cnt.value = c; zCnt.value = z; sum.value = h.sum
                if !stale {
                    for k in 0..<np { pWindows[k].value = pb[k]; bits.write(pb[k].bitPattern, bits: 64) }
                    for k in 0..<nn { nWindows[k].value = nb[k]; bits.write(nb[k].bitPattern, bits: 64) }
                }
            } else {
                let d = s.timestamp &- t0
                bits.writeVarbitInt(d &- tDelta)
                tDelta = d
                cnt.write(&bits, stale ? 0 : h.count)
                zCnt.write(&bits, stale ? 0 : h.zeroCount)
                sum.write(&bits, h.sum)
                if !stale {
                    for k in 0..<np { pWindows[k].write(&bits, pb[k]) }
                    for k in 0..<nn { nWindows[k].write(&bits, nb[k]) }
                }
            }
            t0 = s.timestamp
        }
        out.append(contentsOf: bits.finish())
        return out
    }

    /// One XOR-coded field and its window (0xFF leading = no window yet).
    struct XORWindow {
        var value: Double = 0
        var leading: UInt8 = 0xFF
        var trailing: UInt8 = 0

        mutating func write(_ bits: inout BitWriter, _ v: Double) {
            xorWriteValue(&bits, v, value, &leading, &trailing)
            value = v
        }
    }
}

/// The buckets one side of a chunk's layout holds: the spans of the samples when they all
/// agree, otherwise the sorted union of their bucket indexes in canonical spans.
struct BucketLayout {
    let spans: [HistogramSpan]
    /// Bucket indexes in order, when the samples' layouts differ (nil: all the same).
    let indexes: [Int32]?
    let count: Int

    init(_ layouts: [[HistogramSpan]]) {
        let first = layouts.first ?? []
        if layouts.allSatisfy({ $0 == first }) {
            spans = first
            indexes = nil
            count = first.reduce(0) { $0 + Int($1.length) }
            return
        }
        var all = Set<Int32>()
        for l in layouts { bucketIndexes(l) { all.insert($0) } }
        let sorted = all.sorted()
        var out: [HistogramSpan] = []
        var prev: Int32 = 0
        for (k, idx) in sorted.enumerated() {
            if k > 0 && idx == prev &+ 1 {
                out[out.count - 1].length += 1
            } else {
                out.append(HistogramSpan(offset: k == 0 ? idx : idx &- prev &- 1, length: 1))
            }
            prev = idx
        }
        spans = out
        indexes = sorted
        count = sorted.count
    }

    /// A sample's bucket values laid out on this layout (0 where the sample has no bucket).
    func expand(_ sampleSpans: [HistogramSpan], _ values: [Double], into out: inout [Double]) {
        out.removeAll(keepingCapacity: true)
        guard let indexes else {
            out.append(contentsOf: values.prefix(count))
            while out.count < count { out.append(0) }
            return
        }
        out.append(contentsOf: repeatElement(0, count: count))
        var k = 0, pos = 0
        bucketIndexes(sampleSpans) { idx in
            guard k < values.count else { return }
            while pos < indexes.count && indexes[pos] < idx { pos += 1 }
            if pos < indexes.count { out[pos] = values[k] }
            k += 1
        }
    }
}

/// Calls `body` with the index of every bucket the spans describe, in order (the first
/// span's offset is the index of its first bucket, later offsets are gaps).
package func bucketIndexes(_ spans: [HistogramSpan], _ body: (Int32) -> Void) {
    var idx: Int32 = 0
    for (n, s) in spans.enumerated() {
        idx = n == 0 ? s.offset &- 1 : idx &+ s.offset
        for _ in 0..<s.length {
            idx = idx &+ 1
            body(idx)
        }
    }
}

extension BitWriter {
    /// The chunk layout written before the first sample (see `readHistogramChunkLayout`).
    mutating func writeHistogramLayout(schema: Int32, zeroThreshold: Double, positive: [HistogramSpan],
                                       negative: [HistogramSpan], customValues: [Double]) {
        writeZeroThreshold(zeroThreshold)
        writeVarbitInt(Int64(schema))
        for side in [positive, negative] {
            writeVarbitUint(UInt64(side.count))
            for s in side {
                writeVarbitUint(UInt64(s.length))
                writeVarbitInt(Int64(s.offset))
            }
        }
        if schema == histogramCustomBucketsSchema {
            writeVarbitUint(UInt64(customValues.count))
            for b in customValues { writeCustomBound(b) }
        }
    }

    /// 0 as one zero byte; a power of two 2^-243 ... 2^10 as one byte (its frexp exponent
    /// + 243); anything else as 255 and the raw float64.
    mutating func writeZeroThreshold(_ z: Double) {
        if z == 0 {  // -0 too, as Go compares
            writeByte(0)
            return
        }
        if z > 0, z.isNormal, z.significandBitPattern == 0 {
            let e = Int(z.exponent) + 1  // frexp's exponent: z = 0.5 · 2^e
            if e >= -242 && e <= 11 {
                writeByte(UInt8(e + 243))
                return
            }
        }
        writeByte(255)
        write(z.bitPattern, bits: 64)
    }

    /// A custom bucket bound: 1000·b + 1 as a varbit_uint when b is a multiple of 0.001 in
    /// 0 ... 33554.430, otherwise a zero bit and the raw float64.
    mutating func writeCustomBound(_ b: Double) {
        let scaled = b * 1000
        if scaled.isFinite, scaled >= 0, scaled <= 33_554_430 {
            let rounded = scaled.rounded()
            if Double(UInt64(rounded)) / 1000 == b {
                writeVarbitUint(UInt64(rounded) + 1)
                return
            }
        }
        writeBit(false)
        write(b.bitPattern, bits: 64)
    }
}
