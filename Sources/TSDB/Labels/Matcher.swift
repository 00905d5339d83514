/// A PromQL label matcher: `name="v"`, `name!="v"`, `name=~"re"`, `name!~"re"`.
/// Regular expressions are fully anchored, as in Prometheus.
public struct Matcher: @unchecked Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable { case equal = "=", notEqual = "!=", regex = "=~", notRegex = "!~" }
    public let name: String
    public let kind: Kind
    public let value: String
    private let regex: Regex<AnyRegexOutput>?

    public init(_ kind: Kind, _ name: String, _ value: String) throws {
        self.name = name
        self.kind = kind
        self.value = value
        switch kind {
        case .regex, .notRegex:
            do { regex = try Regex(value) } catch {
                throw SelectorError(detail: "invalid regular expression \"\(value)\" for label \(name): \(error)")
            }
        default: regex = nil
        }
    }

    public func matches(_ v: String) -> Bool {
        switch kind {
        case .equal: v == value
        case .notEqual: v != value
        case .regex: (try? regex!.wholeMatch(in: v)) != nil
        case .notRegex: (try? regex!.wholeMatch(in: v)) == nil
        }
    }

    public var description: String {
        var out: [UInt8] = Array(name.utf8) + Array(kind.rawValue.utf8)
        var v = value
        v.withUTF8 { GoText.appendQuoted(UnsafeRawBufferPointer($0), to: &out) }
        return String(decoding: out, as: UTF8.self)
    }
}

public struct SelectorError: Error, CustomStringConvertible, Sendable {
    public var detail: String
    public var description: String { detail }
}

/// Parses a PromQL series selector: `metric`, `metric{a="b",c=~"d.*"}`, `{__name__=~".+"}`.
public func parseSelector(_ text: String) throws -> [Matcher] {
    var p = SelectorParser(s: Array(text.unicodeScalars), i: 0)
    return try p.parse()
}

struct SelectorParser {
    let s: [Unicode.Scalar]
    var i: Int

    mutating func space() { while i < s.count, s[i].properties.isWhitespace { i += 1 } }

    func err(_ d: String) -> SelectorError { SelectorError(detail: "selector: \(d) at character \(i + 1)") }

    static func isNameStart(_ c: Unicode.Scalar) -> Bool { c == "_" || c == ":" || ("a"..."z").contains(c) || ("A"..."Z").contains(c) }
    static func isName(_ c: Unicode.Scalar) -> Bool { isNameStart(c) || ("0"..."9").contains(c) }

    mutating func ident(allowColon: Bool) -> String {
        var out = String.UnicodeScalarView()
        while i < s.count, Self.isName(s[i]), allowColon || s[i] != ":" {
            out.append(s[i])
            i += 1
        }
        return String(out)
    }

    mutating func quoted() throws -> String {
        guard i < s.count, ["\"", "'", "`"].contains(s[i]) else { throw err("expected a quoted string") }
        let q = s[i]
        i += 1
        var out = String.UnicodeScalarView()
        while true {
            guard i < s.count else { throw err("unterminated string") }
            let c = s[i]
            i += 1
            if c == q { break }
            if c == "\\" && q != "`" {
                guard i < s.count else { throw err("unterminated escape") }
                let e = s[i]
                i += 1
                switch e {
                case "n": out.append("\n")
                case "t": out.append("\t")
                case "r": out.append("\r")
                case "\\", "\"", "'": out.append(e)
                case "a": out.append("\u{07}")
                case "b": out.append("\u{08}")
                case "f": out.append("\u{0C}")
                case "v": out.append("\u{0B}")
                case "x", "u", "U":
                    let n = e == "x" ? 2 : (e == "u" ? 4 : 8)
                    guard i + n <= s.count, let v = UInt32(String(String.UnicodeScalarView(s[i..<i + n])), radix: 16),
                          let sc = Unicode.Scalar(v) else { throw err("bad \\\(e) escape") }
                    out.append(sc)
                    i += n
                default: throw err("unknown escape \\\(e)")
                }
            } else {
                out.append(c)
            }
        }
        return String(out)
    }

    mutating func parse() throws -> [Matcher] {
        var ms: [Matcher] = []
        space()
        if i < s.count, Self.isNameStart(s[i]) {
            let name = ident(allowColon: true)
            ms.append(try Matcher(.equal, "__name__", name))
            space()
        }
        if i < s.count, s[i] == "{" {
            i += 1
            while true {
                space()
                if i < s.count, s[i] == "}" { i += 1; break }
                guard i < s.count, Self.isNameStart(s[i]), s[i] != ":" else { throw err("expected a label name") }
                let name = ident(allowColon: false)
                space()
                var op = ""
                while i < s.count, ["=", "!", "~"].contains(s[i]), op.count < 2 {
                    op.unicodeScalars.append(s[i])
                    i += 1
                }
                guard let kind = Matcher.Kind(rawValue: op) else { throw err("expected =, !=, =~ or !~") }
                space()
                ms.append(try Matcher(kind, name, try quoted()))
                space()
                if i < s.count, s[i] == "," { i += 1; continue }
                if i < s.count, s[i] == "}" { i += 1; break }
                throw err("expected , or }")
            }
        }
        space()
        guard i == s.count else { throw err("unexpected text") }
        guard !ms.isEmpty else { throw err("empty selector") }
        return ms
    }
}
