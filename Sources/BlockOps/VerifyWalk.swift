import TSDB

/// What one slice of the series walk found.
struct Walk: Sendable {
    var log: FindingLog
    var seriesCount = 0
    var numChunks: UInt64 = 0
    var numSamples: UInt64 = 0
    /// Chunks whose samples could not be counted (unreadable, unknown encoding).
    var uncountedChunks = 0
    /// Σ over series of g(ref) · Σ over its label pairs of h(pair): compared with the same
    /// sum over the postings lists (`PostingsPass`).
    var pairSum: UInt64 = 0
    var unreadableSeries: [SeriesRef] = []
    /// The first series whose entry decoded (labels, offset), and whether it is the
    /// slice's first series; the last decoded labels; the end of the last entry when it
    /// decoded. For the checks across slice boundaries.
    var first: ([LabelRef], Int)? = nil
    var firstReadable = false
    var last: [LabelRef]? = nil
    var lastEnd: Int? = nil
}

/// Walks slices of one block's series (each through its own stream).
struct WalkContext: Sendable {
    let block: SourceBlock
    let symbols: SymbolPass
    let deep: Bool
    let cap: Int
    let options: SeriesStream.Options

    func walk(_ refs: ArraySlice<SeriesRef>) async throws -> Walk {
        var w = Walk(log: FindingLog(block: block.name, cap: cap))
        let stream = SeriesStream(block: block, refs: refs, options: options)
        let samples = deep ? SampleChecker() : nil
        var prev: [LabelRef] = []
        var prevEnd: Int? = nil
        while let b = try await stream.next() {
            b.labelList.withUnsafeBufferPointer { labels in
                b.chunkList.withUnsafeBufferPointer { chunks in
                    check(b, labels, chunks, &w, &prev, &prevEnd, samples)
                }
            }
        }
        if w.seriesCount > 0, w.first != nil { w.last = prev }
        return w
    }

