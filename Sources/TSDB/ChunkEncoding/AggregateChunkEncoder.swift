extension AggregateChunk {
    /// One sub-chunk to put into an aggregate chunk: its encoding and payload (for XOR and
    /// histogram encodings, starting with the sample count).
    public struct Part: Sendable, Equatable {
        public var encoding: ChunkEncoding
        public var data: [UInt8]
        public init(_ encoding: ChunkEncoding, _ data: [UInt8]) {
            self.encoding = encoding
            self.data = data
        }
    }

    /// Encodes the Thanos aggregate chunk payload (what follows the 0xFF encoding byte):
    /// for each of count, sum, min, max, counter either `uvarint 0` (absent) or
    /// `uvarint len | encoding byte | len bytes`. `parts` is indexed by `Kind.rawValue`.
    public static func encode(_ parts: [Part?]) -> [UInt8] {
        precondition(parts.count == Kind.allCases.count, "an aggregate chunk has exactly five entries")
        var w = ByteWriter(capacity: parts.reduce(8) { $0 + ($1?.data.count ?? 0) + 2 })
        for p in parts {
            guard let p else {
                w.putUvarint(0)
                continue
            }
            w.putUvarint(UInt64(p.data.count))
            w.putByte(p.encoding.rawValue)
            w.bytes.append(contentsOf: p.data)
        }
        return w.bytes
    }
}

extension AggregateChunk {
    /// The payload of an aggregate chunk whose five sub-chunks are all XOR, written straight
    /// from their encoders (nil = absent) without copying each sub-chunk first.
    public static func encode(xor encoders: [XOREncoder?]) -> [UInt8] {
        precondition(encoders.count == Kind.allCases.count, "an aggregate chunk has exactly five entries")
        var w = ByteWriter(capacity: encoders.reduce(8) { $0 + ($1?.bits.storage.count ?? 0) + 8 })
        for e in encoders {
            guard let e else {
                w.putUvarint(0)
                continue
            }
            let partial = e.bits.pending > 0
            w.putUvarint(UInt64(2 + e.bits.storage.count + (partial ? 1 : 0)))
            w.putByte(ChunkEncoding.xor.rawValue)
            w.putByte(UInt8(truncatingIfNeeded: e.count >> 8))
            w.putByte(UInt8(truncatingIfNeeded: e.count))
            w.bytes.append(contentsOf: e.bits.storage)
            // The last partial byte, padded with zero bits (as `BitWriter.finish`).
            if partial { w.putByte(UInt8(truncatingIfNeeded: e.bits.acc &<< UInt64(8 - e.bits.pending))) }
        }
        return w.bytes
    }
}

