import Foundation
import TSDB

/// How a repair runs.
public struct RepairOptions: Sendable {
    /// Write the repaired block to scratch space, report, and remove it again.
    public var dryRun = false
    /// Pick blocks with verify's `--deep` checks too (chunks that pass their checksum but
    /// do not decode). The repair itself always decodes every chunk.
    public var deep = false
    public var segmentSize = ChunkWriter.defaultSegmentSize
    public init() {}
}

/// What repairing one block came to.
public struct RepairOutcome: Sendable {
    public enum Status: Sendable, Equatable {
        /// Verify found nothing to repair.
        case clean
        /// The repaired block (in a dry run: the one that was written and removed again).
        case repaired(ULID)
        /// Every sample had to go: no block was written, the original is left alone.
        case nothingLeft
        /// The block cannot be repaired (why); it is left alone.
        case unrepairable(String)
        /// A bucket block an earlier run already replaced (its replacement); this run only
        /// finished backing up and marking the original.
        case finishedEarlier(ULID)
        /// Left alone (why), e.g. already marked for deletion.
        case skipped(String)
    }
    public var block: String
    public var status: Status
    public var findings: [Finding] = []
    public var events: [RepairEvent] = []
    public var dryRun = false
    /// The repair.log text (empty when nothing was repaired).
    public var log = ""

    /// Whether samples were dropped or cut off (not just moved, merged or deduplicated).
    public var dataLost: Bool { events.contains { $0.lost } || status == .nothingLeft }
    public var repaired: Bool {
        switch status {
        case .repaired, .finishedEarlier, .nothingLeft: true
        default: false
        }
    }
}

/// Repairs one block: reads it with verify's findings in hand, writes a new block through
/// the compactor's repair mode (series and label names re-sorted, duplicate series merged,
/// chunks that fail their checksum or do not decode dropped, samples outside
/// [minTime, maxTime) trimmed, overlapping and duplicate chunks merged one sample per
/// timestamp, chunk time ranges taken from the samples, stats recomputed; aggregate chunks
/// of downsampled blocks included), verifies the result with `--deep`, and writes its
/// `repair.log`. The new block keeps the original's meta.json (time range, compaction
/// level and sources, external labels, resolution, unknown fields) under a new ULID, with
/// `thanos.source` `bucket.repair`, as Thanos' `verify --repair` writes it.
public enum BlockRepair {
    public static let logFile = "repair.log"

    /// Verifies a local block directory and repairs it into `parent` when verify flags it.
    public static func repair(directory: String, into parent: String, options: RepairOptions, now: Date = Date()) async -> RepairOutcome {
        let name = (directory as NSString).lastPathComponent
        let findings = await RepairChecks.findings(directory: directory, deep: options.deep)
        if let bad = findings.first(where: { $0.kind == .unreadable }) {
            return RepairOutcome(block: name, status: .unrepairable("\(bad.file): \(bad.detail)"), findings: findings, dryRun: options.dryRun)
        }
        let block: Block
        do { block = try Block(directory: directory) } catch {
            return RepairOutcome(block: name, status: .unrepairable(error.description), findings: findings, dryRun: options.dryRun)
        }
        return await repair(block, name: name, findings: findings, into: parent, options: options, now: now)
    }

