/// Decoder for the integer native-histogram chunk (encoding 2, `tsdb/chunkenc/histogram.go`
/// and `histogram_meta.go`).
///
/// Layout of the payload after the encoding byte:
///
///     u16 BE sample count | flags byte (top two bits: counter-reset header) | bit stream
///
/// The bit stream starts with the chunk layout, shared by every sample:
///
///     zero threshold  byte: 0 → 0, 255 → followed by a raw float64, b → 2^(b-244)
///     schema          varbit_int
///     positive spans  varbit_uint n, then n × (varbit_uint length, varbit_int offset)
///     negative spans  same
///     custom bounds   only for schema -53: varbit_uint n, then n bounds, each either
///                     varbit_uint (1000·bound + 1) or a zero varbit_uint and a raw float64
///
/// Sample 0: `varbit_int t`, `varbit_uint count`, `varbit_uint zeroCount`, raw float64 sum,
/// then one `varbit_int` per bucket (positive, then negative; Go's delta coding between
/// neighbouring buckets). Later samples: `varbit_int` delta-of-delta of t, count and zero
/// count (sample 1 against an implicit delta of 0), the sum XOR-coded like an XOR chunk
/// value, then one `varbit_int` delta-of-delta per bucket. A sum equal to the staleness
/// marker is not followed by bucket fields.
///
/// The decoder stops after the sample count in the header and never requires the stream
/// to be consumed completely.
public struct HistogramIterator {
    var bits: BitReader
    /// Number of samples in the chunk header.
    public let count: Int
    /// The chunk's counter-reset header (flags byte bits 7-6: `10` reset, `01` not reset,
    /// `11` gauge, `00` unknown).
    public let counterResetHeader: HistogramCounterResetHint
    var read = 0
    var failure: TSDBError?

    public private(set) var timestamp: Int64 = 0

    var layout = HistogramChunkLayout()
    var tDelta: Int64 = 0
    var cnt: UInt64 = 0
    var zCnt: UInt64 = 0
    var cntDelta: Int64 = 0
    var zCntDelta: Int64 = 0
    var sum: Double = 0
    var leading: UInt8 = 0
    var trailing: UInt8 = 0
    /// Delta-coded bucket values (as in `Histogram`), and their per-sample deltas.
    var pBuckets: [Int64] = []
    var nBuckets: [Int64] = []
    var pBucketsDelta: [Int64] = []
    var nBucketsDelta: [Int64] = []

    /// `data` is the chunk's payload after the encoding byte; `origin` its offset in the
    /// segment file, for errors.
    public init(_ data: UnsafeRawBufferPointer, origin: Int = 0) throws(TSDBError) {
        guard data.count >= 3 else {
            throw TSDBError(.truncated, offset: origin,
                            "histogram chunk of \(data.count) bytes has no sample count and flags")
        }
        count = Int(UInt16(data[0]) << 8 | UInt16(data[1]))
        counterResetHeader = histogramCounterResetHeader(data[2])
        bits = BitReader(UnsafeRawBufferPointer(rebasing: data[3...]), origin: origin + 3)
    }

    /// The current histogram, as Go's `AtHistogram` returns it: a stale sample is an empty
    /// histogram carrying only the stale sum; otherwise the hint is `gauge` in gauge chunks,
    /// `notCounterReset` after the first sample and `unknown` for the first (Go does not
    /// trust the chunk header for the first sample; see `counterResetHeader`).
    public var histogram: Histogram {
        if sum.bitPattern == staleNaNBits { return Histogram(sum: sum) }
        return Histogram(
            counterResetHint: sampleCounterResetHint(counterResetHeader, read: read),
            schema: layout.schema, zeroThreshold: layout.zeroThreshold,
            zeroCount: zCnt, count: cnt, sum: sum,
            positiveSpans: layout.positiveSpans, negativeSpans: layout.negativeSpans,
            positiveBuckets: pBuckets, negativeBuckets: nBuckets,
            customValues: layout.customValues)
    }

