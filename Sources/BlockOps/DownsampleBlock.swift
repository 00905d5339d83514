import Foundation
import Logging
import TSDB

/// Downsamples one block into a new one, as Thanos' compactor does: every series of the
/// input, in label order, to aggregate chunks of the target resolution, written with
/// `BlockWriter` (the input's symbols, so the new index lists the same symbols as Thanos').
///
/// The new meta.json is the input's with a new ULID and stats, the Thanos section's
/// resolution set and its source "compactor"; labels, time range and the compaction
/// section (level, sources, parents) are kept, so the block belongs to the same group and
/// records the raw blocks it covers.
///
/// Memory: one series' decoded samples at a time; chunks stream to disk.
public enum BlockDownsampler {
    public struct Result: Sendable {
        public var meta: BlockMeta
        public var directory: String
        /// Input series that produced no output (no samples other than stale markers).
        public var droppedSeries: Int
    }

    /// Writes the downsampled block into `parent` (as `<parent>/<ULID>`, made visible only
    /// when complete). `resolution` must be coarser than the block's.
    public static func downsample(
        _ block: Block, to resolution: Int64, parent: String, ulid: ULID? = nil, logger: Logger? = nil
    ) throws -> Result {
        let input = block.meta.resolution
        guard resolution == DownsampleResolution.fiveMinutes || resolution == DownsampleResolution.oneHour else {
            throw BlockOpsError.invalid("resolution \(resolution) ms: Thanos downsamples to 5m (300000) or 1h (3600000)")
        }
        guard input < resolution else {
            throw BlockOpsError.invalid("\(block.directory): block resolution \(DownsampleResolution.name(input)) is not finer than \(DownsampleResolution.name(resolution))")
        }
        guard block.tombstones.isEmpty else {
            throw BlockOpsError.invalid("\(block.directory): block has \(block.tombstones.count) tombstones; Thanos never sees them (they are not uploaded) and downsampling would bring the deleted samples back; apply them first")
        }
        let started = ContinuousClock.now
        let index = block.index
        let (symbols, maps) = SymbolSet.merging([index])
        let writer = try BlockWriter(parent: parent, ulid: ulid ?? ULID(milliseconds: UInt64(Date().timeIntervalSince1970 * 1000)),
                                     symbols: symbols)
        let series = SeriesDownsampler(inputResolution: input, resolution: resolution)
        var labels: [LabelRef] = [], mapped: [LabelRef] = []
        var metas: [ChunkMeta] = []
        var chunks: [SeriesChunk] = []
        var out: [OutputChunk] = []
        var dropped = 0
        do {
            for ref in try index.allPostings() {
                try index.series(ref, labels: &labels, chunks: &metas)
                chunks.removeAll(keepingCapacity: true)
                let produced: [DownsampledChunk]
                do {
                    for m in metas { chunks.append(SeriesChunk(meta: m, raw: try block.chunks.chunk(m.ref))) }
                    produced = try series.downsample(chunks)
                } catch {
                    // Name the series in every error: the chunk's file and offset, or the index.
                    var e = error
                    let name = (try? index.labels(labels).description) ?? "ref \(ref)"
                    e.section = "series \(name)" + (e.section.isEmpty ? "" : ", " + e.section)
                    if e.file.isEmpty { e.file = index.name }
                    if !e.file.hasPrefix("/") && !e.file.hasPrefix(block.directory) { e.file = block.directory + "/" + e.file }
                    throw e
                }
                guard maps[0].map(labels, into: &mapped) else {
                    throw TSDBError(.corrupt, file: index.name, section: "series \(ref)", offset: index.seriesOffset(ref),
                                    "label references outside the symbol table")
                }
                if produced.isEmpty {
                    dropped += 1
                    continue
                }
                out.removeAll(keepingCapacity: true)
                var windows = 0
                for p in produced {
                    out.append(p.chunk)
                    windows += p.windows
                }
                try writer.add(labels: mapped, chunks: out)
                writer.addSamples(UInt64(windows))
            }
            var meta = block.meta
            var thanos = meta.thanos ?? ThanosMeta()
            thanos.resolution = resolution
            thanos.source = "compactor"
            meta.thanos = thanos
            let written = try writer.commit(meta)
            let took = (ContinuousClock.now - started).components
            logger?.info("downsampled block", metadata: [
                "from": "\(block.meta.ulid)", "to": "\(written.ulid)", "resolution": "\(DownsampleResolution.name(resolution))",
                "series": "\(written.stats.numSeries)", "chunks": "\(written.stats.numChunks)",
                "seconds": "\(String(format: "%.3f", Double(took.seconds) + Double(took.attoseconds) / 1e18))",
            ])
            return Result(meta: written, directory: writer.directory, droppedSeries: dropped)
        } catch {
            writer.discard()
            throw error
        }
    }
}
