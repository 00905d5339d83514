import TSDB

/// One chunk of a series, as downsampling reads it: its range from the index and its
/// payload (after the encoding byte).
public struct SeriesChunk: Sendable {
    public var minTime: Int64
    public var maxTime: Int64
    public var encoding: ChunkEncoding
    let storage: ByteStorage
    let range: Range<Int>
    /// Offset of the chunk's record in its file, for errors.
    let start: Int

    public init(meta: ChunkMeta, raw: RawChunk) {
        minTime = meta.minTime
        maxTime = meta.maxTime
        encoding = raw.encoding
        storage = raw.storage
        range = raw.dataRange
        start = raw.start
    }

    /// A chunk held in memory (tests, chunks made on the fly).
    public init(minTime: Int64, maxTime: Int64, encoding: ChunkEncoding, payload: [UInt8]) {
        self.minTime = minTime
        self.maxTime = maxTime
        self.encoding = encoding
        storage = ByteStorage(copying: payload)
        range = 0..<payload.count
        start = 0
    }

    var section: String { "chunk at \(start)" }

    /// Calls `body` with the payload; errors it throws are located in the chunk's file.
    func withData<R>(_ body: (UnsafeRawBufferPointer) throws(TSDBError) -> R) throws(TSDBError) -> R {
        do {
            return try storage.withBytes(range, body)
        } catch {
            throw error.located(file: storage.name, section: section)
        }
    }

    /// The sample count in the header of XOR and histogram chunks.
    var headerSamples: Int {
        guard encoding == .xor || encoding == .histogram || encoding == .floatHistogram, range.count >= 2 else { return 0 }
        return storage.withBytes(range) { Int($0[0]) << 8 | Int($0[1]) }
    }
}

/// One aggregate chunk of the output and the windows it covers (Thanos counts those as
/// the chunk's samples in meta.json).
public struct DownsampledChunk: Sendable {
    public var chunk: OutputChunk
    public var windows: Int
}

/// Downsamples one series at a time, with Thanos' semantics (`pkg/compact/downsample`):
/// raw chunks to aggregates, or aggregates (5m) to coarser aggregates (1h). Buffers are
/// reused from series to series; a series' decoded samples are the most it holds.
public final class SeriesDownsampler {
    public let inputResolution: Int64
    public let resolution: Int64
    var floats = FloatSeriesBuffer()
    var outputs: [AggregateOutput] = []

    public init(inputResolution: Int64, resolution: Int64) {
        self.inputResolution = inputResolution
        self.resolution = resolution
    }

    /// The series' aggregate chunks, in time order. Chunks must be ordered by time and not
    /// overlap; a series whose chunks overlap is refused (so is an encoding that cannot be
    /// downsampled). Errors carry the offset of the chunk at fault; the caller names the
    /// block and series.
    public func downsample(_ chunks: [SeriesChunk]) throws(TSDBError) -> [DownsampledChunk] {
        guard !chunks.isEmpty else { return [] }
        for i in chunks.indices.dropFirst() where chunks[i - 1].maxTime >= chunks[i].minTime {
            throw TSDBError(.corrupt, offset: chunks[i].range.lowerBound,
                            "overlapping chunks: [\(chunks[i - 1].minTime), \(chunks[i - 1].maxTime)] and [\(chunks[i].minTime), \(chunks[i].maxTime)] (chunk \(i) of \(chunks.count)); chunks must be ordered by time and not overlap")
        }
        outputs.removeAll(keepingCapacity: true)
        if inputResolution == 0 {
            try downsampleRaw(chunks[...], resolution: resolution)
        } else {
            try downsampleAggregates(chunks)
        }
        return outputs.map { DownsampledChunk(chunk: $0.chunk, windows: $0.windows) }
    }

    static func isHistogram(_ e: ChunkEncoding) -> Bool { e == .histogram || e == .floatHistogram }

