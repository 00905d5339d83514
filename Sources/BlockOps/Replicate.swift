import Foundation
import Logging
import ObjectStore
import Synchronization
import TSDB

/// Copies blocks from one bucket to another (`blockyard replicate`), many at a time, resumable
/// and checked.
///
/// Per block: the source's objects are listed and sized (and checked against the Thanos files
/// list in its meta.json); objects the destination already has with the same size and MD5 are
/// skipped; the rest are copied (server side when both buckets are Azure, else streamed through
/// bounded memory); every copied object is checked again in the destination (size, MD5); with
/// `verify` the copy is read back and run through `BlockVerifier`; only then is meta.json written,
/// and read back. The destination's meta.json is the commit point: a run killed at any moment
/// leaves blocks either whole or without meta.json (a partial upload that Thanos ignores), and a
/// re-run skips what is done and finishes the rest. Commits happen in plan order (oldest first)
/// even though blocks are copied concurrently, so the destination's compactor sees history arrive
/// in order.
public struct Replicator: Sendable {
    public struct Options: Sendable {
        /// Blocks in flight.
        public var concurrency = 4
        /// Objects in flight per block.
        public var objectConcurrency = 4
        public var rewrite = LabelRewrite()
        /// Read each copy back and run the verify checks before committing it.
        public var verify = false
        public var deep = false
        /// Check both sides and report what would be copied; write nothing.
        public var dryRun = false
        /// Use server-side copy when the pair supports it.
        public var serverSideCopy = true
        /// Streaming from a source object without an MD5, read it in ranges the source service
        /// hashes (each checked by the destination) instead of in one unchecked read: slower,
        /// but every byte is checked against what the source stores.
        public var checkedReads = false
        public init() {}
    }

    public let source: any Bucket
    public let destination: any Bucket
    public let options: Options
    let logger: Logger
    let copier: ServerSideCopier?
    let streamer: StreamCopier?
    let fallback = Fallback()

    public init(source: any Bucket, destination: any Bucket, options: Options = Options(), logger: Logger? = nil) {
        self.source = source
        self.destination = destination
        self.options = options
        self.logger = logger ?? Logger(label: "blockyard.replicate", factory: { _ in SwiftLogNoOpLogHandler() })
        copier = options.serverSideCopy ? ServerSideCopier(from: source, to: destination) : nil
        streamer = StreamCopier(from: source, to: destination, checkedReadsOnly: options.checkedReads)
    }

    /// Whether objects are being copied server side (false once the service refused).
    public var copiesServerSide: Bool { copier != nil && fallback.reason == nil }

    /// Why server-side copy was given up, if it was.
    public var fallbackReason: String? { fallback.reason }

    /// Replicates `blocks` (already selected and ordered, see `ReplicatePlan.select`), calling
    /// `report` as each finishes.
    public func run(_ blocks: [BlockEntry], report: @Sendable (ReplicateBlockReport) -> Void = { _ in }) async -> ReplicateSummary {
        let order = CommitOrder()
        var summary = ReplicateSummary()
        await withTaskGroup(of: ReplicateBlockReport.self) { g in
            var next = 0
            func start() {
                guard next < blocks.count else { return }
                let i = next
                next += 1
                g.addTask { await replicate(blocks[i], index: i, order: order) }
            }
            for _ in 0..<max(1, options.concurrency) { start() }
            while let r = await g.next() {
                summary.add(r)
                report(r)
                start()
            }
        }
        summary.fellBack = fallback.reason
        return summary
    }

    /// A failure of one block, with the exit status it maps to.
    struct BlockFailure: Error {
        var message: String
        var exit: Int32
        var findings: [Finding] = []
    }

    /// One object of a block and what is known about it.
    struct Object: Sendable {
        var name: String
        var source: ObjectAttributes
        var copy = true
        var sizeOnly = false
    }

    func replicate(_ e: BlockEntry, index: Int, order: CommitOrder) async -> ReplicateBlockReport {
        let started = ContinuousClock.now
        var r = ReplicateBlockReport(ulid: e.ulid, outcome: .failed)
        do {
            try await replicateBlock(e, index: index, order: order, into: &r)
        } catch let f as BlockFailure {
            r.outcome = .failed
            r.error = f.message
            r.exitCode = f.exit
            r.findings = f.findings
        } catch let err as TSDBError {
            r.outcome = .failed
            r.error = err.description
            r.exitCode = err.kind == .io ? 3 : 2
        } catch {
            r.outcome = .failed
            r.error = "\(error)"
            r.exitCode = 3
        }
        await order.finish(index)
        let d = ContinuousClock.now - started
        r.seconds = Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
        return r
    }

