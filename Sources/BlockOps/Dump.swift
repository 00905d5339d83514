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
/// form) and Thanos aggregate chunks print one line per aggregate sample with an `__aggr__`
/// label (`count`, `sum`, `min`, `max`, `counter`) in its sorted place among the labels: per
/// series, all `count` samples in time order, then `sum`, `min`, `max` and `counter`. Every
/// sample of a sub-chunk is printed, including the counter's first raw sample and its
/// trailing sample that repeats the last window's timestamp.
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

    /// `{name="value", ...} ` for the cursor's current series, with `__aggr__="<aggregate>"`
    /// inserted where it sorts when `aggregate` is given.
    func formatPrefix(_ c: Cursor, _ p: inout [UInt8], aggregate: String? = nil) throws {
        p.removeAll(keepingCapacity: true)
        p.append(UInt8(ascii: "{"))
        let ix = c.block.index
        var pending = aggregate
        var first = true
        func separator() {
            if !first { p.append(UInt8(ascii: ",")); p.append(UInt8(ascii: " ")) }
            first = false
        }
        func appendAggregate(_ kind: String) {
            separator()
            p.append(contentsOf: "__aggr__=".utf8)
            var v = kind
            v.withUTF8 { GoText.appendQuoted(UnsafeRawBufferPointer($0), to: &p) }
        }
        for l in c.labels {
            let name = try ix.symbolRange(l.name)
            if let kind = pending, ix.storage.withBytes(name, { n in Self.aggrName.withUnsafeBytes { byteCompare($0, n) < 0 } }) {
                appendAggregate(kind)
                pending = nil
            }
            separator()
            ix.storage.withBytes(name) { p.append(contentsOf: $0) }
            p.append(UInt8(ascii: "="))
            try ix.storage.withBytes(ix.symbolRange(l.value)) { GoText.appendQuoted($0, to: &p) }
        }
        if let kind = pending { appendAggregate(kind) }
        p.append(UInt8(ascii: "}"))
        p.append(UInt8(ascii: " "))
    }

    static let aggrName: [UInt8] = Array("__aggr__".utf8)

    @inline(__always)
    func wanted(_ t: Int64) -> Bool { t >= options.minTime && t <= options.maxTime }

    func emitSingle(_ c: Cursor, prefix: [UInt8]) throws {
        let tomb = c.block.tombstones
        let hasTomb = !tomb.isEmpty
        var aggregates = DumpAggregates()
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
            } else if chunk.encoding == .thanosAggregate {
                try decodeAggregate(chunk, c, source: 0, into: &aggregates)
            } else {
                var samples: [DumpSample] = []
                try decodeOther(chunk, c, into: &samples)
                for s in samples { try write(s, prefix: prefix) }
            }
        }
        try writeAggregates(aggregates, c)
    }

    func emitMerged(_ cs: [Cursor], prefix: [UInt8]) throws {
        var samples: [DumpSample] = []
        var aggregates = DumpAggregates()
        for (k, c) in cs.enumerated() {
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
                } else if chunk.encoding == .thanosAggregate {
                    try decodeAggregate(chunk, c, source: k, into: &aggregates)
                } else {
                    try decodeOther(chunk, c, into: &samples)
                }
            }
        }
        // Stable by time; the first block's sample wins a tie.
        let order = samples.indices.sorted { (samples[$0].t, $0) < (samples[$1].t, $1) }
        var last: Int64? = nil
        for i in order {
            let s = samples[i]
            if s.t == last { continue }
            last = s.t
            try write(s, prefix: prefix)
        }
        try writeAggregates(aggregates, cs[0])
    }

    func write(_ s: DumpSample, prefix: [UInt8]) throws {
        switch s.value {
        case .float(let v): DumpLine.appendFloat(prefix: prefix, v, s.t, to: &out.buffer)
        case .text(let t): DumpLine.appendText(prefix: prefix, t, s.t, to: &out.buffer)
        }
        try out.flushIfFull()
    }

    /// A series' aggregate samples, one aggregate after the other, each in time order. Of
    /// samples at one timestamp from different blocks the first block's are kept; samples
    /// at one timestamp from the same block (the counter's trailing sample) all print.
    func writeAggregates(_ a: DumpAggregates, _ c: Cursor) throws {
        var prefix: [UInt8] = []
        for kind in AggregateChunk.Kind.allCases {
            let list = a.byKind[kind.rawValue]
            if list.isEmpty { continue }
            try formatPrefix(c, &prefix, aggregate: kind.name)
            let order = list.indices.sorted { (list[$0].sample.t, $0) < (list[$1].sample.t, $1) }
            var last: (t: Int64, source: Int)? = nil
            for i in order {
                let (s, source) = list[i]
                if let l = last, l.t == s.t, l.source != source { continue }
                last = (s.t, source)
                try write(s, prefix: prefix)
            }
        }
    }

    /// Histogram and float histogram chunks.
    func decodeOther(_ chunk: RawChunk, _ c: Cursor, into samples: inout [DumpSample]) throws {
        let tomb = c.block.tombstones
        try chunk.withData { (data) throws(TSDBError) in
            let origin = chunk.dataRange.lowerBound
            switch chunk.encoding {
            case .histogram, .floatHistogram:
                try decodeHistograms(chunk.encoding, data, origin: origin) { t, text in
                    if wanted(t) && !tomb.isDeleted(c.ref, t) { samples.append(DumpSample(t: t, value: .text(text))) }
                }
            default:
                throw TSDBError(.unsupported, file: c.block.directory, section: "chunk \(chunk.start)",
                                offset: chunk.start, "chunk encoding \(chunk.encoding) cannot be dumped")
            }
        }
    }

    /// A Thanos aggregate chunk's samples, per aggregate.
    func decodeAggregate(_ chunk: RawChunk, _ c: Cursor, source: Int, into a: inout DumpAggregates) throws {
        let tomb = c.block.tombstones
        try chunk.withData { (data) throws(TSDBError) in
            let origin = chunk.dataRange.lowerBound
            let agg = try AggregateChunk(data, origin: origin)
            for (kind, e) in agg.present {
                let bytes = UnsafeRawBufferPointer(rebasing: data[e.range])
                let o = origin + e.range.lowerBound
                func add(_ t: Int64, _ v: DumpSample.Value) {
                    if wanted(t) && !tomb.isDeleted(c.ref, t) { a.byKind[kind.rawValue].append((DumpSample(t: t, value: v), source)) }
                }
                switch e.encoding {
                case .xor:
                    var it = try XORIterator(bytes, origin: o)
                    while try it.next() { add(it.timestamp, .float(it.value)) }
                case .histogram, .floatHistogram:
                    try decodeHistograms(e.encoding, bytes, origin: o) { add($0, .text($1)) }
                default:
                    throw TSDBError(.unsupported, offset: o, "aggregate \(kind.name) sub-chunk has encoding \(e.encoding)")
                }
            }
        }
    }

    func decodeHistograms(_ enc: ChunkEncoding, _ data: UnsafeRawBufferPointer, origin: Int,
                          _ body: (Int64, String) -> Void) throws(TSDBError) {
        if enc == .histogram {
            var it = try HistogramIterator(data, origin: origin)
            while try it.next() { body(it.timestamp, it.histogram.description) }
        } else {
            var it = try FloatHistogramIterator(data, origin: origin)
            while try it.next() { body(it.timestamp, it.histogram.description) }
        }
    }
}

struct DumpSample {
    enum Value {
        case float(Double)
        case text(String)
    }
    var t: Int64
    var value: Value
}

/// One series' aggregate samples by aggregate (indexed by `AggregateChunk.Kind`), each with
/// the index of the block it came from.
struct DumpAggregates {
    var byKind: [[(sample: DumpSample, source: Int)]] = Array(repeating: [], count: AggregateChunk.Kind.allCases.count)
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
