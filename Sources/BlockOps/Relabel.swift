import Crypto
import TSDB

/// What a relabel rule does (Prometheus `model/relabel` actions).
public enum RelabelAction: String, Sendable, CaseIterable {
    case replace, keep, drop, keepequal, dropequal, hashmod, labelmap, labeldrop, labelkeep, lowercase, uppercase
}

/// One relabel rule as Prometheus and Thanos read it (`relabel_configs` entries), with
/// Prometheus' defaults: separator `;`, regex `(.*)`, replacement `$1`, action `replace`.
/// Label names are checked as Thanos checks them (UTF-8 names: any non-empty string).
public struct RelabelConfig: Sendable, Equatable {
    /// nil when the rule gives none (labeldrop/labelkeep refuse even an empty list).
    public var sourceLabels: [String]? = nil
    public var separator = ";"
    public var regex: RelabelRegex = .default
    public var modulus: UInt64 = 0
    public var targetLabel = ""
    public var replacement = "$1"
    /// nil: given as empty (refused by `validate`).
    public var action: RelabelAction? = .replace

    public init() {}

    /// Prometheus' `Config.Validate` with UTF-8 label names (what Thanos' rewrite uses).
    public func validate() throws(RelabelError) {
        guard let action else { throw RelabelError("relabel action cannot be empty") }
        if modulus == 0 && action == .hashmod {
            throw RelabelError("relabel configuration for hashmod requires non-zero modulus")
        }
        let needsTarget: Set<RelabelAction> = [.replace, .hashmod, .lowercase, .uppercase, .keepequal, .dropequal]
        if needsTarget.contains(action) && targetLabel.isEmpty {
            throw RelabelError("relabel configuration for \(action.rawValue) action requires 'target_label' value")
        }
        if [.lowercase, .uppercase, .keepequal, .dropequal].contains(action) && replacement != "$1" {
            throw RelabelError("'replacement' can not be set for \(action.rawValue) action")
        }
        if action == .labelmap && replacement.isEmpty {
            throw RelabelError("\"\(replacement)\" is invalid 'replacement' for labelmap action")
        }
        if action == .dropequal || action == .keepequal {
            if !regex.isDefault || modulus != 0 || separator != ";" || replacement != "$1" {
                throw RelabelError("\(action.rawValue) action requires only 'source_labels' and `target_label`, and no other fields")
            }
        }
        if action == .labeldrop || action == .labelkeep {
            if sourceLabels != nil || !targetLabel.isEmpty || modulus != 0 || separator != ";" || replacement != "$1" {
                throw RelabelError("\(action.rawValue) action requires only 'regex', and no other fields")
            }
        }
    }
}

/// Applies relabel rules to label sets exactly as Prometheus' `relabel.Process` does
/// (version 3, which Thanos' rewrite uses): the rules run in order on one label builder,
/// source values are read from the labels as the earlier rules left them, a label set to
/// an empty value is removed, and a drop ends the walk.
public enum Relabel {
    /// The new label set, or nil when a rule drops the series.
    public static func process(_ labels: Labels, _ configs: [RelabelConfig]) -> Labels? {
        var b = LabelBuilder(labels)
        for c in configs {
            if !apply(c, &b) { return nil }
        }
        return b.labels()
    }

    static func apply(_ c: RelabelConfig, _ b: inout LabelBuilder) -> Bool {
        let val = (c.sourceLabels ?? []).map { b.get($0) }.joined(separator: c.separator)
        switch c.action ?? .replace {
        case .drop:
            if c.regex.matches(val) { return false }
        case .keep:
            if !c.regex.matches(val) { return false }
        case .dropequal:
            if b.get(c.targetLabel) == val { return false }
        case .keepequal:
            if b.get(c.targetLabel) != val { return false }
        case .replace:
            guard let m = c.regex.match(val) else { break }
            let target = m.expand(c.targetLabel)
            guard !target.isEmpty else { break }
            let res = m.expand(c.replacement)
            if res.isEmpty { b.delete(target) } else { b.set(target, res) }
        case .lowercase:
            b.set(c.targetLabel, goCase(val, upper: false))
        case .uppercase:
            b.set(c.targetLabel, goCase(val, upper: true))
        case .hashmod:
            b.set(c.targetLabel, String(hashMod(val, c.modulus)))
        case .labelmap:
            for l in b.snapshot() where c.regex.matches(l.name) {
                if let m = c.regex.match(l.name) { b.set(m.expand(c.replacement), l.value) }
            }
        case .labeldrop:
            for l in b.snapshot() where c.regex.matches(l.name) { b.delete(l.name) }
        case .labelkeep:
            for l in b.snapshot() where !c.regex.matches(l.name) { b.delete(l.name) }
        }
        return true
    }

    /// The last 8 bytes of the MD5 of `s`, big-endian, modulo `modulus`.
    static func hashMod(_ s: String, _ modulus: UInt64) -> UInt64 {
        let digest = Array(Insecure.MD5.hash(data: Array(s.utf8)))
        var v: UInt64 = 0
        for b in digest[8..<16] { v = v << 8 | UInt64(b) }
        return v % modulus
    }

    /// Go's `strings.ToLower`/`ToUpper`: each scalar mapped on its own. Where Unicode's full
    /// mapping is more than one scalar (ß, ŉ, ǰ…), Go's simple mapping keeps the scalar;
    /// so does this, except İ, whose simple lowercase is i.
    static func goCase(_ s: String, upper: Bool) -> String {
        if s.utf8.allSatisfy({ $0 < 0x80 }) { return upper ? s.uppercased() : s.lowercased() }
        var out = String.UnicodeScalarView()
        for u in s.unicodeScalars {
            if !upper && u.value == 0x130 {
                out.append("i")
                continue
            }
            let mapped = upper ? u.properties.uppercaseMapping : u.properties.lowercaseMapping
            let scalars = mapped.unicodeScalars
            if scalars.count == 1 { out.append(scalars.first!) } else { out.append(u) }
        }
        return String(out)
    }
}

/// Prometheus' `labels.Builder`: the input labels plus a list of additions (in the order
/// they were made) and deletions. Its iteration order (input labels not deleted or
/// replaced, then additions) decides which of two labelmap sources wins a target.
struct LabelBuilder {
    let base: [Label]
    var add: [Label] = []
    var del: [String] = []

    init(_ labels: Labels) { base = labels.pairs }

    func get(_ name: String) -> String {
        if let a = add.first(where: { $0.name == name }) { return a.value }
        if del.contains(name) { return "" }
        return base.first { $0.name == name }?.value ?? ""
    }

    mutating func set(_ name: String, _ value: String) {
        if value.isEmpty {
            delete(name)
            return
        }
        if let i = add.firstIndex(where: { $0.name == name }) {
            add[i].value = value
        } else {
            add.append(Label(name: name, value: value))
        }
    }

    mutating func delete(_ name: String) {
        add.removeAll { $0.name == name }
        del.append(name)
    }

    /// The labels as they stand, in the builder's iteration order.
    func snapshot() -> [Label] {
        base.filter { l in !del.contains(l.name) && !add.contains { $0.name == l.name } } + add
    }

    func labels() -> Labels {
        Labels(snapshot())
    }
}
