/// Decoder for the XOR float chunk (encoding 1): Gorilla-style delta-of-delta timestamps
/// and XOR-compressed values. Layout: docs/format/chunks.md.
///
/// The decoder stops after the sample count in the header; trailing bytes (older
/// writers left a spare zero byte) are ignored.
public struct XORIterator {
    @usableFromInline var bits: BitReader
    public let count: Int
    @usableFromInline var read: Int = 0
    @usableFromInline var t: Int64 = 0
    @usableFromInline var v: Double = 0
    /// The current sample's timestamp (milliseconds) and value.
    @inlinable public var timestamp: Int64 { t }
    @inlinable public var value: Double { v }
    @usableFromInline var delta: UInt64 = 0
    @usableFromInline var leading: UInt8 = 0
    @usableFromInline var trailing: UInt8 = 0

    /// `data` is the chunk's payload after the encoding byte. `origin` is its offset in
    /// the segment file, for errors.
    @inlinable
    public init(_ data: UnsafeRawBufferPointer, origin: Int = 0) throws(TSDBError) {
        guard data.count >= 2 else {
            throw TSDBError(.truncated, offset: origin, "XOR chunk of \(data.count) bytes has no sample count")
        }
        count = Int(UInt16(data[0]) << 8 | UInt16(data[1]))
        bits = BitReader(UnsafeRawBufferPointer(rebasing: data[2...]), origin: origin + 2)
    }

    /// Advances to the next sample; false after the last one.
    @inlinable
    public mutating func next() throws(TSDBError) -> Bool {
        if read >= count { return false }
        if read == 0 {
            t = try bits.readVarint()
            v = Double(bitPattern: try bits.readWide(64))
            read = 1
            return true
        }
        if read == 1 {
            delta = try bits.readUvarint()
            t = t &+ Int64(bitPattern: delta)
            try readValue()
            read = 2
            return true
        }
        var dod: Int64 = 0
        switch try bits.readPrefix(limit: 4) {
        case 0: break
        case 1: dod = try signed(bits.readBits(14), 14)
        case 2: dod = try signed(bits.readBits(17), 17)
        case 3: dod = try signed(bits.readBits(20), 20)
        default: dod = Int64(bitPattern: try bits.readWide(64))
        }
        delta = UInt64(bitPattern: Int64(bitPattern: delta) &+ dod)
        t = t &+ Int64(bitPattern: delta)
        try readValue()
        read &+= 1
        return true
    }

    /// The asymmetric sign convention of the bit stream: values above 2^(n-1) are negative.
    @inlinable @inline(__always)
    func signed(_ u: UInt64, _ n: Int) -> Int64 {
        u > (1 &<< UInt64(n &- 1)) ? Int64(bitPattern: u) &- (1 &<< Int64(n)) : Int64(bitPattern: u)
    }

    @inlinable @inline(__always)
    mutating func readValue() throws(TSDBError) {
        try xorReadValue(&bits, &v, &leading, &trailing)
    }
}

/// Reads one XOR-coded value (shared by the XOR and float-histogram chunks).
/// `leading`/`trailing` carry the window of the previous value for this field.
@inlinable @inline(__always)
public func xorReadValue(
    _ bits: inout BitReader, _ value: inout Double, _ leading: inout UInt8, _ trailing: inout UInt8
) throws(TSDBError) {
    switch try bits.readPrefix(limit: 2) {
    case 0:
        return  // value unchanged
    case 1:
        break  // reuse the previous window
    default:
        let l = UInt8(try bits.readBits(5))
        var m = UInt8(try bits.readBits(6))
        if m == 0 { m = 64 }  // 64 significant bits are written as 0
        guard Int(l) + Int(m) <= 64 else {
            throw TSDBError(.corrupt, offset: bits.origin + bits.bytePosition,
                            "XOR window of \(l) leading and \(m) significant bits exceeds 64")
        }
        leading = l
        trailing = 64 - l - m
    }
    guard Int(leading) + Int(trailing) <= 64 else {
        throw TSDBError(.corrupt, offset: bits.origin + bits.bytePosition, "XOR window reused before it was set")
    }
    let m = 64 &- Int(leading) &- Int(trailing)
    let x = try bits.readWide(m)
    value = Double(bitPattern: value.bitPattern ^ (x &<< UInt64(trailing)))
}

extension XORIterator {
    /// Decodes every sample of an XOR chunk, appending to `timestamps` and `values`.
    @inlinable
    public static func decodeAll(
        _ data: UnsafeRawBufferPointer, origin: Int = 0,
        timestamps: inout [Int64], values: inout [Double]
    ) throws(TSDBError) {
        var it = try XORIterator(data, origin: origin)
        timestamps.reserveCapacity(timestamps.count + it.count)
        values.reserveCapacity(values.count + it.count)
        while try it.next() {
            timestamps.append(it.timestamp)
            values.append(it.value)
        }
    }
}
