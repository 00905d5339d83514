import TSDB

/// An aggregate chunk of a downsampled block, as input to a further downsampling.
struct AggregateInput {
    var minTime: Int64
    var maxTime: Int64
    let storage: ByteStorage
    /// The aggregate payload (after the 0xFF byte) within `storage`.
    let range: Range<Int>
    let entries: AggregateChunk

    init(minTime: Int64, maxTime: Int64, storage: ByteStorage, range: Range<Int>) throws(TSDBError) {
        self.minTime = minTime
        self.maxTime = maxTime
        self.storage = storage
        self.range = range
        entries = try storage.withBytes(range) { (p) throws(TSDBError) in try AggregateChunk(p, origin: range.lowerBound) }
    }

    /// A freshly built aggregate chunk (a raw chunk found in a downsampled block).
    init(_ out: AggregateOutput) throws(TSDBError) {
        try self.init(minTime: out.minTime, maxTime: out.maxTime, storage: ByteStorage(copying: out.payload), range: 0..<out.payload.count)
    }

    /// Calls `body` with a sub-chunk's encoding, payload and file offset; nil if absent.
    func withPart<R>(_ kind: AggregateChunk.Kind, _ body: (ChunkEncoding, UnsafeRawBufferPointer, Int) throws(TSDBError) -> R) throws(TSDBError) -> R? {
        guard let e = entries[kind] else { return nil }
        let r = (range.lowerBound + e.range.lowerBound)..<(range.lowerBound + e.range.upperBound)
        return try storage.withBytes(r) { (p) throws(TSDBError) in try body(e.encoding, p, r.lowerBound) }
    }

    /// Whether the counter aggregate holds native histograms (Thanos `isHistogramAggrChunk`).
    var isHistogram: Bool {
        guard let c = entries[.counter] else { return false }
        return c.encoding == .histogram || c.encoding == .floatHistogram
    }

    /// Thanos `AggrChunk.NumSamples`: the samples of the count aggregate.
    var windows: Int {
        (try? withPart(.count) { (_, p, _) throws(TSDBError) in p.count >= 2 ? Int(p[0]) << 8 | Int(p[1]) : 0 }) ?? 0
    }
}

/// Float samples gathered from sub-chunks, and the window loop over them.
struct FloatSeriesBuffer {
    var t: [Int64] = []
    var v: [Double] = []

    mutating func removeAll() {
        t.removeAll(keepingCapacity: true)
        v.removeAll(keepingCapacity: true)
    }

    /// Thanos `expandXorChunkIterator`: appends an XOR chunk's samples without stale
    /// markers and without samples that go back in time (the check starts at 0 for each
    /// chunk, so negative timestamps are dropped too).
    mutating func expandXOR(_ p: UnsafeRawBufferPointer, origin: Int) throws(TSDBError) {
        let base = t.count
        try XORIterator.decodeAll(p, origin: origin, timestamps: &t, values: &v)
        compactExpanded(from: base)
    }

    /// Filters the samples from `base` on in place (see `expandXOR`).
    mutating func compactExpanded(from base: Int) {
        let n = t.count
        var w = base
        t.withUnsafeMutableBufferPointer { tp in
            v.withUnsafeMutableBufferPointer { vp in
                var lastT: Int64 = 0
                for i in base..<n {
                    let ti = tp[i], vi = vp[i]
                    if vi.bitPattern == staleNaNBits || ti < lastT { continue }
                    tp[w] = ti
                    vp[w] = vi
                    w &+= 1
                    lastT = ti
                }
            }
        }
        if w < n {
            t.removeLast(n - w)
            v.removeLast(n - w)
        }
    }

    /// Thanos `downsampleBatch`: one `FloatAggregator` window per resolution step, the last
    /// window cut at the last sample. Calls `emit` at every window's end with its
    /// statistics; returns the last window's timestamp.
    func windows(_ resolution: Int64, _ emit: (Int64, FloatAggregator) -> Void) -> Int64 {
        guard let lastT = t.last else { return -1 }
        var a = FloatAggregator()
        var windowT: Int64 = -1
        for i in t.indices {
            if t[i] > windowT {
                if windowT != -1 { emit(windowT, a) }
                a.reset()
                windowT = min(DownsampleWindows.end(t[i], resolution), lastT)
            }
            a.add(v[i])
        }
        emit(windowT, a)
        return windowT
    }
}

