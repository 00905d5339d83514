import TSDB

/// How the samples of overlapping chunks of one series become one stream.
public enum MergeFunction: String, Sendable, CaseIterable {
    /// One sample per timestamp from all inputs (Prometheus' chained merge; Thanos' default).
    case chain
    /// Thanos' penalty deduplication for HA replicas: follow one replica, and switch to
    /// another only across a gap, so near-duplicate samples a few ms apart are not doubled.
    case penalty
}

/// A chunk of one series on its way through a merge: still encoded (copied as bytes if it
/// needs no change) or already decoded into float samples or aggregate streams.
struct MergeChunk {
    enum Body {
        case raw(RawChunk)
        case samples([Int64], [Double])
        case aggregate(AggregateSamples)
    }
    var minTime: Int64
    var maxTime: Int64
    /// Position of the input among the merge's inputs (ties sort by it).
    var input: Int
    var body: Body
}

/// What went wrong merging a series; the caller names the block and series.
struct MergeFailure: Error {
    var detail: String
}

/// Merges the chunks of one series gathered from several inputs, exactly as Prometheus'
/// `compactChunkIterator` (and Thanos' `dedupChunksIterator` for the penalty function) do:
/// chunks are taken in (minTime, maxTime) order; a chunk that overlaps nothing is passed on
/// as it is (its bytes copied); an exact 1:1 duplicate of the previous chunk is dropped;
/// a run of overlapping chunks is decoded, merged into one sample stream, re-encoded in
/// chunks of `samplesPerChunk`, and the chunks after the first go back into the queue,
/// where they may overlap what follows.
struct ChunkMerger {
    var function: MergeFunction = .chain
    var samplesPerChunk = 120
    /// Merge overlapping Thanos aggregate chunks (downsampled blocks) per aggregate, one
    /// sample per timestamp; otherwise they are refused like native histogram chunks.
    var mergeAggregates = false

    /// Counters for the summary.
    var copied = 0
    var reencoded = 0
    var duplicatesDropped = 0
    /// Runs of overlapping chunks merged sample by sample.
    var mergedRuns = 0

    mutating func merge(_ input: [MergeChunk], into out: inout [OutputChunk]) throws(MergeFailure) {
        var queue = input.sorted(by: Self.precedes)
        // Fast path: nothing overlaps (the normal case for horizontal compaction).
        if zip(queue, queue.dropFirst()).allSatisfy({ $0.maxTime < $1.minTime }) {
            for c in queue { try emit(c, into: &out) }
            return
        }
        var head = 0
        while head < queue.count {
            let curr = queue[head]
            head += 1
            var overlapping: [MergeChunk] = []
            var oMax = curr.maxTime
            var prev = curr
            while head < queue.count && queue[head].minTime <= oMax {
                let next = queue[head]
                head += 1
                if next.minTime == prev.minTime && next.maxTime == prev.maxTime && Self.sameBytes(next, prev) {
                    duplicatesDropped += 1
                    continue
                }
                overlapping.append(next)
                oMax = max(oMax, next.maxTime)
                prev = next
            }
            if overlapping.isEmpty {
                try emit(curr, into: &out)
                continue
            }
            mergedRuns += 1
            let pieces = try mergeRun(base: curr, others: overlapping)
            guard !pieces.isEmpty else { continue }
            // First chunk out now; the rest re-enter the queue in order.
            try emit(pieces[0], into: &out)
            if pieces.count > 1 {
                var rest = Array(queue[head...])
                rest.append(contentsOf: pieces.dropFirst())
                rest.sort(by: Self.precedes)
                queue = rest
                head = 0
            }
        }
    }