    private func replicateBlock(_ e: BlockEntry, index: Int, order: CommitOrder, into r: inout ReplicateBlockReport) async throws {
        let id = e.ulid
        let prefix = "\(id)/"
        let metaKey = prefix + "meta.json"
        let sourceMeta = try await source.get(metaKey)
        let meta = try BlockMeta(bytes: sourceMeta, file: metaKey)
        let want = try options.rewrite.metaJSON(sourceMeta, file: metaKey)

        // The source's objects as they are now (markers are not copied, as in Thanos).
        let names = try await source.list(prefix: prefix, recursive: true).map { String($0.dropFirst(prefix.count)) }
            .filter { $0 != "meta.json" && MarkerKind(rawValue: $0) == nil }
        guard names.contains("index") else {
            throw BlockFailure(message: "source block \(id) has a meta.json but no index", exit: 2)
        }
        let src = source
        var objects = try await bounded(names) { n in Object(name: n, source: try await src.attributes(prefix + n)) }
        try checkAgainstFilesList(meta, objects, id: id)

        // The destination's meta.json: absent (copy), equal (check the objects), else a conflict.
        var have: [UInt8]? = nil
        do { have = try await destination.get(metaKey) } catch {
            guard error.kind == .notFound else { throw error }
        }
        if let have, !Self.sameMeta(have, want) {
            throw BlockFailure(message: "the destination already has a block \(id) with a different meta.json; it is not overwritten (remove it there to copy this one)", exit: 3)
        }
        let metaThere = have != nil

        objects = try await bounded(objects) { o in try await decide(o, key: prefix + o.name) }
        let toCopy = objects.filter(\.copy)
        for o in objects where !o.copy {
            r.objectsSkipped += 1
            r.bytesSkipped += o.source.size
            if o.sizeOnly { r.objectsSizeOnly += 1 }
        }
        if metaThere && toCopy.isEmpty {
            r.outcome = .alreadyThere
            return
        }
        if options.dryRun {
            r.outcome = .planned
            r.objectsCopied = toCopy.count
            r.bytesCopied = toCopy.reduce(0) { $0 + $1.source.size }
            return
        }

        let copied = try await bounded(toCopy) { o in try await copyObject(o, key: prefix + o.name) }
        for (o, c) in zip(toCopy, copied) {
            r.objectsCopied += 1
            r.bytesCopied += o.source.size
            if c.serverSide { r.objectsServerSide += 1 }
        }
        _ = try await bounded(Array(zip(toCopy, copied))) { (o, c) in try await checkCopy(o, key: prefix + o.name, md5: c.md5) }

        if options.verify {
            let findings = try await verifyCopy(id, meta: want)
            if !findings.isEmpty {
                var message = "verify found \(findings.count) problem(s) in the copy of \(id); its meta.json was not written"
                if !metaThere && !toCopy.isEmpty {
                    // Uncommitted copies that fail verification would pass a re-run's size
                    // comparison (a source without MD5s); removed, a re-run copies them again.
                    var left: [String] = []
                    for o in toCopy {
                        do { try await destination.delete(prefix + o.name) } catch { left.append("\(o.name) (\(error.detail))") }
                    }
                    message += left.isEmpty
                        ? "; the \(toCopy.count) object(s) copied this run were removed from the destination"
                        : "; removing the objects copied this run failed for \(left.joined(separator: ", ")): delete them there before re-running"
                }
                throw BlockFailure(message: message, exit: 1, findings: findings)
            }
        }

        // Commit: meta.json last, in plan order, then read back.
        await order.wait(index)
        try await destination.upload(metaKey, bytes: want)
        let back = try await destination.get(metaKey)
        guard back == want else {
            throw BlockFailure(message: "\(metaKey) read back from the destination differs from what was written", exit: 3)
        }
        r.outcome = .copied
    }

    /// A source whose objects disagree with its own meta.json is not copied: that block is
    /// broken already, and a copy would spread it.
    private func checkAgainstFilesList(_ meta: BlockMeta, _ objects: [Object], id: ULID) throws {
        for f in meta.thanos?.files ?? [] where f.relPath != "meta.json" {
            guard let o = objects.first(where: { $0.name == f.relPath }) else {
                throw BlockFailure(message: "source block \(id) has no \(f.relPath), which its meta.json lists", exit: 2)
            }
            if let size = f.sizeBytes, size != o.source.size {
                throw BlockFailure(message: "source \(id)/\(f.relPath) is \(o.source.size) bytes, its meta.json lists \(size)", exit: 2)
            }
        }
    }

    /// Skip an object the destination already has with the same size and MD5. A side that
    /// reports no MD5 is hashed when its reads are local; when one is still unknown, the equal
    /// size decides (objects are written whole or not at all, so a same-sized one is the copy).
    private func decide(_ o: Object, key: String) async throws -> Object {
        var o = o
        let d: ObjectAttributes
        do { d = try await destination.attributes(key) } catch {
            if error.kind == .notFound { return o }
            throw error
        }
        guard d.size == o.source.size else { return o }
        if o.source.md5 == nil && source.isLocal { o.source.md5 = try await source.computeMD5(key, size: o.source.size) }
        var theirs = d.md5
        if theirs == nil && destination.isLocal { theirs = try await destination.computeMD5(key, size: d.size) }
        if let mine = o.source.md5, let theirs {
            o.copy = mine != theirs
        } else {
            o.copy = false
            o.sizeOnly = true
        }
        return o
    }

