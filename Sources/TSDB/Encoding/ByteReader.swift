/// A cursor over bytes that reads the integer encodings of the TSDB formats.
///
/// Reads never trap on bad input: a read past the end, or a varint that does not
/// terminate, throws a `TSDBError` that names the absolute offset (`origin + position`).
/// `read*` moves the cursor; `get*(at:)` does not.
public struct ByteReader {
    @usableFromInline let bytes: UnsafeRawBufferPointer
    /// Offset of `bytes[0]` in the file, for error messages.
    public let origin: Int
    public var position: Int

    @inlinable
    public init(_ bytes: UnsafeRawBufferPointer, origin: Int = 0, position: Int = 0) {
        self.bytes = bytes
        self.origin = origin
        self.position = position
    }

    @inlinable public var remaining: Int { bytes.count - position }
    @inlinable public var count: Int { bytes.count }
    @inlinable public var isAtEnd: Bool { position >= bytes.count }

    @usableFromInline
    func short(_ need: Int, _ what: String) -> TSDBError {
        TSDBError(.truncated, offset: origin + position,
                  "\(what) needs \(need) bytes, \(max(0, remaining)) remain")
    }

    @inlinable
    public mutating func readUInt8() throws(TSDBError) -> UInt8 {
        guard position < bytes.count else { throw short(1, "byte") }
        defer { position += 1 }
        return bytes[position]
    }

    @inlinable
    public mutating func readBE32() throws(TSDBError) -> UInt32 {
        guard remaining >= 4 else { throw short(4, "uint32") }
        defer { position += 4 }
        return UInt32(bigEndian: bytes.loadUnaligned(fromByteOffset: position, as: UInt32.self))
    }

    @inlinable
    public mutating func readBE64() throws(TSDBError) -> UInt64 {
        guard remaining >= 8 else { throw short(8, "uint64") }
        defer { position += 8 }
        return UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: position, as: UInt64.self))
    }

    @inlinable
    public func getBE32(at offset: Int) throws(TSDBError) -> UInt32 {
        guard offset >= 0, offset + 4 <= bytes.count else {
            throw TSDBError(.truncated, offset: origin + offset, "uint32 needs 4 bytes")
        }
        return UInt32(bigEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    /// Go `binary.Uvarint`: LEB128, at most 10 bytes, the 10th at most 1.
    @inlinable
    public mutating func readUvarint() throws(TSDBError) -> UInt64 {
        var x: UInt64 = 0
        var shift: UInt64 = 0
        var i = position
        let n = bytes.count
        while i < n {
            let b = bytes[i]
            i += 1
            if b < 0x80 {
                if shift == 63 && b > 1 {
                    throw TSDBError(.corrupt, offset: origin + position, "uvarint overflows 64 bits")
                }
                position = i
                return x | UInt64(b) << shift
            }
            x |= UInt64(b & 0x7f) << shift
            shift += 7
            if shift > 63 {
                throw TSDBError(.corrupt, offset: origin + position, "uvarint longer than 10 bytes")
            }
        }
        throw TSDBError(.truncated, offset: origin + position, "uvarint runs past the end")
    }

    /// Go `binary.Varint`: zig-zag over `readUvarint`.
    @inlinable
    public mutating func readVarint() throws(TSDBError) -> Int64 {
        let u = try readUvarint()
        return Int64(bitPattern: (u >> 1) ^ (0 &- (u & 1)))
    }

    /// A uvarint that must fit in 32 bits (symbol refs, label counts).
    @inlinable
    public mutating func readUvarint32() throws(TSDBError) -> UInt32 {
        let start = position
        let v = try readUvarint()
        guard v <= UInt64(UInt32.max) else {
            throw TSDBError(.corrupt, offset: origin + start, "value \(v) does not fit in 32 bits")
        }
        return UInt32(v)
    }

    /// A length that must fit in what remains (checked before anything is allocated).
    @inlinable
    public mutating func readLength(_ what: String) throws(TSDBError) -> Int {
        let start = position
        let v = try readUvarint()
        guard v <= UInt64(remaining) else {
            throw TSDBError(.truncated, offset: origin + start, "\(what) of \(v) bytes, \(remaining) remain")
        }
        return Int(v)
    }

    /// The next `n` bytes as a view (valid as long as the underlying storage).
    @inlinable
    public mutating func readBytes(_ n: Int) throws(TSDBError) -> UnsafeRawBufferPointer {
        guard n >= 0, remaining >= n else { throw short(n, "byte string") }
        defer { position += n }
        return UnsafeRawBufferPointer(rebasing: bytes[position..<position + n])
    }

    /// Skips the zero padding that may stand between sections, up to `alignment`.
    @inlinable
    public mutating func skip(_ n: Int) throws(TSDBError) {
        guard n >= 0, remaining >= n else { throw short(n, "skip") }
        position += n
    }
}