    /// One run of overlapping chunks merged: float samples in pieces of `samplesPerChunk`;
    /// aggregates (when allowed) as one chunk, since the counter aggregate's first and last
    /// raw values belong to the run as a whole.
    func mergeRun(base: MergeChunk, others: [MergeChunk]) throws(MergeFailure) -> [MergeChunk] {
        if mergeAggregates, case .aggregate(let b) = try Self.decodedAggregate(base) {
            var streams: [AggregateSamples] = []
            for o in others {
                guard case .aggregate(let a) = try Self.decodedAggregate(o) else {
                    throw MergeFailure(detail: "an aggregate chunk overlaps a chunk of another encoding at [\(o.minTime), \(o.maxTime)]")
                }
                streams.append(a)
            }
            // As for floats, the overlapping chunks come first and the base last.
            let merged = AggregateSamples.merge(streams + [b])
            guard let r = merged.range else { return [] }
            return [MergeChunk(minTime: r.lowerBound, maxTime: r.upperBound, input: base.input, body: .aggregate(merged))]
        }
        let (ts, vs) = try mergeSamples(base: base, others: others)
        var pieces: [MergeChunk] = []
        var i = 0
        while i < ts.count {
            let j = min(ts.count, i + samplesPerChunk)
            pieces.append(MergeChunk(minTime: ts[i], maxTime: ts[j - 1], input: base.input,
                                     body: .samples(Array(ts[i..<j]), Array(vs[i..<j]))))
            i = j
        }
        return pieces
    }

    /// The chunk as aggregate streams when it is an aggregate chunk, else unchanged.
    static func decodedAggregate(_ c: MergeChunk) throws(MergeFailure) -> MergeChunk.Body {
        switch c.body {
        case .raw(let r) where r.encoding == .thanosAggregate: return .aggregate(try AggregateSamples(r))
        default: return c.body
        }
    }

    /// The chunk without the samples `keep` refuses (tombstones, deletions, samples outside
    /// the block), decoded, and how many samples went; nil when none is left. Float and
    /// float-aggregate chunks can be cut; others throw.
    static func filtered(_ c: MergeChunk, keep: (Int64) -> Bool) throws(MergeFailure) -> (MergeChunk?, removed: Int, total: Int) {
        if case .aggregate(let a) = try decodedAggregate(c) {
            let f = a.filtered(keep)
            let left = f.range.map { MergeChunk(minTime: $0.lowerBound, maxTime: $0.upperBound, input: c.input, body: .aggregate(f)) }
            return (f.isEmpty ? nil : left, a.sampleCount - f.sampleCount, a.sampleCount)
        }
        let (ts, vs) = try samples(c)
        var kt: [Int64] = [], kv: [Double] = []
        for (t, v) in zip(ts, vs) where keep(t) {
            kt.append(t)
            kv.append(v)
        }
        guard let a = kt.first, let b = kt.last else { return (nil, ts.count, ts.count) }
        return (MergeChunk(minTime: a, maxTime: b, input: c.input, body: .samples(kt, kv)), ts.count - kt.count, ts.count)
    }

    static func precedes(_ a: MergeChunk, _ b: MergeChunk) -> Bool {
        (a.minTime, a.maxTime, a.input) < (b.minTime, b.maxTime, b.input)
    }

    static func sameBytes(_ a: MergeChunk, _ b: MergeChunk) -> Bool {
        switch (a.body, b.body) {
        case let (.raw(x), .raw(y)):
            return x.encoding == y.encoding && x.withData { p in y.withData { p.elementsEqual($0) } }
        case let (.samples(t1, v1), .samples(t2, v2)):
            return t1 == t2 && v1.map(\.bitPattern) == v2.map(\.bitPattern)
        case let (.aggregate(x), .aggregate(y)):
            return x == y
        default:
            return false
        }
    }

    mutating func emit(_ c: MergeChunk, into out: inout [OutputChunk]) throws(MergeFailure) {
        switch c.body {
        case .raw(let r):
            copied += 1
            out.append(OutputChunk(minTime: c.minTime, maxTime: c.maxTime, payload: .record(r)))
        case .samples(let ts, let vs):
            reencoded += 1
            var e = XOREncoder()
            for (t, v) in zip(ts, vs) { e.append(t, v) }
            out.append(OutputChunk(minTime: ts.first!, maxTime: ts.last!, payload: .encoded(.xor, e.bytes())))
        case .aggregate(let a):
            reencoded += 1
            out.append(OutputChunk(minTime: c.minTime, maxTime: c.maxTime, payload: .encoded(.thanosAggregate, try a.encoded())))
        }
    }

