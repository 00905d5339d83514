/// Appends the integer encodings of the TSDB formats to a growable byte array: the
/// writing counterpart of `ByteReader` (Prometheus' `Encbuf`).
///
/// `put*` appends; nothing here can fail. Callers that write a section reset and reuse one
/// writer so its storage is allocated once.
public struct ByteWriter: Sendable {
    public var bytes: [UInt8]

    public init(capacity: Int = 0) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    @inlinable public var count: Int { bytes.count }

    @inlinable
    public mutating func reset() { bytes.removeAll(keepingCapacity: true) }

    @inlinable
    public mutating func putByte(_ b: UInt8) { bytes.append(b) }

    @inlinable
    public mutating func putBE32(_ v: UInt32) {
        bytes.append(UInt8(truncatingIfNeeded: v >> 24))
        bytes.append(UInt8(truncatingIfNeeded: v >> 16))
        bytes.append(UInt8(truncatingIfNeeded: v >> 8))
        bytes.append(UInt8(truncatingIfNeeded: v))
    }

    @inlinable
    public mutating func putBE64(_ v: UInt64) {
        putBE32(UInt32(truncatingIfNeeded: v >> 32))
        putBE32(UInt32(truncatingIfNeeded: v))
    }

    /// Go `binary.PutUvarint`.
    @inlinable
    public mutating func putUvarint(_ v: UInt64) {
        var v = v
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(truncatingIfNeeded: v))
    }

    /// Go `binary.PutVarint` (zig-zag).
    @inlinable
    public mutating func putVarint(_ v: Int64) {
        putUvarint(UInt64(bitPattern: (v &<< 1) ^ (v >> 63)))
    }

    @inlinable
    public mutating func putBytes(_ p: UnsafeRawBufferPointer) { bytes.append(contentsOf: p) }

    /// A length-prefixed string: uvarint length, then the bytes.
    @inlinable
    public mutating func putUvarintBytes(_ p: UnsafeRawBufferPointer) {
        putUvarint(UInt64(p.count))
        bytes.append(contentsOf: p)
    }

    public mutating func putUvarintString(_ s: String) {
        var s = s
        s.withUTF8 { putUvarintBytes(UnsafeRawBufferPointer($0)) }
    }

    /// Appends the big-endian CRC32C of `bytes[from...]`.
    @inlinable
    public mutating func putCRC(from start: Int) {
        let crc = bytes.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[start...])) }
        putBE32(crc)
    }

    /// Number of bytes `putUvarint(v)` appends.
    @inlinable
    public static func uvarintSize(_ v: UInt64) -> Int {
        v == 0 ? 1 : (64 - v.leadingZeroBitCount + 6) / 7
    }
}
