/// The Thanos downsampled chunk (encoding 0xFF): five sub-chunks in the order count, sum,
/// min, max, counter. Each is `uvarint len` then, when len > 0, an encoding byte and
/// `len` bytes of that encoding (the length does not count the encoding byte).
public struct AggregateChunk: Sendable {
    public enum Kind: Int, CaseIterable, Sendable {
        case count = 0, sum, min, max, counter
        public var name: String {
            switch self {
            case .count: "count"
            case .sum: "sum"
            case .min: "min"
            case .max: "max"
            case .counter: "counter"
            }
        }
    }

    public struct Entry: Sendable {
        public var encoding: ChunkEncoding
        /// Payload range within the aggregate chunk's data.
        public var range: Range<Int>
    }

    public private(set) var entries: [Entry?] = []

    public init(_ data: UnsafeRawBufferPointer, origin: Int = 0) throws(TSDBError) {
        var r = ByteReader(data, origin: origin)
        for k in Kind.allCases {
            let at = r.position
            let len = try r.readUvarint()
            if len == 0 {
                entries.append(nil)
                continue
            }
            guard len < UInt64(r.remaining) else {
                throw TSDBError(.truncated, offset: origin + at,
                                "aggregate \(k.name) sub-chunk of \(len) bytes, \(max(0, r.remaining - 1)) remain")
            }
            let enc = ChunkEncoding(rawValue: try r.readUInt8())
            entries.append(Entry(encoding: enc, range: r.position..<(r.position + Int(len))))
            try r.skip(Int(len))
        }
    }

    /// The sub-chunks that are present, in order.
    public var present: [(Kind, Entry)] {
        Kind.allCases.compactMap { k in entries[k.rawValue].map { (k, $0) } }
    }

    public subscript(kind: Kind) -> Entry? { entries[kind.rawValue] }
}
