import Foundation
import TSDB

/// Which source blocks `replicate` copies (Thanos `tools bucket replicate`'s filters).
public struct ReplicateFilter: Sendable {
    /// When given, only these blocks, and the label, resolution and compaction filters are
    /// ignored (as in Thanos); the time range and the deletion-mark rule still apply.
    public var ids: Set<ULID> = []
    /// A block is selected when it overlaps [minTime, maxTime] (milliseconds, both inclusive).
    public var minTime: Int64 = .min
    public var maxTime: Int64 = .max
    /// Allowed downsampling resolutions in milliseconds; nil allows all.
    public var resolutions: Set<Int64>? = nil
    public var compactionMin = 1
    public var compactionMax = Int.max
    /// Matched against the source block's external labels (a missing label matches as "").
    public var matchers: [Matcher] = []
    /// Blocks with a deletion-mark.json are skipped unless this is set.
    public var includeMarkedForDeletion = false

    public init() {}
}

/// Rewrites the external labels in a copied meta.json (`--set-label`, `--drop-label`); every
/// other byte of the block stays as it is.
public struct LabelRewrite: Sendable, Equatable {
    /// Labels to set (added or replaced).
    public var assign: [String: String] = [:]
    /// Labels to remove.
    public var remove: Set<String> = []

    public init(assign: [String: String] = [:], remove: Set<String> = []) {
        self.assign = assign
        self.remove = remove
    }

    public var isEmpty: Bool { assign.isEmpty && remove.isEmpty }

    public func apply(_ labels: [String: String]) -> [String: String] {
        var out = labels.filter { !remove.contains($0.key) }
        for (k, v) in assign { out[k] = v }
        return out
    }

    /// The meta.json bytes a copy gets: the source's unchanged without a rewrite; otherwise the
    /// document with `thanos.labels` replaced (keys sorted, as Thanos writes them) and all else
    /// kept in place (key order and number text preserved).
    public func metaJSON(_ source: [UInt8], file: String) throws -> [UInt8] {
        if isEmpty { return source }
        var doc: JSONValue
        do { doc = try JSONValue.parse(source) } catch {
            throw TSDBError(.corrupt, file: file, section: "meta.json", offset: error.offset, error.detail)
        }
        guard case .object = doc else { throw TSDBError(.corrupt, file: file, section: "meta.json", offset: 0, "not a JSON object") }
        // A block without a Thanos section (plain Prometheus) gets one with just the labels and
        // resolution 0, which is what Thanos assumes for it.
        let created = doc["thanos"] == nil
        var thanos = doc["thanos"] ?? .object([])
        var labels: [String: String] = [:]
        for (k, v) in thanos["labels"]?.objectValue ?? [] { labels[k] = v.stringValue ?? "" }
        let rewritten = apply(labels)
        thanos.set("labels", .object(rewritten.sorted { byteLess($0.key, $1.key) }.map { ($0.key, .string($0.value)) }))
        if created { thanos.set("downsample", .object([("resolution", .int(0))])) }
        doc.set("thanos", thanos)
        let trailing = source.last == UInt8(ascii: "\n") ? "\n" : ""
        return Array((doc.serialized(indent: "\t") + trailing).utf8)
    }
}

/// Why a listed block is not replicated.
public enum ReplicateSkip: Sendable, Equatable, CustomStringConvertible {
    case notSelected(String)
    case partial
    case markedForDeletion
    case noExternalLabels
    case unreadableMeta(String)

    public var description: String {
        switch self {
        case .notSelected(let why): "not selected: \(why)"
        case .partial: "partial upload in the source (no meta.json), skipped"
        case .markedForDeletion: "marked for deletion in the source, skipped (--include-marked-for-deletion copies it)"
        case .noExternalLabels: "no external labels (Thanos needs them; --set-label can add some), skipped"
        case .unreadableMeta(let d): "meta.json unreadable: \(d)"
        }
    }
}

