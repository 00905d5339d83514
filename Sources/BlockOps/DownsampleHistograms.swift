import TSDB

/// A native-histogram sample as downsampling sees it (integer histograms are converted
/// to float histograms, as Thanos does).
typealias HistogramSample = (timestamp: Int64, histogram: FloatHistogram)

/// Thanos' `histogramAggregator`: the count and sum of the current window, and the counter
/// state since the start of the batch, all at the batch's lowest schema.
struct HistogramAggregator {
    let schema: Int32
    var total = 0
    var count = 0
    var sum: FloatHistogram? = nil
    var counter = FloatHistogram()
    var previous = FloatHistogram()

    init(schema: Int32) { self.schema = schema }

    mutating func reset() {
        count = 0
        sum = nil
    }

    mutating func add(_ sample: FloatHistogram) throws(HistogramMathError) {
        // A histogram at a higher schema is lowered first; reset detection still sees the
        // original, for which a schema above the previous one is a reset.
        let h = sample.schema > schema ? try sample.reduced(toSchema: schema) : sample
        if total > 0 {
            if h.counterResetHint != .gauge && sample.detectReset(after: previous) {
                try counter.add(h)
            } else {
                var delta = h
                try delta.subtract(previous)
                try counter.add(delta)
            }
        } else {
            counter = h
        }
        if sum == nil {
            sum = h
        } else {
            try sum!.add(h)
        }
        // Marked as a gauge, or appending a smaller window sum would look like a reset.
        sum!.counterResetHint = .gauge
        previous = h
        count += 1
        total += 1
    }
}

/// The sub-chunk of a histogram aggregate being built. Samples are checked as
/// Prometheus' float-histogram appender checks them (with Thanos' calls, which never
/// append in "append only" mode) and encoded together at the end. Where the appender would
/// start a new chunk (a counter reset, a changed schema or zero threshold, a gauge in a
/// counter chunk), Thanos replaces the sub-chunk and loses the samples before; that case
/// is refused here instead.
struct HistogramPartBuilder {
    private(set) var samples: [HistogramSample] = []

    mutating func append(_ t: Int64, _ h: FloatHistogram) throws(HistogramMathError) {
        if let (_, last) = samples.last, let first = samples.first?.histogram {
            if let why = Self.notAppendable(h, after: last, chunkIsGauge: first.counterResetHint == .gauge) {
                throw HistogramMathError(detail: "histogram aggregate at \(t) cannot follow the one at \(samples.last!.timestamp) in a chunk: \(why)")
            }
        }
        samples.append((t, h))
    }

    /// Why Prometheus would not append `h` to a chunk whose last sample is `last`.
    static func notAppendable(_ h: FloatHistogram, after last: FloatHistogram, chunkIsGauge: Bool) -> String? {
        let gauge = h.counterResetHint == .gauge
        if gauge != chunkIsGauge { return gauge ? "a gauge histogram in a counter chunk" : "a counter histogram in a gauge chunk" }
        if !gauge && h.counterResetHint == .counterReset { return "it is marked as a counter reset" }
        if h.isStale { return nil }
        if last.isStale { return "it follows a stale marker" }
        if !gauge && h.count < last.count { return "the count went down (a counter reset)" }
        if h.schema != last.schema || h.zeroThreshold != last.zeroThreshold { return "the schema or zero threshold changed" }
        if h.isCustom && !sameBounds(h.customValues, last.customValues) { return "the custom bucket bounds changed" }
        if gauge { return nil }
        if h.zeroCount < last.zeroCount { return "the zero bucket went down (a counter reset)" }
        for positive in [true, false] {
            let cur = h.buckets(positive: positive, skippingUpTo: 0, schema: h.schema)
            let prev = last.buckets(positive: positive, skippingUpTo: 0, schema: last.schema)
            if FloatHistogram.bucketsDecreased(cur, prev) { return "a bucket went down or disappeared (a counter reset)" }
        }
        return nil
    }

