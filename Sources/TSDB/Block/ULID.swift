/// A ULID: 48-bit millisecond timestamp and 80 random bits, written as 26 characters of
/// Crockford base32. Block directories are named by one.
public struct ULID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let high: UInt64  // first 8 bytes, big-endian
    public let low: UInt64   // last 8 bytes
    static let alphabet: [UInt8] = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ".utf8)

    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// A new ULID for `milliseconds` since the epoch with random entropy.
    public init(milliseconds: UInt64, random: inout some RandomNumberGenerator) {
        let r1 = UInt64.random(in: 0...UInt64(UInt16.max), using: &random)
        high = (milliseconds & 0xFFFF_FFFF_FFFF) << 16 | r1
        low = UInt64.random(in: 0...UInt64.max, using: &random)
    }

    public init(milliseconds: UInt64) {
        var g = SystemRandomNumberGenerator()
        self.init(milliseconds: milliseconds, random: &g)
    }

    /// Parses the 26-character form (case-insensitive; I/L read as 1, O as 0 like Crockford).
    public init?(_ s: String) {
        let u = Array(s.utf8)
        guard u.count == 26 else { return nil }
        var v: (UInt64, UInt64) = (0, 0)  // 128 bits as (hi, lo)
        for (i, c) in u.enumerated() {
            guard let d = ULID.decodeChar(c) else { return nil }
            if i == 0 && d > 7 { return nil }  // would overflow 128 bits
            v = ((v.0 << 5) | (v.1 >> 59), (v.1 << 5) | UInt64(d))
        }
        high = v.0
        low = v.1
    }

    static func decodeChar(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: return c - 0x30
        case UInt8(ascii: "a")...UInt8(ascii: "z"): return decodeChar(c - 32)
        case UInt8(ascii: "O"): return 0
        case UInt8(ascii: "I"), UInt8(ascii: "L"): return 1
        default:
            if let i = alphabet.firstIndex(of: c) { return UInt8(i) }
            return nil
        }
    }

    /// Milliseconds since the Unix epoch.
    public var timestamp: UInt64 { high >> 16 }

    public var description: String {
        var out = [UInt8](repeating: 0, count: 26)
        var hi = high
        var lo = low
        for i in stride(from: 25, through: 0, by: -1) {
            out[i] = ULID.alphabet[Int(lo & 31)]
            lo = (lo >> 5) | (hi << 59)
            hi >>= 5
        }
        return String(decoding: out, as: UTF8.self)
    }

    public static func < (a: ULID, b: ULID) -> Bool { (a.high, a.low) < (b.high, b.low) }
}
