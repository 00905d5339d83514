import CCRC32C
import Foundation

/// A chunk's bytes as stored: encoding byte and payload, still inside its segment file.
public struct RawChunk: Sendable {
    public let encoding: ChunkEncoding
    /// The segment file the chunk lives in; keeps the bytes alive.
    public let storage: ByteStorage
    /// Payload range (after the encoding byte, before the CRC) in `storage`.
    public let dataRange: Range<Int>
    /// Offset of the chunk's length field; `dataRange.upperBound + 4` is its end.
    public let start: Int

    /// The bytes as they would be copied into another segment file: length, encoding,
    /// payload and CRC.
    public var recordRange: Range<Int> { start..<(dataRange.upperBound + 4) }

    public func withData<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try storage.withBytes(dataRange, body)
    }

    /// The samples a chunk's header claims (its first two payload bytes, in every encoding
    /// except Thanos aggregates); nil for aggregates and payloads shorter than that.
    public var headerSampleCount: Int? {
        guard encoding != .thanosAggregate, dataRange.count >= 2 else { return nil }
        return Int(storage.raw[dataRange.lowerBound]) << 8 | Int(storage.raw[dataRange.lowerBound + 1])
    }

    /// The start of a chunk record: `uvarint length | encoding byte`.
    public struct Header: Sendable {
        /// Payload bytes (after the encoding byte, before the CRC).
        public var dataLength: Int
        /// Bytes of the length field and encoding byte.
        public var headerLength: Int
        public var encoding: ChunkEncoding
        /// The whole record: header, payload, 4-byte CRC.
        @inlinable public var recordLength: Int { headerLength + dataLength + 4 }

        @inlinable
        public init(dataLength: Int, headerLength: Int, encoding: ChunkEncoding) {
            self.dataLength = dataLength
            self.headerLength = headerLength
            self.encoding = encoding
        }
    }

    /// Reads the header of the record at `position` of `bytes`; nil when `bytes` ends inside
    /// it (a window that stops early). `origin` is the offset of `bytes[0]` in the segment.
    @inlinable
    public static func header(_ bytes: UnsafeRawBufferPointer, at position: Int, origin: Int) throws(TSDBError) -> Header? {
        var len: UInt64 = 0
        var shift: UInt64 = 0
        var i = position
        while true {
            guard i < bytes.count else { return nil }
            let b = bytes[i]
            i += 1
            len |= UInt64(b & 0x7f) << shift
            if b < 0x80 { break }
            shift += 7
            if shift > 28 {
                throw TSDBError(.corrupt, offset: origin + position, "chunk length field longer than 5 bytes")
            }
        }
        guard i < bytes.count else { return nil }
        guard len <= UInt64(Int32.max) else {
            throw TSDBError(.corrupt, offset: origin + position, "chunk length \(len) is impossible")
        }
        return Header(dataLength: Int(len), headerLength: i + 1 - position, encoding: ChunkEncoding(rawValue: bytes[i]))
    }

    /// The record at `position` of `storage`, whose whole record (`header.recordLength`
    /// bytes) the caller has checked lies inside `storage`; checks its CRC when asked.
    @inlinable
    public init(_ storage: ByteStorage, at position: Int, header h: Header, origin: Int, verifyChecksum: Bool) throws(TSDBError) {
        let dataStart = position + h.headerLength
        let dataEnd = dataStart + h.dataLength
        precondition(position >= 0 && dataEnd + 4 <= storage.count, "chunk record outside its storage")
        if verifyChecksum {
            try CRC32C.verify(storage.raw, (dataStart - 1)..<dataEnd, crcAt: dataEnd, origin: origin)
        }
        self.init(encoding: h.encoding, storage: storage, dataRange: dataStart..<dataEnd, start: position)
    }

    @inlinable
    init(encoding: ChunkEncoding, storage: ByteStorage, dataRange: Range<Int>, start: Int) {
        self.encoding = encoding
        self.storage = storage
        self.dataRange = dataRange
        self.start = start
    }
}

/// Reads chunks from a block's `chunks/` directory of numbered segment files.
public final class ChunkReader: Sendable {
    public static let magic: UInt32 = 0x85BD_40DD
    public static let headerSize = 8

    public let segments: [ByteStorage]
    public let segmentNames: [String]

