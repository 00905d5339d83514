import TSDB

/// What the compactor is told to do, the Thanos way (`thanos compact` flags).
public struct CompactionPolicy: Sendable {
    public static let hour: Int64 = 3_600_000
    /// Compaction ranges in milliseconds; Thanos' defaults are 2h, 8h, 2d, 14d.
    public var ranges: [Int64] = [2 * hour, 8 * hour, 48 * hour, 336 * hour]
    /// External labels that name a replica; removed from block identity (and from series,
    /// when a series carries them) so replicas fall into one group and merge.
    public var replicaLabels: [String] = []
    /// Merge overlapping blocks (implied by replica labels, as in Thanos).
    public var verticalCompaction = false
    /// Uploads younger than this (seconds) are left alone, except blocks the compactor or a
    /// repair made.
    public var consistencyDelay: Double = 1800
    /// Unix seconds.
    public var now: Double

    public init(now: Double) { self.now = now }

    public var vertical: Bool { verticalCompaction || !replicaLabels.isEmpty }

    /// External labels with the replica labels removed (`{replica0: "deduped"}` when
    /// nothing is left, as Thanos' ReplicaLabelRemover does).
    public func groupLabels(_ labels: [String: String]) -> [String: String] {
        guard !replicaLabels.isEmpty else { return labels }
        var l = labels
        for r in replicaLabels { l.removeValue(forKey: r) }
        if l.isEmpty { l[replicaLabels[0]] = "deduped" }
        return l
    }
}

/// Blocks of one compaction group, by minTime (then ULID).
public struct CompactionGroup: Sendable {
    public var key: GroupKey
    public var blocks: [BlockMeta]
    /// Blocks of the group that carry no-compact-mark.json.
    public var noCompact: Set<ULID>

    public init(key: GroupKey, blocks: [BlockMeta], noCompact: Set<ULID> = []) {
        self.key = key
        self.blocks = blocks.sorted { ($0.minTime, $0.ulid) < ($1.minTime, $1.ulid) }
        self.noCompact = noCompact
    }
}

/// The next step for a group.
public enum GroupPlan: Sendable, Equatable {
    /// Nothing to compact.
    case none
    /// Merge these blocks into one; `vertical` when their time ranges overlap.
    case compact([ULID], vertical: Bool)
    /// The group holds overlapping blocks but vertical compaction is off: Thanos halts;
    /// blockyard skips the group (and says how to inspect it) and goes on with the others.
    case blockedByOverlap([ULID])
}

/// Why a block takes no part in compaction.
public struct Exclusion: Sendable, Equatable {
    public var ulid: ULID
    public var reason: String
}

/// Planning: pure functions over block metadata (Thanos `pkg/compact/planner.go` and the
/// meta filters of `thanos compact`), kept apart from anything that moves bytes.
public enum CompactionPlanner {
    /// Splits a bucket listing into compaction groups. Left out: partial uploads, unreadable
    /// meta.json, blocks marked for deletion, uploads younger than the consistency delay,
    /// and garbage: blocks whose sources all appear in another block of their group (the
    /// leftovers of a compaction whose sources were not marked yet), returned separately so
    /// the caller can mark them for deletion.
    public static func groups(_ entries: [BlockEntry], policy: CompactionPolicy)
        -> (groups: [CompactionGroup], garbage: [Exclusion], excluded: [Exclusion])
    {
        var excluded: [Exclusion] = []
        var byGroup: [GroupKey: [BlockEntry]] = [:]
        for e in entries {
            guard let meta = e.meta else {
                excluded.append(Exclusion(ulid: e.ulid, reason: e.metaError.map { "meta.json unreadable: \($0)" } ?? "partial upload (no meta.json)"))
                continue
            }
            if e.markers.contains(.deletion) {
                excluded.append(Exclusion(ulid: e.ulid, reason: "marked for deletion"))
                continue
            }
            let source = meta.thanos?.source ?? ""
            let trusted = ["compactor", "compactor.repair", "bucket.repair"].contains(source)
            let born = meta.thanos?.uploadTime ?? Double(e.ulid.timestamp) / 1000
            if !trusted && policy.now - born < policy.consistencyDelay {
                excluded.append(Exclusion(ulid: e.ulid, reason: "younger than the consistency delay (\(Int(policy.consistencyDelay)) s)"))
                continue
            }
            var m = meta
            if var t = m.thanos {
                t.labels = policy.groupLabels(t.labels)
                m.thanos = t
            }
            byGroup[GroupKey(m), default: []].append(BlockEntry(ulid: e.ulid, meta: m, metaError: nil, markers: e.markers, objects: e.objects))
        }
        var groups: [CompactionGroup] = []
        var garbage: [Exclusion] = []
        for (key, members) in byGroup.sorted(by: { $0.key.description < $1.key.description }) {
            // Most sources first (ties by ULID); a block whose sources lie inside a block
            // already kept is garbage (Thanos' DeduplicateFilter).
            let ordered = members.sorted {
                let (a, b) = ($0.meta!.compaction.sources.count, $1.meta!.compaction.sources.count)
                return a != b ? a > b : $0.ulid < $1.ulid
            }
            var kept: [BlockEntry] = []
            for e in ordered {
                let mine = Set(e.meta!.compaction.sources)
                if let cover = kept.first(where: { mine.isSubset(of: Set($0.meta!.compaction.sources)) }) {
                    garbage.append(Exclusion(ulid: e.ulid, reason: "its sources are all in \(cover.ulid)"))
                } else {
                    kept.append(e)
                }
            }
            groups.append(CompactionGroup(key: key, blocks: kept.map { $0.meta! },
                                          noCompact: Set(kept.filter { $0.markers.contains(.noCompact) }.map(\.ulid))))
        }
        return (groups, garbage.sorted { $0.ulid < $1.ulid }, excluded.sorted { $0.ulid < $1.ulid })
    }

