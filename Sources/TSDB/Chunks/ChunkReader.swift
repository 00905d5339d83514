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
            guard s.count >= Self.headerSize else {
                throw TSDBError(.truncated, file: s.name, section: "segment header", offset: 0,
                                "segment of \(s.count) bytes is shorter than its 8-byte header")
            }
            let magic = UInt32(bigEndian: s.raw.loadUnaligned(fromByteOffset: 0, as: UInt32.self))
            guard magic == Self.magic else {
                throw TSDBError(.corrupt, file: s.name, section: "segment header", offset: 0,
                                "bad magic \(hex32(magic)), want \(hex32(Self.magic))")
            }
            let version = s.raw[4]
            guard version == 1 else {
                throw TSDBError(.unsupported, file: names[i], section: "segment header", offset: 4,
                                "segment format version \(version)")
            }
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
        var r = ByteReader(s.raw, origin: 0, position: off)
        do throws(TSDBError) {
            let len = try r.readUvarint()
            let enc = try r.readUInt8()
            guard len <= UInt64(r.remaining), r.remaining - Int(len) >= 4 else {
                throw TSDBError(.truncated, offset: off,
                                "chunk of \(len) bytes at \(off) runs past the end of the segment (\(s.count) bytes)")
            }
            let dataStart = r.position
            let dataEnd = dataStart + Int(len)
            if verifyChecksum {
                try CRC32C.verify(s.raw, (dataStart - 1)..<dataEnd, crcAt: dataEnd, origin: 0)
            }
            return RawChunk(encoding: ChunkEncoding(rawValue: enc), storage: s, dataRange: dataStart..<dataEnd, start: off)
        } catch {
            throw error.located(file: segmentNames[seg], section: "chunk \(ref)")
        }
    }

    public var totalBytes: Int { segments.reduce(0) { $0 + $1.count } }
}

extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}