    /// Opens every numbered file in `directory`, in numeric order; their position in that
    /// order is the segment index used by chunk refs.
    public convenience init(directory: String) throws(TSDBError) {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory)
                .filter { !$0.isEmpty && $0.allSatisfy(\.isASCIIDigit) }
                .sorted { (UInt64($0) ?? 0, $0) < (UInt64($1) ?? 0, $1) }
        } catch {
            throw TSDBError(.io, file: directory, offset: 0, "cannot list chunk segments: \(error.localizedDescription)")
        }
        var storages: [ByteStorage] = []
        for n in names {
            storages.append(try ByteStorage.map(path: directory + "/" + n))
        }
        try self.init(segments: storages, names: names.map { "chunks/" + $0 })
    }

    public init(segments: [ByteStorage], names: [String]) throws(TSDBError) {
        self.segments = segments
        self.segmentNames = names
        for (i, s) in segments.enumerated() {
            try Self.checkHeader(s.raw, file: names[i])
        }
    }

    /// Checks a segment file's 8-byte header (magic, format version 1), given at least
    /// its first 8 bytes.
    public static func checkHeader(_ bytes: UnsafeRawBufferPointer, file: String) throws(TSDBError) {
        guard bytes.count >= Self.headerSize else {
            throw TSDBError(.truncated, file: file, section: "segment header", offset: 0,
                            "segment of \(bytes.count) bytes is shorter than its 8-byte header")
        }
        let magic = UInt32(bigEndian: bytes.loadUnaligned(fromByteOffset: 0, as: UInt32.self))
        guard magic == Self.magic else {
            throw TSDBError(.corrupt, file: file, section: "segment header", offset: 0,
                            "bad magic \(hex32(magic)), want \(hex32(Self.magic))")
        }
        let version = bytes[4]
        guard version == 1 else {
            throw TSDBError(.unsupported, file: file, section: "segment header", offset: 4,
                            "segment format version \(version)")
        }
    }

    /// Locates a chunk and checks its CRC (when `verifyChecksum`).
    public func chunk(_ ref: ChunkRef, verifyChecksum: Bool = true) throws(TSDBError) -> RawChunk {
        let seg = ref.segment
        guard seg < segments.count else {
            throw TSDBError(.corrupt, file: "chunks", section: "chunk ref", offset: ref.offset,
                            "chunk ref \(ref) names segment \(seg), block has \(segments.count)")
        }
        let s = segments[seg]
        let off = ref.offset
        guard off >= Self.headerSize, off < s.count else {
            throw TSDBError(.corrupt, file: segmentNames[seg], section: "chunk ref", offset: off,
                            "chunk ref \(ref) points outside the segment (\(s.count) bytes)")
        }
        do throws(TSDBError) {
            guard let h = try RawChunk.header(s.raw, at: off, origin: 0) else {
                throw TSDBError(.truncated, offset: off, "chunk header at \(off) runs past the end of the segment (\(s.count) bytes)")
            }
            guard off + h.recordLength <= s.count else {
                throw TSDBError(.truncated, offset: off,
                                "chunk of \(h.dataLength) bytes at \(off) runs past the end of the segment (\(s.count) bytes)")
            }
            return try RawChunk(s, at: off, header: h, origin: 0, verifyChecksum: verifyChecksum)
        } catch {
            throw error.located(file: segmentNames[seg], section: "chunk \(ref)")
        }
    }

    public var totalBytes: Int { segments.reduce(0) { $0 + $1.count } }
}

extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}

/// Checks many chunk records of one window of a segment in a single pass over the bytes
/// (lengths, CRCs four records at a time): the fast path of reading chunks in bulk.
public enum ChunkRecordScan {
    public enum Status: UInt8, Sendable {
        case ok = 0
        /// The record (or its length field) runs past the end of the window.
        case pastEnd = 1
        /// The length field is longer than 5 bytes or impossibly large.
        case badLength = 2
        case checksum = 3
    }

    /// What the scan found for one record.
    public struct Result: Sendable {
        public var status: Status
        /// Valid unless `status` is `.pastEnd` or `.badLength`.
        public var header: RawChunk.Header
        /// The sample count in the first two payload bytes (-1 when the payload is shorter).
        public var samples: Int32
        /// The CRC computed over encoding byte and payload, and the one stored after it
        /// (when CRCs were checked).
        public var computedCRC: UInt32
        public var storedCRC: UInt32

        @inlinable
        public init(status: Status, header: RawChunk.Header, samples: Int32, computedCRC: UInt32, storedCRC: UInt32) {
            self.status = status
            self.header = header
            self.samples = samples
            self.computedCRC = computedCRC
            self.storedCRC = storedCRC
        }
    }

    /// Scans the records that start at `offsets` (ascending, inside `window`), calling
    /// `body(i, result)` for each in order. With `checkCRC` false, CRCs are not computed.
    /// Inlinable: it runs once per window of every walk, and `body` once per chunk, which
    /// a call through a closure context would cost.
    @inlinable
    public static func scan(
        _ window: UnsafeRawBufferPointer, offsets: UnsafeBufferPointer<Int64>, checkCRC: Bool,
        _ body: (Int, Result) -> Void
    ) {
        guard let base = window.baseAddress, let offs = offsets.baseAddress, offsets.count > 0 else { return }
        withUnsafeTemporaryAllocation(of: by_chunk_record.self, capacity: offsets.count) { out in
            by_crc32c_chunk_records(base.assumingMemoryBound(to: UInt8.self), window.count, offs, offsets.count,
                                    checkCRC ? 1 : 0, out.baseAddress!)
            for i in 0..<offsets.count {
                let r = out[i]
                body(i, Result(status: Status(rawValue: r.status) ?? .badLength,
                               header: RawChunk.Header(dataLength: Int(r.data_len), headerLength: Int(r.header_len),
                                                       encoding: ChunkEncoding(rawValue: r.encoding)),
                               samples: r.samples, computedCRC: r.crc, storedCRC: r.stored))
            }
        }
    }
}
