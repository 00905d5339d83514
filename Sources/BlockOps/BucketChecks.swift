import TSDB

/// A block's compaction group, as Thanos keys it: resolution plus external labels.
public struct GroupKey: Hashable, Sendable, CustomStringConvertible {
    public var resolution: Int64
    public var labels: [String: String]

    public init(_ meta: BlockMeta) {
        resolution = meta.resolution
        labels = meta.thanos?.labels ?? [:]
    }

    public var description: String {
        let l = labels.sorted { byteLess($0.key, $1.key) }.map { "\($0.key)=\"\($0.value)\"" }.joined(separator: ",")
        return "\(resolution)@{\(l)}"
    }
}

/// Problems visible from the bucket listing and meta.json files alone (no index or chunk
/// reads): what makes a Thanos compactor halt or pick the wrong blocks.
public enum BucketChecks {
    public struct Options: Sendable {
        /// A partial upload younger than this may still be in progress: reported, but
        /// marked as possibly in flight.
        public var partialGrace: Double = 2 * 3600
        public var now: Double
        public init(now: Double) { self.now = now }
    }

    public static func findings(_ entries: [BlockEntry], options: Options) -> [Finding] {
        var out: [Finding] = []
        func add(_ id: ULID, _ kind: Finding.Kind, _ file: String, _ detail: String) {
            out.append(Finding(block: id.description, kind: kind, file: file, offset: nil, series: nil, detail: detail))
        }
        for e in entries {
            if e.isPartial {
                let age = e.newestObject.map { options.now - $0 }
                var d = "\(e.objects.count) object(s) and no meta.json"
                if let age {
                    d += ", newest \(goDuration(millis: Int64(age) * 1000)) old"
                    if age < options.partialGrace { d += " (may still be uploading)" }
                }
                add(e.ulid, .partialUpload, "meta.json", d)
            }
            if let err = e.metaError { add(e.ulid, .unreadable, "meta.json", err) }
            for (kind, err) in e.markerErrors { add(e.ulid, .badMarker, kind.rawValue, err) }
            if e.markers.contains(.deletion) { add(e.ulid, .markedForDeletion, MarkerKind.deletion.rawValue, "block is marked for deletion") }
            if e.markers.contains(.noCompact) { add(e.ulid, .markedNoCompact, MarkerKind.noCompact.rawValue, "block is excluded from compaction") }
        }
        // Groups of live blocks (not marked for deletion) with a readable meta.json.
        var groups: [GroupKey: [(ULID, BlockMeta)]] = [:]
        for e in entries where !e.markers.contains(.deletion) {
            if let m = e.meta { groups[GroupKey(m), default: []].append((e.ulid, m)) }
        }
        for (key, blocks) in groups.sorted(by: { $0.key.description < $1.key.description }) {
            let sorted = blocks.sorted { ($0.1.minTime, $0.0) < ($1.1.minTime, $1.0) }
            // Overlaps: each block against every later block that starts before it ends,
            // unless one's sources are inside the other's: that is a duplicated or
            // superseded compaction (reported below), which explains the overlap.
            for i in sorted.indices {
                for j in (i + 1)..<sorted.count {
                    let (a, am) = sorted[i], (b, bm) = sorted[j]
                    if bm.minTime >= am.maxTime { break }
                    let sa = Set(am.compaction.sources), sb = Set(bm.compaction.sources)
                    if !sa.isEmpty, !sb.isEmpty, sa.isSubset(of: sb) || sb.isSubset(of: sa) { continue }
                    add(b, .overlap, "meta.json",
                        "[\(bm.minTime), \(bm.maxTime)) overlaps \(a) [\(am.minTime), \(am.maxTime)) in group \(key)")
                }
            }
            // Same sources twice, or one block's sources inside another's.
            for i in sorted.indices {
                let si = Set(sorted[i].1.compaction.sources)
                guard !si.isEmpty else { continue }
                for j in sorted.indices where j != i {
                    let sj = Set(sorted[j].1.compaction.sources)
                    if si == sj {
                        if sorted[i].0 > sorted[j].0 {
                            add(sorted[i].0, .duplicatedCompaction, "meta.json",
                                "same \(si.count) source block(s) as \(sorted[j].0) in group \(key)")
                        }
                    } else if si.isSubset(of: sj) {
                        add(sorted[i].0, .supersededBlock, "meta.json",
                            "all \(si.count) source block(s) are also in \(sorted[j].0) (level \(sorted[j].1.compaction.level)); this block is garbage once that one is whole")
                    }
                }
            }
        }
        return out
    }
}
