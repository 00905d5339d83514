import TSDB

/// What `block dump` prints: samples in [minTime, maxTime] (inclusive, like promtool) of
/// series matching every matcher.
public struct DumpOptions: Sendable {
    public var minTime: Int64 = .min
    public var maxTime: Int64 = .max
    public var matchers: [Matcher] = []
    public init() {}
}

/// Prints samples as Prometheus 2.42 `promtool tsdb dump` does: one line per float sample,
/// `{labels} %g ts`, series in label order, samples in time order; series found in several
/// blocks are merged, a timestamp present in more than one block printed once.
///
/// Beyond promtool 2.42 (which stops a series at its first histogram sample), native
/// histogram samples print as `{labels} {count:..., sum:..., buckets} ts` (promtool >= 2.48's
/// form) and Thanos aggregate chunks print one line per aggregate with an `__aggr__` label.
public struct Dumper {
    let blocks: [Block]
    let options: DumpOptions
    let out: OutputSink
    /// Series matching any of these matcher lists are printed.
    let selectors: [[Matcher]]
    /// Reused decode buffers.
    final class Scratch {
        var t: [Int64] = []
        var v: [Double] = []
    }
    let scratch = Scratch()

    public init(blocks: [Block], options: DumpOptions, out: OutputSink, selectors: [[Matcher]]? = nil) {
        self.blocks = blocks
        self.options = options
        self.out = out
        self.selectors = selectors ?? [options.matchers]
    }

    /// One block's selected series, walked in order.
    struct Cursor {
        let block: Block
        let refs: [SeriesRef]
        var i = 0
        var labels: [LabelRef] = []
        var chunks: [ChunkMeta] = []
        /// Labels as name\0value\0..., for ordering across blocks.
        var key: [UInt8] = []

        var done: Bool { i >= refs.count }
        var ref: SeriesRef { refs[i] }

        mutating func load(forMerge: Bool) throws {
            try block.index.series(refs[i], labels: &labels, chunks: &chunks)
            if forMerge {
                key.removeAll(keepingCapacity: true)
                let raw = block.index.storage
                for l in labels {
                    try raw.withBytes(block.index.symbolRange(l.name)) { key.append(contentsOf: $0) }
                    key.append(0)
                    try raw.withBytes(block.index.symbolRange(l.value)) { key.append(contentsOf: $0) }
                    key.append(0)
                }
            }
        }
    }

    public func run() throws {
        var cursors: [Cursor] = []
        // Blocks overlapping [minTime, maxTime], as Prometheus' querier chooses them.
        for b in blocks where b.meta.minTime <= options.maxTime && options.minTime < b.meta.maxTime {
            var refs = try b.index.select(selectors[0])
            for sel in selectors.dropFirst() { refs = Array(Set(refs).union(try b.index.select(sel))).sorted() }
            if !refs.isEmpty { cursors.append(Cursor(block: b, refs: refs)) }
        }
        var prefix: [UInt8] = []
        if cursors.count == 1 {
            var c = cursors[0]
            while !c.done {
                try c.load(forMerge: false)
                try formatPrefix(c, &prefix)
                try emitSingle(c, prefix: prefix)
                c.i += 1
            }
        } else {
            for k in cursors.indices { try cursors[k].load(forMerge: true) }
            cursors.removeAll { $0.done }
            while !cursors.isEmpty {
                // The smallest label set among the cursors, and every cursor that has it.
                var lo = 0
                for k in 1..<cursors.count where cursors[k].key.lexicographicallyPrecedes(cursors[lo].key) { lo = k }
                let same = cursors.indices.filter { cursors[$0].key == cursors[lo].key }
                try formatPrefix(cursors[lo], &prefix)
                if same.count == 1 {
                    try emitSingle(cursors[lo], prefix: prefix)
                } else {
                    try emitMerged(same.map { cursors[$0] }, prefix: prefix)
                }
                for k in same {
                    cursors[k].i += 1
                    if !cursors[k].done { try cursors[k].load(forMerge: true) }
                }
                cursors.removeAll { $0.done }
            }
        }
        try out.flush()
    }

    /// `{name="value", ...} ` for the cursor's current series.
    func formatPrefix(_ c: Cursor, _ p: inout [UInt8]) throws {
        p.removeAll(keepingCapacity: true)
        p.append(UInt8(ascii: "{"))
        let ix = c.block.index
        for (k, l) in c.labels.enumerated() {
            if k > 0 { p.append(UInt8(ascii: ",")); p.append(UInt8(ascii: " ")) }
            try ix.storage.withBytes(ix.symbolRange(l.name)) { p.append(contentsOf: $0) }
            p.append(UInt8(ascii: "="))
            try ix.storage.withBytes(ix.symbolRange(l.value)) { GoText.appendQuoted($0, to: &p) }
        }
        p.append(UInt8(ascii: "}"))
        p.append(UInt8(ascii: " "))
    }

    @inline(__always)
    func wanted(_ t: Int64) -> Bool { t >= options.minTime && t <= options.maxTime }

    func emitSingle(_ c: Cursor, prefix: [UInt8]) throws {
        let tomb = c.block.tombstones
        let hasTomb = !tomb.isEmpty
        for m in c.chunks where m.maxTime >= options.minTime && m.minTime <= options.maxTime {
            let chunk = try c.block.chunks.chunk(m.ref)
            if chunk.encoding == .xor {
                scratch.t.removeAll(keepingCapacity: true)
                scratch.v.removeAll(keepingCapacity: true)
                try chunk.withData { (data) throws(TSDBError) in
                    try XORIterator.decodeAll(data, origin: chunk.dataRange.lowerBound, timestamps: &scratch.t, values: &scratch.v)
                }
                for k in scratch.t.indices {
                    let t = scratch.t[k]
                    if !wanted(t) || (hasTomb && tomb.isDeleted(c.ref, t)) { continue }
                    DumpLine.appendFloat(prefix: prefix, scratch.v[k], t, to: &out.buffer)
                }
                try out.flushIfFull()
            } else {
                var samples: [DumpSample] = []
                try decodeOther(chunk, c, into: &samples)
                for s in samples { try write(s, prefix: prefix) }
            }
        }
    }

