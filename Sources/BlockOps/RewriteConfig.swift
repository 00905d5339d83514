import TSDB
import Yams

/// One Thanos deletion request (`--rewrite.to-delete-config`): series matching every
/// matcher lose the samples in `intervals` (closed, in ms), or everything when there are
/// none.
public struct DeletionRequest: Sendable {
    /// The selector as written.
    public var selector: String
    public var matchers: [Matcher]
    public var intervals: [ClosedRange<Int64>]
    public var requestID: String?

    public init(selector: String, intervals: [ClosedRange<Int64>] = [], requestID: String? = nil) throws(BlockOpsError) {
        self.selector = selector
        do { matchers = try parseSelector(selector) } catch {
            throw BlockOpsError.invalid("deletion request matchers \"\(selector)\": \(error)")
        }
        self.intervals = intervals
        self.requestID = requestID
    }

    /// Thanos' rule (`delModifierSeriesSet`): every matcher must match, and a matcher on a
    /// label the series does not carry never matches, whatever its operator.
    public func matches(_ labels: Labels) -> Bool {
        matchers.allSatisfy { m in
            guard let v = labels[m.name], !v.isEmpty else { return false }
            return m.matches(v)
        }
    }

    /// The JSON Thanos writes in `thanos.rewrites[].deletions_applied`: Go's encoding of
    /// `labels.Matcher` (`Type` 0–3 for = != =~ !~) and `tombstones.Interval`.
    public var json: JSONValue {
        var o: [(String, JSONValue)] = [("matchers", .array(matchers.map { m in
            let type: Int64 = switch m.kind {
            case .equal: 0
            case .notEqual: 1
            case .regex: 2
            case .notRegex: 3
            }
            return .object([("Type", .int(type)), ("Name", .string(m.name)), ("Value", .string(m.value))])
        }))]
        if !intervals.isEmpty {
            o.append(("intervals", .array(intervals.map { .object([("Mint", .int($0.lowerBound)), ("Maxt", .int($0.upperBound))]) })))
        }
        if let requestID, !requestID.isEmpty { o.append(("request_id", .string(requestID))) }
        return .object(o)
    }
}

extension RelabelConfig {
    /// The JSON Thanos writes in `thanos.rewrites[].relabels_applied` (Prometheus 3's json
    /// tags; empty fields left out, the regex always written).
    public var json: JSONValue {
        var o: [(String, JSONValue)] = []
        if let s = sourceLabels, !s.isEmpty { o.append(("source_labels", .array(s.map { .string($0) }))) }
        if !separator.isEmpty { o.append(("separator", .string(separator))) }
        o.append(("regex", .string(regex.pattern)))
        if modulus != 0 { o.append(("modulus", .number(String(modulus)))) }
        if !targetLabel.isEmpty { o.append(("target_label", .string(targetLabel))) }
        if !replacement.isEmpty { o.append(("replacement", .string(replacement))) }
        if let action { o.append(("action", .string(action.rawValue))) }
        return .object(o)
    }
}

/// Reads the two rewrite configs from YAML. Every field is read as Prometheus and Thanos
/// read it (defaults for absent fields, an explicit null is the field's zero value), but
/// unknown fields are refused rather than ignored: a misspelt `target_lable` in a purge
/// would otherwise silently do nothing.
public enum RewriteConfig {
    /// A list of relabel rules, each validated. `origin` names the config in errors.
    public static func relabelConfigs(yaml: String, origin: String) throws(BlockOpsError) -> [RelabelConfig] {
        var out: [RelabelConfig] = []
        for (i, item) in try list(yaml, origin).enumerated() {
            let at = "\(origin)[\(i)]"
            var c = RelabelConfig()
            let fields = try mapping(item, at)
            for (k, v) in fields {
                let field = "\(at).\(k)"
                switch k {
                case "source_labels":
                    c.sourceLabels = try strings(v, field)
                case "separator":
                    c.separator = try scalar(v, field) ?? ""
                case "regex":
                    let pattern = try scalar(v, field) ?? ""
                    do { c.regex = try RelabelRegex(pattern) } catch {
                        throw BlockOpsError.invalid("\(field): \(error.detail)")
                    }
                case "modulus":
                    let s = try scalar(v, field) ?? "0"
                    guard let m = UInt64(s) else { throw BlockOpsError.invalid("\(field): want a whole number, got \"\(s)\"") }
                    c.modulus = m
                case "target_label":
                    c.targetLabel = try scalar(v, field) ?? ""
                case "replacement":
                    c.replacement = try scalar(v, field) ?? ""
                case "action":
                    let s = try scalar(v, field) ?? ""
                    if s.isEmpty {
                        c.action = nil
                    } else {
                        guard let a = RelabelAction(rawValue: s.lowercased()) else {
                            throw BlockOpsError.invalid("\(field): unknown relabel action \"\(s)\"")
                        }
                        c.action = a
                    }
                default:
                    throw BlockOpsError.invalid("\(field): unknown field (known: source_labels, separator, regex, modulus, target_label, replacement, action)")
                }
            }
            do { try c.validate() } catch { throw BlockOpsError.invalid("\(at): \(error.detail)") }
            out.append(c)
        }
        return out
    }

