/// Decoder for the float native-histogram chunk (encoding 3, `tsdb/chunkenc/float_histogram.go`).
///
/// Same header and layout as the integer histogram chunk (see `HistogramIterator`).
/// Sample 0: `varbit_int t`, then raw float64 count, zero count, sum and one raw float64 per
/// bucket (absolute counts; positive, then negative). Later samples: `varbit_int`
/// delta-of-delta of t, then the count, zero count, sum and each bucket XOR-coded against
/// its own previous value. Every field keeps its own leading/trailing window; the reader
/// starts them at 0/0 (the writer starts at 0xFF, "no window", so its first XOR of each
/// field always opens a new window). A stale sum is not followed by bucket fields.
public struct FloatHistogramIterator {
    var bits: BitReader
    public let count: Int
    public let counterResetHeader: HistogramCounterResetHint
    var read = 0
    var failure: TSDBError?

    public private(set) var timestamp: Int64 = 0

    var layout = HistogramChunkLayout()
    var tDelta: Int64 = 0
    var cnt = XORField()
    var zCnt = XORField()
    var sum = XORField()
    var pBuckets: [Double] = []
    var nBuckets: [Double] = []
    var pWindows: [XORWindow] = []
    var nWindows: [XORWindow] = []

    struct XORWindow {
        var leading: UInt8 = 0
        var trailing: UInt8 = 0

        mutating func read(_ bits: inout BitReader, _ value: inout Double) throws(TSDBError) {
            try xorReadValue(&bits, &value, &leading, &trailing)
        }
    }

    struct XORField {
        var value: Double = 0
        var window = XORWindow()

        mutating func read(_ bits: inout BitReader) throws(TSDBError) {
            try window.read(&bits, &value)
        }
    }

    public init(_ data: UnsafeRawBufferPointer, origin: Int = 0) throws(TSDBError) {
        guard data.count >= 3 else {
            throw TSDBError(.truncated, offset: origin,
                            "float histogram chunk of \(data.count) bytes has no sample count and flags")
        }
        count = Int(UInt16(data[0]) << 8 | UInt16(data[1]))
        counterResetHeader = histogramCounterResetHeader(data[2])
        bits = BitReader(UnsafeRawBufferPointer(rebasing: data[3...]), origin: origin + 3)
    }

    /// The current histogram, as Go's `AtFloatHistogram` returns it (see
    /// `HistogramIterator.histogram` for the stale case and the counter-reset hint).
    public var histogram: FloatHistogram {
        if sum.value.bitPattern == staleNaNBits { return FloatHistogram(sum: sum.value) }
        return FloatHistogram(
            counterResetHint: sampleCounterResetHint(counterResetHeader, read: read),
            schema: layout.schema, zeroThreshold: layout.zeroThreshold,
            zeroCount: zCnt.value, count: cnt.value, sum: sum.value,
            positiveSpans: layout.positiveSpans, negativeSpans: layout.negativeSpans,
            positiveBuckets: pBuckets, negativeBuckets: nBuckets,
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
        let (np, nn) = try layout.bucketCounts(bits: bits, minBitsPerBucket: 64)
        pBuckets = [Double](repeating: 0, count: np)
        nBuckets = [Double](repeating: 0, count: nn)
        pWindows = [XORWindow](repeating: XORWindow(), count: np)
        nWindows = [XORWindow](repeating: XORWindow(), count: nn)

        timestamp = try bits.readVarbitInt()
        cnt.value = Double(bitPattern: try bits.readWide(64))
        zCnt.value = Double(bitPattern: try bits.readWide(64))
        sum.value = Double(bitPattern: try bits.readWide(64))
        for i in 0..<np { pBuckets[i] = Double(bitPattern: try bits.readWide(64)) }
        for i in 0..<nn { nBuckets[i] = Double(bitPattern: try bits.readWide(64)) }
    }

    mutating func readNext() throws(TSDBError) {
        tDelta = tDelta &+ (try bits.readVarbitInt())
        timestamp = timestamp &+ tDelta
        try cnt.read(&bits)
        try zCnt.read(&bits)
        try sum.read(&bits)
        if sum.value.bitPattern == staleNaNBits { return }  // no bucket fields follow
        for i in pBuckets.indices {
            try pWindows[i].read(&bits, &pBuckets[i])
        }
        for i in nBuckets.indices {
            try nWindows[i].read(&bits, &nBuckets[i])
        }
    }
}

extension FloatHistogramIterator {
    /// Decodes every sample of a float histogram chunk.
    public static func decodeAll(
        _ data: UnsafeRawBufferPointer, origin: Int = 0
    ) throws(TSDBError) -> [(timestamp: Int64, histogram: FloatHistogram)] {
        var it = try FloatHistogramIterator(data, origin: origin)
        var out: [(timestamp: Int64, histogram: FloatHistogram)] = []
        while try it.next() { out.append((it.timestamp, it.histogram)) }
        return out
    }
}
