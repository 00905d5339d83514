import Foundation
import ObjectStore
import TSDB

/// Verifies the blocks of a bucket (or of a local directory laid out like one) and the
/// bucket around them: the listing and meta.json checks of `BucketChecks`, then every
/// complete block with `BlockVerifier`.
public struct BucketVerifier: Sendable {
    public var verifier: BlockVerifier
    /// Blocks checked at the same time (remote buckets; a local block uses every core).
    public var concurrency: Int
    /// When set, blocks are read from this local directory (the bucket's root) directly.
    public var localRoot: String?

    public init(verifier: BlockVerifier, concurrency: Int = 2, localRoot: String? = nil) {
        self.verifier = verifier
        self.concurrency = max(1, concurrency)
        self.localRoot = localRoot
    }

    public struct Report: Sendable {
        /// Findings about the bucket: partial uploads, markers, overlaps, compactions.
        public var bucket: [Finding]
        /// Per complete block, in ULID order, its findings (empty when clean).
        public var blocks: [(ULID, [Finding])]
        public var all: [Finding] { bucket + blocks.flatMap(\.1) }
    }

    /// Throws storage failures only.
    public func verify(_ catalog: BucketCatalog, only: Set<ULID>? = nil, now: Double = Date().timeIntervalSince1970) async throws -> Report {
        let (entries, _) = try await catalog.list(only: only)
        let bucketFindings = BucketChecks.findings(entries, options: .init(now: now))
            .filter { $0.kind != .unreadable }  // the block checks report those with more detail
        let complete = entries.filter { !$0.isPartial }
        let width = localRoot == nil ? concurrency : 1
        let b = catalog.bucket
        let blocks = try await withThrowingTaskGroup(of: (Int, [Finding]).self) { g in
            var pending = complete.indices[...]
            func start(_ i: Int) {
                let id = complete[i].ulid
                g.addTask {
                    if let root = localRoot { return (i, await verifier.verify(directory: root + "/\(id)")) }
                    return (i, try await verifier.verify(.bucket(b, id)))
                }
            }
            for _ in 0..<width { if let i = pending.popFirst() { start(i) } }
            var all = [[Finding]](repeating: [], count: complete.count)
            while let (i, f) = try await g.next() {
                all[i] = f
                if let i = pending.popFirst() { start(i) }
            }
            return complete.indices.map { (complete[$0].ulid, all[$0]) }
        }
        return Report(bucket: bucketFindings, blocks: blocks)
    }
}