    /// A list of deletion requests: `matchers` (a series selector), optional `intervals`
    /// (`mint`/`maxt` in ms, inclusive), optional `request_id`.
    public static func deletionRequests(yaml: String, origin: String) throws(BlockOpsError) -> [DeletionRequest] {
        var out: [DeletionRequest] = []
        for (i, item) in try list(yaml, origin).enumerated() {
            let at = "\(origin)[\(i)]"
            var selector: String? = nil
            var intervals: [ClosedRange<Int64>] = []
            var id: String? = nil
            for (k, v) in try mapping(item, at) {
                let field = "\(at).\(k)"
                switch k {
                case "matchers":
                    selector = try scalar(v, field)
                case "intervals":
                    guard case .sequence(let seq) = v else {
                        if try scalar(v, field) == nil { continue }
                        throw BlockOpsError.invalid("\(field): want a list of {mint, maxt}")
                    }
                    for (j, iv) in seq.enumerated() {
                        let ifield = "\(field)[\(j)]"
                        var mint: Int64? = nil, maxt: Int64? = nil
                        for (ik, ivv) in try mapping(iv, ifield) {
                            guard ik == "mint" || ik == "maxt" else {
                                throw BlockOpsError.invalid("\(ifield).\(ik): unknown field (known: mint, maxt)")
                            }
                            let s = try scalar(ivv, "\(ifield).\(ik)") ?? "0"
                            guard let n = Int64(s) else {
                                throw BlockOpsError.invalid("\(ifield).\(ik): want milliseconds as a whole number, got \"\(s)\"")
                            }
                            if ik == "mint" { mint = n } else { maxt = n }
                        }
                        let a = mint ?? 0, b = maxt ?? 0
                        guard a <= b else { throw BlockOpsError.invalid("\(ifield): mint \(a) is after maxt \(b)") }
                        intervals.append(a...b)
                    }
                case "request_id":
                    id = try scalar(v, field)
                default:
                    throw BlockOpsError.invalid("\(field): unknown field (known: matchers, intervals, request_id)")
                }
            }
            guard let selector, !selector.isEmpty else { throw BlockOpsError.invalid("\(at).matchers: a series selector is required") }
            do { out.append(try DeletionRequest(selector: selector, intervals: intervals, requestID: id)) } catch {
                throw BlockOpsError.invalid("\(at).matchers: \(error)")
            }
        }
        return out
    }

    // MARK: YAML helpers

    static func list(_ yaml: String, _ origin: String) throws(BlockOpsError) -> [Node] {
        let node: Node?
        do { node = try Yams.compose(yaml: yaml) } catch {
            let first = String(describing: error).split(separator: "\n").first.map(String.init) ?? "parse error"
            throw BlockOpsError.invalid("\(origin): not valid YAML: \(first)")
        }
        guard let node else { return [] }
        if case .scalar(let s) = node, isNull(s) { return [] }
        guard case .sequence(let seq) = node else { throw BlockOpsError.invalid("\(origin): want a list") }
        return Array(seq)
    }

    static func mapping(_ n: Node, _ at: String) throws(BlockOpsError) -> [(String, Node)] {
        guard case .mapping(let m) = n else { throw BlockOpsError.invalid("\(at): want a mapping of fields") }
        var out: [(String, Node)] = []
        for (k, v) in m {
            guard case .scalar(let ks) = k else { throw BlockOpsError.invalid("\(at): field names must be strings") }
            if out.contains(where: { $0.0 == ks.string }) { throw BlockOpsError.invalid("\(at).\(ks.string): given twice") }
            out.append((ks.string, v))
        }
        return out
    }

    static func isNull(_ s: Node.Scalar) -> Bool {
        s.style == .plain && ["", "~", "null", "Null", "NULL"].contains(s.string)
    }

    /// A scalar's text; nil for an explicit null.
    static func scalar(_ n: Node, _ at: String) throws(BlockOpsError) -> String? {
        guard case .scalar(let s) = n else { throw BlockOpsError.invalid("\(at): want a single value") }
        return isNull(s) ? nil : s.string
    }

    static func strings(_ n: Node, _ at: String) throws(BlockOpsError) -> [String]? {
        switch n {
        case .sequence(let seq):
            var out: [String] = []
            for (i, e) in seq.enumerated() {
                out.append(try scalar(e, "\(at)[\(i)]") ?? "")
            }
            return out
        case .scalar(let s) where isNull(s):
            return nil
        default:
            throw BlockOpsError.invalid("\(at): want a list of label names")
        }
    }
}
