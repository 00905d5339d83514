import TSDB

/// What happened to one block in a replication run.
public struct ReplicateBlockReport: Sendable {
    public enum Outcome: Sendable, Equatable {
        /// Objects copied (or some re-copied) and meta.json committed.
        case copied
        /// Already whole in the destination: nothing written.
        case alreadyThere
        /// `--dry-run`: what a real run would do (objects and bytes below).
        case planned
        case failed
    }

    public var ulid: ULID
    public var outcome: Outcome
    public var objectsCopied = 0
    public var objectsSkipped = 0
    public var bytesCopied: Int64 = 0
    public var bytesSkipped: Int64 = 0
    /// Objects the destination's service copied itself (no bytes through this process).
    public var objectsServerSide = 0
    /// Objects judged equal by size alone, because neither side could give an MD5 cheaply.
    public var objectsSizeOnly = 0
    /// Why it failed, naming the block and object.
    public var error: String?
    /// Exit status this failure maps to: 1 verify findings, 2 unreadable source block, 3 storage.
    public var exitCode: Int32 = 0
    /// `--verify` findings in the copy (when it failed verification).
    public var findings: [Finding] = []
    public var seconds: Double = 0

    public init(ulid: ULID, outcome: Outcome) {
        self.ulid = ulid
        self.outcome = outcome
    }
}

/// Totals of a run, for the summary line and the exit status.
public struct ReplicateSummary: Sendable {
    public var copied = 0
    public var alreadyThere = 0
    public var planned = 0
    public var failed = 0
    public var notSelected = 0
    public var skipped = 0
    public var objectsCopied = 0
    public var objectsServerSide = 0
    public var objectsSkipped = 0
    public var bytesCopied: Int64 = 0
    public var bytesSkipped: Int64 = 0
    /// The highest exit status of any failed block (0 when none failed).
    public var exitCode: Int32 = 0
    /// Server-side copy was possible for this pair but the service refused it; streamed instead.
    public var fellBack: String?

    public init() {}

    public mutating func add(_ r: ReplicateBlockReport) {
        switch r.outcome {
        case .copied: copied += 1
        case .alreadyThere: alreadyThere += 1
        case .planned: planned += 1
        case .failed: failed += 1
        }
        objectsCopied += r.objectsCopied
        objectsServerSide += r.objectsServerSide
        objectsSkipped += r.objectsSkipped
        bytesCopied += r.bytesCopied
        bytesSkipped += r.bytesSkipped
        exitCode = max(exitCode, r.exitCode)
    }
}
