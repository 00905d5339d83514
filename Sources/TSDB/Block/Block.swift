import Foundation

/// A block on local disk, opened for reading: meta.json, index, chunk segments and
/// tombstones, each memory-mapped. Immutable and safe to share across tasks.
public final class Block: Sendable {
    public let directory: String
    public let meta: BlockMeta
    public let index: IndexReader
    public let chunks: ChunkReader
    public let tombstones: Tombstones

    public init(directory: String) throws(TSDBError) {
        self.directory = directory
        let metaPath = directory + "/meta.json"
        let metaBytes = try ByteStorage.map(path: metaPath)
        meta = try BlockMeta(bytes: metaBytes.raw, file: metaPath)
        guard meta.version == 1 else {
            throw TSDBError(.unsupported, file: metaPath, section: "meta.json", offset: 0,
                            "meta.json version \(meta.version); only 1 is defined")
        }
        index = try IndexReader(path: directory + "/index")
        chunks = try ChunkReader(directory: directory + "/chunks")
        let tpath = directory + "/tombstones"
        if FileManager.default.fileExists(atPath: tpath) {
            let t = try ByteStorage.map(path: tpath)
            tombstones = try Tombstones(bytes: t.raw, file: tpath)
        } else {
            tombstones = Tombstones()
        }
    }

    /// A block whose files are already in memory (e.g. read from a bucket by ranged reads).
    /// `directory` names it in messages. `segments` are the chunk files in order.
    public init(name: String, metaJSON: ByteStorage, index: ByteStorage, segments: [(String, ByteStorage)],
                tombstones: ByteStorage?) throws(TSDBError) {
        directory = name
        meta = try BlockMeta(bytes: metaJSON.raw, file: name + "/meta.json")
        guard meta.version == 1 else {
            throw TSDBError(.unsupported, file: name + "/meta.json", section: "meta.json", offset: 0,
                            "meta.json version \(meta.version); only 1 is defined")
        }
        self.index = try IndexReader(storage: index)
        chunks = try ChunkReader(segments: segments.map(\.1), names: segments.map(\.0))
        self.tombstones = try tombstones.map { (t) throws(TSDBError) in try Tombstones(bytes: t.raw, file: name + "/tombstones") } ?? Tombstones()
    }

    public var ulid: ULID { meta.ulid }

    /// Block directories under `path`: `path` itself when it holds a meta.json, else its
    /// children whose names are ULIDs (Prometheus' `.tmp-for-creation`/`.tmp-for-deletion`
    /// and other non-ULID names are skipped), sorted by ULID.
    public static func directories(at path: String) throws(TSDBError) -> [String] {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue else {
            throw TSDBError(.io, file: path, offset: 0, "not a directory")
        }
        if fm.fileExists(atPath: path + "/meta.json") { return [path] }
        let names: [String]
        do { names = try fm.contentsOfDirectory(atPath: path) } catch {
            throw TSDBError(.io, file: path, offset: 0, "cannot list: \(error.localizedDescription)")
        }
        return names.compactMap { n in ULID(n).map { ($0, n) } }
            .sorted { $0.0 < $1.0 }
            .map { path + "/" + $0.1 }
            .filter { fm.fileExists(atPath: $0 + "/meta.json") }
    }
}