    /// Thanos `Downsample` on raw data: consecutive float chunks and consecutive histogram
    /// chunks are downsampled separately (a series may change from one to the other).
    func downsampleRaw(_ chunks: ArraySlice<SeriesChunk>, resolution: Int64) throws(TSDBError) {
        var i = chunks.startIndex
        while i < chunks.endIndex {
            let hist = Self.isHistogram(chunks[i].encoding)
            var j = i
            while j < chunks.endIndex && Self.isHistogram(chunks[j].encoding) == hist { j += 1 }
            if hist {
                var samples: [HistogramSample] = []
                for c in chunks[i..<j] {
                    try c.withData { (p) throws(TSDBError) in try expandHistograms(c.encoding, p, origin: c.range.lowerBound, into: &samples) }
                }
                do {
                    try HistogramDownsampler.downsampleRaw(samples, resolution: resolution, into: &outputs)
                } catch {
                    throw TSDBError(.unsupported, offset: chunks[i].range.lowerBound, error.detail)
                }
            } else {
                floats.removeAll()
                for c in chunks[i..<j] {
                    guard c.encoding == .xor else {
                        throw TSDBError(.unsupported, file: c.storage.name, section: c.section,
                                        offset: c.range.lowerBound, "chunk encoding \(c.encoding) cannot be downsampled")
                    }
                    try c.withData { (p) throws(TSDBError) in try floats.expandXOR(p, origin: c.range.lowerBound) }
                }
                floats.t.withUnsafeBufferPointer { t in
                    floats.v.withUnsafeBufferPointer { v in
                        RawFloatDownsampler.downsample(t: t, v: v, resolution: resolution, into: &outputs)
                    }
                }
            }
            i = j
        }
    }

    /// Thanos `Downsample` on a downsampled block: aggregates are re-aggregated along the
    /// input chunks' boundaries (a chunk's first and last counter values are the raw
    /// series' own, which the counter needs). A plain chunk found in such a block (Thanos
    /// has written some) is first downsampled to 5m; an empty one is skipped.
    func downsampleAggregates(_ chunks: [SeriesChunk]) throws(TSDBError) {
        var inputs: [AggregateInput] = []
        for c in chunks {
            if c.encoding == .thanosAggregate {
                inputs.append(try AggregateInput(minTime: c.minTime, maxTime: c.maxTime, storage: c.storage, range: c.range))
                continue
            }
            if c.headerSamples == 0 { continue }
            let saved = outputs
            outputs.removeAll()
            try downsampleRaw([c][...], resolution: DownsampleResolution.fiveMinutes)
            for o in outputs { inputs.append(try AggregateInput(o)) }
            outputs = saved
        }
        // Float and histogram aggregates are re-aggregated in separate runs.
        var i = 0
        while i < inputs.count {
            let hist = inputs[i].isHistogram
            var j = i
            while j < inputs.count && inputs[j].isHistogram == hist { j += 1 }
            try downsampleRun(inputs[i..<j], histograms: hist)
            i = j
        }
    }

    /// Thanos `downsampleAggr` and `downsampleAggrLoop`: the run is cut into batches of
    /// whole input chunks, as many as the chunk-size heuristic asks for.
    func downsampleRun(_ run: ArraySlice<AggregateInput>, histograms: Bool) throws(TSDBError) {
        guard let first = run.first, let last = run.last else { return }
        let samples = run.reduce(0) { $0 + $1.windows }
        let target = DownsampleWindows.targetChunkCount(minTime: first.minTime, maxTime: last.maxTime,
                                                        inRes: inputResolution, outRes: resolution, count: samples)
        let batchSize = max(1, run.count / target)
        var start = run.startIndex
        while start < run.endIndex {
            let end = min(start + batchSize, run.endIndex)
            let part = run[start..<end]
            start = end
            do {
                if histograms {
                    outputs.append(try HistogramDownsampler.aggregatedBatch(part, resolution: resolution, buffer: &floats))
                } else {
                    outputs.append(try AggregateFloatDownsampler.batch(part, resolution: resolution, buffer: &floats))
                }
            } catch {
                throw error.located(file: part.first?.storage.name ?? "", section: "aggregate chunks [\(part.first?.minTime ?? 0), \(part.last?.maxTime ?? 0)]")
            }
        }
    }
}
