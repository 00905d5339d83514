import Foundation
import Logging
import ObjectStore
import TSDB

/// Downsampling of a whole bucket, as Thanos' compactor runs it after compaction: two
/// passes (the first makes 5m blocks, and 1h blocks from 5m blocks already there; the
/// second makes 1h blocks from the 5m blocks the first pass made), each planned afresh
/// from the bucket's listing.
///
/// For every planned block: read it (in place for a FILESYSTEM bucket, otherwise
/// downloaded into the work directory, so memory does not grow with the block), downsample
/// it into the work directory, upload the result with meta.json last, read the uploaded
/// block back the same way and verify it (every CRC, the index, every chunk decoded); a
/// block that fails verification is deleted again (meta.json first). A failure is reported for that block and the run
/// goes on; a block that failed is not retried in the second pass.
public struct DownsampleJob: Sendable {
    public struct Options: Sendable {
        /// Blocks downsampled at the same time.
        public var concurrency = 1
        /// Plan only: report what would be downsampled (the second pass as it would follow
        /// from the first), change nothing.
        public var dryRun = false
        /// Only these blocks are candidates (coverage still counts every block).
        public var only: Set<ULID>? = nil
        /// Where inputs are downloaded and outputs written (a fresh directory under the
        /// system's temporary directory by default); removed afterwards.
        public var workDirectory: String? = nil
        /// Read every uploaded block back and verify it.
        public var verifyUploads = true
        /// Where fetched meta.json files are cached by ULID (see `BucketCatalog`), and how
        /// many are fetched at once.
        public var metaCacheDirectory: String? = nil
        public var metaConcurrency = 32
        public init() {}
    }

    public enum Outcome: Sendable {
        /// Dry run. `after` is the block of the first pass it would be made from, for a
        /// second-pass task on a block that does not exist yet.
        case planned(DownsamplePlanner.Task, after: ULID?)
        case downsampled(DownsamplePlanner.Task, output: BlockMeta, seconds: Double)
        case failed(DownsamplePlanner.Task, error: String, kind: FailureKind)

        public var task: DownsamplePlanner.Task {
            switch self {
            case .planned(let t, _), .downsampled(let t, _, _), .failed(let t, _, _): t
            }
        }
    }

    /// What failed: the block itself (unreadable, refused) or the storage around it.
    public enum FailureKind: Sendable {
        case data
        case storage

        init(_ error: any Error) {
            if error is ObjectStoreError { self = .storage }
            else if let e = error as? TSDBError, e.kind == .io { self = .storage }
            else { self = .data }
        }
    }

    public struct Pass: Sendable {
        public var number: Int
        public var outcomes: [Outcome] = []
        public var skipped: [(ulid: ULID, reason: DownsamplePlanner.SkipReason)] = []
    }

    public struct Report: Sendable {
        public var passes: [Pass] = []
        public var failures: Int { passes.reduce(0) { $0 + $1.outcomes.filter { if case .failed = $0 { true } else { false } }.count } }
        public var downsampled: [BlockMeta] {
            passes.flatMap { $0.outcomes.compactMap { if case .downsampled(_, let m, _) = $0 { m } else { nil } } }
        }
    }

    public let bucket: any Bucket
    public let options: Options
    let logger: Logger

    public init(bucket: any Bucket, options: Options = Options(), logger: Logger = Logger(label: "blockyard.downsample")) {
        self.bucket = bucket
        self.options = options
        self.logger = logger
    }

    /// Runs both passes and reports every block planned, made, failed or skipped. Throws
    /// only when the bucket cannot be listed or the work directory cannot be made.
    public func run() async throws -> Report {
        var report = Report()
        let work = options.workDirectory ?? (NSTemporaryDirectory() + "blockyard-downsample-\(UUID().uuidString)")
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }

