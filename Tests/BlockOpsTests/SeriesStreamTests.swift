import Foundation
import ObjectStore
import Testing
import TestSupport
import TSDB
@testable import BlockOps

/// A bucket that fails every ranged read after the first `allowed` ones.
final class FailingBucket: Bucket, @unchecked Sendable {
    let inner: MemoryBucket
    let allowed: Int
    private let lock = NSLock()
    private var reads = 0

    init(_ inner: MemoryBucket, allowed: Int) {
        self.inner = inner
        self.allowed = allowed
    }

    var description: String { "failing " + inner.description }
    func list(prefix: String, recursive: Bool) async throws(ObjectStoreError) -> [String] {
        try await inner.list(prefix: prefix, recursive: recursive)
    }
    func getRange(_ key: String, offset: Int64, length: Int64?) async throws(ObjectStoreError) -> [UInt8] {
        let n = lock.withLock { reads += 1; return reads }
        if n > allowed { throw ObjectStoreError(.server, bucket: description, key: key, "503 after retries") }
        return try await inner.getRange(key, offset: offset, length: length)
    }
    func attributes(_ key: String) async throws(ObjectStoreError) -> ObjectAttributes { try await inner.attributes(key) }
    func download(_ key: String, toFile path: String) async throws(ObjectStoreError) { try await inner.download(key, toFile: path) }
    func upload(_ key: String, bytes: [UInt8]) async throws(ObjectStoreError) { try await inner.upload(key, bytes: bytes) }
    func upload(_ key: String, fromFile path: String) async throws(ObjectStoreError) { try await inner.upload(key, fromFile: path) }
    func delete(_ key: String) async throws(ObjectStoreError) { try await inner.delete(key) }
}

@Suite("SeriesStream: series, chunk metas and chunk bytes in bounded windows")
struct SeriesStreamTests {
    /// Everything the stream hands out, flattened: per series its ref, label refs, chunk
    /// metas and every chunk's record bytes (or the error).
    struct Seen: Equatable {
        var refs: [SeriesRef] = []
        var labels: [[LabelRef]] = []
        var chunks: [[ChunkMeta]] = []
        var records: [[UInt8]] = []
    }

    static func expected(_ dir: String) throws -> Seen {
        let b = try Block(directory: dir)
        var s = Seen()
        var l: [LabelRef] = [], c: [ChunkMeta] = []
        for r in try b.index.allPostings() {
            try b.index.series(r, labels: &l, chunks: &c)
            s.refs.append(r)
            s.labels.append(l)
            s.chunks.append(c)
            for m in c {
                let raw = try b.chunks.chunk(m.ref)
                s.records.append(raw.storage.withBytes(raw.recordRange) { Array($0) })
            }
        }
        return s
    }

