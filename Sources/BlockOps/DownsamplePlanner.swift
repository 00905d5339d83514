import TSDB

/// Which blocks of a bucket to downsample, decided from meta.json files and markers alone
/// (Thanos `downsampleBucket` with the filters its compactor applies first).
///
/// - Within a compaction group (external labels and resolution) a block whose sources are
///   all among another block's sources is a leftover of a compaction and is not a
///   candidate (Thanos' deduplication filter: larger source sets first, then older ULIDs).
/// - A raw block gets a 5m block when its range is at least 40 h and not every one of its
///   sources is already covered by a 5m block; a 5m block of at least 10 days gets a 1h
///   block on the same terms. 1h blocks are final.
/// - A block with `no-downsample-mark.json` is left alone. It still counts as covering its
///   sources: Thanos' compactor drops marked blocks before it computes coverage, so a
///   marked 5m block has its raw blocks downsampled again on every run; that is not kept.
/// - Deletion marks do not matter (Thanos' downsampler does not look at them; a block
///   replaced by a compaction is already left out as a duplicate).
public enum DownsamplePlanner {
    public struct Task: Sendable, Equatable, CustomStringConvertible {
        public var ulid: ULID
        public var from: Int64
        public var to: Int64
        public init(ulid: ULID, from: Int64, to: Int64) {
            self.ulid = ulid
            self.from = from
            self.to = to
        }
        public var description: String {
            "\(ulid) \(DownsampleResolution.name(from)) -> \(DownsampleResolution.name(to))"
        }
    }

    public enum SkipReason: Sendable, Equatable, CustomStringConvertible {
        case noDownsampleMark
        /// Its sources are all in the other block's (same group).
        case duplicateOf(ULID)
        /// Range below the minimum for the next resolution.
        case tooShort(range: Int64, needed: Int64)
        /// Every source is already covered at the next resolution.
        case alreadyDownsampled
        case finalResolution
        case unknownResolution(Int64)

        public var description: String {
            switch self {
            case .noDownsampleMark: "marked no-downsample"
            case .duplicateOf(let id): "its sources are all in \(id) (a compaction leftover)"
            case .tooShort(let r, let n): "range \(hours(r)) is below \(hours(n))"
            case .alreadyDownsampled: "its sources are already downsampled"
            case .finalResolution: "1h is the last resolution"
            case .unknownResolution(let r): "unexpected resolution \(r) ms"
            }
        }

        func hours(_ ms: Int64) -> String {
            let h = Double(ms) / 3_600_000
            return h == h.rounded() ? "\(Int64(h))h" : String(format: "%.1fh", h)
        }
    }

    public struct Plan: Sendable {
        public var tasks: [Task] = []
        public var skipped: [(ulid: ULID, reason: SkipReason)] = []
    }

    /// The plan for one pass. `only` restricts the candidates (coverage still comes from
    /// every block).
    public static func plan(_ metas: [BlockMeta], noDownsample: Set<ULID>, only: Set<ULID>? = nil) -> Plan {
        var plan = Plan()
        let duplicates = duplicateBlocks(metas)
        let kept = metas.filter { duplicates[$0.ulid] == nil }
        var covered5m = Set<ULID>(), covered1h = Set<ULID>()
        for m in kept {
            switch m.resolution {
            case DownsampleResolution.fiveMinutes: covered5m.formUnion(m.compaction.sources)
            case DownsampleResolution.oneHour: covered1h.formUnion(m.compaction.sources)
            default: break
            }
        }
        for m in metas.sorted(by: { $0.ulid < $1.ulid }) {
            if let only, !only.contains(m.ulid) { continue }
            func skip(_ r: SkipReason) { plan.skipped.append((m.ulid, r)) }
            if let d = duplicates[m.ulid] { skip(.duplicateOf(d)); continue }
            let range = m.maxTime - m.minTime
            let next: Int64, minRange: Int64, covered: Set<ULID>
            switch m.resolution {
            case DownsampleResolution.raw:
                (next, minRange, covered) = (DownsampleResolution.fiveMinutes, DownsampleResolution.fiveMinuteMinRange, covered5m)
            case DownsampleResolution.fiveMinutes:
                (next, minRange, covered) = (DownsampleResolution.oneHour, DownsampleResolution.oneHourMinRange, covered1h)
            case DownsampleResolution.oneHour:
                skip(.finalResolution)
                continue
            default:
                skip(.unknownResolution(m.resolution))
                continue
            }
            // Thanos: a block without sources counts as covered.
            if m.compaction.sources.allSatisfy(covered.contains) { skip(.alreadyDownsampled); continue }
            if range < minRange { skip(.tooShort(range: range, needed: minRange)); continue }
            if noDownsample.contains(m.ulid) { skip(.noDownsampleMark); continue }
            plan.tasks.append(Task(ulid: m.ulid, from: m.resolution, to: next))
        }
        return plan
    }

    /// The plan from a bucket listing (partial and unreadable blocks are not candidates).
    public static func plan(_ entries: [BlockEntry], only: Set<ULID>? = nil) -> Plan {
        plan(entries.compactMap(\.meta), noDownsample: Set(entries.filter { $0.markers.contains(.noDownsample) }.map(\.ulid)), only: only)
    }

    /// Thanos' deduplication filter: per group, blocks ordered by number of sources (most
    /// first, then by ULID); a block whose sources are all in an earlier kept block is a
    /// duplicate of it.
    static func duplicateBlocks(_ metas: [BlockMeta]) -> [ULID: ULID] {
        var groups: [String: [BlockMeta]] = [:]
        for m in metas { groups[groupKey(m), default: []].append(m) }
        var out: [ULID: ULID] = [:]
        for (_, group) in groups {
            let ordered = group.sorted {
                $0.compaction.sources.count != $1.compaction.sources.count
                    ? $0.compaction.sources.count > $1.compaction.sources.count : $0.ulid < $1.ulid
            }
            var covering: [(ULID, Set<ULID>)] = []
            for m in ordered {
                if let parent = covering.first(where: { p in m.compaction.sources.allSatisfy(p.1.contains) }) {
                    out[m.ulid] = parent.0
                } else {
                    covering.append((m.ulid, Set(m.compaction.sources)))
                }
            }
        }
        return out
    }

    /// A compaction group: resolution and external labels.
    static func groupKey(_ m: BlockMeta) -> String {
        let labels = (m.thanos?.labels ?? [:]).sorted { byteLess($0.key, $1.key) }
        return "\(m.resolution)@" + labels.map { "\($0.key)=\($0.value)" }.joined(separator: "\u{0}")
    }
}
