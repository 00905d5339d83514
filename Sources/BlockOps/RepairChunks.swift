import TSDB

/// What a repair does with one chunk whose checksum passed: it is decoded to the last
/// sample. A chunk that does not decode (or has an encoding nobody knows) is dropped; one
/// whose samples are out of time order is re-sorted (one sample per timestamp) and
/// re-encoded; one whose samples do not span what the index says keeps its bytes under
/// the samples' true range. Native histogram chunks cannot be re-encoded yet, so one with
/// samples out of order is dropped.
enum ChunkCheck {
    enum Verdict {
        /// Use this chunk (maybe re-ranged or re-encoded); `note` says what changed.
        case keep(MergeChunk, note: String?)
        case drop(reason: String, lost: Bool)
    }

    static func check(_ c: MergeChunk, _ raw: RawChunk) -> Verdict {
        let index = "[\(c.minTime), \(c.maxTime)]"
        switch raw.encoding {
        case .xor:
            var ts: [Int64] = [], vs: [Double] = []
            do throws(TSDBError) {
                try raw.withData { (d) throws(TSDBError) in try XORIterator.decodeAll(d, origin: raw.dataRange.lowerBound, timestamps: &ts, values: &vs) }
            } catch {
                return .drop(reason: "chunk \(index) does not decode (\(error.detail)); its samples are lost", lost: true)
            }
            guard !ts.isEmpty else { return .drop(reason: "chunk \(index) holds no samples", lost: false) }
            if !zip(ts, ts.dropFirst()).allSatisfy({ $0 < $1 }) {
                let order = ts.indices.sorted { (ts[$0], $0) < (ts[$1], $1) }
                var kt: [Int64] = [], kv: [Double] = []
                for i in order where kt.last != ts[i] {
                    kt.append(ts[i])
                    kv.append(vs[i])
                }
                let gone = ts.count - kt.count
                return .keep(MergeChunk(minTime: kt.first!, maxTime: kt.last!, input: c.input, body: .samples(kt, kv)),
                             note: "chunk \(index): samples out of time order, re-sorted and re-encoded"
                                 + (gone > 0 ? " (\(gone) repeated timestamp(s) kept once)" : ""))
            }
            return ranged(c, ts.first!...ts.last!)
        case .histogram, .floatHistogram:
            var ts: [Int64] = []
            do throws(TSDBError) {
                try raw.withData { (d) throws(TSDBError) in
                    if raw.encoding == .histogram {
                        var it = try HistogramIterator(d, origin: raw.dataRange.lowerBound)
                        while try it.next() { ts.append(it.timestamp) }
                    } else {
                        var it = try FloatHistogramIterator(d, origin: raw.dataRange.lowerBound)
                        while try it.next() { ts.append(it.timestamp) }
                    }
                }
            } catch {
                return .drop(reason: "\(raw.encoding) chunk \(index) does not decode (\(error.detail)); its samples are lost", lost: true)
            }
            guard !ts.isEmpty else { return .drop(reason: "chunk \(index) holds no samples", lost: false) }
            guard zip(ts, ts.dropFirst()).allSatisfy({ $0 < $1 }) else {
                return .drop(reason: "\(raw.encoding) chunk \(index) has samples out of time order, and native histogram chunks cannot be re-encoded yet; its \(ts.count) samples are lost", lost: true)
            }
            return ranged(c, ts.first!...ts.last!)
        case .thanosAggregate:
            if !onlyFloatAggregates(raw) {
                // Native histogram aggregates cannot be decoded to floats or re-encoded:
                // kept as they are when every sub-chunk decodes.
                return decodesAsAggregate(raw) ? .keep(c, note: nil)
                    : .drop(reason: "aggregate chunk \(index) does not decode; its samples are lost", lost: true)
            }
            let a: AggregateSamples
            do { a = try AggregateSamples(raw) } catch {
                return .drop(reason: "aggregate chunk \(index) does not decode (\(error.detail)); its samples are lost", lost: true)
            }
            guard let r = a.range, !a.isEmpty else { return .drop(reason: "aggregate chunk \(index) holds no samples", lost: false) }
            if !a.isOrdered {
                let s = a.sorted()
                guard let sr = s.range else { return .drop(reason: "aggregate chunk \(index) holds no samples", lost: false) }
                return .keep(MergeChunk(minTime: sr.lowerBound, maxTime: sr.upperBound, input: c.input, body: .aggregate(s)),
                             note: "aggregate chunk \(index): samples out of time order, re-sorted and re-encoded")
            }
            return ranged(c, r)
        default:
            return .drop(reason: "chunk \(index) has the unknown encoding \(raw.encoding.rawValue); its samples are lost", lost: true)
        }
    }

    /// Whether an aggregate chunk parses and holds only XOR sub-chunks.
    static func onlyFloatAggregates(_ raw: RawChunk) -> Bool {
        raw.withData { d in
            guard let a = try? AggregateChunk(d) else { return true }  // not parsing: AggregateSamples says why
            return a.present.allSatisfy { $0.1.encoding == .xor }
        }
    }

    /// Whether every sub-chunk of an aggregate chunk decodes to its last sample.
    static func decodesAsAggregate(_ raw: RawChunk) -> Bool {
        raw.withData { d in
            do throws(TSDBError) {
                let a = try AggregateChunk(d)
                for (_, e) in a.present {
                    let sub = UnsafeRawBufferPointer(rebasing: d[e.range])
                    switch e.encoding {
                    case .xor:
                        var it = try XORIterator(sub)
                        while try it.next() {}
                    case .floatHistogram:
                        var it = try FloatHistogramIterator(sub)
                        while try it.next() {}
                    default:
                        return false
                    }
                }
                return true
            } catch {
                return false
            }
        }
    }

    /// The chunk's bytes under the range its samples really span.
    static func ranged(_ c: MergeChunk, _ r: ClosedRange<Int64>) -> Verdict {
        if r.lowerBound == c.minTime && r.upperBound == c.maxTime { return .keep(c, note: nil) }
        var fixed = c
        fixed.minTime = r.lowerBound
        fixed.maxTime = r.upperBound
        return .keep(fixed, note: "chunk [\(c.minTime), \(c.maxTime)] in the index; its samples span [\(r.lowerBound), \(r.upperBound)], which the index now says")
    }
}