    /// The float-histogram sub-chunk. Its header says gauge when the first histogram is
    /// one, counter reset when it is marked so, and "no counter reset" otherwise (what
    /// Prometheus' appender derives when it checks a first sample against itself).
    func part() throws(HistogramMathError) -> AggregateChunk.Part {
        let hint = samples.first?.histogram.counterResetHint ?? .unknown
        let header: HistogramCounterResetHint = hint == .gauge ? .gauge : (hint == .counterReset ? .counterReset : .notCounterReset)
        do {
            return AggregateChunk.Part(.floatHistogram, try FloatHistogramEncoder.encode(samples, header: header))
        } catch {
            throw HistogramMathError(detail: error.detail)
        }
    }
}

/// Thanos' `minSchema`: the lowest schema among the histograms that are not stale.
func minSchema(_ samples: ArraySlice<HistogramSample>) -> Int32 {
    var s = Int32.max
    for x in samples where !x.histogram.isStale && x.histogram.schema < s { s = x.histogram.schema }
    return s
}

/// Native histograms to aggregates: count (XOR), sum and counter (float histograms); no
/// min and max (Thanos `downsampleHistogramBatch` and `downsampleHistogramAggrBatch`).
enum HistogramDownsampler {
    /// Thanos `downsampleBatch` over histograms: calls `emit` at each window's end.
    static func windows(_ samples: ArraySlice<HistogramSample>, _ resolution: Int64,
                        _ emit: (Int64, inout HistogramAggregator) throws(HistogramMathError) -> Void) throws(HistogramMathError) {
        guard let lastT = samples.last?.timestamp else { return }
        // Mixing custom-bucket and exponential histograms cannot be lowered to one schema.
        if samples.contains(where: { $0.histogram.isCustom && !$0.histogram.isStale })
            && samples.contains(where: { !$0.histogram.isCustom && !$0.histogram.isStale }) {
            throw HistogramMathError(detail: "the series mixes custom-bucket and exponential histograms")
        }
        var a = HistogramAggregator(schema: minSchema(samples))
        var windowT: Int64 = -1
        for s in samples {
            if s.timestamp > windowT {
                if windowT != -1 { try emit(windowT, &a) }
                a.reset()
                windowT = min(DownsampleWindows.end(s.timestamp, resolution), lastT)
            }
            try a.add(s.histogram)
        }
        try emit(windowT, &a)
    }

    /// One batch of raw histograms (stale and NaN-sum samples already removed).
    static func rawBatch(_ batch: ArraySlice<HistogramSample>, resolution: Int64) throws(HistogramMathError) -> AggregateOutput {
        let gauge = batch.first?.histogram.counterResetHint == .gauge
        var count = XOREncoder()
        var sum = HistogramPartBuilder(), counter = HistogramPartBuilder()
        try windows(batch, resolution) { (t: Int64, a: inout HistogramAggregator) throws(HistogramMathError) in
            if gauge {
                a.counter.counterResetHint = .gauge
                a.sum?.counterResetHint = .gauge
            }
            try counter.append(t, a.counter)
            try sum.append(t, a.sum!)
            count.append(t, Double(a.count))
        }
        return AggregateOutput(minTime: count.minTime, maxTime: count.maxTime,
                               parts: [AggregateChunk.Part(.xor, count.bytes()), try sum.part(), nil, nil, try counter.part()],
                               windows: count.count)
    }

    /// Raw histogram samples of one series to aggregate chunks (Thanos `DownsampleRaw`).
    static func downsampleRaw(_ data: [HistogramSample], resolution: Int64, into out: inout [AggregateOutput]) throws(HistogramMathError) {
        guard let first = data.first, let last = data.last else { return }
        let chunks = DownsampleWindows.targetChunkCount(minTime: first.timestamp, maxTime: last.timestamp, inRes: 60_000,
                                                        outRes: resolution, count: data.count)
        let batchSize = data.count / chunks + 1
        var start = 0
        while start < data.count {
            var j = min(start + batchSize, data.count)
            let windowEnd = DownsampleWindows.end(data[j - 1].timestamp, resolution)
            while j < data.count && data[j].timestamp <= windowEnd { j += 1 }
            let batch = data[start..<j].filter { !$0.histogram.sum.isNaN }
            start = j
            if batch.isEmpty { continue }
            out.append(try rawBatch(batch[...], resolution: resolution))
        }
    }

