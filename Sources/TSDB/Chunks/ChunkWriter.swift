#if canImport(Glibc)
import Glibc
#endif

/// A chunk on its way into a new segment file: either a record copied byte for byte from
/// another block (length, encoding, data, CRC, never decoded), or freshly encoded data.
public enum ChunkPayload: Sendable {
    case record(RawChunk)
    case encoded(ChunkEncoding, [UInt8])

    /// Bytes the chunk takes in a segment file.
    public var recordSize: Int {
        switch self {
        case .record(let r): r.recordRange.count
        case .encoded(_, let d): ByteWriter.uvarintSize(UInt64(d.count)) + 1 + d.count + 4
        }
    }

    public var encoding: ChunkEncoding {
        switch self {
        case .record(let r): r.encoding
        case .encoded(let e, _): e
        }
    }

    /// The sample count in the chunk's header (XOR and native histogram chunks start with
    /// a big-endian u16 count); 0 for encodings without one (Thanos aggregates).
    public var headerSampleCount: Int {
        func count(_ p: UnsafeRawBufferPointer) -> Int { p.count >= 2 ? Int(p[0]) << 8 | Int(p[1]) : 0 }
        guard [ChunkEncoding.xor, .histogram, .floatHistogram].contains(encoding) else { return 0 }
        switch self {
        case .record(let r): return r.withData { count($0) }
        case .encoded(_, let d): return d.withUnsafeBytes { count($0) }
        }
    }
}

/// Writes a block's `chunks/` directory: numbered segment files of at most `segmentSize`
/// bytes, each with the 8-byte header. Chunks of one series are kept in one segment unless
/// they cannot fit in any (Prometheus' `WriteChunks` rule). Refs are `segment index << 32 |
/// offset`, growing with every chunk written.
public final class ChunkWriter {
    public static let defaultSegmentSize = 512 << 20
    public let directory: String
    public let segmentSize: Int
    private var current: FileOutput?
    private var finished: [(name: String, size: Int64)] = []
    private var record = ByteWriter(capacity: 64)

    /// Creates `directory` (which must not exist yet).
    public init(directory: String, segmentSize: Int = ChunkWriter.defaultSegmentSize) throws(TSDBError) {
        self.directory = directory
        self.segmentSize = max(segmentSize, 64)
        if mkdir(directory, 0o755) != 0 {
            throw TSDBError(.io, file: directory, offset: 0, "mkdir: \(errnoText())")
        }
    }

    /// Writes one series' chunks and returns their refs, in order. A chunk that does not
    /// fit in the current segment starts a new one (a segment always takes at least one
    /// chunk, so a chunk larger than `segmentSize` gets a segment of its own).
    public func write(series chunks: [ChunkPayload]) throws(TSDBError) -> [ChunkRef] {
        var refs: [ChunkRef] = []
        refs.reserveCapacity(chunks.count)
        for c in chunks {
            if current == nil {
                try cut()
            } else if let out = current, out.position > ChunkReader.headerSize, out.position + c.recordSize > segmentSize {
                try cut()
            }
            refs.append(try append(c))
        }
        return refs
    }

    private func append(_ c: ChunkPayload) throws(TSDBError) -> ChunkRef {
        let out = current!
        let ref = ChunkRef(segment: finished.count, offset: out.position)
        guard out.position <= Int(UInt32.max) else {
            throw TSDBError(.unsupported, file: out.path, offset: out.position, "chunk offset beyond 4 GiB in one segment")
        }
        switch c {
        case .record(let r):
            try r.storage.withBytes(r.recordRange) { (p) throws(TSDBError) in try out.write(p) }
        case .encoded(let enc, let data):
            record.reset()
            record.putUvarint(UInt64(data.count))
            let crcStart = record.count
            record.putByte(enc.rawValue)
            record.bytes.append(contentsOf: data)
            record.putCRC(from: crcStart)
            try out.write(record.bytes)
        }
        return ref
    }

    private func cut() throws(TSDBError) {
        if let c = current {
            finished.append((name(finished.count), Int64(c.position)))
            try c.close()
            current = nil
        }
        let f = try FileOutput(path: directory + "/" + name(finished.count))
        var h = ByteWriter(capacity: 8)
        h.putBE32(ChunkReader.magic)
        h.putByte(1)
        h.bytes.append(contentsOf: [0, 0, 0])
        try f.write(h.bytes)
        current = f
    }

    private func name(_ index: Int) -> String {
        let s = String(index + 1)
        return String(repeating: "0", count: max(0, 6 - s.count)) + s
    }

    /// Closes the last segment; returns every segment's name (relative to `chunks/`) and size.
    public func finish() throws(TSDBError) -> [(name: String, size: Int64)] {
        if let c = current {
            finished.append((name(finished.count), Int64(c.position)))
            try c.close()
            current = nil
        }
        return finished
    }

    /// Abandons the write: closes and removes what was written.
    public func discard() {
        current?.discard()
        current = nil
        for f in finished { unlink(directory + "/" + f.name) }
        rmdir(directory)
    }
}
