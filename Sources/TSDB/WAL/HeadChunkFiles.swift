import Foundation

/// One chunk m-mapped to `chunks_head/` by a running Prometheus (`tsdb/chunks/head_chunks.go`).
public struct HeadChunk: Sendable {
    /// The head series reference, the same numbers as in WAL series records.
    public var seriesRef: UInt64
    public var minTime: Int64
    public var maxTime: Int64
    /// The encoding without the out-of-order bit.
    public var encoding: ChunkEncoding
    /// Bit 7 of the encoding byte: a chunk of out-of-order samples.
    public var isOutOfOrder: Bool
    /// The number in the file's name and the offset of the entry in it (Prometheus' head
    /// chunk ref is `fileNumber << 32 | offset`).
    public var fileNumber: Int
    public var offset: Int
    public var file: String
    /// The chunk data (after the length), in `storage`.
    public var storage: ByteStorage
    public var dataRange: Range<Int>

    public var ref: UInt64 { UInt64(fileNumber) << 32 | UInt64(offset) }

    public func withData<R>(_ body: (UnsafeRawBufferPointer) throws(TSDBError) -> R) throws(TSDBError) -> R {
        try storage.withBytes(dataRange, body)
    }
}

/// Damage found in `chunks_head/`. As Prometheus does (`ChunkDiskMapper.DeleteCorrupted`), the
/// file holding it and every later file are not used; the WAL covers what they held.
public struct HeadChunkDamage: Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var offset: Int
    public var error: TSDBError
    /// Files whose chunks were set aside because of it (this one and all later ones).
    public var filesDropped: [String]

    public var description: String {
        "\(file): offset \(offset): \(error.kind.rawValue): \(error.detail); not used: \(filesDropped.joined(separator: ", "))"
    }
}

public struct HeadChunksReport: Sendable, Equatable {
    public var files: [String] = []
    public var chunks = 0
    /// In-order chunks whose max time is before the replay's minimum valid time.
    public var belowMinValidTime = 0
    /// Out-of-order chunks (bit 7): they belong with the out-of-order log, which is not replayed.
    public var outOfOrder = 0
    /// Encodings Prometheus 2.42's head does not load (it skips them too).
    public var unknownEncoding = 0
    /// A last file that is empty or has a zero magic (Prometheus deletes it on open).
    public var ignoredEmptyFile: String?
    public var damage: HeadChunkDamage?
    public init() {}
}

/// Reads every chunk of a `chunks_head/` directory the way Prometheus 2.42's head loads them
/// (`ChunkDiskMapper.IterateAllChunks`, `Head.loadMmappedChunks`). Layout: docs/format/wal.md.
public enum HeadChunkFiles {
    public static let magic: UInt32 = 0x0130_BC91
    /// seriesRef + mint + maxt + encoding + longest length varint + CRC: fewer bytes than this
    /// left in a file must be zeros.
    static let maxEntryMeta = 8 + 8 + 8 + 1 + 5 + 4