    /// The current sample as a float histogram (Go's `AtFloatHistogram` on this chunk).
    public var floatHistogram: FloatHistogram {
        if sum.bitPattern == staleNaNBits { return FloatHistogram(sum: sum) }
        return FloatHistogram(
            counterResetHint: sampleCounterResetHint(counterResetHeader, read: read),
            schema: layout.schema, zeroThreshold: layout.zeroThreshold,
            zeroCount: Double(zCnt), count: Double(cnt), sum: sum,
            positiveSpans: layout.positiveSpans, negativeSpans: layout.negativeSpans,
            positiveBuckets: absoluteCounts(pBuckets), negativeBuckets: absoluteCounts(nBuckets),
            customValues: layout.customValues)
    }

    /// Advances to the next sample; false after the last one. After an error every later
    /// call throws the same error.
    public mutating func next() throws(TSDBError) -> Bool {
        if let failure { throw failure }
        if read >= count { return false }
        do throws(TSDBError) {
            if read == 0 { try readFirst() } else { try readNext() }
        } catch {
            failure = error
            throw error
        }
        read += 1
        return true
    }

    mutating func readFirst() throws(TSDBError) {
        layout = try bits.readHistogramChunkLayout()
        let (np, nn) = try layout.bucketCounts(bits: bits, minBitsPerBucket: 1)
        pBuckets = [Int64](repeating: 0, count: np)
        nBuckets = [Int64](repeating: 0, count: nn)
        pBucketsDelta = pBuckets
        nBucketsDelta = nBuckets

        timestamp = try bits.readVarbitInt()
        cnt = try bits.readVarbitUint()
        zCnt = try bits.readVarbitUint()
        sum = Double(bitPattern: try bits.readWide(64))
        for i in 0..<np { pBuckets[i] = try bits.readVarbitInt() }
        for i in 0..<nn { nBuckets[i] = try bits.readVarbitInt() }
    }

    mutating func readNext() throws(TSDBError) {
        tDelta = tDelta &+ (try bits.readVarbitInt())
        timestamp = timestamp &+ tDelta
        cntDelta = cntDelta &+ (try bits.readVarbitInt())
        cnt = UInt64(bitPattern: Int64(bitPattern: cnt) &+ cntDelta)
        zCntDelta = zCntDelta &+ (try bits.readVarbitInt())
        zCnt = UInt64(bitPattern: Int64(bitPattern: zCnt) &+ zCntDelta)
        try xorReadValue(&bits, &sum, &leading, &trailing)
        if sum.bitPattern == staleNaNBits { return }  // no bucket fields follow
        for i in pBuckets.indices {
            pBucketsDelta[i] = pBucketsDelta[i] &+ (try bits.readVarbitInt())
            pBuckets[i] = pBuckets[i] &+ pBucketsDelta[i]
        }
        for i in nBuckets.indices {
            nBucketsDelta[i] = nBucketsDelta[i] &+ (try bits.readVarbitInt())
            nBuckets[i] = nBuckets[i] &+ nBucketsDelta[i]
        }
    }
}

extension HistogramIterator {
    /// Decodes every sample of an integer histogram chunk.
    public static func decodeAll(
        _ data: UnsafeRawBufferPointer, origin: Int = 0
    ) throws(TSDBError) -> [(timestamp: Int64, histogram: Histogram)] {
        var it = try HistogramIterator(data, origin: origin)
        var out: [(timestamp: Int64, histogram: Histogram)] = []
        while try it.next() { out.append((it.timestamp, it.histogram)) }
        return out
    }
}

// MARK: - Shared by encodings 2 and 3

/// The part of a histogram chunk written once, before the first sample.
struct HistogramChunkLayout {
    var schema: Int32 = 0
    var zeroThreshold: Double = 0
    var positiveSpans: [HistogramSpan] = []
    var negativeSpans: [HistogramSpan] = []
    var customValues: [Double] = []

