/// The `varbit` integer codings of the histogram chunks (`tsdb/chunkenc/varbit.go`).
///
/// A value starts with a unary prefix of up to eight one bits, terminated by a zero bit
/// unless all eight are ones. The number of ones selects the width of the payload:
///
/// | prefix      | payload bits | signed range              |
/// |-------------|--------------|---------------------------|
/// | `0`         | 0 (value 0)  | 0                         |
/// | `10`        | 3            | -3 ... 4                  |
/// | `110`       | 6            | -31 ... 32                |
/// | `1110`      | 9            | -255 ... 256              |
/// | `11110`     | 12           | -2047 ... 2048            |
/// | `111110`    | 18           | -131071 ... 131072        |
/// | `1111110`   | 25           | -16777215 ... 16777216    |
/// | `11111110`  | 56           | -(2^55-1) ... 2^55        |
/// | `11111111`  | 64           | any (raw two's complement)|
///
/// Signed payloads use the asymmetric `bitRange` convention of the bit stream: a payload
/// `u` of `n` bits means `u - 2^n` when `u > 2^(n-1)`, so `2^(n-1)` itself is positive.
/// Unsigned values use the same prefixes with plain payloads.
extension BitReader {
    /// Payload width for a varbit prefix of `ones` one bits (0...8).
    @inlinable @inline(__always)
    static func varbitWidth(_ ones: Int) -> Int {
        switch ones {
        case 0: return 0
        case 1: return 3
        case 2: return 6
        case 3: return 9
        case 4: return 12
        case 5: return 18
        case 6: return 25
        case 7: return 56
        default: return 64
        }
    }

    /// Reads a `varbit_int` (Go `readVarbitInt`).
    @inlinable
    public mutating func readVarbitInt() throws(TSDBError) -> Int64 {
        let width = BitReader.varbitWidth(try readPrefix(limit: 8))
        switch width {
        case 0:
            return 0
        case 64:
            return Int64(bitPattern: try readWide(64))
        default:
            let u = try readBits(width)
            if u > (1 &<< UInt64(width &- 1)) {
                return Int64(bitPattern: u) &- (1 &<< Int64(width))
            }
            return Int64(bitPattern: u)
        }
    }

    /// Reads a `varbit_uint` (Go `readVarbitUint`).
    @inlinable
    public mutating func readVarbitUint() throws(TSDBError) -> UInt64 {
        let width = BitReader.varbitWidth(try readPrefix(limit: 8))
        switch width {
        case 0: return 0
        case 64: return try readWide(64)
        default: return try readBits(width)
        }
    }
}
