import Dispatch
import TSDB

/// One input of a compaction: a block on local disk (memory-mapped, chunks read in place) or
/// a block in a bucket (`SourceBlock`: meta.json, index and tombstones in memory, chunk bytes
/// streamed by ranged reads as the merge reaches them). Nothing of a streamed input is written
/// to disk, and its chunk bytes in memory are a few windows, whatever the block's size.
public enum CompactInput: Sendable {
    case local(Block)
    case streamed(SourceBlock)

    public var meta: BlockMeta {
        switch self {
        case .local(let b): b.meta
        case .streamed(let b): b.meta
        }
    }

    public var index: IndexReader {
        switch self {
        case .local(let b): b.index
        case .streamed(let b): b.index
        }
    }

    public var tombstones: Tombstones {
        switch self {
        case .local(let b): b.tombstones
        case .streamed(let b): b.tombstones
        }
    }
}

/// The chunk bytes of a streamed input, series by series in the order the merge walks them.
///
/// The merge is synchronous and runs on a thread of its own (`offPool`); each time it needs
/// the next window of chunks it waits for the stream's next batch, which the stream has
/// usually read ahead already (`windowsInFlight`). So it must not be used on the cooperative
/// pool, whose threads the waiting would take from the reads it waits for.
final class ChunkFeed {
    private let stream: SeriesStream
    private var batch: SeriesBatch?
    private var index = -1
    /// Where in the current series' chunks the next `chunk` call is expected (the merge asks
    /// for them in order), so a series of many chunks is not searched once per chunk.
    private var expected = 0
    private let name: String

    init(_ block: SourceBlock, order: [SeriesRef], options: SeriesStream.Options) throws(TSDBError) {
        stream = try block.series(order[...], options: options)
        name = block.name
    }

    /// Moves to the series `ref`, which must be the next one of the order given at `init`.
    func advance(to ref: SeriesRef) throws {
        index += 1
        expected = 0
        while batch == nil || index >= batch!.count {
            guard let next = try Self.wait(stream) else {
                throw TSDBError(.io, file: name + "/chunks", offset: 0, "the chunk stream ended before series \(ref)")
            }
            batch = next
            index = 0
        }
        guard batch!.ref(index) == ref else {
            throw TSDBError(.io, file: name + "/chunks", offset: 0, "the chunk stream is at series \(batch!.ref(index)), the merge at \(ref)")
        }
    }

    /// The bytes of the current series' chunk `ref` (checked against its CRC by the stream).
    func chunk(_ ref: ChunkRef) throws(TSDBError) -> RawChunk {
        let b = batch!
        let metas = b.chunks(index)
        let guess = metas.startIndex + expected
        let k: Int
        if guess < metas.endIndex, metas[guess].ref == ref {
            k = guess
        } else if let found = metas.firstIndex(where: { $0.ref == ref }) {
            k = found
        } else {
            throw TSDBError(.io, file: name + "/chunks", offset: 0, "chunk \(ref) is not one of series \(b.ref(index))'s")
        }
        expected = k - metas.startIndex + 1
        return try b.chunk(k)
    }

    /// The stream's next batch, waited for on this (non-pool) thread.
    private static func wait(_ stream: SeriesStream) throws -> SeriesBatch? {
        nonisolated(unsafe) let s = stream
        nonisolated(unsafe) var result: Result<SeriesBatch?, any Error> = .success(nil)
        let done = DispatchSemaphore(value: 0)
        Task {
            do { result = .success(try await s.next()) } catch { result = .failure(error) }
            done.signal()
        }
        done.wait()
        return try result.get()
    }
}
