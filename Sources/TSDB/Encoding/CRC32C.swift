import CCRC32C

/// CRC-32C (Castagnoli), the checksum of every TSDB section, series entry and chunk.
public enum CRC32C {
    @inlinable
    public static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        by_crc32c_extend(0, bytes.baseAddress, bytes.count)
    }

    @inlinable
    public static func extend(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        by_crc32c_extend(crc, bytes.baseAddress, bytes.count)
    }

    /// The checksums of many buffers (`out[i]` of `data[i]`, `lengths[i]` bytes), computed
    /// several at a time: far faster than one call per buffer when they are short.
    public static func checksums(
        _ data: UnsafeBufferPointer<UnsafeRawPointer?>, _ lengths: UnsafeBufferPointer<Int>, into out: UnsafeMutableBufferPointer<UInt32>
    ) {
        precondition(data.count == lengths.count && out.count >= data.count)
        guard let d = data.baseAddress, let l = lengths.baseAddress, let o = out.baseAddress else { return }
        by_crc32c_many(d, l, o, data.count)
    }

    public static func checksum<C: Collection>(_ bytes: C) -> UInt32 where C.Element == UInt8 {
        if let r = bytes.withContiguousStorageIfAvailable({ checksum(UnsafeRawBufferPointer($0)) }) { return r }
        return Array(bytes).withUnsafeBytes { checksum($0) }
    }

    /// Whether the CPU's CRC instruction is in use (reported by `blockyard version`, benchmarks).
    public static var usesHardware: Bool { by_crc32c_hardware() != 0 }

    /// Checks a big-endian CRC stored at `crcOffset` over `bytes[range]`.
    @inlinable
    static func verify(
        _ bytes: UnsafeRawBufferPointer, _ range: Range<Int>, crcAt crcOffset: Int, origin: Int
    ) throws(TSDBError) {
        guard crcOffset >= 0, crcOffset + 4 <= bytes.count, range.lowerBound >= 0, range.upperBound <= bytes.count
        else {
            throw TSDBError(.truncated, offset: origin + crcOffset, "checksum runs past the end")
        }
        let want = UInt32(bigEndian: bytes.loadUnaligned(fromByteOffset: crcOffset, as: UInt32.self))
        let got = checksum(UnsafeRawBufferPointer(rebasing: bytes[range]))
        if want != got {
            throw TSDBError(.checksum, offset: origin + range.lowerBound,
                            "CRC32C mismatch over \(range.count) bytes: stored \(hex32(want)), computed \(hex32(got))")
        }
    }
}

@usableFromInline
package func hex32(_ v: UInt32) -> String {
    let s = String(v, radix: 16)
    return String(repeating: "0", count: 8 - s.count) + s
}