    /// The usable chunks, by series reference in file order, and what was set aside. A missing
    /// directory has no chunks.
    public static func read(directory: String, minValidTime: Int64 = .min) throws(TSDBError) -> (chunks: [UInt64: [HeadChunk]], report: HeadChunksReport) {
        var report = HeadChunksReport()
        guard WALDirectory.isDirectory(directory) else { return ([:], report) }
        var files = try WALDirectory.list(directory).compactMap { name -> (Int, String)? in
            WALDirectory.number(name).map { ($0, directory + "/" + name) }
        }.sorted { $0.0 < $1.0 }
        // An empty last file (created, never written before a crash) is removed by Prometheus.
        if let (n, path) = files.last, n > 0, let s = try? ByteStorage.map(path: path) {
            if s.count < 4 || s.raw.loadUnaligned(as: UInt32.self) == 0 {
                report.ignoredEmptyFile = path
                files.removeLast()
            }
        }
        var bySeries: [UInt64: [HeadChunk]] = [:]
        for (k, (number, path)) in files.enumerated() {
            report.files.append(path)
            if k > 0, number != files[k - 1].0 + 1 {
                return (bySeries, dropped(report, from: k, files, path, 0,
                                          TSDBError(.corrupt, file: path, offset: 0, "head chunk file \(number) does not follow \(files[k - 1].0)")))
            }
            var fileChunks: [UInt64: [HeadChunk]] = [:]
            do throws(TSDBError) {
                let storage = try ByteStorage.map(path: path)
                try scan(storage, number: number, path: path) { (c) throws(TSDBError) in
                    if !c.isOutOfOrder && c.maxTime < minValidTime { report.belowMinValidTime += 1; return }
                    if c.isOutOfOrder { report.outOfOrder += 1; return }
                    guard [.xor, .histogram, .floatHistogram].contains(c.encoding) else { report.unknownEncoding += 1; return }
                    if let prev = fileChunks[c.seriesRef]?.last ?? bySeries[c.seriesRef]?.last, prev.maxTime >= c.minTime {
                        throw TSDBError(.corrupt, offset: c.offset,
                                        "chunk [\(c.minTime), \(c.maxTime)] of series \(c.seriesRef) does not follow its previous chunk [\(prev.minTime), \(prev.maxTime)]")
                    }
                    fileChunks[c.seriesRef, default: []].append(c)
                }
            } catch {
                report.files.removeLast()
                return (bySeries, dropped(report, from: k, files, path, error.offset, error.located(file: path, section: "head chunks")))
            }
            for (ref, cs) in fileChunks {
                bySeries[ref, default: []].append(contentsOf: cs)
                report.chunks += cs.count
            }
        }
        return (bySeries, report)
    }

    private static func dropped(_ r: HeadChunksReport, from k: Int, _ files: [(Int, String)], _ path: String, _ offset: Int, _ e: TSDBError) -> HeadChunksReport {
        var r = r
        r.damage = HeadChunkDamage(file: path, offset: offset, error: e, filesDropped: files[k...].map(\.1))
        return r
    }

    /// Walks the entries of one file, checking each CRC. Data ends at the end of the file, at
    /// a zero series ref with zero times, or in fewer than `maxEntryMeta` zero bytes.
    public static func scan(
        _ storage: ByteStorage, number: Int, path: String, _ body: (HeadChunk) throws(TSDBError) -> Void
    ) throws(TSDBError) {
        let b = storage.raw
        guard b.count >= 8 else { throw TSDBError(.truncated, offset: 0, "head chunk file of \(b.count) bytes has no header") }
        var r = ByteReader(b)
        let m = try r.readBE32()
        guard m == magic else { throw TSDBError(.corrupt, offset: 0, "bad magic \(hex32(m)), want \(hex32(magic))") }
        let version = try r.readUInt8()
        guard version == 1 else { throw TSDBError(.unsupported, offset: 4, "head chunk format version \(version)") }
        var i = 8
        let end = b.count
        while i < end {
            if end - i < maxEntryMeta {
                if let bad = firstNonZero(b, i..<end) {
                    throw TSDBError(.corrupt, offset: bad, "\(end - i) bytes at the end of the file are too few for a chunk and not zero")
                }
                return
            }
            let start = i
            r.position = i
            let ref = try r.readBE64()
            let mint = Int64(bitPattern: try r.readBE64())
            let maxt = Int64(bitPattern: try r.readBE64())
            if ref == 0 && mint == 0 && maxt == 0 { return }
            let enc = try r.readUInt8()
            let lenAt = r.position
            let length = try r.readUvarint()
            guard length <= UInt64(end - r.position), r.position + Int(length) + 4 <= end else {
                throw TSDBError(.truncated, offset: lenAt, "chunk of \(length) bytes runs past the end of the file")
            }
            let dataStart = r.position
            let dataEnd = dataStart + Int(length)
            try CRC32C.verify(b, start..<dataEnd, crcAt: dataEnd, origin: 0)
            try body(HeadChunk(seriesRef: ref, minTime: mint, maxTime: maxt,
                               encoding: ChunkEncoding(rawValue: enc & 0x7F), isOutOfOrder: enc & 0x80 != 0,
                               fileNumber: number, offset: start, file: path, storage: storage, dataRange: dataStart..<dataEnd))
            i = dataEnd + 4
        }
    }
}