    /// One batch of the walk. `prev` holds the last decoded series' labels before it.
    func check(_ b: SeriesBatch, _ L: UnsafeBufferPointer<LabelRef>, _ C: UnsafeBufferPointer<ChunkMeta>, _ w: inout Walk,
               _ prev: inout [LabelRef], _ prevEnd: inout Int?, _ samples: SampleChecker?) {
        let ix = block.index
        let mint = block.meta.minTime
        let maxt = block.meta.maxTime
        let v2 = ix.version >= 2
        let symbolCount = symbols.count
        let raw = ix.storage.raw
        func text(_ l: UnsafeBufferPointer<LabelRef>) -> String { (try? ix.labels(Array(l)).description) ?? "<labels unreadable>" }
        // Where the previous decoded series' labels are: this batch (an index range) or `prev`.
        var inBatch: Range<Int>? = nil
        do {
            for i in 0..<b.count {
                let ref = b.refs[i]
                let at = ix.seriesOffset(ref)
                w.seriesCount += 1
                if let e = b.error(i) {
                    w.log.add(.seriesEntry, "index", e.offset, "\(e.kind.rawValue): \(e.detail)")
                    w.unreadableSeries.append(ref)
                    prevEnd = nil
                    w.lastEnd = nil
                    continue
                }
                if w.seriesCount == 1 { w.firstReadable = true }
                if v2, let end = prevEnd, !SeriesGap.isPadding(raw, end, at), let problem = SeriesGap.check(ix, end, at, final: false) {
                    w.log.add(.seriesEntry, "index", end, problem)
                }
                prevEnd = b.entryEnds[i]
                w.lastEnd = prevEnd
                let lr = (i == 0 ? 0 : b.labelEnds[i - 1])..<b.labelEnds[i]
                let labels = UnsafeBufferPointer(rebasing: L[lr])
                if w.first == nil { w.first = (Array(labels), at) }

                // Labels: present, names sorted and unique, symbols that exist.
                if labels.isEmpty { w.log.add(.emptyLabels, "index", at, "series has no labels") }
                var pairs: UInt64 = 0
                var lastName: UInt32? = nil
                for l in labels {
                    if let n = lastName, l.name <= n {
                        w.log.add(.labelOrder, "index", at, series: text(labels),
                                  "label \((try? ix.symbol(l.name)) ?? "?") is not after \((try? ix.symbol(n)) ?? "?")")
                    }
                    lastName = l.name
                    if v2 ? (Int(l.name) >= symbolCount || Int(l.value) >= symbolCount)
                        : !(symbols.exists(l.name, version: 1) && symbols.exists(l.value, version: 1)) {
                        w.log.add(.seriesEntry, "index", at, "label refers to a symbol (\(l.name) or \(l.value)) that is not in the symbol table")
                        continue
                    }
                    pairs &+= PairHash.pair(l)
                }
                w.pairSum &+= pairs &* PairHash.series(ref)

                // Order against the series before.
                var c = 0
                var havePrev = true
                if let r = inBatch {
                    c = LabelOrder.compare(UnsafeBufferPointer(rebasing: L[r]), labels)
                } else if w.first.map({ $0.1 != at }) ?? false {
                    c = prev.withUnsafeBufferPointer { LabelOrder.compare($0, labels) }
                } else {
                    havePrev = false
                }
                if havePrev && c >= 0 {
                    let before = inBatch.map { text(UnsafeBufferPointer(rebasing: L[$0])) } ?? prev.withUnsafeBufferPointer { text($0) }
                    if c == 0 {
                        w.log.add(.duplicateSeries, "index", at, series: text(labels), "the same label set as the series before it")
                    } else {
                        w.log.add(.seriesOrder, "index", at, series: text(labels), "series does not sort after \(before)")
                    }
                }
                inBatch = lr

                // Chunks.
                let cr = b.chunkBase(i)..<b.chunkEnds[i]
                if cr.isEmpty { w.log.add(.seriesWithoutChunks, "index", at, series: text(labels), "series has no chunks") }
                w.numChunks += UInt64(cr.count)
                for k in cr {
                    let c = C[k]
                    let slot = b.slots[k]
                    if slot.window < 0 {
                        w.uncountedChunks += 1
                        // A segment whose header is wrong was reported once, for the file.
                        if c.ref.segment < block.segments.count, block.segments[c.ref.segment].problem != nil { continue }
                        if let e = b.chunkErrors[k] {
                            w.log.add(e.kind == .checksum ? .chunkChecksum : .chunkRef, e.file.isEmpty ? "chunks" : e.file,
                                      e.offset, series: text(labels), e.detail)
                        }
                    } else {
                        let enc = slot.encoding
                        if !enc.isKnown {
                            w.uncountedChunks += 1
                            w.log.add(.chunkEncoding, block.segments[c.ref.segment].name, c.ref.offset, series: text(labels),
                                      "unknown chunk encoding \(enc.rawValue)")
                        } else if slot.samples >= 0 {
                            w.numSamples &+= UInt64(slot.samples)
                        }
                    }
                    if k > cr.lowerBound, c.minTime <= C[k - 1].maxTime {
                        let p = C[k - 1]
                        if c.minTime == p.minTime, c.maxTime == p.maxTime, let r = try? b.chunk(k), let lr = try? b.chunk(k - 1),
                           Self.sameBytes(r, lr) {
                            w.log.add(.duplicateChunk, "index", at, series: text(labels),
                                      "chunk [\(c.minTime), \(c.maxTime)] is an exact copy of the one before it")
                        } else {
                            w.log.add(.chunkOrder, "index", at, series: text(labels),
                                      "chunk [\(c.minTime), \(c.maxTime)] starts at or before the previous chunk's end \(p.maxTime)")
                        }
                    }
                    if c.minTime == maxt {
                        w.log.add(.chunkAtMaxTime, "index", at, series: text(labels),
                                  "chunk starts exactly at the block's maxTime \(maxt) (Prometheus issue 347)")
                    } else if c.minTime < mint || c.maxTime >= maxt || c.minTime > c.maxTime {
                        w.log.add(.chunkOutsideBlock, "index", at, series: text(labels),
                                  "chunk [\(c.minTime), \(c.maxTime)] is outside the block [\(mint), \(maxt))")
                    }
                    if let samples, slot.window >= 0, let r = try? b.chunk(k), r.encoding.isKnown, let problem = samples.check(r, c) {
                        w.log.add(.chunkSamples, block.segments[c.ref.segment].name, c.ref.offset, series: text(labels), problem)
                    }
                }
            }
        }
        if let r = inBatch {
            prev.removeAll(keepingCapacity: true)
            prev.append(contentsOf: L[r])
        }
    }

