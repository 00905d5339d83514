import Testing
@testable import TSDB

@Suite("Integer encodings, CRC32C, bit reader")
struct EncodingTests {
    @Test("uvarint/varint decode Go's encoding", arguments: [
        ([0x00], UInt64(0)), ([0x01], 1), ([0x7f], 127), ([0x80, 0x01], 128), ([0xac, 0x02], 300),
        ([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], UInt64.max),
    ] as [([UInt8], UInt64)])
    func uvarint(bytes: [UInt8], want: UInt64) throws {
        try bytes.withUnsafeBytes { (b) throws in
            var r = ByteReader(b)
            #expect(try r.readUvarint() == want)
            #expect(r.isAtEnd)
        }
    }

    @Test("zig-zag varint", arguments: [([0x00], Int64(0)), ([0x01], -1), ([0x02], 1), ([0x03], -2), ([0xd8, 0x04], 300)] as [([UInt8], Int64)])
    func varint(bytes: [UInt8], want: Int64) throws {
        try bytes.withUnsafeBytes { (b) throws in
            var r = ByteReader(b)
            #expect(try r.readVarint() == want)
        }
    }

    @Test("bad varints are errors with offsets, never traps")
    func badVarints() {
        for bad: [UInt8] in [[], [0x80], [0xff, 0xff], Array(repeating: 0xff, count: 10) + [0x01],
                             Array(repeating: 0xff, count: 9) + [0x02]] {
            bad.withUnsafeBytes { b in
                var r = ByteReader(b, origin: 100)
                #expect(throws: TSDBError.self) { try r.readUvarint() }
            }
        }
    }

    @Test("every prefix of a length-prefixed read fails cleanly")
    func lengthPrefixTruncation() {
        let full: [UInt8] = [0x05, 1, 2, 3, 4, 5]
        for n in 0..<full.count {
            Array(full[..<n]).withUnsafeBytes { b in
                var r = ByteReader(b)
                #expect(throws: TSDBError.self) {
                    let l = try r.readLength("s")
                    _ = try r.readBytes(l)
                }
            }
        }
    }

    @Test("CRC32C check values")
    func crc() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([UInt8]()) == 0)
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        // Chained == whole, for every split of an odd-length input (hardware and tail paths).
        let data = (0..<1003).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        let whole = CRC32C.checksum(data)
        for split in [0, 1, 7, 8, 9, 500, 1002, 1003] {
            let a = data[..<split].withUnsafeBytes { CRC32C.checksum($0) }
            let c = data[split...].withUnsafeBytes { CRC32C.extend(a, $0) }
            #expect(c == whole)
        }
    }

    /// CRC-32C one bit at a time: slow and obviously right.
    static func bitwiseCRC(_ bytes: ArraySlice<UInt8>, from crc: UInt32 = 0) -> UInt32 {
        var c = ~crc
        for b in bytes {
            c ^= UInt32(b)
            for _ in 0..<8 { c = c & 1 == 1 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
        }
        return ~c
    }

    @Test("CRC32C of long, unaligned buffers equals the bitwise CRC, whole and chained")
    func crcLong() {
        // Sizes around 4 KiB multiples (and odd ones), odd offsets, and a chained start value.
        // Fixed pseudo-random bytes (an LCG), so a failure repeats.
        var x: UInt64 = 0x9E37_79B9_7F4A_7C15
        let data = (0..<(64 << 10)).map { _ -> UInt8 in
            x = x &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return UInt8(truncatingIfNeeded: x >> 56)
        }
        for n in [12287, 12288, 12289, 12295, 12296, 24575, 24576, 24577, 40000, 65536 - 3] {
            for offset in [0, 1, 3] where offset + n <= data.count {
                let slice = data[offset..<(offset + n)]
                let want = Self.bitwiseCRC(slice)
                #expect(slice.withUnsafeBytes { CRC32C.checksum($0) } == want, "\(n) bytes at \(offset)")
                let head = Self.bitwiseCRC(data[0..<offset])
                #expect(slice.withUnsafeBytes { CRC32C.extend(head, $0) } == Self.bitwiseCRC(data[0..<(offset + n)]),
                        "\(n) bytes at \(offset), chained")
            }
        }
    }

    @Test("CRC32C of short buffers of every length (the 4-, 2- and 1-byte tail steps), alone and four at a time")
    func crcShort() {
        let data = (0..<256).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ 17) }
        var slices: [ArraySlice<UInt8>] = []
        for n in 0...80 { for offset in [0, 1, 2, 3, 5] { slices.append(data[offset..<(offset + n)]) } }
        for s in slices {
            #expect(s.withUnsafeBytes { CRC32C.checksum($0) } == Self.bitwiseCRC(s), "\(s.count) bytes at \(s.startIndex)")
        }
        // Four at a time (lockstep, then each tail): lengths that differ within a group.
        data.withUnsafeBytes { raw in
            let ptrs = slices.map { UnsafeRawPointer(raw.baseAddress! + $0.startIndex) as UnsafeRawPointer? }
            let lengths = slices.map(\.count)
            var out = [UInt32](repeating: 0, count: slices.count)
            ptrs.withUnsafeBufferPointer { p in
                lengths.withUnsafeBufferPointer { l in out.withUnsafeMutableBufferPointer { CRC32C.checksums(p, l, into: $0) } }
            }
            for (i, s) in slices.enumerated() { #expect(out[i] == Self.bitwiseCRC(s), "\(s.count) bytes at \(s.startIndex), in a group") }
        }
    }

    @Test("bit reader reads MSB-first across refills and byte boundaries")
    func bits() throws {
        // 0b1011_0011, 0b1100_0000, then ten 0xAA
        let bytes: [UInt8] = [0xB3, 0xC0] + Array(repeating: 0xAA, count: 10)
        try bytes.withUnsafeBytes { (b) throws in
            var r = BitReader(b)
            #expect(try r.readBit() == true)
            #expect(try r.readBits(3) == 0b011)
            #expect(try r.readBits(6) == 0b0011_11)
            #expect(try r.readPrefix(limit: 4) == 0)  // next bit is 0
            #expect(try r.readBits(5) == 0)
            #expect(try r.readWide(64) == 0xAAAA_AAAA_AAAA_AAAA)
            #expect(r.bitsRemaining == 16)
            #expect(try r.readBits(16) == 0xAAAA)
            #expect(throws: TSDBError.self) { try r.readBit() }
        }
    }

    @Test("unary prefix stops at the limit")
    func prefix() throws {
        try [UInt8]([0xFF, 0x7F]).withUnsafeBytes { (b) throws in
            var r = BitReader(b)
            #expect(try r.readPrefix(limit: 4) == 4)
            #expect(try r.readPrefix(limit: 4) == 4)
            #expect(try r.readPrefix(limit: 2) == 0)  // 0 bit
            #expect(try r.readPrefix(limit: 4) == 4)
            // Three ones and then the end of the stream: truncated, not a short count.
            #expect(throws: TSDBError.self) { try r.readPrefix(limit: 4) }
        }
    }
}
