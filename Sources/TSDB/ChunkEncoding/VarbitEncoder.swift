/// The writing side of the `varbit` integer codings (see `Varbit.swift` for the table of
/// prefixes and payload widths) and of the other fields histogram chunks are made of.
extension BitWriter {
    /// The signed range an n-bit varbit payload holds: -(2^(n-1) - 1) ... 2^(n-1).
    @inline(__always)
    static func varbitFits(_ v: Int64, _ n: Int) -> Bool {
        let half = Int64(1) << (n - 1)
        return v >= -(half - 1) && v <= half
    }

    /// Writes a `varbit_int`: the shortest prefix whose payload holds `v`.
    public mutating func writeVarbitInt(_ v: Int64) {
        if v == 0 {
            writeBit(false)
            return
        }
        // (prefix ones, payload width) in increasing size; the last row takes any value.
        let rows: [(Int, Int)] = [(1, 3), (2, 6), (3, 9), (4, 12), (5, 18), (6, 25), (7, 56)]
        for (ones, width) in rows where Self.varbitFits(v, width) {
            writeVarbitPrefix(ones)
            write(UInt64(bitPattern: v), bits: width)
            return
        }
        write(0xFF, bits: 8)
        write(UInt64(bitPattern: v), bits: 64)
    }

    /// Writes a `varbit_uint`: the same prefixes with plain payloads.
    public mutating func writeVarbitUint(_ v: UInt64) {
        if v == 0 {
            writeBit(false)
            return
        }
        let rows: [(Int, Int)] = [(1, 3), (2, 6), (3, 9), (4, 12), (5, 18), (6, 25), (7, 56)]
        for (ones, width) in rows where v >> UInt64(width) == 0 {
            writeVarbitPrefix(ones)
            write(v, bits: width)
            return
        }
        write(0xFF, bits: 8)
        write(v, bits: 64)
    }

    /// `ones` one bits and the terminating zero (1 ≤ ones ≤ 7).
    @inline(__always)
    mutating func writeVarbitPrefix(_ ones: Int) {
        write((UInt64(1) << UInt64(ones + 1)) - 2, bits: ones + 1)
    }

    public mutating func writeByte(_ b: UInt8) { write(UInt64(b), bits: 8) }
}
