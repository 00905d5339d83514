import Foundation

/// One chunk of a series being written: its time range and bytes.
public struct OutputChunk: Sendable {
    public var minTime: Int64
    public var maxTime: Int64
    public var payload: ChunkPayload
    public init(minTime: Int64, maxTime: Int64, payload: ChunkPayload) {
        self.minTime = minTime
        self.maxTime = maxTime
        self.payload = payload
    }
}

/// Writes a new block into `parent`: chunk segments and index stream to
/// `<parent>/<ULID>.tmp-for-creation/`, and `commit` adds an empty tombstones file and
/// meta.json, syncs, and renames the directory to `<parent>/<ULID>`. Until that rename no
/// directory named like a block exists, so a crash leaves only a `.tmp-for-creation`
/// directory, which readers skip (it is not a ULID) and `discard` or a later run removes.
///
/// Series are added in label order with label references into `symbols`.
public final class BlockWriter {
    public let ulid: ULID
    public let parent: String
    public let directory: String
    public let temporaryDirectory: String
    let chunks: ChunkWriter
    let index: IndexWriter
    public private(set) var stats = BlockMeta.Stats()
    var metas: [ChunkMeta] = []
    var payloads: [ChunkPayload] = []
    var done = false

    public init(parent: String, ulid: ULID, symbols: SymbolSet,
                segmentSize: Int = ChunkWriter.defaultSegmentSize) throws(TSDBError) {
        self.ulid = ulid
        self.parent = parent
        directory = parent + "/\(ulid)"
        temporaryDirectory = directory + ".tmp-for-creation"
        if FileManager.default.fileExists(atPath: directory) {
            throw TSDBError(.io, file: directory, offset: 0, "block directory already exists")
        }
        try? FileManager.default.removeItem(atPath: temporaryDirectory)
        do {
            try FileManager.default.createDirectory(atPath: temporaryDirectory, withIntermediateDirectories: true)
        } catch {
            throw TSDBError(.io, file: temporaryDirectory, offset: 0, "mkdir: \(error.localizedDescription)")
        }
        do throws(TSDBError) {
            chunks = try ChunkWriter(directory: temporaryDirectory + "/chunks", segmentSize: segmentSize)
            index = try IndexWriter(path: temporaryDirectory + "/index", symbols: symbols)
        } catch {
            try? FileManager.default.removeItem(atPath: temporaryDirectory)
            throw error
        }
    }

    deinit {
        if !done { discard() }
    }

    /// Adds the next series (in label order). A series without chunks is left out, as
    /// Prometheus and Thanos treat one as a broken index.
    public func add(labels: [LabelRef], chunks series: [OutputChunk]) throws(TSDBError) {
        guard !series.isEmpty else { return }
        payloads.removeAll(keepingCapacity: true)
        for c in series { payloads.append(c.payload) }
        let refs = try chunks.write(series: payloads)
        metas.removeAll(keepingCapacity: true)
        for (c, ref) in zip(series, refs) { metas.append(ChunkMeta(minTime: c.minTime, maxTime: c.maxTime, ref: ref)) }
        try index.addSeries(labels, chunks: metas)
        stats.numSeries += 1
        stats.numChunks += UInt64(series.count)
        for c in series {
            let n = UInt64(c.payload.headerSampleCount)
            stats.numSamples += n
            switch c.payload.encoding {
            case .xor: stats.numFloatSamples = (stats.numFloatSamples ?? 0) + n
            case .histogram, .floatHistogram: stats.numHistogramSamples = (stats.numHistogramSamples ?? 0) + n
            default: break
            }
        }
    }

    /// For chunk encodings whose header has no sample count (Thanos aggregates): the
    /// caller adds the samples it counted.
    public func addSamples(_ n: UInt64) { stats.numSamples += n }

    /// Finishes the files, writes meta.json (with `stats`, and for a Thanos block the files
    /// list, segment files and index stats filled in) and makes the block visible.
    @discardableResult
    public func commit(_ template: BlockMeta) throws(TSDBError) -> BlockMeta {
        do throws(TSDBError) {
            let segments = try chunks.finish()
            try index.finish()
            var meta = template
            meta.ulid = ulid
            meta.stats = stats
            meta.version = 1
            if var t = meta.thanos {
                t.segmentFiles = segments.map(\.name)
                var files = segments.map { ThanosMeta.File(relPath: "chunks/" + $0.name, sizeBytes: $0.size) }
                files.append(ThanosMeta.File(relPath: "index", sizeBytes: Int64(fileSize(temporaryDirectory + "/index"))))
                files.append(ThanosMeta.File(relPath: "meta.json", sizeBytes: nil))
                t.files = files
                t.indexStats = ThanosMeta.IndexStats(seriesMaxSize: index.seriesMaxSize, chunkMaxSize: index.chunkMaxSize)
                meta.thanos = t
            }
            try writeFile(temporaryDirectory + "/tombstones", Tombstones().serialized())
            try writeFile(temporaryDirectory + "/meta.json", Array((meta.serialized() + "\n").utf8))
            try syncDirectory(temporaryDirectory + "/chunks")
            try syncDirectory(temporaryDirectory)
            if rename(temporaryDirectory, directory) != 0 {
                throw TSDBError(.io, file: directory, offset: 0, "rename from \(temporaryDirectory): \(errnoText())")
            }
            done = true
            try syncDirectory(parent)
            return meta
        } catch {
            discard()
            throw error
        }
    }

    /// Abandons the block: removes the temporary directory.
    public func discard() {
        guard !done else { return }
        done = true
        chunks.discard()
        index.discard()
        try? FileManager.default.removeItem(atPath: temporaryDirectory)
    }

    private func fileSize(_ path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.intValue ?? 0
    }
}

/// Writes a small file whole and fsyncs it (meta.json, tombstones, markers), through a
/// temporary name and a rename so it never exists half written.
public func writeFile(_ path: String, _ bytes: [UInt8]) throws(TSDBError) {
    let tmp = path + ".tmp"
    unlink(tmp)
    let out = try FileOutput(path: tmp, bufferSize: max(4096, bytes.count))
    do throws(TSDBError) {
        try out.write(bytes)
        try out.close()
    } catch {
        out.discard()
        throw error
    }
    if rename(tmp, path) != 0 {
        unlink(tmp)
        throw TSDBError(.io, file: path, offset: 0, "rename: \(errnoText())")
    }
}
