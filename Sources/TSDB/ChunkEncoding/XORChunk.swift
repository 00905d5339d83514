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
        if read >= 2 && bits.bytesAhead >= 16 {
            try fastSample()
            read &+= 1
            return true
        }
        return try checkedSample()
    }

    /// One sample with every read checked against the end of the stream (the first two
    /// samples, and the last bytes of a chunk).
    @inlinable
    mutating func checkedSample() throws(TSDBError) -> Bool {
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
        case 1: dod = signed(try bits.readBits(14), 14)
        case 2: dod = signed(try bits.readBits(17), 17)
        case 3: dod = signed(try bits.readBits(20), 20)
        default: dod = Int64(bitPattern: try bits.readWide(64))
        }
        delta = UInt64(bitPattern: Int64(bitPattern: delta) &+ dod)
        t = t &+ Int64(bitPattern: delta)
        try readValue()
        read &+= 1
        return true
    }

    /// One sample from n >= 2 when at least 16 bytes are still unread: two unchecked
    /// 8-byte refills cover the timestamp and value fields of the common cases (a refill
    /// advances at most 7 bytes), and the rare 64-bit fields fall back to checked reads.
    /// Works on a local copy of the bit state so it stays in registers.
    @inlinable @inline(__always)
    mutating func fastSample() throws(TSDBError) {
        var b = bits
        b.refillUnchecked()  // >= 57 bits
        let ones = (~b.buffer).leadingZeroBitCount
        var dod: Int64 = 0
        if ones == 0 {
            _ = b.takeUnchecked(1)
        } else if ones < 4 {
            // Prefix (ones + 1 bits) and payload together: at most 4 + 20 bits.
            let width = ones == 1 ? 14 : (ones == 2 ? 17 : 20)
            let raw = b.takeUnchecked(ones &+ 1 &+ width) & ((1 &<< UInt64(truncatingIfNeeded: width)) &- 1)
            dod = signed(raw, width)
        } else {
            _ = b.takeUnchecked(4)
            dod = Int64(bitPattern: try b.readWide(64))
        }
        delta = UInt64(bitPattern: Int64(bitPattern: delta) &+ dod)
        t = t &+ Int64(bitPattern: delta)

        // Value: 0 = unchanged; 10 = reuse window; 11 + 5 + 6 bits = new window.
        if b.valid < 13 { b.refillUnchecked() }
        let top2 = b.buffer &>> 62
        if top2 < 2 {
            _ = b.takeUnchecked(1)
            bits = b
            return
        }
        _ = b.takeUnchecked(2)
        if top2 == 3 {
            let lm = b.takeUnchecked(11)
            let l = Int(lm &>> 6)
            var m = Int(lm & 63)
            if m == 0 { m = 64 }
            guard l &+ m <= 64 else {
                bits = b
                throw TSDBError(.corrupt, offset: b.origin + b.bytePosition,
                                "XOR window of \(l) leading and \(m) significant bits exceeds 64")
            }
            leading = UInt8(l)
            trailing = UInt8(64 &- l &- m)
        } else if Int(leading) &+ Int(trailing) > 64 {
            bits = b
            throw TSDBError(.corrupt, offset: b.origin + b.bytePosition, "XOR window reused before it was set")
        }
        let m = 64 &- Int(leading) &- Int(trailing)
        if b.valid < m {
            if b.bytesAhead >= 8 { b.refillUnchecked() }
        }
        let x: UInt64
        if m <= b.valid {
            x = b.takeUnchecked(m)
        } else {
            x = try b.readWide(m)
        }
        v = Double(bitPattern: v.bitPattern ^ (x &<< UInt64(truncatingIfNeeded: trailing)))
        bits = b
    }

    /// The asymmetric sign convention of the bit stream: values above 2^(n-1) are negative.
    @inlinable @inline(__always)
    func signed(_ u: UInt64, _ n: Int) -> Int64 {
        // n == 0 (no payload) gives u == 0 and a shift that wraps to 63: 0 either way.
        u > (1 &<< UInt64(truncatingIfNeeded: n &- 1)) ? Int64(bitPattern: u) &- (1 &<< Int64(n)) : Int64(bitPattern: u)
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
    value = Double(bitPattern: value.bitPattern ^ (x &<< UInt64(truncatingIfNeeded: trailing)))
}