    /// Repairs `block` into `parent/<new ULID>`. In a dry run the block is written into a
    /// scratch directory under `parent` and removed.
    public static func repair(_ block: Block, name: String, findings: [Finding], into parent: String,
                              options: RepairOptions, now: Date = Date()) async -> RepairOutcome {
        var outcome = RepairOutcome(block: name, status: .clean, findings: findings, dryRun: options.dryRun)
        guard !findings.isEmpty else { return outcome }
        let meta = block.meta
        guard meta.minTime < meta.maxTime else {
            outcome.status = .unrepairable("meta.json's range [\(meta.minTime), \(meta.maxTime)) is empty; which samples belong to the block cannot be told")
            return outcome
        }
        let events = EventLog()
        var o = CompactOptions()
        o.repair = true
        o.segmentSize = options.segmentSize
        o.template = template(meta)
        o.log = { events.add($0) }
        let target = options.dryRun ? parent + "/.blockyard-repair-dry-run-\(UUID().uuidString)" : parent
        let ulid = ULID(milliseconds: UInt64(now.timeIntervalSince1970 * 1000))
        let result: CompactResult?
        do {
            try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
            result = try Compactor.compact([block], names: [name], into: target, options: o, ulid: ulid)
        } catch {
            if options.dryRun { try? FileManager.default.removeItem(atPath: target) }
            outcome.status = .unrepairable("\(error)")
            outcome.events = events.events
            return outcome
        }
        defer { if options.dryRun { try? FileManager.default.removeItem(atPath: target) } }
        guard let r = result else {
            outcome.status = .nothingLeft
            outcome.events = events.events
            outcome.log = render(outcome, original: meta, repaired: nil, now: now)
            return outcome
        }
        var all = events.events
        if findings.contains(where: { $0.kind == .statsMismatch }) {
            let a = meta.stats, b = r.meta.stats
            all.append(RepairEvent(action: .recomputedStats, series: "meta.json",
                                   detail: "stats recomputed from the data: series \(a.numSeries) -> \(b.numSeries), chunks \(a.numChunks) -> \(b.numChunks), samples \(a.numSamples) -> \(b.numSamples)"))
        }
        if findings.contains(where: { $0.kind == .filesMismatch }) {
            all.append(RepairEvent(action: .recomputedFiles, series: "meta.json", detail: "the Thanos files list recomputed from the files written"))
        }
        outcome.events = all
        // The result must be whole before anyone sees it.
        let check = await RepairChecks.findings(directory: r.directory, deep: true)
        guard check.isEmpty else {
            try? FileManager.default.removeItem(atPath: r.directory)
            outcome.status = .unrepairable("the repaired block did not verify (\(check.prefix(3).map(\.description).joined(separator: "; "))); nothing was written")
            return outcome
        }
        outcome.status = .repaired(r.meta.ulid)
        outcome.log = render(outcome, original: meta, repaired: r.meta, now: now)
        if !options.dryRun {
            do { try writeFile(r.directory + "/" + logFile, Array(outcome.log.utf8)) } catch {
                try? FileManager.default.removeItem(atPath: r.directory)
                outcome.status = .unrepairable("writing \(logFile): \(error)")
            }
        }
        return outcome
    }

    /// The repaired block's meta.json before the writer fills in ULID, stats and files.
    static func template(_ meta: BlockMeta) -> BlockMeta {
        var t = meta
        t.stats = BlockMeta.Stats()
        if var th = t.thanos {
            th.source = "bucket.repair"
            th.indexStats = ThanosMeta.IndexStats()
            t.thanos = th
            // The upload time is the new block's, set when it is uploaded.
            var doc = t.json
            var section = doc["thanos"] ?? .object([])
            section.set("upload_time", nil)
            doc.set("thanos", section)
            t.document = doc
        }
        return t
    }

    /// The block a repair.log says it replaced (its first line).
    public static func repairedBlock(fromLog text: String) -> ULID? {
        guard let first = text.split(separator: "\n", maxSplits: 1).first else { return nil }
        let words = first.split(separator: " ")
        guard words.count >= 5, words[0] == "blockyard", words[1] == "repair:", words[2] == "block" else { return nil }
        return ULID(String(words[3]))
    }

    /// The repair.log: what verify found, every change, the stats before and after.
    static func render(_ o: RepairOutcome, original: BlockMeta, repaired: BlockMeta?, now: Date) -> String {
        var s = "blockyard repair: block \(original.ulid) -> \(repaired.map { $0.ulid.description } ?? "(none: no samples left)")\n"
        s += "time: \(BlockTransfer.rfc3339Nano(now))\n"
        let labels = (original.thanos?.labels ?? [:]).sorted { byteLess($0.key, $1.key) }.map { "\($0.key)=\"\($0.value)\"" }.joined(separator: ",")
        s += "block: [\(original.minTime), \(original.maxTime)) level \(original.compaction.level), resolution \(original.resolution), labels {\(labels)}\n"
        s += "found by verify (\(o.findings.count)):\n"
        for f in o.findings { s += "  \(f.kind.rawValue) \(f.file)\(f.offset.map { "@\($0)" } ?? "")\(f.series.map { " " + $0 } ?? ""): \(f.detail)\n" }
        s += "changes (\(o.events.count)):\n"
        for e in o.events { s += "  \(e.lost ? "[data dropped] " : "")\(e.description)\n" }
        let a = original.stats
        if let b = repaired?.stats {
            s += "stats: series \(a.numSeries) -> \(b.numSeries), chunks \(a.numChunks) -> \(b.numChunks), samples \(a.numSamples) -> \(b.numSamples)\n"
        }
        s += "data dropped: \(o.dataLost ? "yes" : "no")\n"
        return s
    }
}

/// Collects the events a compaction reports (from whichever thread it runs on).
final class EventLog: @unchecked Sendable {
    private let lock = NSLock()
    private var list: [RepairEvent] = []
    func add(_ e: RepairEvent) { lock.withLock { list.append(e) } }
    var events: [RepairEvent] { lock.withLock { list } }
}