    static func drain(_ stream: SeriesStream, maxWindow: Int? = nil) async throws -> Seen {
        var s = Seen()
        while let b = try await stream.next() {
            if let maxWindow { #expect(b.windows.allSatisfy { $0.count <= maxWindow }, "a window of \(b.windows.map(\.count).max()!) bytes") }
            try Self.add(b, to: &s)
        }
        return s
    }

    /// A batch's series, labels, chunk metas and chunk records, appended to `s`.
    static func add(_ b: SeriesBatch, to s: inout Seen) throws {
        for i in b.indices {
            #expect(b.error(i) == nil)
            s.refs.append(b.ref(i))
            s.labels.append(Array(b.labels(i)))
            s.chunks.append(Array(b.chunks(i)))
            for j in b.chunks(i).indices {
                let raw = try b.chunk(j)
                s.records.append(raw.storage.withBytes(raw.recordRange) { Array($0) })
            }
        }
    }

    static let optionSets: [(String, SeriesStream.Options)] = {
        var tiny = SeriesStream.Options()
        tiny.windowBytes = 4096
        tiny.windowsInFlight = 1
        var refetch = SeriesStream.Options()
        refetch.windowBytes = 8192
        refetch.chunkSizeHint = 64  // most chunks are longer: each is fetched again on its own
        refetch.windowsInFlight = 3
        var fewSeries = SeriesStream.Options()
        fewSeries.maxSeriesPerBatch = 3
        var inline = SeriesStream.Options()
        inline.windowBytes = 4096
        inline.windowsInFlight = 0  // no read-ahead: next() reads each window itself
        return [("default", .init()), ("tiny windows", tiny), ("short hint", refetch), ("3 series per batch", fewSeries),
                ("no read-ahead", inline)]
    }()

    @Test("local blocks: the stream hands out exactly what the block readers read", arguments: optionSets)
    func local(name: String, options: SeriesStream.Options) async throws {
        for dir in Fixtures.allBlocks {
            let block = try await SourceBlock.open(.directory(dir))
            let got = try await Self.drain(try block.series(options: options),
                                           maxWindow: options.windowBytes + options.chunkSizeHint + 64 << 10)
            #expect(got == (try Self.expected(dir)), "\(name): \(dir)")
        }
    }

    @Test("batches kept past the next one stay intact (their arrays are not reused while held)", arguments: optionSets)
    func heldBatches(name: String, options: SeriesStream.Options) async throws {
        for dir in Fixtures.allBlocks {
            let block = try await SourceBlock.open(.directory(dir))
            let stream = try block.series(options: options)
            var held: [SeriesBatch] = []
            while let b = try await stream.next() { held.append(b) }
            var s = Seen()
            for b in held { try Self.add(b, to: &s) }
            #expect(s == (try Self.expected(dir)), "\(name): \(dir)")
        }
    }

    @Test("a block in a bucket streams the same bytes, by ranged reads")
    func remote() async throws {
        let bucket = MemoryBucket()
        for d in try Block.directories(at: Fixtures.fixtures + "/demo-bucket") {
            _ = try await BlockTransfer.upload(blockDirectory: d, to: bucket, labels: ["cluster": "demo"])
            let id = try #require(ULID((d as NSString).lastPathComponent))
            var o = SeriesStream.Options.remote
            o.windowBytes = 4096
            let block = try await SourceBlock.open(.bucket(bucket, id))
            #expect(try await Self.drain(try block.series(options: o)) == (try Self.expected(d)))
        }
    }

    @Test("chunks not in series order (refs jump back and forth) come out right")
    func unordered() async throws {
        let (tmp, dir) = try Damage.copy { dir in
            let b = try Block(directory: dir)
            var series: [([(String, String)], [ChunkMeta])] = []
            for r in try b.index.allPostings() {
                let (l, c) = try b.index.seriesLabels(r)
                series.append((l.pairs.map { ($0.name, $0.value) }, c))
            }
            // Series i gets the chunks of series n-1-i: refs run backwards through the file.
            let chunks = series.map(\.1)
            for i in series.indices { series[i].1 = chunks[chunks.count - 1 - i] }
            try Data(IndexBuilder(series: series).build(.v2WithLabelIndices)).write(to: URL(fileURLWithPath: dir + "/index"))
        }
        defer { Fixtures.cleanup(tmp) }
        var o = SeriesStream.Options()
        o.windowBytes = 8192
        let block = try await SourceBlock.open(.directory(dir))
        #expect(try await Self.drain(try block.series(options: o)) == (try Self.expected(dir)))
    }

    @Test("slices of the series walk together give the whole block")
    func slices() async throws {
        let dir = try #require(Fixtures.allBlocks.first { $0.contains("bulk") })
        let block = try await SourceBlock.open(.directory(dir))
        let refs = try block.index.allPostings()
        var whole = Seen()
        for k in 0..<4 {
            let lo = refs.count * k / 4, hi = refs.count * (k + 1) / 4
            let part = try await Self.drain(try block.series(refs[lo..<hi]))
            whole.refs += part.refs
            whole.labels += part.labels
            whole.chunks += part.chunks
            whole.records += part.records
        }
        #expect(whole == (try Self.expected(dir)))
    }

    @Test("a cursor steps through every series once")
    func cursor() async throws {
        let dir = try #require(Fixtures.allBlocks.first)
        let block = try await SourceBlock.open(.directory(dir))
        var o = SeriesStream.Options()
        o.maxSeriesPerBatch = 2
        var c = SeriesCursor(try block.series(options: o))
        var refs: [SeriesRef] = []
        while try await c.next() {
            refs.append(c.ref)
            for k in c.chunks.indices { _ = try c.chunk(k) }
        }
        #expect(refs == (try block.index.allPostings()))
    }

    @Test("a read that fails in the bucket is thrown from next(), not turned into a finding")
    func storageFailure() async throws {
        let inner = MemoryBucket()
        let d = try #require(try Block.directories(at: Fixtures.fixtures + "/demo-bucket").first)
        _ = try await BlockTransfer.upload(blockDirectory: d, to: inner, labels: ["cluster": "demo"])
        let id = try #require(ULID((d as NSString).lastPathComponent))
        let block = try await SourceBlock.open(.bucket(inner, id))
        // The block is open (index in memory); chunk reads now fail.
        let failing = FailingBucket(inner, allowed: 0)
        let segs = block.segments.map { ChunkSegment(name: $0.name, source: BucketSource(failing, key: "\(id)/\($0.name)", size: $0.size)) }
        let b2 = SourceBlock(name: block.name, meta: block.meta, index: block.index, tombstones: block.tombstones,
                             segments: segs, fileSizes: block.fileSizes)
        let stream = try b2.series()
        await #expect(throws: ObjectStoreError.self) { _ = try await stream.next() }
        await #expect(throws: ObjectStoreError.self) { _ = try await BlockVerifier().verify(.bucket(FailingBucket(inner, allowed: 0), id)) }
    }
}