    /// Numbers of positive and negative buckets the spans describe, checked against the
    /// bits left (each bucket of the first sample takes at least `minBitsPerBucket`) so that
    /// a corrupt layout cannot make the caller allocate huge arrays.
    func bucketCounts(bits: BitReader, minBitsPerBucket: Int) throws(TSDBError) -> (Int, Int) {
        var np = 0
        for s in positiveSpans { np += Int(s.length) }
        var nn = 0
        for s in negativeSpans { nn += Int(s.length) }
        // Span counts are bounded by the stream length and lengths by UInt32, so no overflow.
        let available = bits.bitsRemaining / minBitsPerBucket
        guard np + nn <= available else {
            throw TSDBError(.corrupt, offset: bits.origin + bits.bytePosition,
                            "histogram layout has \(np + nn) buckets, more than the \(bits.bitsRemaining) bits left can hold")
        }
        return (np, nn)
    }
}

/// Maps the flags byte of a histogram chunk to its counter-reset header.
func histogramCounterResetHeader(_ flags: UInt8) -> HistogramCounterResetHint {
    switch flags & 0b1100_0000 {
    case 0b1000_0000: return .counterReset
    case 0b0100_0000: return .notCounterReset
    case 0b1100_0000: return .gauge
    default: return .unknown
    }
}

/// Go `counterResetHint(header, numRead)`; `read` counts the samples read so far including
/// the current one (1 for the first).
func sampleCounterResetHint(_ header: HistogramCounterResetHint, read: Int) -> HistogramCounterResetHint {
    if header == .gauge { return .gauge }
    return read > 1 ? .notCounterReset : .unknown
}

extension BitReader {
    /// Reads the chunk layout (`readHistogramChunkLayout`), validating every count against
    /// the bits left before allocating.
    mutating func readHistogramChunkLayout() throws(TSDBError) -> HistogramChunkLayout {
        var layout = HistogramChunkLayout()
        let start = origin + bytePosition
        switch try readByte() {
        case 0: layout.zeroThreshold = 0
        case 255: layout.zeroThreshold = Double(bitPattern: try readWide(64))
        case let b: layout.zeroThreshold = ldexpSafe(Int(b) - 244)  // 0.5 · 2^(b-243)
        }
        let schema = try readVarbitInt()
        guard schema == Int64(histogramCustomBucketsSchema) || (-9...52).contains(schema) else {
            throw TSDBError(.unsupported, offset: start,
                            "histogram schema \(schema) is neither exponential (-9...52) nor custom buckets (-53)")
        }
        layout.schema = Int32(schema)
        layout.positiveSpans = try readHistogramSpans()
        layout.negativeSpans = try readHistogramSpans()
        if layout.schema == histogramCustomBucketsSchema {
            let n = try readVarbitUint()
            // The shortest bound is 5 bits (a non-zero varbit_uint of the 3-bit bucket).
            guard n <= UInt64(bitsRemaining / 5) else {
                throw TSDBError(.corrupt, offset: origin + bytePosition,
                                "\(n) custom bucket bounds cannot fit in the \(bitsRemaining) bits left")
            }
            var bounds: [Double] = []
            bounds.reserveCapacity(Int(n))
            for _ in 0..<Int(n) {
                let v = try readVarbitUint()
                bounds.append(v == 0 ? Double(bitPattern: try readWide(64)) : Double(v - 1) / 1000)
            }
            layout.customValues = bounds
        }
        return layout
    }

    mutating func readHistogramSpans() throws(TSDBError) -> [HistogramSpan] {
        let n = try readVarbitUint()
        // A span takes at least two bits (a zero length and a zero offset).
        guard n <= UInt64(bitsRemaining / 2) else {
            throw TSDBError(.corrupt, offset: origin + bytePosition,
                            "\(n) histogram spans cannot fit in the \(bitsRemaining) bits left")
        }
        var spans: [HistogramSpan] = []
        spans.reserveCapacity(Int(n))
        for _ in 0..<Int(n) {
            let length = try readVarbitUint()
            let offset = try readVarbitInt()
            guard length <= UInt64(UInt32.max), let o = Int32(exactly: offset) else {
                throw TSDBError(.corrupt, offset: origin + bytePosition,
                                "histogram span (length \(length), offset \(offset)) out of range")
            }
            spans.append(HistogramSpan(offset: o, length: UInt32(length)))
        }
        return spans
    }
}