    /// Decoded float samples of a chunk.
    static func samples(_ c: MergeChunk) throws(MergeFailure) -> ([Int64], [Double]) {
        switch c.body {
        case .samples(let t, let v):
            return (t, v)
        case .aggregate:
            throw MergeFailure(detail: "overlapping aggregate chunks at [\(c.minTime), \(c.maxTime)] cannot be merged with float chunks")
        case .raw(let r):
            guard r.encoding == .xor else {
                throw MergeFailure(detail: "\(r.encoding) chunk at [\(c.minTime), \(c.maxTime)] cannot be merged or cut sample by sample yet (only XOR float chunks can)")
            }
            var ts: [Int64] = [], vs: [Double] = []
            do throws(TSDBError) {
                try r.withData { (p) throws(TSDBError) in
                    try XORIterator.decodeAll(p, origin: r.dataRange.lowerBound, timestamps: &ts, values: &vs)
                }
            } catch {
                throw MergeFailure(detail: "chunk at \(r.storage.name) offset \(r.start) does not decode: \(error.detail)")
            }
            return (ts, vs)
        }
    }

    func mergeSamples(base: MergeChunk, others: [MergeChunk]) throws(MergeFailure) -> ([Int64], [Double]) {
        var streams: [([Int64], [Double])] = []
        for o in others { streams.append(try Self.samples(o)) }
        let b = try Self.samples(base)
        switch function {
        case .chain:
            // Prometheus passes the overlapping chunks first and the base last.
            return Self.chainMerge(streams + [b])
        case .penalty:
            var acc = b
            for s in streams { acc = Self.penaltyMerge(acc, s) }
            return acc
        }
    }

    /// Every timestamp once; on equal timestamps the stream listed first wins.
    static func chainMerge(_ streams: [([Int64], [Double])]) -> ([Int64], [Double]) {
        var pos = [Int](repeating: 0, count: streams.count)
        var ts: [Int64] = [], vs: [Double] = []
        ts.reserveCapacity(streams.reduce(0) { $0 + $1.0.count })
        vs.reserveCapacity(ts.capacity)
        while true {
            var best = -1
            for k in streams.indices where pos[k] < streams[k].0.count {
                if best < 0 || streams[k].0[pos[k]] < streams[best].0[pos[best]] { best = k }
            }
            if best < 0 { break }
            let t = streams[best].0[pos[best]]
            ts.append(t)
            vs.append(streams[best].1[pos[best]])
            for k in streams.indices where pos[k] < streams[k].0.count && streams[k].0[pos[k]] == t { pos[k] += 1 }
        }
        return (ts, vs)
    }

    /// Thanos' penalty deduplication of two replicas (`dedupSeriesIterator` with the
    /// compactor's no-op value adjustment). After taking a sample from one replica, the
    /// other may only contribute samples later than twice the step just taken (5 s before
    /// any step is known), so the merged series keeps one replica's cadence and switches
    /// replicas only across gaps.
    static func penaltyMerge(_ a: ([Int64], [Double]), _ b: ([Int64], [Double])) -> ([Int64], [Double]) {
        let initialPenalty: Int64 = 5000
        var ia = 0, ib = 0
        var lastT = Int64.min
        var penA: Int64 = 0, penB: Int64 = 0
        var ts: [Int64] = [], vs: [Double] = []
        ts.reserveCapacity(max(a.0.count, b.0.count))
        vs.reserveCapacity(ts.capacity)
        func seek(_ s: [Int64], _ i: inout Int, _ t: Int64) { while i < s.count && s[i] < t { i += 1 } }
        while true {
            seek(a.0, &ia, lastT &+ 1 &+ penA)
            seek(b.0, &ib, lastT &+ 1 &+ penB)
            let aLive = ia < a.0.count, bLive = ib < b.0.count
            if !aLive && !bLive { break }
            if !aLive {
                lastT = b.0[ib]; penB = 0
                ts.append(lastT); vs.append(b.1[ib])
                continue
            }
            if !bLive {
                lastT = a.0[ia]; penA = 0
                ts.append(lastT); vs.append(a.1[ia])
                continue
            }
            let ta = a.0[ia], tb = b.0[ib]
            if ta <= tb {
                penB = lastT != Int64.min ? 2 &* (ta &- lastT) : initialPenalty
                penA = 0
                lastT = ta
                ts.append(ta); vs.append(a.1[ia])
            } else {
                penA = lastT != Int64.min ? 2 &* (tb &- lastT) : initialPenalty
                penB = 0
                lastT = tb
                ts.append(tb); vs.append(b.1[ib])
            }
        }
        return (ts, vs)
    }
}