extension XORIterator {
    /// Decodes every sample of an XOR chunk, appending to `timestamps` and `values`.
    ///
    /// The bulk path: all decoder state lives in locals for the whole chunk, so a sample
    /// costs a refill, a few shifts and two stores. The last bytes of the chunk (where
    /// an 8-byte load could run past the end) go through the checked iterator.
    @inlinable
    public static func decodeAll(
        _ data: UnsafeRawBufferPointer, origin: Int = 0,
        timestamps: inout [Int64], values: inout [Double]
    ) throws(TSDBError) {
        var it = try XORIterator(data, origin: origin)
        let n = it.count
        if n == 0 { return }
        let base = timestamps.count
        timestamps.append(contentsOf: repeatElement(0, count: n))
        values.append(contentsOf: repeatElement(0, count: n))
        var produced = 0
        var failure: TSDBError? = nil
        timestamps.withUnsafeMutableBufferPointer { tp in
            values.withUnsafeMutableBufferPointer { vp in
                do throws(TSDBError) {
                    try it.decodeInto(UnsafeMutableBufferPointer(rebasing: tp[base...]),
                                      UnsafeMutableBufferPointer(rebasing: vp[base...]), &produced)
                } catch {
                    failure = error
                }
            }
        }
        timestamps.removeLast(n - produced)
        values.removeLast(n - produced)
        if let failure { throw failure }
    }

    /// Decodes into caller buffers of at least `count` elements; returns how many samples
    /// were written. The buffers' contents past that are unspecified.
    @inlinable
    public static func decode(
        _ data: UnsafeRawBufferPointer, origin: Int = 0,
        timestamps: UnsafeMutableBufferPointer<Int64>, values: UnsafeMutableBufferPointer<Double>
    ) throws(TSDBError) -> Int {
        var it = try XORIterator(data, origin: origin)
        guard timestamps.count >= it.count, values.count >= it.count else {
            preconditionFailure("decode buffers hold fewer than the chunk's \(it.count) samples")
        }
        var produced = 0
        try it.decodeInto(timestamps, values, &produced)
        return produced
    }

