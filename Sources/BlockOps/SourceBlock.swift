import Foundation
import ObjectStore
import TSDB

/// Where a block's files are: a local directory, or `<ULID>/` in a bucket.
public enum BlockLocation: Sendable {
    case directory(String)
    case bucket(any Bucket, ULID)

    /// The block's name: its directory's last component, or its ULID.
    public var name: String {
        switch self {
        case .directory(let d): (d as NSString).lastPathComponent
        case .bucket(_, let id): id.description
        }
    }

    /// Names a file of the block in messages.
    public func describe(_ file: String) -> String {
        switch self {
        case .directory(let d): d + "/" + file
        case .bucket(_, let id): "\(id)/\(file)"
        }
    }

    /// The block's own files (meta.json, index, tombstones, chunks/NNNNNN) and their sizes.
    /// Marker files and anything else are left out.
    public func files() async throws -> [String: Int64] {
        switch self {
        case .directory(let dir):
            var out: [String: Int64] = [:]
            let fm = FileManager.default
            for f in ["meta.json", "index", "tombstones"] {
                if let n = (try? fm.attributesOfItem(atPath: dir + "/" + f))?[.size] as? NSNumber { out[f] = n.int64Value }
            }
            for n in (try? fm.contentsOfDirectory(atPath: dir + "/chunks")) ?? [] where Self.isSegmentName(n) {
                if let s = (try? fm.attributesOfItem(atPath: dir + "/chunks/" + n))?[.size] as? NSNumber {
                    out["chunks/" + n] = s.int64Value
                }
            }
            return out
        case .bucket(let b, let id):
            let prefix = "\(id)/"
            let names = try await b.list(prefix: prefix, recursive: true).map { String($0.dropFirst(prefix.count)) }
                .filter { ["meta.json", "index", "tombstones"].contains($0) || ($0.hasPrefix("chunks/") && Self.isSegmentName(String($0.dropFirst(7)))) }
            return try await withThrowingTaskGroup(of: (String, Int64).self) { g in
                for n in names { g.addTask { (n, try await b.attributes(prefix + n).size) } }
                var out: [String: Int64] = [:]
                while let (n, s) = try await g.next() { out[n] = s }
                return out
            }
        }
    }

    static func isSegmentName(_ n: String) -> Bool { !n.isEmpty && n.utf8.allSatisfy { $0 >= 48 && $0 <= 57 } }

    /// A whole file in memory: memory-mapped locally, read from a bucket by parallel ranged
    /// reads (never written to disk).
    public func load(_ file: String, size: Int64) async throws -> ByteStorage {
        switch self {
        case .directory(let d):
            return try ByteStorage.map(path: d + "/" + file)
        case .bucket(let b, let id):
            return try await BucketSource(b, key: "\(id)/\(file)", size: Int(size)).readAll()
        }
    }

    /// A file for ranged reads (chunk segments).
    public func source(_ file: String, size: Int64) throws -> any ByteSource {
        switch self {
        case .directory(let d):
            return try FileSource(path: d + "/" + file)
        case .bucket(let b, let id):
            return BucketSource(b, key: "\(id)/\(file)", size: Int(size))
        }
    }
}

/// One chunk segment file of a block, read by range.
public struct ChunkSegment: Sendable {
    /// Relative path, `chunks/000001`.
    public let name: String
    public let source: any ByteSource
    /// Why the segment cannot be read (its header is wrong), or nil. Chunks in it are
    /// reported as unreadable rather than read.
    public let problem: TSDBError?
    public var size: Int { source.size }

    public init(name: String, source: any ByteSource, problem: TSDBError? = nil) {
        self.name = name
        self.source = source
        self.problem = problem
    }

    /// Opens a segment, checking its header.
    public static func open(_ name: String, _ source: any ByteSource) async throws -> ChunkSegment {
        let head = try await source.read(0..<min(source.size, ChunkReader.headerSize))
        do throws(TSDBError) {
            try head.withBytes(0..<head.count) { (b) throws(TSDBError) in try ChunkReader.checkHeader(b, file: name) }
            return ChunkSegment(name: name, source: source)
        } catch {
            return ChunkSegment(name: name, source: source, problem: error)
        }
    }
}

