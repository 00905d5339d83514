/// Text formatting that matches Go's `strconv.Quote` and `fmt`'s `%g`, so blockyard's
/// output is byte-for-byte what Prometheus tools print.
public enum GoText {
    static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    /// `strconv.Quote` over UTF-8 bytes: printable runes stay, `\a\b\f\n\r\t\v\\\"` are
    /// escaped, other control runes become `\xNN` (< 0x80), `\uNNNN` or `\UNNNNNNNN`,
    /// and bytes that are not valid UTF-8 become `\xNN`.
    public static func appendQuoted(_ s: UnsafeRawBufferPointer, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var i = 0
        let n = s.count
        while i < n {
            let c = s[i]
            if c < 0x80 {
                i += 1
                switch c {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"):
                    out.append(UInt8(ascii: "\\"))
                    out.append(c)
                case 0x20..<0x7F:
                    out.append(c)
                case 0x07: out.append(contentsOf: [92, UInt8(ascii: "a")])
                case 0x08: out.append(contentsOf: [92, UInt8(ascii: "b")])
                case 0x0C: out.append(contentsOf: [92, UInt8(ascii: "f")])
                case 0x0A: out.append(contentsOf: [92, UInt8(ascii: "n")])
                case 0x0D: out.append(contentsOf: [92, UInt8(ascii: "r")])
                case 0x09: out.append(contentsOf: [92, UInt8(ascii: "t")])
                case 0x0B: out.append(contentsOf: [92, UInt8(ascii: "v")])
                default:
                    out.append(contentsOf: [92, UInt8(ascii: "x"), hex[Int(c >> 4)], hex[Int(c & 15)]])
                }
                continue
            }
            // Multi-byte: decode one rune, or treat the byte as invalid.
            let (rune, width) = decodeRune(s, i)
            if width == 0 {
                out.append(contentsOf: [92, UInt8(ascii: "x"), hex[Int(c >> 4)], hex[Int(c & 15)]])
                i += 1
                continue
            }
            if isPrint(rune) {
                for k in 0..<width { out.append(s[i + k]) }
            } else if rune < 0x10000 {
                out.append(contentsOf: [92, UInt8(ascii: "u")])
                for sh in stride(from: 12, through: 0, by: -4) { out.append(hex[Int((rune >> UInt32(sh)) & 15)]) }
            } else {
                out.append(contentsOf: [92, UInt8(ascii: "U")])
                for sh in stride(from: 28, through: 0, by: -4) { out.append(hex[Int((rune >> UInt32(sh)) & 15)]) }
            }
            i += width
        }
        out.append(UInt8(ascii: "\""))
    }

    /// Decodes the UTF-8 rune at `i`; width 0 means invalid (Go then emits the byte as \x).
    static func decodeRune(_ s: UnsafeRawBufferPointer, _ i: Int) -> (UInt32, Int) {
        let c0 = UInt32(s[i])
        let n = s.count - i
        func cont(_ k: Int) -> UInt32? {
            guard k < n else { return nil }
            let c = UInt32(s[i + k])
            return c & 0xC0 == 0x80 ? c & 0x3F : nil
        }
        if c0 >= 0xC2 && c0 <= 0xDF, let c1 = cont(1) {
            return ((c0 & 0x1F) << 6 | c1, 2)
        }
        if c0 >= 0xE0 && c0 <= 0xEF, let c1 = cont(1), let c2 = cont(2) {
            let r = (c0 & 0x0F) << 12 | c1 << 6 | c2
            if r < 0x800 || (r >= 0xD800 && r <= 0xDFFF) { return (0, 0) }
            return (r, 3)
        }
        if c0 >= 0xF0 && c0 <= 0xF4, let c1 = cont(1), let c2 = cont(2), let c3 = cont(3) {
            let r = (c0 & 0x07) << 18 | c1 << 12 | c2 << 6 | c3
            if r < 0x10000 || r > 0x10FFFF { return (0, 0) }
            return (r, 4)
        }
        return (0, 0)
    }

