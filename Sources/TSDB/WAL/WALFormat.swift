/// Constants of the write-ahead log's page and fragment layout (docs/format/wal.md).
public enum WALFormat {
    /// Segments are written in pages of this size; a fragment never crosses a page.
    public static let pageSize = 32 * 1024
    /// type byte, u16 length, u32 CRC32C of the fragment's payload.
    public static let fragmentHeaderSize = 7
    /// The largest payload one fragment can carry.
    public static let maxFragmentPayload = pageSize - fragmentHeaderSize
    /// Low three bits of the type byte.
    static let kindMask: UInt8 = 0x07
    /// Bit 3: the record is snappy-compressed (block format).
    static let snappyFlag: UInt8 = 0x08
    /// Bit 4: the record is one or more zstd frames (Prometheus >= 2.46).
    static let zstdFlag: UInt8 = 0x10
    /// Bits no Prometheus version sets.
    static let unknownFlags: UInt8 = 0xE0
    /// A decompressed record larger than this is taken as corruption (a 256 MiB segment,
    /// Prometheus' largest, compresses at most a few times).
    public static let maxRecordSize = 1 << 30

    /// Segment file names are eight decimal digits (`00000000`); any all-digit name is read.
    public static func segmentName(_ index: Int) -> String {
        let s = String(index)
        return s.count >= 8 ? s : String(repeating: "0", count: 8 - s.count) + s
    }
}

/// The low three bits of a fragment's type byte.
public enum WALFragmentKind: UInt8, Sendable, CustomStringConvertible {
    /// The rest of the page is zero padding.
    case pageTerminator = 0
    /// A whole record.
    case full = 1
    /// The first fragment of a record that continues in later pages.
    case first = 2
    case middle = 3
    case last = 4

    public var description: String {
        switch self {
        case .pageTerminator: "page terminator"
        case .full: "full"
        case .first: "first"
        case .middle: "middle"
        case .last: "last"
        }
    }
}

/// How a record's bytes are stored, from the fragment flag bits.
public enum WALCompression: String, Sendable, Equatable {
    case none
    case snappy
    case zstd
}
