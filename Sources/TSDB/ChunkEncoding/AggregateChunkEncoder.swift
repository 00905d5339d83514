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