    /// Go's `strconv.IsPrint` for runes >= 0x80: letters, marks, numbers, punctuation,
    /// symbols, and U+0020 only among spaces. Approximated with Unicode general categories.
    static func isPrint(_ r: UInt32) -> Bool {
        guard let scalar = Unicode.Scalar(r) else { return false }
        switch scalar.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter,
             .nonspacingMark, .spacingMark, .enclosingMark,
             .decimalNumber, .letterNumber, .otherNumber,
             .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
             .initialPunctuation, .finalPunctuation, .otherPunctuation,
             .mathSymbol, .currencySymbol, .modifierSymbol, .otherSymbol:
            return true
        default:
            return false
        }
    }

    /// `fmt.Sprintf("%g", v)` for a float64: shortest round-trip digits; exponent form
    /// (`1.5e+06`, `1e-05`) when the decimal exponent is < -4 or >= 6 (Go's rule for the
    /// shortest precision); `NaN`, `+Inf`, `-Inf`, `-0`.
    public static func appendFloat(_ v: Double, to out: inout [UInt8]) {
        if v.isNaN { out.append(contentsOf: [78, 97, 78]); return }  // NaN
        if v.isInfinite {
            out.append(v < 0 ? UInt8(ascii: "-") : UInt8(ascii: "+"))
            out.append(contentsOf: [73, 110, 102])  // Inf
            return
        }
        if v.sign == .minus { out.append(UInt8(ascii: "-")) }
        let m = v.magnitude
        if m == 0 { out.append(UInt8(ascii: "0")); return }
        // Whole numbers below 10^6 print as plain digits: skip the digit generation.
        if m < 1e6, m == m.rounded(.towardZero) {
            appendDigits(UInt64(m), to: &out)
            return
        }
        var digits: [UInt8] = []
        var exp10 = 0  // value = 0.d1d2d3... x 10^exp10
        shortestDigits(m, &digits, &exp10)
        let x = exp10 - 1
        if x < -4 || x >= 6 {
            appendExponent(digits, x, to: &out)
        } else if exp10 <= 0 {
            out.append(UInt8(ascii: "0"))
            out.append(UInt8(ascii: "."))
            for _ in 0..<(-exp10) { out.append(UInt8(ascii: "0")) }
            out.append(contentsOf: digits)
        } else if exp10 >= digits.count {
            out.append(contentsOf: digits)
            for _ in 0..<(exp10 - digits.count) { out.append(UInt8(ascii: "0")) }
        } else {
            out.append(contentsOf: digits[0..<exp10])
            out.append(UInt8(ascii: "."))
            out.append(contentsOf: digits[exp10...])
        }
    }

    static func appendExponent(_ digits: [UInt8], _ x: Int, to out: inout [UInt8]) {
        out.append(digits[0])
        if digits.count > 1 {
            out.append(UInt8(ascii: "."))
            out.append(contentsOf: digits[1...])
        }
        out.append(UInt8(ascii: "e"))
        out.append(UInt8(ascii: x < 0 ? "-" : "+"))
        let m = x.magnitude
        if m < 10 { out.append(UInt8(ascii: "0")) }
        appendDigits(UInt64(m), to: &out)
    }

    @inlinable
    public static func appendDigits(_ v: UInt64, to out: inout [UInt8]) {
        if v < 10 { out.append(UInt8(ascii: "0") + UInt8(v)); return }
        var buf: (UInt64, UInt64, UInt64) = (0, 0, 0)
        withUnsafeMutableBytes(of: &buf) { p in
            var i = 24
            var x = v
            while x > 0 {
                i -= 1
                p[i] = UInt8(ascii: "0") + UInt8(x % 10)
                x /= 10
            }
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: p[i..<24]))
        }
    }

    @inlinable
    public static func appendInt(_ v: Int64, to out: inout [UInt8]) {
        if v < 0 { out.append(UInt8(ascii: "-")) }
        appendDigits(v.magnitude, to: &out)
    }

    /// Shortest decimal digits that round-trip, taken from Swift's own shortest printing
    /// (`description` is shortest round-trip since Swift 4.2), normalised to
    /// 0.d1d2... x 10^exp10.
    static func shortestDigits(_ v: Double, _ digits: inout [UInt8], _ exp10: inout Int) {
        let s = v.description.utf8
        var mantissa: [UInt8] = []
        var pointAt: Int? = nil
        var e = 0
        var it = s.makeIterator()
        var seenE = false
        var expSign = 1
        var expVal = 0
        while let c = it.next() {
            if seenE {
                if c == UInt8(ascii: "-") { expSign = -1 } else if c == UInt8(ascii: "+") {} else {
                    expVal = expVal * 10 + Int(c - UInt8(ascii: "0"))
                }
                continue
            }
            switch c {
            case UInt8(ascii: "."): pointAt = mantissa.count
            case UInt8(ascii: "e"), UInt8(ascii: "E"): seenE = true
            default: mantissa.append(c)
            }
        }
        e = expSign * expVal
        let intDigits = pointAt ?? mantissa.count
        // Strip leading zeros (adjusting the exponent) and trailing zeros.
        var lead = 0
        while lead < mantissa.count - 1, mantissa[lead] == UInt8(ascii: "0") { lead += 1 }
        var end = mantissa.count
        while end > lead + 1, mantissa[end - 1] == UInt8(ascii: "0") { end -= 1 }
        digits = Array(mantissa[lead..<end])
        exp10 = intDigits - lead + e
    }
}

