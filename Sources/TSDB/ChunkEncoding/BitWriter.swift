/// Writes a big-endian, most-significant-bit-first bit stream (the writing side of
/// `BitReader`). Whole bytes go to `bytes`; fewer than eight pending bits wait in an
/// accumulator until `finish()` pads them with zero bits.
public struct BitWriter: Sendable {
    @usableFromInline var storage: [UInt8]
    /// Whole bytes written so far.
    public var bytes: [UInt8] { storage }
    /// Pending bits, right-aligned (only the low `pending` bits are meaningful).
    @usableFromInline var acc: UInt64 = 0
    @usableFromInline var pending = 0

    public init(capacity: Int = 64) {
        storage = []
        storage.reserveCapacity(capacity)
    }

    /// Bits written so far.
    public var bitCount: Int { storage.count * 8 + pending }

    /// Writes the low `n` bits of `value` (0...64), most significant first.
    @inlinable
    public mutating func write(_ value: UInt64, bits n: Int) {
        if n > 32 {
            put(value >> 32, n - 32)
            put(value & 0xFFFF_FFFF, 32)
        } else {
            put(value, n)
        }
    }

    @inlinable
    mutating func put(_ value: UInt64, _ n: Int) {
        guard n > 0 else { return }
        // pending < 8 and n <= 32, so the accumulator never overflows.
        acc = (acc &<< UInt64(n)) | (value & ((1 &<< UInt64(n)) &- 1))
        pending &+= n
        while pending >= 8 {
            pending &-= 8
            storage.append(UInt8(truncatingIfNeeded: acc &>> UInt64(pending)))
        }
    }

    @inlinable
    public mutating func writeBit(_ one: Bool) { put(one ? 1 : 0, 1) }

    /// The stream with the last partial byte padded by zero bits.
    public func finish() -> [UInt8] {
        guard pending > 0 else { return storage }
        var out = storage
        out.append(UInt8(truncatingIfNeeded: acc &<< UInt64(8 - pending)))
        return out
    }
}
