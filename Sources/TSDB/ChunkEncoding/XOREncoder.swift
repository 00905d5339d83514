/// Encodes float samples into an XOR chunk (encoding 1), the inverse of `XORIterator`.
/// Layout and field widths: docs/format/chunks.md.
///
/// Samples must be appended in strictly increasing time order (the caller merges and
/// deduplicates first); at most `UInt16.max` samples fit the count field.
public struct XOREncoder: Sendable {
    var bits = BitWriter(capacity: 256)
    public private(set) var count = 0
    public private(set) var minTime: Int64 = 0
    public private(set) var maxTime: Int64 = 0
    var lastValue: Double = 0
    var lastDelta: UInt64 = 0
    /// The value window of the last written XOR; 0xFF leading means none yet.
    var leading: UInt8 = 0xFF
    var trailing: UInt8 = 0

    public init() {}

    public static let maxSamples = Int(UInt16.max)

    public mutating func append(_ t: Int64, _ v: Double) {
        precondition(count < Self.maxSamples, "XOR chunk is full")
        switch count {
        case 0:
            var w = ByteWriter(capacity: 10)
            w.putVarint(t)
            for b in w.bytes { bits.write(UInt64(b), bits: 8) }
            bits.write(v.bitPattern, bits: 64)
            minTime = t
        case 1:
            lastDelta = UInt64(bitPattern: t &- maxTime)
            var w = ByteWriter(capacity: 10)
            w.putUvarint(lastDelta)
            for b in w.bytes { bits.write(UInt64(b), bits: 8) }
            writeValue(v)
        default:
            let delta = UInt64(bitPattern: t &- maxTime)
            let dod = Int64(bitPattern: delta &- lastDelta)
            if dod == 0 {
                bits.writeBit(false)
            } else if Self.fits(dod, 14) {
                bits.write(0b10, bits: 2)
                bits.write(UInt64(bitPattern: dod), bits: 14)
            } else if Self.fits(dod, 17) {
                bits.write(0b110, bits: 3)
                bits.write(UInt64(bitPattern: dod), bits: 17)
            } else if Self.fits(dod, 20) {
                bits.write(0b1110, bits: 4)
                bits.write(UInt64(bitPattern: dod), bits: 20)
            } else {
                bits.write(0b1111, bits: 4)
                bits.write(UInt64(bitPattern: dod), bits: 64)
            }
            lastDelta = delta
            writeValue(v)
        }
        maxTime = t
        lastValue = v
        count += 1
    }

    /// The asymmetric range of an n-bit field: -(2^(n-1) - 1) ... 2^(n-1).
    @inline(__always)
    static func fits(_ x: Int64, _ n: Int) -> Bool {
        let half = Int64(1) << (n - 1)
        return x >= -(half - 1) && x <= half
    }

    mutating func writeValue(_ v: Double) {
        xorWriteValue(&bits, v, lastValue, &leading, &trailing)
    }

    /// The chunk payload: sample count, then the bit stream.
    public func bytes() -> [UInt8] {
        var out: [UInt8] = [UInt8(truncatingIfNeeded: count >> 8), UInt8(truncatingIfNeeded: count)]
        out.append(contentsOf: bits.finish())
        return out
    }
}

/// Writes one XOR-coded value (shared with encoders of other chunk kinds that XOR floats).
/// `leading`/`trailing` hold the window of the previous value for this field; 0xFF leading
/// means no window yet.
public func xorWriteValue(_ bits: inout BitWriter, _ value: Double, _ previous: Double,
                          _ leading: inout UInt8, _ trailing: inout UInt8) {
    let x = value.bitPattern ^ previous.bitPattern
    if x == 0 {
        bits.writeBit(false)
        return
    }
    bits.writeBit(true)
    // Leading zeros go in 5 bits, so at most 31 are recorded.
    let lead = UInt8(min(31, x.leadingZeroBitCount))
    let trail = UInt8(x.trailingZeroBitCount)
    if leading != 0xFF && lead >= leading && trail >= trailing {
        // The previous window holds every significant bit.
        bits.writeBit(false)
        bits.write(x >> UInt64(trailing), bits: 64 - Int(leading) - Int(trailing))
        return
    }
    leading = lead
    trailing = trail
    let significant = 64 - Int(lead) - Int(trail)
    bits.writeBit(true)
    bits.write(UInt64(lead), bits: 5)
    // 64 significant bits do not fit in 6 bits; they are written as 0.
    bits.write(UInt64(significant & 63), bits: 6)
    bits.write(x >> UInt64(trail), bits: significant)
}
