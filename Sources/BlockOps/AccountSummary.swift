import ObjectStore
import TSDB

/// One container (one cluster) at a glance, from its block listing.
public struct ContainerSummary: Sendable {
    public var container: String
    /// Blocks with a readable meta.json.
    public var blocks = 0
    public var partial = 0
    public var unreadable = 0
    public var markedForDeletion = 0
    public var markedNoCompact = 0
    public var bytes: Int64 = 0
    /// Oldest minTime and newest maxTime of the blocks (milliseconds).
    public var minTime: Int64?
    public var maxTime: Int64?
    /// Milliseconds covered by at least one block (gaps between blocks are not counted).
    public var covered: Int64 = 0
    public var resolutions: [Int64] = []
    /// Distinct external label sets (Thanos streams).
    public var labelSets: [[String: String]] = []
    /// The listing failed; the counts are empty.
    public var error: String?

    public init(container: String, error: String) {
        self.container = container
        self.error = error
    }

    public init(container: String, entries: [BlockEntry]) {
        self.container = container
        var spans: [(Int64, Int64)] = []
        var res = Set<Int64>()
        var sets = Set<[String: String]>()
        for e in entries {
            bytes += e.sizeBytes ?? 0
            if e.markers.contains(.deletion) { markedForDeletion += 1 }
            if e.markers.contains(.noCompact) { markedNoCompact += 1 }
            if e.metaError != nil { unreadable += 1; continue }
            guard let m = e.meta else { partial += 1; continue }
            blocks += 1
            minTime = min(minTime ?? m.minTime, m.minTime)
            maxTime = max(maxTime ?? m.maxTime, m.maxTime)
            spans.append((m.minTime, m.maxTime))
            res.insert(m.resolution)
            sets.insert(m.thanos?.labels ?? [:])
        }
        covered = Self.union(spans)
        resolutions = res.sorted()
        labelSets = sets.sorted { Self.text($0) < Self.text($1) }
    }

    /// Total length of the union of half-open spans.
    static func union(_ spans: [(Int64, Int64)]) -> Int64 {
        var total: Int64 = 0
        var end = Int64.min
        for (a, b) in spans.sorted(by: { $0.0 < $1.0 }) where b > a {
            if a >= end {
                total += b - a
                end = b
            } else if b > end {
                total += b - end
                end = b
            }
        }
        return total
    }

    static func text(_ l: [String: String]) -> String {
        l.sorted { byteLess($0.key, $1.key) }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
    }
}

/// Lists every container of an account and summarises each (several containers at once).
public enum AccountCatalog {
    /// `catalog` makes the block catalog of one container's bucket (cache and meta concurrency
    /// as the caller sets them). A container whose listing fails gets a summary with `error`.
    public static func summarize(
        _ account: any BucketAccount, concurrency: Int = 4,
        catalog: @escaping @Sendable (String, any Bucket) -> BucketCatalog
    ) async throws -> [ContainerSummary] {
        let names = try await account.containers()
        return await withTaskGroup(of: (Int, ContainerSummary).self) { g in
            var out = [ContainerSummary?](repeating: nil, count: names.count)
            var next = 0
            func start() {
                guard next < names.count else { return }
                let i = next
                next += 1
                let name = names[i]
                g.addTask {
                    do {
                        let (entries, _) = try await catalog(name, account.bucket(name)).list()
                        return (i, ContainerSummary(container: name, entries: entries))
                    } catch {
                        return (i, ContainerSummary(container: name, error: "\(error)"))
                    }
                }
            }
            for _ in 0..<max(1, concurrency) { start() }
            while let (i, s) = await g.next() {
                out[i] = s
                start()
            }
            return out.map { $0! }
        }
    }
}