/// Thanos `ApplyCounterResetsSeriesIterator` over the counter aggregates of consecutive
/// chunks: a monotonic series in which every reset adds the new value instead of
/// dropping. A sample with the timestamp of the one before it is a chunk's trailing "true
/// last raw value": it is not a sample of its own but the value the next chunk's first
/// sample is compared with. Samples that go back in time and NaNs are skipped.
struct CounterResetsApplier {
    private(set) var total = 0
    private(set) var lastT: Int64 = 0
    /// The last raw value seen (including a trailing one).
    private(set) var lastV = 0.0
    private(set) var totalV = 0.0

    /// Feeds one sample; returns the counter sample it yields, if any.
    @inline(__always)
    mutating func feed(_ t: Int64, _ v: Double) -> (Int64, Double)? {
        if v.isNaN { return nil }
        if total == 0 {
            total = 1
            lastT = t
            lastV = v
            totalV = v
            return (t, v)
        }
        if t > lastT {
            totalV += v >= lastV ? v - lastV : v
            lastT = t
            lastV = v
            total += 1
            return (t, totalV)
        }
        if t == lastT { lastV = v }
        return nil
    }
}

/// 5m aggregates to 1h aggregates for float series (Thanos `downsampleFloatAggrBatch`):
/// count and sum are summed over windows, min and max taken, and the counter rebuilt from
/// the counter aggregates with resets applied across chunk boundaries.
enum AggregateFloatDownsampler {
    static func batch(_ chunks: ArraySlice<AggregateInput>, resolution: Int64, buffer: inout FloatSeriesBuffer) throws(TSDBError) -> AggregateOutput {
        var parts = [AggregateChunk.Part?](repeating: nil, count: 5)
        var mint = Int64.max, maxt = Int64.min
        var windows = 0
        let picks: [(AggregateChunk.Kind, (FloatAggregator) -> Double)] = [
            (.count, { $0.sum }), (.sum, { $0.sum }), (.min, { $0.min }), (.max, { $0.max }),
        ]
        for (kind, pick) in picks {
            buffer.removeAll()
            try gather(kind, chunks, &buffer)
            if buffer.t.isEmpty { continue }
            var e = XOREncoder()
            _ = buffer.windows(resolution) { t, a in
                e.append(t, pick(a))
                mint = min(mint, t)
                maxt = max(maxt, t)
            }
            if kind == .count { windows = e.count }
            parts[kind.rawValue] = AggregateChunk.Part(.xor, e.bytes())
        }

        // The counter: resets applied across the chunks, then windowed like the rest, with
        // the first and the true last raw value kept as in the raw downsampling.
        buffer.removeAll()
        var applier = CounterResetsApplier()
        for c in chunks {
            _ = try c.withPart(.counter) { (enc, p, origin) throws(TSDBError) in
                guard enc == .xor else {
                    throw TSDBError(.unsupported, offset: origin, "float aggregate counter has encoding \(enc)")
                }
                var it = try XORIterator(p, origin: origin)
                while try it.next() {
                    if let (t, v) = applier.feed(it.timestamp, it.value) {
                        // Thanos expands the applied series once more: no stale markers,
                        // nothing before time 0 or going back.
                        if v.bitPattern == staleNaNBits || t < (buffer.t.last ?? 0) { continue }
                        buffer.t.append(t)
                        buffer.v.append(v)
                    }
                }
            }
        }
        if !buffer.t.isEmpty {
            var e = XOREncoder()
            e.append(buffer.t[0], buffer.v[0])
            let lastT = buffer.windows(resolution) { t, a in
                e.append(t, a.counter)
                mint = min(mint, t)
                maxt = max(maxt, t)
            }
            e.append(lastT, applier.lastV)
            parts[AggregateChunk.Kind.counter.rawValue] = AggregateChunk.Part(.xor, e.bytes())
        }
        guard mint != .max else {
            throw TSDBError(.corrupt, offset: chunks.first?.range.lowerBound ?? 0,
                            "aggregate chunks [\(chunks.first?.minTime ?? 0), \(chunks.last?.maxTime ?? 0)] hold no samples")
        }
        return AggregateOutput(minTime: mint, maxTime: maxt, parts: parts, windows: windows)
    }

    /// Thanos `genericAggregate`'s expansion: every chunk's `kind` sub-chunk, expanded.
    static func gather(_ kind: AggregateChunk.Kind, _ chunks: ArraySlice<AggregateInput>, _ buffer: inout FloatSeriesBuffer) throws(TSDBError) {
        for c in chunks {
            _ = try c.withPart(kind) { (enc, p, origin) throws(TSDBError) in
                guard enc == .xor else {
                    throw TSDBError(.unsupported, offset: origin, "float aggregate \(kind.name) has encoding \(enc)")
                }
                try buffer.expandXOR(p, origin: origin)
            }
        }
    }
}