/// Go's `time.Duration.String()` for a whole number of milliseconds.
public func goDuration(millis: Int64) -> String {
    if millis == 0 { return "0s" }
    let neg = millis < 0
    let ms = millis.magnitude
    var s = neg ? "-" : ""
    if ms < 1000 { return s + "\(ms)ms" }
    let totalSeconds = ms / 1000
    let frac = ms % 1000
    let h = totalSeconds / 3600
    let m = (totalSeconds % 3600) / 60
    let sec = totalSeconds % 60
    if h > 0 { s += "\(h)h" }
    if h > 0 || m > 0 { s += "\(m)m" }
    s += "\(sec)"
    if frac > 0 {
        var f = String(frac)
        f = String(repeating: "0", count: 3 - f.count) + f
        while f.hasSuffix("0") { f.removeLast() }
        s += "." + f
    }
    return s + "s"
}


/// Parses a duration as Thanos flags take them (Go `time.Duration` and Prometheus
/// `model.Duration` units): one or more `<number><unit>` with units ms, s, m, h, d (24h),
/// w (7d), y (365d), e.g. `48h`, `1h30m`, `14d`, `0s`. Returns milliseconds, nil when malformed.
public func parseDuration(_ text: String) -> Int64? {
    let units: [(String, Int64)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000),
                                    ("d", 86_400_000), ("w", 604_800_000), ("y", 31_536_000_000)]
    var rest = Substring(text)
    guard !rest.isEmpty else { return nil }
    if rest == "0" { return 0 }
    var total: Int64 = 0
    while !rest.isEmpty {
        let digits = rest.prefix { $0.isASCII && $0.isNumber }
        guard !digits.isEmpty, let n = Int64(digits) else { return nil }
        rest = rest.dropFirst(digits.count)
        // Longest unit first ("ms" before "m").
        guard let (u, scale) = units.sorted(by: { $0.0.count > $1.0.count }).first(where: { rest.hasPrefix($0.0) }) else { return nil }
        rest = rest.dropFirst(u.count)
        let (p, o1) = n.multipliedReportingOverflow(by: scale)
        let (s, o2) = total.addingReportingOverflow(p)
        if o1 || o2 { return nil }
        total = s
    }
    return total
}
