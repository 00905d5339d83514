import Foundation
import TSDB

/// What a rewrite changes: relabel rules applied to every series first, then deletion
/// requests matched against the relabelled series (the order of Thanos' rewrite).
public struct RewriteSpec: Sendable {
    public var relabels: [RelabelConfig]
    public var deletions: [DeletionRequest]

    public init(relabels: [RelabelConfig] = [], deletions: [DeletionRequest] = []) {
        self.relabels = relabels
        self.deletions = deletions
    }

    public var isEmpty: Bool { relabels.isEmpty && deletions.isEmpty }

    /// The new labels of a series; nil when a rule drops it or no label is left.
    public func relabel(_ labels: Labels) -> Labels? {
        guard let r = Relabel.process(labels, relabels), !r.isEmpty else { return nil }
        return r
    }

    /// The time ranges deletion requests remove from a series: every matching request's
    /// intervals, or everything when a matching request gives none.
    public func deleted(_ labels: Labels) -> [ClosedRange<Int64>] {
        var out: [ClosedRange<Int64>] = []
        for d in deletions where d.matches(labels) {
            if d.intervals.isEmpty { return [Int64.min...Int64.max] }
            out += d.intervals
        }
        return Intervals.normalized(out)
    }

    /// The entry Thanos appends to `thanos.rewrites`.
    func rewriteEntry(sources: [ULID]) -> JSONValue {
        var o: [(String, JSONValue)] = []
        if !sources.isEmpty { o.append(("sources", .array(sources.map { .string($0.description) }))) }
        if !deletions.isEmpty { o.append(("deletions_applied", .array(deletions.map(\.json)))) }
        if !relabels.isEmpty { o.append(("relabels_applied", .array(relabels.map(\.json)))) }
        return .object(o)
    }
}

/// What rewriting one block came to.
public struct RewriteOutcome: Sendable {
    public enum Status: Sendable, Equatable {
        /// The new block (in a dry run: the one that was written and removed again).
        case rewritten(ULID)
        /// Nothing matched: no new block.
        case unchanged
        /// Every series was deleted: no new block.
        case nothingLeft
        /// An earlier run uploaded this rewrite already (the block).
        case finishedEarlier(ULID)
    }
    public var block: ULID
    public var status: Status
    public var events: [RepairEvent] = []
    public var dryRun = true
    /// The source was marked for deletion (`--delete-blocks`).
    public var markedForDeletion = false
    /// Where the change log was written (not into the bucket: it names the series that
    /// were deleted, which a purge must not leave behind).
    public var changeLogPath: String? = nil
    public var before = BlockMeta.Stats()
    public var after: BlockMeta.Stats? = nil
}

/// Rewrites one block as Thanos' `tools bucket rewrite` does: series relabelled (series
/// that become equal merged), deleted, or cut by time ranges, through the compactor's
/// relabel and deletion hooks; a new ULID; `thanos.source` `bucket.rewrite`; the original
/// `compaction.sources` moved into a new `thanos.rewrites` entry with the deletions and
/// relabels applied, and the sources set to the new block alone.
public enum BlockRewrite {
    public static let changeLogFile = "change.log"

    /// Writes the rewritten block into `parent`; returns the outcome and the new block's
    /// directory (nil when nothing changed or nothing is left; the partial result removed).
    public static func rewrite(_ block: Block, spec: RewriteSpec, into parent: String, ulid: ULID = ULID(milliseconds: UInt64(Date().timeIntervalSince1970 * 1000)),
                               segmentSize: Int = ChunkWriter.defaultSegmentSize) throws -> (RewriteOutcome, String?) {
        let events = EventLog()
        var o = CompactOptions()
        o.segmentSize = segmentSize
        if !spec.relabels.isEmpty { o.relabel = { spec.relabel($0) } }
        if !spec.deletions.isEmpty { o.deletions = { spec.deleted($0) } }
        o.template = template(block.meta, newID: ulid, spec: spec)
        o.log = { events.add($0) }
        var outcome = RewriteOutcome(block: block.meta.ulid, status: .unchanged)
        outcome.before = block.meta.stats
        let r = try Compactor.compact([block], into: parent, options: o, ulid: ulid)
        outcome.events = events.events
        guard let r else {
            outcome.status = .nothingLeft
            return (outcome, nil)
        }
        if outcome.events.isEmpty {
            try? FileManager.default.removeItem(atPath: r.directory)
            return (outcome, nil)
        }
        outcome.status = .rewritten(r.meta.ulid)
        outcome.after = r.meta.stats
        return (outcome, r.directory)
    }

    /// The new block's meta.json before the writer fills in stats and files.
    static func template(_ meta: BlockMeta, newID: ULID, spec: RewriteSpec) -> BlockMeta {
        var t = meta
        t.stats = BlockMeta.Stats()
        var th = t.thanos ?? ThanosMeta()
        th.source = "bucket.rewrite"
        th.indexStats = ThanosMeta.IndexStats()
        let sources = t.compaction.sources
        t.compaction.sources = [newID]
        t.thanos = th
        var doc = t.json
        var section = doc["thanos"] ?? .object([])
        section.set("upload_time", nil)
        var rewrites = section["rewrites"]?.arrayValue ?? []
        rewrites.append(spec.rewriteEntry(sources: sources))
        section = inserting(section, key: "rewrites", value: .array(rewrites), after: ["files", "segment_files", "source"])
        doc.set("thanos", section)
        t.document = doc
        return t
    }

    /// Sets a key of an object; a new key goes after the first of `after` present (Go
    /// writes struct fields in declaration order).
    static func inserting(_ object: JSONValue, key: String, value: JSONValue, after: [String]) -> JSONValue {
        guard var pairs = object.objectValue else { return object }
        if let i = pairs.firstIndex(where: { $0.0 == key }) {
            pairs[i].1 = value
            return .object(pairs)
        }
        let at = after.lazy.compactMap { k in pairs.firstIndex { $0.0 == k } }.first.map { $0 + 1 } ?? pairs.count
        pairs.insert((key, value), at: at)
        return .object(pairs)
    }

    /// The change log in Thanos' format (`Deleted <labels> [{mint maxt} ...]`,
    /// `Relabelled <old> <new>`); other changes (series that became equal and merged) as
    /// blockyard describes them.
    public static func changeLog(_ events: [RepairEvent]) -> String {
        var s = ""
        for e in events {
            switch e.action {
            case .deletedSamples, .droppedSeries:
                s += "Deleted \(e.series) \(Intervals.goText(e.intervals))\n"
            case .relabelled:
                s += "Relabelled \(e.series) \(e.detail)\n"
            default:
                s += e.description + "\n"
            }
        }
        return s
    }

    /// Whether `candidate` is what this rewrite of `original` makes: a complete rewrite of
    /// the same range and group whose last `thanos.rewrites` entry records the same sources,
    /// deletions and relabels.
    static func isRewrite(_ candidate: BlockMeta, of original: BlockMeta, spec: RewriteSpec) -> Bool {
        guard candidate.ulid != original.ulid, candidate.thanos?.source == "bucket.rewrite",
              candidate.minTime == original.minTime, candidate.maxTime == original.maxTime,
              GroupKey(candidate) == GroupKey(original),
              let last = candidate.document["thanos"]?["rewrites"]?.arrayValue?.last else { return false }
        return last == spec.rewriteEntry(sources: original.compaction.sources)
    }
}
