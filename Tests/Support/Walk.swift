import TSDB

/// Reads every byte a block reader can reach: all series, all chunks decoded to the last
/// sample. Returns (series, chunks, samples). Throws `TSDBError` on bad input.
public func walkBlock(_ dir: String) throws -> (series: Int, chunks: Int, samples: Int) {
    let b = try Block(directory: dir)
    var labels: [LabelRef] = []
    var metas: [ChunkMeta] = []
    var nSeries = 0, nChunks = 0, nSamples = 0
    for ref in try b.index.allPostings() {
        try b.index.series(ref, labels: &labels, chunks: &metas)
        _ = try b.index.labels(labels)
        nSeries += 1
        for m in metas {
            nChunks += 1
            let c = try b.chunks.chunk(m.ref)
            nSamples += try c.withData { (d) throws(TSDBError) -> Int in try countSamples(c.encoding, d, origin: c.dataRange.lowerBound) }
        }
    }
    for name in b.index.labelNames { _ = try b.index.labelValues(name) }
    for i in 0..<b.index.postingsTableCount { _ = try b.index.postingsList(at: b.index.postingsListOffset(at: i)) }
    for (_, off) in try b.index.labelIndexTable() { _ = try b.index.labelIndexValues(at: off) }
    return (nSeries, nChunks, nSamples)
}

public func countSamples(_ enc: ChunkEncoding, _ d: UnsafeRawBufferPointer, origin: Int) throws(TSDBError) -> Int {
    var n = 0
    switch enc {
    case .xor:
        var it = try XORIterator(d, origin: origin)
        while try it.next() { n += 1 }
    case .histogram:
        var it = try HistogramIterator(d, origin: origin)
        while try it.next() { n += 1 }
    case .floatHistogram:
        var it = try FloatHistogramIterator(d, origin: origin)
        while try it.next() { n += 1 }
    case .thanosAggregate:
        let a = try AggregateChunk(d, origin: origin)
        for (_, e) in a.present {
            n += try countSamples(e.encoding, UnsafeRawBufferPointer(rebasing: d[e.range]), origin: origin + e.range.lowerBound)
        }
    default:
        throw TSDBError(.unsupported, offset: origin, "encoding \(enc)")
    }
    return n
}
