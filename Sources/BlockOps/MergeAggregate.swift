import TSDB

/// The decoded samples of a Thanos aggregate chunk (encoding 0xFF, downsampled blocks):
/// one float stream per aggregate, indexed by `AggregateChunk.Kind.rawValue`, nil where
/// the chunk has none.
///
/// The counter stream follows Thanos' convention (`ApplyCounterResetsSeriesIterator`): it
/// starts with the first raw sample of the window run and ends with the last raw value
/// repeated at the last window's timestamp, so it may hold one timestamp twice. The
/// other streams hold one sample per window.
struct AggregateSamples: Equatable {
    struct Stream: Equatable {
        var t: [Int64]
        var v: [Double]
        static func == (a: Stream, b: Stream) -> Bool { a.t == b.t && a.v.map(\.bitPattern) == b.v.map(\.bitPattern) }
    }
    var streams: [Stream?]

    static let counter = AggregateChunk.Kind.counter.rawValue

    /// Decodes every sub-chunk; only XOR sub-chunks (float aggregates) can be.
    init(_ raw: RawChunk) throws(MergeFailure) {
        var streams = [Stream?](repeating: nil, count: AggregateChunk.Kind.allCases.count)
        do throws(TSDBError) {
            try raw.withData { (d) throws(TSDBError) in
                let o = raw.dataRange.lowerBound
                let a = try AggregateChunk(d, origin: o)
                for (kind, e) in a.present {
                    guard e.encoding == .xor else {
                        throw TSDBError(.unsupported, offset: o + e.range.lowerBound,
                                        "the \(kind.name) aggregate is a \(e.encoding) chunk; only float aggregates can be merged or trimmed sample by sample")
                    }
                    var s = Stream(t: [], v: [])
                    try XORIterator.decodeAll(UnsafeRawBufferPointer(rebasing: d[e.range]), origin: o + e.range.lowerBound,
                                              timestamps: &s.t, values: &s.v)
                    streams[kind.rawValue] = s
                }
            }
        } catch {
            throw MergeFailure(detail: "aggregate chunk at \(raw.storage.name) offset \(raw.start): \(error.detail)")
        }
        self.streams = streams
    }

    init(streams: [Stream?]) { self.streams = streams }

    /// The window range: the count aggregate's first and last timestamps (Thanos' chunk
    /// bounds), else those of every stream.
    var range: ClosedRange<Int64>? {
        if let c = streams[AggregateChunk.Kind.count.rawValue], let a = c.t.first, let b = c.t.last { return a...b }
        let firsts = streams.compactMap { $0?.t.first }, lasts = streams.compactMap { $0?.t.last }
        guard let a = firsts.min(), let b = lasts.max() else { return nil }
        return a...b
    }

    var isEmpty: Bool { streams.allSatisfy { $0?.t.isEmpty ?? true } }
    var sampleCount: Int { streams.reduce(0) { $0 + ($1?.t.count ?? 0) } }

    /// Samples at times `keep` refuses are removed from every stream.
    func filtered(_ keep: (Int64) -> Bool) -> AggregateSamples {
        AggregateSamples(streams: streams.map { s in
            guard let s else { return nil }
            var out = Stream(t: [], v: [])
            for (t, v) in zip(s.t, s.v) where keep(t) {
                out.t.append(t)
                out.v.append(v)
            }
            return out
        })
    }

    /// Each stream in time order: a stable sort, then one sample per timestamp (the first
    /// written), except in the counter stream, where a timestamp may appear twice.
    func sorted() -> AggregateSamples {
        AggregateSamples(streams: streams.enumerated().map { k, s in
            guard let s else { return nil }
            let order = s.t.indices.sorted { (s.t[$0], $0) < (s.t[$1], $1) }
            var out = Stream(t: [], v: [])
            var run = 0
            for i in order {
                if let last = out.t.last, last == s.t[i] {
                    run += 1
                    if k != Self.counter || run > 1 { continue }
                } else {
                    run = 0
                }
                out.t.append(s.t[i])
                out.v.append(s.v[i])
            }
            return out
        })
    }

    /// Whether every stream is in time order (the counter may repeat a timestamp).
    var isOrdered: Bool {
        streams.enumerated().allSatisfy { k, s in
            guard let s else { return true }
            return zip(s.t, s.t.dropFirst()).allSatisfy { k == Self.counter ? $0 <= $1 : $0 < $1 }
        }
    }

    /// Chained merge per aggregate: one sample per timestamp, the stream listed first
    /// winning a tie; in the counter stream the winner's repeated timestamp is kept whole.
    static func merge(_ inputs: [AggregateSamples]) -> AggregateSamples {
        var out = [Stream?](repeating: nil, count: AggregateChunk.Kind.allCases.count)
        for k in out.indices {
            let present = inputs.compactMap { $0.streams[k] }
            guard !present.isEmpty else { continue }
            var pos = [Int](repeating: 0, count: present.count)
            var s = Stream(t: [], v: [])
            while true {
                var best = -1
                for i in present.indices where pos[i] < present[i].t.count {
                    if best < 0 || present[i].t[pos[i]] < present[best].t[pos[best]] { best = i }
                }
                if best < 0 { break }
                let t = present[best].t[pos[best]]
                while pos[best] < present[best].t.count && present[best].t[pos[best]] == t {
                    s.t.append(t)
                    s.v.append(present[best].v[pos[best]])
                    pos[best] += 1
                    if k != counter { break }
                }
                for i in present.indices {
                    while pos[i] < present[i].t.count && present[i].t[pos[i]] == t { pos[i] += 1 }
                }
            }
            out[k] = s
        }
        return AggregateSamples(streams: out)
    }

    /// The aggregate chunk payload (what follows the 0xFF encoding byte): per aggregate
    /// `uvarint len | encoding | len bytes`, or `uvarint 0` when absent or empty.
    func encoded() throws(MergeFailure) -> [UInt8] {
        var w = ByteWriter(capacity: 64)
        for (k, s) in streams.enumerated() {
            guard let s, !s.t.isEmpty else {
                w.putUvarint(0)
                continue
            }
            guard s.t.count <= XOREncoder.maxSamples else {
                throw MergeFailure(detail: "the \(AggregateChunk.Kind(rawValue: k)!.name) aggregate would hold \(s.t.count) samples, more than one chunk can")
            }
            var e = XOREncoder()
            for (t, v) in zip(s.t, s.v) { e.append(t, v) }
            let data = e.bytes()
            w.putUvarint(UInt64(data.count))
            w.putByte(ChunkEncoding.xor.rawValue)
            w.bytes.append(contentsOf: data)
        }
        return w.bytes
    }
}

extension ChunkPayload {
    /// Thanos counts a downsampled chunk's samples as those of its count aggregate; 0 for
    /// other encodings and for aggregates that do not parse.
    var aggregateSampleCount: Int {
        guard encoding == .thanosAggregate else { return 0 }
        func count(_ d: UnsafeRawBufferPointer) -> Int {
            guard let a = try? AggregateChunk(d), let e = a[.count], e.range.count >= 2 else { return 0 }
            return Int(d[e.range.lowerBound]) << 8 | Int(d[e.range.lowerBound + 1])
        }
        switch self {
        case .record(let r): return r.withData { count($0) }
        case .encoded(_, let d): return d.withUnsafeBytes { count($0) }
        }
    }
}