/// A block opened for streaming, locally or in a bucket: meta.json, the index (mapped, or
/// read into memory from a bucket) and tombstones are at hand; chunk segments are read by
/// range as a `SeriesStream` walks them. Immutable; share it across tasks.
public final class SourceBlock: Sendable {
    public let name: String
    public let meta: BlockMeta
    public let index: IndexReader
    public let tombstones: Tombstones
    /// Chunk segments in numeric order (a chunk ref's segment number indexes this).
    public let segments: [ChunkSegment]
    /// Sizes of the block's files by relative path (meta.json, index, tombstones, chunks/…).
    public let fileSizes: [String: Int64]

    public init(name: String, meta: BlockMeta, index: IndexReader, tombstones: Tombstones,
                segments: [ChunkSegment], fileSizes: [String: Int64]) {
        self.name = name
        self.meta = meta
        self.index = index
        self.tombstones = tombstones
        self.segments = segments
        self.fileSizes = fileSizes
    }

    /// Opens a block. Throws `TSDBError` for bytes that do not decode (meta.json, index,
    /// tombstones, a segment header) and the bucket's errors for failed reads.
    public static func open(_ location: BlockLocation) async throws -> SourceBlock {
        let p = try await BlockParts.open(location)
        let meta = try p.meta.get()
        guard meta.version == 1 else {
            throw TSDBError(.unsupported, file: location.describe("meta.json"), section: "meta.json", offset: 0,
                            "meta.json version \(meta.version); only 1 is defined")
        }
        if let bad = p.segments.first(where: { $0.problem != nil }) { throw bad.problem! }
        return SourceBlock(name: p.name, meta: meta, index: try p.index.get(), tombstones: try p.tombstones.get(),
                           segments: p.segments, fileSizes: p.sizes)
    }

    /// A stream over `refs` (a slice of `index.allPostings()`, for walking one block on
    /// several cores), or over every series when nil.
    public func series(_ refs: ArraySlice<SeriesRef>? = nil, options: SeriesStream.Options = .init()) throws(TSDBError) -> SeriesStream {
        if let refs { return SeriesStream(block: self, refs: refs, options: options) }
        return SeriesStream(block: self, refs: try index.allPostings()[...], options: options)
    }
}

/// A block's files, each opened on its own so that one bad file does not hide the others
/// (verify reports each). Only storage failures are thrown; bytes that do not decode are
/// kept as the failed results.
package struct BlockParts: Sendable {
    package var name: String
    package var sizes: [String: Int64]
    package var meta: Result<BlockMeta, TSDBError>
    package var index: Result<IndexReader, TSDBError>
    package var tombstones: Result<Tombstones, TSDBError>
    package var segments: [ChunkSegment]

    package static func open(_ location: BlockLocation) async throws -> BlockParts {
        let sizes = try await location.files()
        func missing(_ f: String) -> TSDBError {
            TSDBError(.io, file: location.describe(f), offset: 0, "the block has no \(f)")
        }
        func attempt<T>(_ body: () async throws -> T) async throws -> Result<T, TSDBError> {
            do { return .success(try await body()) } catch let e as TSDBError { return .failure(e) }
        }
        let meta: Result<BlockMeta, TSDBError> = try await attempt {
            guard let n = sizes["meta.json"] else { throw missing("meta.json") }
            let b = try await location.load("meta.json", size: n)
            return try BlockMeta(bytes: b.raw, file: location.describe("meta.json"))
        }
        let index: Result<IndexReader, TSDBError> = try await attempt {
            guard let n = sizes["index"] else { throw missing("index") }
            return try IndexReader(storage: try await location.load("index", size: n))
        }
        let tombstones: Result<Tombstones, TSDBError> = try await attempt {
            guard let n = sizes["tombstones"] else { return Tombstones() }
            let b = try await location.load("tombstones", size: n)
            return try Tombstones(bytes: b.raw, file: location.describe("tombstones"))
        }
        let names = sizes.keys.filter { $0.hasPrefix("chunks/") }
            .sorted { (UInt64($0.dropFirst(7)) ?? 0, $0) < (UInt64($1.dropFirst(7)) ?? 0, $1) }
        var segments: [ChunkSegment] = []
        for n in names {
            let src: any ByteSource
            do { src = try location.source(n, size: sizes[n]!) } catch let e as TSDBError {
                segments.append(ChunkSegment(name: n, source: StorageSource(ByteStorage(copying: [], name: n)), problem: e))
                continue
            }
            segments.append(try await ChunkSegment.open(n, src))
        }
        return BlockParts(name: location.name, sizes: sizes, meta: meta, index: index, tombstones: tombstones, segments: segments)
    }
}
