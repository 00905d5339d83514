/// The encoding byte in front of every chunk.
public struct ChunkEncoding: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt8
    @inlinable public init(rawValue: UInt8) { self.rawValue = rawValue }

    // Computed and inlinable, not stored: a stored static is reached through a lazy-init
    // accessor from other modules, which showed up per chunk in the verify walk's profile.
    @inlinable public static var none: ChunkEncoding { ChunkEncoding(rawValue: 0) }
    @inlinable public static var xor: ChunkEncoding { ChunkEncoding(rawValue: 1) }
    @inlinable public static var histogram: ChunkEncoding { ChunkEncoding(rawValue: 2) }
    @inlinable public static var floatHistogram: ChunkEncoding { ChunkEncoding(rawValue: 3) }
    @inlinable public static var xor2: ChunkEncoding { ChunkEncoding(rawValue: 4) }
    /// Thanos downsampled aggregate (count, sum, min, max, counter).
    @inlinable public static var thanosAggregate: ChunkEncoding { ChunkEncoding(rawValue: 0xFF) }

    @inlinable
    public var isKnown: Bool {
        switch rawValue {
        case 1, 2, 3, 0xFF: true  // XOR, histogram, float histogram, Thanos aggregate
        default: false
        }
    }

    public var description: String {
        switch self {
        case .none: "none"
        case .xor: "XOR"
        case .histogram: "histogram"
        case .floatHistogram: "floathistogram"
        case .xor2: "XOR2"
        case .thanosAggregate: "aggregate"
        default: "unknown(\(rawValue))"
        }
    }
}

/// A chunk's location: segment index (0-based position among the numbered files) in the
/// high 32 bits, byte offset in that file in the low 32.
public struct ChunkRef: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var rawValue: UInt64
    public init(_ raw: UInt64) { rawValue = raw }
    public init(segment: Int, offset: Int) { rawValue = UInt64(segment) << 32 | UInt64(UInt32(truncatingIfNeeded: offset)) }
    public var segment: Int { Int(rawValue >> 32) }
    public var offset: Int { Int(rawValue & 0xFFFF_FFFF) }
    public static func < (a: ChunkRef, b: ChunkRef) -> Bool { a.rawValue < b.rawValue }
    public var description: String { "\(segment):\(offset)" }
}

/// What the index says about one chunk of a series.
public struct ChunkMeta: Hashable, Sendable {
    public var minTime: Int64
    public var maxTime: Int64
    public var ref: ChunkRef
    public init(minTime: Int64, maxTime: Int64, ref: ChunkRef) {
        self.minTime = minTime
        self.maxTime = maxTime
        self.ref = ref
    }
}