    /// Copies one object; returns the MD5 the copy must have (when known) and whether the
    /// service copied it.
    private func copyObject(_ o: Object, key: String) async throws -> (md5: [UInt8]?, serverSide: Bool) {
        if let copier, fallback.reason == nil {
            do {
                try await copier.copy(key, attributes: o.source)
                return (o.source.md5, true)
            } catch {
                guard error.kind == .unsupported else { throw error }
                if fallback.trip(error.detail) {
                    logger.warning("server-side copy refused; streaming instead", metadata: ["error": "\(error)"])
                }
            }
        }
        // Azure to Azure: one read streamed into one write, which the destination service checks
        // against the source's MD5; with none known, the copy has the MD5 the service computed.
        if let streamer, streamer.accepts(o.source) {
            return (try await streamer.copy(key, attributes: o.source), false)
        }
        let src = source
        let etag = o.source.etag
        // Otherwise piece by piece: a remote source gives each piece's MD5 (checked by the
        // destination as it stores the piece) and the whole object's: then nothing needs hashing
        // here. Pieces are pinned to the version that was sized.
        let known = source.isLocal ? nil : o.source.md5
        let md5 = try await destination.upload(key, size: o.source.size, md5: known) { offset, length throws(ObjectStoreError) in
            try await src.getPiece(key, offset: offset, length: length, ifMatch: etag)
        }
        if let expected = o.source.md5, expected != md5 {
            throw BlockFailure(message: "\(key): the bytes read from the source hash to \(hex(md5)), the source reports \(hex(expected)) (changed during the copy?)", exit: 3)
        }
        return (md5, false)
    }

    /// The copy in the destination has the source's size and the expected MD5.
    private func checkCopy(_ o: Object, key: String, md5 expected: [UInt8]?) async throws {
        let d = try await destination.attributes(key)
        guard d.size == o.source.size else {
            throw BlockFailure(message: "after copying, \(key) is \(d.size) bytes in the destination and \(o.source.size) in the source", exit: 3)
        }
        guard let expected else { return }
        var theirs = d.md5
        if theirs == nil && destination.isLocal { theirs = try await destination.computeMD5(key, size: d.size) }
        if let theirs, theirs != expected {
            throw BlockFailure(message: "after copying, \(key) has MD5 \(hex(theirs)) in the destination, expected \(hex(expected))", exit: 3)
        }
    }

    /// meta.json documents are the same when they parse to the same JSON (formatting aside).
    static func sameMeta(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        if a == b { return true }
        guard let x = try? JSONValue.parse(a), let y = try? JSONValue.parse(b) else { return false }
        return x == y
    }

    /// Runs `body` over `items` with at most `objectConcurrency` at once; results in input order.
    private func bounded<T: Sendable, R: Sendable>(_ items: [T], _ body: @escaping @Sendable (T) async throws -> R) async throws -> [R] {
        try await withThrowingTaskGroup(of: (Int, R).self) { g in
            var out = [R?](repeating: nil, count: items.count)
            var next = 0
            func start() {
                guard next < items.count else { return }
                let i = next
                next += 1
                g.addTask { (i, try await body(items[i])) }
            }
            for _ in 0..<max(1, options.objectConcurrency) { start() }
            while let (i, v) = try await g.next() {
                out[i] = v
                start()
            }
            return out.map { $0! }
        }
    }
}

/// Remembers that the service refused server-side copy (once per run).
final class Fallback: Sendable {
    private let state = Mutex<String?>(nil)

    var reason: String? { state.withLock { $0 } }

    /// Records the first refusal; true for the call that recorded it.
    func trip(_ why: String) -> Bool {
        state.withLock { s in
            if s != nil { return false }
            s = why
            return true
        }
    }
}

/// Lets block `i` commit only after every block before it (in plan order) has finished.
actor CommitOrder {
    private var next = 0
    private var finished = Set<Int>()
    private var waiting: [Int: CheckedContinuation<Void, Never>] = [:]

    func wait(_ i: Int) async {
        if i <= next { return }
        await withCheckedContinuation { waiting[i] = $0 }
    }

    func finish(_ i: Int) {
        finished.insert(i)
        while finished.remove(next) != nil { next += 1 }
        if let c = waiting.removeValue(forKey: next) { c.resume() }
    }
}

func hex(_ b: [UInt8]) -> String { b.map { String(format: "%02x", $0) }.joined() }