    static func sameBytes(_ a: RawChunk, _ b: RawChunk) -> Bool {
        a.recordRange.count == b.recordRange.count
            && a.storage.withBytes(a.recordRange) { x in b.storage.withBytes(b.recordRange) { byteCompare(x, $0) == 0 } }
    }
}

/// The hashes that tie series to postings: h(pair) from the symbols' bytes, g(series ref).
enum PairHash {
    @inline(__always)
    static func mix(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// h(pair), from the symbol references as a series stores them.
    @inline(__always)
    static func pair(_ l: LabelRef) -> UInt64 { mix(UInt64(l.name) << 32 | UInt64(l.value)) | 1 }

    @inline(__always)
    static func series(_ ref: SeriesRef) -> UInt64 { mix(ref ^ 0x2545_F491_4F6C_DD1D) }

}

/// --deep: decodes a chunk and compares its samples with the index's chunk meta.
final class SampleChecker {
    let ts = UnsafeMutableBufferPointer<Int64>.allocate(capacity: 1 << 16)
    let vs = UnsafeMutableBufferPointer<Double>.allocate(capacity: 1 << 16)

    deinit {
        ts.deallocate()
        vs.deallocate()
    }

    /// What is wrong, or nil: samples must lie exactly on the index's [minTime, maxTime]
    /// and strictly increase.
    func check(_ r: RawChunk, _ c: ChunkMeta) -> String? {
        var n = 0
        do {
            try r.withData { (d) throws(TSDBError) in
                let o = r.dataRange.lowerBound
                switch r.encoding {
                case .xor:
                    n = try XORIterator.decode(d, origin: o, timestamps: ts, values: vs)
                case .histogram:
                    var it = try HistogramIterator(d, origin: o)
                    while n < ts.count, try it.next() { ts[n] = it.timestamp; n += 1 }
                case .floatHistogram:
                    var it = try FloatHistogramIterator(d, origin: o)
                    while n < ts.count, try it.next() { ts[n] = it.timestamp; n += 1 }
                default:
                    // Aggregates: each sub-chunk must decode; their times follow windows,
                    // not the chunk meta, so only order is checked (on the count aggregate,
                    // decoded last so its times stay in the buffer).
                    let a = try AggregateChunk(d, origin: o)
                    for (kind, e) in a.present.sorted(by: { ($0.0 == .count ? 1 : 0) < ($1.0 == .count ? 1 : 0) })
                    where e.encoding == .xor {
                        let m = try XORIterator.decode(UnsafeRawBufferPointer(rebasing: d[e.range]), origin: o + e.range.lowerBound,
                                                       timestamps: ts, values: vs)
                        if kind == .count { n = m }
                    }
                }
            }
        } catch {
            return "does not decode: \(error.kind.rawValue) at \(error.offset): \(error.detail)"
        }
        guard n > 0 else { return "holds no samples" }
        // One branch-free pass (it vectorises); the position only when something is wrong.
        var increasing = true
        for i in 1..<n { increasing = increasing && ts[i] > ts[i - 1] }
        if !increasing, let i = (1..<n).first(where: { ts[$0] <= ts[$0 - 1] }) {
            return "timestamp \(ts[i]) at sample \(i) does not increase on \(ts[i - 1])"
        }
        if r.encoding != .thanosAggregate && (ts[0] != c.minTime || ts[n - 1] != c.maxTime) {
            return "samples span [\(ts[0]), \(ts[n - 1])], the index says [\(c.minTime), \(c.maxTime)]"
        }
        return nil
    }
}