    func emitMerged(_ cs: [Cursor], prefix: [UInt8]) throws {
        var samples: [DumpSample] = []
        for c in cs {
            for m in c.chunks where m.maxTime >= options.minTime && m.minTime <= options.maxTime {
                let chunk = try c.block.chunks.chunk(m.ref)
                if chunk.encoding == .xor {
                    try chunk.withData { (data) throws(TSDBError) in
                        var it = try XORIterator(data, origin: chunk.dataRange.lowerBound)
                        while try it.next() {
                            guard wanted(it.timestamp) && !c.block.tombstones.isDeleted(c.ref, it.timestamp) else { continue }
                            samples.append(DumpSample(t: it.timestamp, value: .float(it.value)))
                        }
                    }
                } else {
                    try decodeOther(chunk, c, into: &samples)
                }
            }
        }
        // Stable by time; the first block's sample wins a tie.
        let order = samples.indices.sorted { (samples[$0].t, $0) < (samples[$1].t, $1) }
        var last: (Int64, [UInt8])? = nil
        for i in order {
            let s = samples[i]
            if let l = last, l.0 == s.t, l.1 == s.labelSuffixKey { continue }
            last = (s.t, s.labelSuffixKey)
            try write(s, prefix: prefix)
        }
    }

    func write(_ s: DumpSample, prefix: [UInt8]) throws {
        switch s.value {
        case .float(let v):
            DumpLine.appendFloat(prefix: prefix, v, s.t, to: &out.buffer)
        case .text(let t):
            DumpLine.appendText(prefix: prefix, t, s.t, to: &out.buffer)
        case .aggregate(let name, let v):
            // Insert __aggr__ as the first label: it sorts before every other name.
            out.buffer.append(UInt8(ascii: "{"))
            out.buffer.append(contentsOf: "__aggr__=\"\(name)\"".utf8)
            if prefix.count > 3 { out.buffer.append(contentsOf: [UInt8(ascii: ","), UInt8(ascii: " ")]) }
            out.buffer.append(contentsOf: prefix[1...])
            GoText.appendFloat(v, to: &out.buffer)
            DumpLine.appendTimestamp(s.t, to: &out.buffer)
        }
        try out.flushIfFull()
    }

    /// Histogram, float histogram and Thanos aggregate chunks.
    func decodeOther(_ chunk: RawChunk, _ c: Cursor, into samples: inout [DumpSample]) throws {
        let tomb = c.block.tombstones
        try chunk.withData { (data) throws(TSDBError) in
            let origin = chunk.dataRange.lowerBound
            switch chunk.encoding {
            case .histogram:
                var it = try HistogramIterator(data, origin: origin)
                while try it.next() {
                    guard wanted(it.timestamp) && !tomb.isDeleted(c.ref, it.timestamp) else { continue }
                    samples.append(DumpSample(t: it.timestamp, value: .text(it.histogram.description)))
                }
            case .floatHistogram:
                var it = try FloatHistogramIterator(data, origin: origin)
                while try it.next() {
                    guard wanted(it.timestamp) && !tomb.isDeleted(c.ref, it.timestamp) else { continue }
                    samples.append(DumpSample(t: it.timestamp, value: .text(it.histogram.description)))
                }
            case .thanosAggregate:
                let agg = try AggregateChunk(data, origin: origin)
                for (kind, e) in agg.present {
                    let bytes = UnsafeRawBufferPointer(rebasing: data[e.range])
                    let o = origin + e.range.lowerBound
                    switch e.encoding {
                    case .xor:
                        var it = try XORIterator(bytes, origin: o)
                        while try it.next() {
                            guard wanted(it.timestamp) else { continue }
                            samples.append(DumpSample(t: it.timestamp, value: .aggregate(kind.name, it.value)))
                        }
                    case .floatHistogram:
                        var it = try FloatHistogramIterator(bytes, origin: o)
                        while try it.next() {
                            guard wanted(it.timestamp) else { continue }
                            samples.append(DumpSample(t: it.timestamp, value: .text(it.histogram.description)))
                        }
                    default:
                        throw TSDBError(.unsupported, offset: o, "aggregate \(kind.name) sub-chunk has encoding \(e.encoding)")
                    }
                }
            default:
                throw TSDBError(.unsupported, file: c.block.directory, section: "chunk \(chunk.start)",
                                offset: chunk.start, "chunk encoding \(chunk.encoding) cannot be dumped")
            }
        }
    }
}

struct DumpSample {
    enum Value {
        case float(Double)
        case text(String)
        case aggregate(String, Double)
    }
    var t: Int64
    var value: Value
    /// Aggregates of one timestamp differ by kind, so they are not duplicates of each other.
    var labelSuffixKey: [UInt8] {
        if case .aggregate(let n, _) = value { return Array(n.utf8) }
        return []
    }
}

extension Dumper {
    /// Several selectors (promtool >= 2.50's repeated --match): series matching any of them.
    public static func run(blocks: [Block], selectors: [[Matcher]], minTime: Int64, maxTime: Int64, out: OutputSink) throws {
        var o = DumpOptions()
        o.minTime = minTime
        o.maxTime = maxTime
        try Dumper(blocks: blocks, options: o, out: out, selectors: selectors).run()
    }
}