    /// Fills `tp`/`vp` with up to `count` samples, counting them in `produced`.
    ///
    /// After the first two samples (read with checks), the rest of the stream is copied
    /// into a stack buffer followed by `padding` zero bytes, so every refill of the bit
    /// buffer is one unchecked 8-byte load. A sample spans at most 145 bits; 8 samples
    /// plus a refill stay inside the padding, so the position is compared with the real
    /// length every 8 samples and at the end, which turns a truncated chunk into an error
    /// rather than samples decoded from padding. Samples since the last good checkpoint
    /// are not counted in `produced` when that happens.
    @inlinable
    mutating func decodeInto(
        _ tp: UnsafeMutableBufferPointer<Int64>, _ vp: UnsafeMutableBufferPointer<Double>, _ produced: inout Int
    ) throws(TSDBError) {
        let n = count
        if n == 0 || read >= n { return }
        var valueOfSample1Pending = false
        if read == 0 && n >= 2 && bits.valid == 0 && bits.next == 0 {
            // Samples 0 and 1 are byte-aligned: varint t0, 8 raw value bytes, uvarint
            // t1 - t0; the bit stream starts after them with sample 1's value.
            var r = ByteReader(bits.base, origin: bits.origin)
            t = try r.readVarint()
            v = Double(bitPattern: try r.readBE64())
            delta = try r.readUvarint()
            tp[produced] = t
            vp[produced] = v
            produced &+= 1
            t = t &+ Int64(bitPattern: delta)
            bits.next = r.position
            read = 1
            valueOfSample1Pending = true
        } else {
            while read < min(2, n) {
                _ = try checkedSample()
                tp[produced] = t
                vp[produced] = v
                produced &+= 1
            }
            if read >= n { return }
        }
        let real = bits.base
        let realBits = real.count &* 8
        let padding = 256
        let first = read
        let origin = bits.origin
        var good = first
        let failure: TSDBError? = withUnsafeTemporaryAllocation(byteCount: real.count &+ padding, alignment: 8) { tmp in
            if real.count > 0 { tmp.baseAddress!.copyMemory(from: real.baseAddress!, byteCount: real.count) }
            (tmp.baseAddress! + real.count).initializeMemory(as: UInt8.self, repeating: 0, count: padding)
            var b = bits
            b.base = UnsafeRawBufferPointer(tmp)
            var t = self.t
            var delta = self.delta
            var vb = v.bitPattern
            // The window as (significant bits, trailing zeros); 64/0 before any window.
            var sig = 64 &- Int(self.leading) &- Int(self.trailing)
            var trailing = Int(self.trailing)
            // Indexed by sample number i (samples before `first` are already written).
            let tpb = tp.baseAddress! + (produced &- first)
            let vpb = vp.baseAddress! + (produced &- first)
            var i = first
            if valueOfSample1Pending {
                b.refillUnchecked()
                if let e = b.readXORValueUnchecked(&vb, &sig, &trailing, origin: origin) { return e }
                tpb[i] = t
                vpb[i] = Double(bitPattern: vb)
                i &+= 1
                if b.next &* 8 &- b.valid > realBits {
                    return TSDBError(.truncated, offset: origin + real.count, "XOR chunk of \(n) samples ends before sample 2")
                }
                good = i
            }
            while i < n {
                let end = min(i &+ 8, n)
                repeat {
                    if b.valid < 37 { b.refillUnchecked() }  // dod (<= 24 bits) + value header (<= 13)
                    let top = b.buffer
                    if top & (1 &<< 63) == 0 {
                        _ = b.takeUnchecked(1)
                    } else {
                        let ones = (~top).leadingZeroBitCount
                        if ones < 4 {
                            let width = 11 &+ 3 &* ones  // 14, 17, 20 bits after 10, 110, 1110
                            let raw = b.takeUnchecked(ones &+ 1 &+ width) & ((1 &<< UInt64(truncatingIfNeeded: width)) &- 1)
                            delta = UInt64(bitPattern: Int64(bitPattern: delta) &+ signed(raw, width))
                        } else {
                            _ = b.takeUnchecked(4)
                            b.refillUnchecked()
                            let hi = b.takeUnchecked(32)
                            b.refillUnchecked()
                            delta = UInt64(bitPattern: Int64(bitPattern: delta) &+ Int64(bitPattern: hi &<< 32 | b.takeUnchecked(32)))
                            b.refillUnchecked()
                        }
                    }
                    t = t &+ Int64(bitPattern: delta)
                    if let e = b.readXORValueUnchecked(&vb, &sig, &trailing, origin: origin) { return e }
                    tpb[i] = t
                    vpb[i] = Double(bitPattern: vb)
                    i &+= 1
                } while i < end
                if b.next &* 8 &- b.valid > realBits {
                    return TSDBError(.truncated, offset: origin + real.count,
                                     "XOR chunk of \(n) samples ends before sample \(i)")
                }
                good = i
            }
            self.leading = UInt8(64 &- sig &- trailing)
            self.trailing = UInt8(trailing)
            bits.next = real.count
            bits.valid = 0
            bits.buffer = 0
            self.t = t; self.delta = delta; v = Double(bitPattern: vb); read = i
            return nil
        }
        produced &+= good &- first
        if let failure { throw failure }
    }
}

extension BitReader {
    /// One XOR-coded value from the unchecked buffer (needs >= 13 valid bits and padding
    /// behind the data). The window is (significant bits, trailing zeros). Returns an
    /// error for an impossible window instead of throwing, for use inside closures.
    @inlinable @inline(__always)
    mutating func readXORValueUnchecked(
        _ vb: inout UInt64, _ sig: inout Int, _ trailing: inout Int, origin: Int
    ) -> TSDBError? {
        let top2 = buffer &>> 62
        if top2 < 2 {
            _ = takeUnchecked(1)
            return nil
        }
        if top2 == 3 {
            let lm = Int(truncatingIfNeeded: takeUnchecked(13)) & 0x7FF
            let l = lm &>> 6
            var m = lm & 63
            if m == 0 { m = 64 }
            guard l &+ m <= 64 else {
                return TSDBError(.corrupt, offset: origin + bytePosition,
                                 "XOR window of \(l) leading and \(m) significant bits exceeds 64")
            }
            sig = m
            trailing = 64 &- l &- m
        } else {
            // Reuse: the window is always consistent (64/0 before any window reads all 64
            // bits, as Go does).
            _ = takeUnchecked(2)
        }
        if valid < sig {
            refillUnchecked()
            if valid < sig {  // more than 57 bits: two halves
                let hi = takeUnchecked(sig &- 32)
                refillUnchecked()
                vb ^= (hi &<< 32 | takeUnchecked(32)) &<< UInt64(truncatingIfNeeded: trailing)
                return nil
            }
        }
        vb ^= takeUnchecked(sig) &<< UInt64(truncatingIfNeeded: trailing)
        return nil
    }
}