/// Pure planning over a source listing: which blocks, in which order.
public enum ReplicatePlan {
    /// The blocks to copy, oldest first (by minTime, then ULID, so a destination compactor sees
    /// history arrive in order), and the others with the reason.
    public static func select(_ entries: [BlockEntry], filter: ReplicateFilter, rewrite: LabelRewrite = LabelRewrite())
        -> (selected: [BlockEntry], skipped: [(BlockEntry, ReplicateSkip)])
    {
        var selected: [BlockEntry] = []
        var skipped: [(BlockEntry, ReplicateSkip)] = []
        for e in entries {
            if let why = reason(e, filter: filter, rewrite: rewrite) { skipped.append((e, why)) } else { selected.append(e) }
        }
        selected.sort { ($0.meta!.minTime, $0.ulid) < ($1.meta!.minTime, $1.ulid) }
        return (selected, skipped)
    }

    static func reason(_ e: BlockEntry, filter f: ReplicateFilter, rewrite: LabelRewrite) -> ReplicateSkip? {
        if !f.ids.isEmpty && !f.ids.contains(e.ulid) { return .notSelected("not one of the --id blocks") }
        if let err = e.metaError { return .unreadableMeta(err) }
        guard let m = e.meta else { return .partial }
        if m.maxTime < f.minTime || m.minTime > f.maxTime {
            return .notSelected("[\(m.minTime), \(m.maxTime)] is outside the time range")
        }
        if e.markers.contains(.deletion) && !f.includeMarkedForDeletion { return .markedForDeletion }
        let labels = m.thanos?.labels ?? [:]
        if f.ids.isEmpty {
            for matcher in f.matchers where !matcher.matches(labels[matcher.name] ?? "") {
                return .notSelected("external labels do not match \(matcher)")
            }
            if let r = f.resolutions, !r.contains(m.resolution) {
                return .notSelected("resolution \(goDuration(millis: m.resolution)) not asked for")
            }
            if m.compaction.level < f.compactionMin || m.compaction.level > f.compactionMax {
                return .notSelected("compaction level \(m.compaction.level) outside \(f.compactionMin)...\(f.compactionMax == Int.max ? "" : String(f.compactionMax))")
            }
        }
        if rewrite.apply(labels).isEmpty { return .noExternalLabels }
        return nil
    }
}

/// `--min-time`/`--max-time` as Thanos reads them: RFC 3339 (`2023-01-01T00:00:00Z`), a
/// duration relative to now (`-2d`, `12h`; negative is the past), or Unix milliseconds.
public func parseTimeOrDuration(_ text: String, now: Date = Date()) -> Int64? {
    let s = text.trimmingCharacters(in: .whitespaces)
    if let ms = Int64(s) { return ms }
    let iso = ISO8601DateFormatter()
    iso.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    if let d = iso.date(from: s) { return Int64((d.timeIntervalSince1970 * 1000).rounded()) }
    iso.formatOptions = [.withInternetDateTime]
    if let d = iso.date(from: s) { return Int64((d.timeIntervalSince1970 * 1000).rounded()) }
    var body = Substring(s)
    var sign: Int64 = 1
    if body.first == "-" { sign = -1; body = body.dropFirst() } else if body.first == "+" { body = body.dropFirst() }
    guard let d = parseDurationMillis(String(body)) else { return nil }
    return Int64((now.timeIntervalSince1970 * 1000).rounded()) + sign * d
}

/// `90s`, `1h30m`, `2d`, `1w`, `500ms` in milliseconds (Prometheus' duration units).
public func parseDurationMillis(_ s: String) -> Int64? {
    let units: [(String, Int64)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000), ("w", 604_800_000), ("y", 31_536_000_000)]
    if s == "0" { return 0 }
    var total: Int64 = 0
    var rest = Substring(s)
    guard !rest.isEmpty else { return nil }
    while !rest.isEmpty {
        let digits = rest.prefix(while: \.isNumber)
        guard !digits.isEmpty, let n = Int64(digits) else { return nil }
        rest = rest.dropFirst(digits.count)
        guard let (u, mult) = units.first(where: { rest.hasPrefix($0.0) && !(($0.0 == "m") && rest.hasPrefix("ms")) }) else { return nil }
        rest = rest.dropFirst(u.count)
        let (p, o1) = n.multipliedReportingOverflow(by: mult)
        let (t, o2) = total.addingReportingOverflow(p)
        if o1 || o2 { return nil }
        total = t
    }
    return total
}