    /// The next compaction of a group (Thanos' tsdbBasedPlanner, plus its overlap check).
    public static func plan(_ group: CompactionGroup, policy: CompactionPolicy) -> GroupPlan {
        let metas = group.blocks
        guard !metas.isEmpty else { return .none }
        let overlapping = overlappingRun(metas)
        if !overlapping.isEmpty && !policy.vertical {
            return .blockedByOverlap(overlapping.map(\.ulid))
        }
        let eligible = metas.filter { !group.noCompact.contains($0.ulid) }
        let run = overlappingRun(eligible)
        if !run.isEmpty { return .compact(run.map(\.ulid), vertical: true) }

        // The newest block is left out, so a block that was just uploaded gets a full block
        // range of time before it is touched.
        var notExcluded = eligible
        if !group.noCompact.contains(metas.last!.ulid) { notExcluded.removeLast() }
        let older = Array(metas.dropLast())
        let selected = select(ranges: policy.ranges, noCompact: group.noCompact, older)
        if !selected.isEmpty { return .compact(selected.map(\.ulid), vertical: false) }

        // A single large block with more than 5% tombstones is rewritten to apply them.
        if policy.ranges.count > 0 {
            for m in notExcluded.reversed() {
                if m.maxTime - m.minTime < policy.ranges[policy.ranges.count / 2] { break }
                if Double(m.stats.numTombstones) / Double(m.stats.numSeries + 1) > 0.05 {
                    return .compact([m.ulid], vertical: false)
                }
            }
        }
        return .none
    }

    /// The first run of blocks whose ranges overlap (Thanos `selectOverlappingMetas`).
    static func overlappingRun(_ metas: [BlockMeta]) -> [BlockMeta] {
        guard metas.count >= 2 else { return [] }
        var out: [BlockMeta] = []
        var maxt = metas[0].maxTime
        for i in 1..<metas.count {
            let m = metas[i]
            if m.minTime < maxt {
                if out.isEmpty { out.append(metas[i - 1]) }
                out.append(m)
            } else if !out.isEmpty {
                break
            }
            maxt = max(maxt, m.maxTime)
        }
        return out
    }

    /// Thanos `selectMetas`: for each range above the smallest, the first aligned window
    /// holding two or more blocks that either fills the window or ends before the newest
    /// block's start; blocks marked no-compact split the window without leaving gaps.
    static func select(ranges: [Int64], noCompact: Set<ULID>, _ metas: [BlockMeta]) -> [BlockMeta] {
        guard ranges.count >= 2, let newest = metas.last else { return [] }
        let highTime = newest.minTime
        for range in ranges.dropFirst() {
            windows: for part in split(metas, range: range) {
                if part.contains(where: { $0.compaction.failed }) { continue }
                guard part.count >= 2 else { continue }
                let mint = part.first!.minTime, maxt = part.last!.maxTime
                if maxt - mint != range && maxt > highTime { continue windows }
                var start = 0
                for (i, m) in part.enumerated() where noCompact.contains(m.ulid) {
                    if i - start > 1 { return Array(part[start..<i]) }
                    start = i + 1
                }
                if part.count - start > 1 { return Array(part[start...]) }
            }
        }
        return []
    }

    /// Groups blocks into aligned windows of `range` (Thanos `splitByRange`); a block that
    /// does not fit inside one window is skipped.
    static func split(_ metas: [BlockMeta], range: Int64) -> [[BlockMeta]] {
        var out: [[BlockMeta]] = []
        var i = 0
        while i < metas.count {
            let m = metas[i]
            let t0 = m.minTime >= 0 ? range * (m.minTime / range) : range * ((m.minTime - range + 1) / range)
            if m.maxTime > t0 + range {
                i += 1
                continue
            }
            var part: [BlockMeta] = []
            while i < metas.count && metas[i].maxTime <= t0 + range {
                part.append(metas[i])
                i += 1
            }
            if !part.isEmpty { out.append(part) }
        }
        return out
    }
}

/// Retention by resolution: a block whose data ended longer ago than its resolution's
/// retention is due for a deletion mark (Thanos `ApplyRetentionPolicyByResolution`).
public enum RetentionPolicy {
    /// `retention` maps resolution (0, 300000, 3600000) to milliseconds; 0 or absent keeps
    /// blocks forever. `now` in Unix seconds.
    public static func expired(_ entries: [BlockEntry], retention: [Int64: Int64], now: Double) -> [ULID] {
        entries.compactMap { e in
            guard let m = e.meta, !e.markers.contains(.deletion), let keep = retention[m.resolution], keep > 0 else { return nil }
            return Int64(now * 1000) > m.maxTime + keep ? e.ulid : nil
        }
    }
}