    /// 5m histogram aggregates to 1h (Thanos `downsampleHistogramAggrBatch`): the counter
    /// aggregates re-aggregated as counters, the sums summed, the counts summed.
    static func aggregatedBatch(_ chunks: ArraySlice<AggregateInput>, resolution: Int64,
                                buffer: inout FloatSeriesBuffer) throws(TSDBError) -> AggregateOutput {
        var mint = Int64.max, maxt = Int64.min
        var parts = [AggregateChunk.Part?](repeating: nil, count: 5)
        let counters = try gather(.counter, chunks)
        let sums = try gather(.sum, chunks)
        do throws(HistogramMathError) {
            var counter = HistogramPartBuilder()
            try windows(counters[...], resolution) { (t: Int64, a: inout HistogramAggregator) throws(HistogramMathError) in
                mint = min(mint, t)
                maxt = max(maxt, t)
                try counter.append(t, a.counter)
            }
            var sum = HistogramPartBuilder()
            try windows(sums[...], resolution) { (t: Int64, a: inout HistogramAggregator) throws(HistogramMathError) in
                mint = min(mint, t)
                maxt = max(maxt, t)
                try sum.append(t, a.sum!)
            }
            if !counter.samples.isEmpty { parts[AggregateChunk.Kind.counter.rawValue] = try counter.part() }
            if !sum.samples.isEmpty { parts[AggregateChunk.Kind.sum.rawValue] = try sum.part() }
        } catch {
            throw TSDBError(.unsupported, offset: chunks.first?.range.lowerBound ?? 0, error.detail)
        }
        buffer.removeAll()
        try AggregateFloatDownsampler.gather(.count, chunks, &buffer)
        var windows = 0
        if !buffer.t.isEmpty {
            var e = XOREncoder()
            _ = buffer.windows(resolution) { t, a in
                e.append(t, a.sum)
                mint = min(mint, t)
                maxt = max(maxt, t)
            }
            windows = e.count
            parts[AggregateChunk.Kind.count.rawValue] = AggregateChunk.Part(.xor, e.bytes())
        }
        guard mint != .max else {
            throw TSDBError(.corrupt, offset: chunks.first?.range.lowerBound ?? 0,
                            "histogram aggregate chunks [\(chunks.first?.minTime ?? 0), \(chunks.last?.maxTime ?? 0)] hold no samples")
        }
        return AggregateOutput(minTime: mint, maxTime: maxt, parts: parts, windows: windows)
    }

    /// Thanos `expandFloatHistogramChunkIterator` over one aggregate of every chunk.
    static func gather(_ kind: AggregateChunk.Kind, _ chunks: ArraySlice<AggregateInput>) throws(TSDBError) -> [HistogramSample] {
        var out: [HistogramSample] = []
        for c in chunks {
            _ = try c.withPart(kind) { (enc, p, origin) throws(TSDBError) in
                try expandHistograms(enc, p, origin: origin, into: &out)
            }
        }
        return out
    }
}

/// Appends a histogram chunk's samples as float histograms, without stale markers and
/// samples going back in time (checked from 0 within the chunk, as Thanos does).
func expandHistograms(_ enc: ChunkEncoding, _ p: UnsafeRawBufferPointer, origin: Int,
                      into out: inout [HistogramSample]) throws(TSDBError) {
    var lastT: Int64 = 0
    switch enc {
    case .histogram:
        var it = try HistogramIterator(p, origin: origin)
        while try it.next() {
            let h = it.histogram.toFloat()
            if h.isStale || it.timestamp < lastT { continue }
            out.append((it.timestamp, h))
            lastT = it.timestamp
        }
    case .floatHistogram:
        var it = try FloatHistogramIterator(p, origin: origin)
        while try it.next() {
            let h = it.histogram
            if h.isStale || it.timestamp < lastT { continue }
            out.append((it.timestamp, h))
            lastT = it.timestamp
        }
    default:
        throw TSDBError(.unsupported, offset: origin, "expected a histogram chunk, found encoding \(enc)")
    }
}
