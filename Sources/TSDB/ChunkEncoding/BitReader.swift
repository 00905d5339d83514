/// Reads a big-endian, most-significant-bit-first bit stream (the `bstream` of Prometheus
/// chunk encodings).
///
/// Bits are kept left-aligned in a 64-bit buffer refilled eight bytes at a time while
/// at least eight bytes remain, so the common reads are a shift and a mask. Reads past
/// the end throw `TSDBError.truncated`; they never trap.
public struct BitReader {
    @usableFromInline var base: UnsafeRawBufferPointer
    /// Next byte of `base` not yet loaded into `buffer`.
    @usableFromInline var next: Int
    /// Unread bits, left-aligned; bits below the top `valid` are junk or duplicates.
    @usableFromInline var buffer: UInt64
    @usableFromInline var valid: Int
    /// Offset of `base[0]` in its file, for errors.
    @usableFromInline let origin: Int

    @inlinable
    public init(_ bytes: UnsafeRawBufferPointer, origin: Int = 0) {
        base = bytes
        next = 0
        buffer = 0
        valid = 0
        self.origin = origin
    }

    /// Bits not yet read.
    @inlinable public var bitsRemaining: Int { valid + (base.count - next) * 8 }

    /// Byte offset of the next unread bit (rounded down), relative to the start.
    @inlinable public var bytePosition: Int { next - (valid + 7) / 8 }

    @inlinable
    mutating func refill() {
        if valid > 56 { return }
        if next + 8 <= base.count {
            let w = UInt64(bigEndian: base.loadUnaligned(fromByteOffset: next, as: UInt64.self))
            buffer |= w &>> UInt64(truncatingIfNeeded: valid)
            let take = (63 &- valid) &>> 3
            next &+= take
            valid &+= take &<< 3
        } else {
            while valid <= 56 && next < base.count {
                buffer |= UInt64(base[next]) &<< UInt64(truncatingIfNeeded: 56 &- valid)
                next &+= 1
                valid &+= 8
            }
        }
    }

    @usableFromInline
    func pastEnd(_ n: Int) -> TSDBError {
        TSDBError(.truncated, offset: origin + base.count,
                  "bit stream ends: needed \(n) more bits, \(bitsRemaining) remain")
    }

    /// Reads `n` bits (0...56) as an unsigned integer.
    @inlinable @inline(__always)
    public mutating func readBits(_ n: Int) throws(TSDBError) -> UInt64 {
        if valid < n {
            refill()
            if valid < n { throw pastEnd(n) }
        }
        if n == 0 { return 0 }
        let v = buffer &>> UInt64(truncatingIfNeeded: 64 &- n)
        buffer = buffer &<< UInt64(truncatingIfNeeded: n)
        valid &-= n
        return v
    }

    // MARK: Unchecked fast path
    // Callers guarantee the preconditions (see XORIterator.fastSample); these skip the
    // end-of-stream checks that dominate the cost of short reads.

    /// Loads eight bytes at `next`; requires `next + 8 <= base.count` and `valid < 64`.
    /// Afterwards at least 57 bits are valid.
    @inlinable @inline(__always)
    mutating func refillUnchecked() {
        let w = UInt64(bigEndian: base.loadUnaligned(fromByteOffset: next, as: UInt64.self))
        buffer |= w &>> UInt64(truncatingIfNeeded: valid)
        let take = (63 &- valid) &>> 3
        next &+= take
        valid &+= take &<< 3
    }

    /// Takes `n` bits; requires `1 <= n <= valid`.
    @inlinable @inline(__always)
    mutating func takeUnchecked(_ n: Int) -> UInt64 {
        let v = buffer &>> UInt64(truncatingIfNeeded: 64 &- n)
        buffer = buffer &<< UInt64(truncatingIfNeeded: n)
        valid &-= n
        return v
    }

    /// Bytes not yet loaded into the buffer.
    @inlinable var bytesAhead: Int { base.count &- next }

    /// Reads `n` bits (0...64).
    @inlinable @inline(__always)
    public mutating func readWide(_ n: Int) throws(TSDBError) -> UInt64 {
        if n <= 56 { return try readBits(n) }
        let hi = try readBits(n - 32)
        let lo = try readBits(32)
        return hi &<< 32 | lo
    }

    @inlinable @inline(__always)
    public mutating func readBit() throws(TSDBError) -> Bool {
        if valid == 0 {
            refill()
            if valid == 0 { throw pastEnd(1) }
        }
        let b = buffer & (1 &<< 63) != 0
        buffer = buffer &<< 1
        valid &-= 1
        return b
    }

    /// Counts leading one bits, stopping after `limit` ones or at the first zero (consumed).
    /// This is the unary prefix of the XOR timestamp and the varbit encodings.
    @inlinable @inline(__always)
    public mutating func readPrefix(limit: Int) throws(TSDBError) -> Int {
        if valid < limit {
            refill()
            if valid < limit {
                // Near the end: read one bit at a time.
                var n = 0
                while n < limit {
                    if !(try readBit()) { return n }
                    n += 1
                }
                return n
            }
        }
        let ones = (~buffer).leadingZeroBitCount
        if ones >= limit {
            buffer = buffer &<< UInt64(truncatingIfNeeded: limit)
            valid &-= limit
            return limit
        }
        buffer = buffer &<< UInt64(truncatingIfNeeded: ones &+ 1)
        valid &-= ones &+ 1
        return ones
    }

    @inlinable
    public mutating func readByte() throws(TSDBError) -> UInt8 {
        UInt8(truncatingIfNeeded: try readBits(8))
    }

    /// Go `binary.ReadUvarint` over the bit stream (used for the first timestamps).
    @inlinable
    public mutating func readUvarint() throws(TSDBError) -> UInt64 {
        var x: UInt64 = 0
        var shift: UInt64 = 0
        for i in 0..<10 {
            let b = try readByte()
            if b < 0x80 {
                if i == 9 && b > 1 { throw TSDBError(.corrupt, offset: origin + bytePosition, "uvarint overflows 64 bits") }
                return x | UInt64(b) << shift
            }
            x |= UInt64(b & 0x7f) << shift
            shift += 7
        }
        throw TSDBError(.corrupt, offset: origin + bytePosition, "uvarint longer than 10 bytes")
    }

    @inlinable
    public mutating func readVarint() throws(TSDBError) -> Int64 {
        let u = try readUvarint()
        return Int64(bitPattern: (u >> 1) ^ (0 &- (u & 1)))
    }
}