        var failed = Set<ULID>()
        var simulated: [BlockMeta] = []
        var madeFrom: [ULID: ULID] = [:]
        // With --id, the second pass may only take the blocks the first made from them.
        var only = options.only
        for number in 1...2 {
            let (entries, _) = try await BucketCatalog(bucket: bucket, cacheDirectory: options.metaCacheDirectory,
                                                       concurrency: options.metaConcurrency).list()
            let metas = entries.compactMap(\.meta) + simulated
            if options.dryRun, number == 2, simulated.isEmpty { break }
            let marked = Set(entries.filter { $0.markers.contains(.noDownsample) }.map(\.ulid))
            let plan = DownsamplePlanner.plan(metas, noDownsample: marked, only: only)
            var pass = Pass(number: number, skipped: plan.skipped)
            let tasks = plan.tasks.filter { !failed.contains($0.ulid) }
            if options.dryRun {
                for t in tasks {
                    pass.outcomes.append(.planned(t, after: madeFrom[t.ulid]))
                    if let m = metas.first(where: { $0.ulid == t.ulid }) {
                        let s = Self.simulatedOutput(of: m, resolution: t.to)
                        simulated.append(s)
                        madeFrom[s.ulid] = madeFrom[t.ulid] ?? t.ulid
                        only?.insert(s.ulid)
                    }
                }
            } else {
                pass.outcomes = await execute(tasks, in: work)
                for case .failed(let t, _, _) in pass.outcomes { failed.insert(t.ulid) }
                for case .downsampled(_, let m, _) in pass.outcomes { only?.insert(m.ulid) }
            }
            report.passes.append(pass)
            let made = pass.outcomes.contains { if case .downsampled = $0 { true } else { false } }
            // Nothing made: the second pass would find nothing new.
            if !options.dryRun && !made { break }
        }
        return report
    }

    /// The meta.json a downsampled block of `m` would have (for dry runs).
    static func simulatedOutput(of m: BlockMeta, resolution: Int64) -> BlockMeta {
        var s = m
        s.ulid = ULID(milliseconds: UInt64(Date().timeIntervalSince1970 * 1000))
        var t = s.thanos ?? ThanosMeta()
        t.resolution = resolution
        s.thanos = t
        return s
    }

    func execute(_ tasks: [DownsamplePlanner.Task], in work: String) async -> [Outcome] {
        var results = [Outcome?](repeating: nil, count: tasks.count)
        await withTaskGroup(of: (Int, Outcome).self) { g in
            var next = 0
            func start() {
                let i = next
                next += 1
                let t = tasks[i]
                g.addTask { (i, await self.downsample(t, in: work)) }
            }
            while next < tasks.count && next < max(1, options.concurrency) { start() }
            while let (i, o) = await g.next() {
                results[i] = o
                if next < tasks.count { start() }
            }
        }
        return results.compactMap { $0 }
    }

    /// One block: read, downsample, upload, verify. Never throws: failures are outcomes.
    func downsample(_ task: DownsamplePlanner.Task, in work: String) async -> Outcome {
        let started = ContinuousClock.now
        let dir = work + "/\(task.ulid)-\(DownsampleResolution.name(task.to))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            try FileManager.default.createDirectory(atPath: dir + "/out", withIntermediateDirectories: true)
            let blockDir: String
            if let local = Self.localDirectory(of: task.ulid, in: bucket) {
                blockDir = local
            } else {
                _ = try await BlockTransfer.download(task.ulid, from: bucket, to: dir)
                blockDir = dir + "/\(task.ulid)"
            }
            let block = try Block(directory: blockDir)
            guard block.meta.resolution == task.from else {
                throw BlockOpsError.invalid("block \(task.ulid) has resolution \(DownsampleResolution.name(block.meta.resolution)), planned as \(DownsampleResolution.name(task.from))")
            }
            let result = try BlockDownsampler.downsample(block, to: task.to, parent: dir + "/out", logger: logger)
            _ = try await BlockTransfer.upload(blockDirectory: result.directory, to: bucket, labels: nil, source: nil)
            if options.verifyUploads { try await verifyUploaded(result, in: dir) }
            let d = (ContinuousClock.now - started).components
            let seconds = Double(d.seconds) + Double(d.attoseconds) / 1e18
            logger.info("uploaded downsampled block", metadata: ["from": "\(task.ulid)", "to": "\(result.meta.ulid)",
                                                                  "resolution": "\(DownsampleResolution.name(task.to))"])
            return .downsampled(task, output: result.meta, seconds: seconds)
        } catch {
            logger.error("downsampling failed", metadata: ["block": "\(task.ulid)", "error": "\(error)"])
            return .failed(task, error: "\(error)", kind: FailureKind(error))
        }
    }

    /// Reads the uploaded block back (into the work directory, so memory stays flat; in
    /// place for a directory bucket) and runs every check verify has, chunks decoded; on
    /// any finding the block is removed again, meta.json first.
    func verifyUploaded(_ result: BlockDownsampler.Result, in dir: String) async throws {
        let id = result.meta.ulid
        var problems: [String] = []
        do {
            var path = Self.localDirectory(of: id, in: bucket)
            if path == nil {
                try FileManager.default.createDirectory(atPath: dir + "/readback", withIntermediateDirectories: true)
                _ = try await BlockTransfer.download(id, from: bucket, to: dir + "/readback")
                path = dir + "/readback/\(id)"
            }
            problems = await BlockVerifier(deep: true).verify(directory: path!).map(\.description)
            let back = try Block(directory: path!).meta
            if back.resolution != result.meta.resolution || back.compaction.sources != result.meta.compaction.sources
                || back.stats != result.meta.stats {
                problems.append("meta.json read back differs from the one written")
            }
        } catch {
            problems.append("cannot read the uploaded block back: \(error)")
        }
        guard !problems.isEmpty else { return }
        try? await bucket.delete("\(id)/meta.json")
        for key in (try? await bucket.list(prefix: "\(id)/", recursive: true)) ?? [] { try? await bucket.delete(key) }
        throw BlockOpsError.invalid("uploaded block \(id) failed verification and was removed: " + problems.prefix(5).joined(separator: "; "))
    }

    /// The block's directory when the bucket is a local directory (read in place).
    static func localDirectory(of id: ULID, in bucket: any Bucket) -> String? {
        if let fs = bucket as? FilesystemBucket { return fs.root + "/\(id)" }
        if let p = bucket as? PrefixedBucket, let fs = p.base as? FilesystemBucket {
            return fs.root + "/" + p.prefix + "/\(id)"
        }
        return nil
    }
}
