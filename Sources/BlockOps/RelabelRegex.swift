import TSDB

/// A relabel rule's regular expression with Prometheus' semantics: the pattern is anchored
/// at both ends as `^(?s:pattern)$` (so `.` also matches a newline, as in Prometheus 3 and
/// the Thanos releases built on it), and matched over Unicode scalars (Go's runes) with
/// ASCII-only `\d`, `\w`, `\s` and `\b`, as RE2 defines them.
///
/// Swift's regex engine accepts a superset of RE2's syntax: backreferences, lookaround and
/// possessive quantifiers compile here and would be refused by Prometheus. Everything RE2
/// accepts (including `(?P<name>...)` and `(?i)`) means the same here.
public struct RelabelRegex: @unchecked Sendable, Equatable, CustomStringConvertible {
    /// The pattern as written in the config (without the anchors).
    public let pattern: String
    /// Whether this is the default `(.*)` of a rule that gave no regex (Prometheus tells
    /// "not given" from "given as (.*)" for the keepequal/dropequal/labeldrop checks).
    public let isDefault: Bool
    private let regex: Regex<AnyRegexOutput>
    private let fast: Fast

    /// Shortcuts for the common patterns, which skip the regex engine.
    private enum Fast {
        case none
        /// `(.*)`: matches everything, group 1 is the whole input.
        case everything
        /// A pattern without metacharacters: matches exactly itself, no groups.
        case literal(String)
    }

    public init(_ pattern: String) throws(RelabelError) {
        try self.init(pattern, isDefault: false)
    }

    private init(_ pattern: String, isDefault: Bool) throws(RelabelError) {
        self.pattern = pattern
        self.isDefault = isDefault
        do {
            regex = try Regex("^(?s:" + pattern + ")$")
                .matchingSemantics(.unicodeScalar)
                .asciiOnlyCharacterClasses()
                .wordBoundaryKind(.simple)
        } catch {
            throw RelabelError("invalid regex \"\(pattern)\": \(error)")
        }
        if pattern == "(.*)" {
            fast = .everything
        } else if !pattern.isEmpty, pattern.unicodeScalars.allSatisfy({ !"\\^$.|?*+()[]{}".unicodeScalars.contains($0) }) {
            fast = .literal(pattern)
        } else {
            fast = .none
        }
    }

    /// `(.*)`, the regex of a rule that gives none.
    public static let `default`: RelabelRegex = try! RelabelRegex("(.*)", isDefault: true)

    public static func == (a: RelabelRegex, b: RelabelRegex) -> Bool {
        a.pattern == b.pattern && a.isDefault == b.isDefault
    }

    public var description: String { pattern }

    /// Whether the whole of `s` matches.
    public func matches(_ s: String) -> Bool {
        switch fast {
        case .everything: return true
        case .literal(let l): return s.utf8.elementsEqual(l.utf8)
        case .none: return (try? regex.wholeMatch(in: s)) != nil
        }
    }

    /// The match of the whole of `s`: its groups by number (0 is the whole match; nil for
    /// a group that took no part) and by name.
    public func match(_ s: String) -> RegexGroups? {
        switch fast {
        case .everything:
            return RegexGroups(numbered: [s, s], named: [:])
        case .literal(let l):
            return s.utf8.elementsEqual(l.utf8) ? RegexGroups(numbered: [s], named: [:]) : nil
        case .none:
            guard let m = try? regex.wholeMatch(in: s) else { return nil }
            var numbered: [String?] = []
            var named: [String: String?] = [:]
            for g in m.output {
                let text = g.substring.map(String.init)
                numbered.append(text)
                if let n = g.name, named[n] == nil { named[n] = .some(text) }
            }
            return RegexGroups(numbered: numbered, named: named)
        }
    }
}

/// The groups of one regex match.
public struct RegexGroups: Sendable {
    public var numbered: [String?]
    public var named: [String: String?]

    /// Go's `Regexp.Expand`: `$1`, `${1}`, `$name`, `${name}` are replaced by the group's
    /// text (empty when the group does not exist or took no part); `$$` is a literal `$`;
    /// a `$` that starts no valid reference is kept as it is. A bare reference takes the
    /// longest run of letters, digits and `_`, so `$1x` names group `1x` (which does not
    /// exist), exactly as in Go.
    public func expand(_ template: String) -> String {
        let t = Array(template.unicodeScalars)
        var out = String.UnicodeScalarView()
        var i = 0
        func isNameScalar(_ c: Unicode.Scalar) -> Bool {
            c == "_" || c.properties.generalCategory.isLetter || c.properties.generalCategory == .decimalNumber
        }
        while i < t.count {
            let c = t[i]
            guard c == "$" else {
                out.append(c)
                i += 1
                continue
            }
            if i + 1 < t.count, t[i + 1] == "$" {
                out.append("$")
                i += 2
                continue
            }
            // Extract a name after the `$`, in braces or bare.
            var j = i + 1
            let brace = j < t.count && t[j] == "{"
            if brace { j += 1 }
            let start = j
            while j < t.count, isNameScalar(t[j]) { j += 1 }
            var ok = j > start
            let name = String(String.UnicodeScalarView(t[start..<j]))
            if ok && brace {
                if j < t.count && t[j] == "}" { j += 1 } else { ok = false }
            }
            guard ok else {
                out.append("$")
                i += 1
                continue
            }
            i = j
            if let n = Self.groupNumber(name) {
                if n < numbered.count, let g = numbered[n] { out.append(contentsOf: g.unicodeScalars) }
            } else if let g = named[name], let text = g {
                out.append(contentsOf: text.unicodeScalars)
            }
        }
        return String(out)
    }

    /// Go's rule: a name of ASCII digits is a group number (no leading zeros, below 1e8).
    static func groupNumber(_ name: String) -> Int? {
        var n = 0
        for u in name.unicodeScalars {
            guard u.value >= 48 && u.value <= 57, n < 100_000_000 else { return nil }
            n = n * 10 + Int(u.value - 48)
        }
        if name.unicodeScalars.count > 1 && name.unicodeScalars.first == "0" { return nil }
        return n
    }
}

extension Unicode.GeneralCategory {
    var isLetter: Bool {
        switch self {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: true
        default: false
        }
    }
}

/// A relabel config that cannot be used, naming the rule and field.
public struct RelabelError: Error, CustomStringConvertible, Sendable, Equatable {
    public var detail: String
    public init(_ detail: String) { self.detail = detail }
    public var description: String { detail }
}
