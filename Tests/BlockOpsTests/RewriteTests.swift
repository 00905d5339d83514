import Foundation
import Logging
import ObjectStore
import Testing
import TestSupport
import TSDB
@testable import BlockOps

/// `blockyard rewrite` on a block promtool made: 16 series of two tenants, each carrying a
/// leaked high-cardinality label. promtool is the oracle: its own selector (`--match`) for
/// a tenant purge, its dump with the deleted range cut out, its dump with the leaked label
/// removed.
@Suite("Rewrite: purge a tenant, a time range, a leaked label; promtool as the oracle", .serialized)
struct RewriteTests {
    static let t0: Int64 = 1_672_531_200

    static func openMetrics() -> String {
        var rng = SeededRandom(seed: 7)
        var out = ""
        for (family, type) in [("load", "gauge"), ("requests", "counter")] {
            out += "# TYPE \(family) \(type)\n"
            var lines: [(String, String)] = []
            for tenant in ["a", "b"] {
                for h in 0..<4 {
                    let labels = "host=\"h\(h)\",leak=\"s\(rng.next() % 1_000_000)\",tenant=\"\(tenant)\""
                    var v = 0.0
                    var t = 0
                    while t < 5400 {
                        v = type == "counter" ? v + Double(rng.next() % 50) : Double(rng.next() % 1000) / 10
                        let name = type == "counter" ? "requests_total" : family
                        lines.append(("\(name){\(labels)}", "\(v) \(t0 + Int64(t))"))
                        t += 15
                    }
                }
            }
            out += lines.map { "\($0.0) \($0.1)" }.joined(separator: "\n") + "\n"
        }
        return out + "# EOF\n"
    }

    /// A FILESYSTEM bucket holding the one block promtool made.
    static func bucket() throws -> (dir: String, id: ULID, block: String) {
        let made = try Promtool.createBlocks(openMetrics: openMetrics(), tag: "rw")
        let blocks = made.blocks
        precondition(blocks.count == 1, "the input spans one 2h block")
        let dir = made.dir + "/blocks"
        return (dir, try Block(directory: blocks[0]).ulid, blocks[0])
    }

    static func rewrite(_ dir: String, _ id: ULID, _ spec: RewriteSpec, dryRun: Bool = false, deleteBlocks: Bool = false,
                        bucket: (any Bucket)? = nil) async throws -> RewriteOutcome {
        var o = BucketRewriteOptions(ids: [id], spec: spec, workDirectory: dir + ".tmp")
        o.dryRun = dryRun
        o.deleteBlocks = deleteBlocks
        let b = bucket ?? FilesystemBucket(directory: dir)
        let out = try await BucketRewriter(bucket: b, catalog: BucketCatalog(bucket: b), options: o, logger: Logger(label: "t")).run()
        return try #require(out.first)
    }

    /// The new block's directory; checks what every rewrite result must be.
    static func checked(_ dir: String, _ o: RewriteOutcome, original: BlockMeta, spec: RewriteSpec) async throws -> String {
        guard case .rewritten(let id) = o.status else { throw BlockOpsError.invalid("not rewritten: \(o.status)") }
        let out = dir + "/\(id)"
        #expect(await RepairChecks.findings(directory: out, deep: true).isEmpty)
        _ = try Promtool.analyze(out, limit: 5)
        let m = try Block(directory: out).meta
        #expect(m.thanos?.source == "bucket.rewrite")
        #expect(m.compaction.sources == [id])
        #expect(m.compaction.level == original.compaction.level)
        #expect(m.minTime == original.minTime && m.maxTime == original.maxTime)
        #expect(m.document["thanos"]?["rewrites"] == .array([spec.rewriteEntry(sources: original.compaction.sources)]))
        return out
    }

    @Test("delete a tenant's series: the result dumps as promtool's selector of the other tenant")
    func tenant() async throws {
        let (dir, id, src) = try Self.bucket()
        defer { Fixtures.cleanup((dir as NSString).deletingLastPathComponent); Fixtures.cleanup(dir + ".tmp") }
        let spec = RewriteSpec(deletions: try RewriteConfig.deletionRequests(yaml: "- matchers: '{tenant=\"b\"}'\n  request_id: tenant-b", origin: "t"))
        let original = try Block(directory: src).meta
        let o = try await Self.rewrite(dir, id, spec)
        let out = try await Self.checked(dir, o, original: original, spec: spec)
        #expect(try Promtool.dump([out]) == Promtool.dump([src], extra: ["--match={__name__=~\".+\",tenant!=\"b\"}"]))
        let deleted = o.events.filter { $0.action == .deletedSamples }
        #expect(deleted.count == 8 && deleted.allSatisfy { $0.series.contains("tenant=\"b\"") && $0.intervals.count == 1 })
        let log = try String(contentsOfFile: try #require(o.changeLogPath), encoding: .utf8)
        #expect(log.split(separator: "\n").count == 8 && log.split(separator: "\n").allSatisfy { $0.hasPrefix("Deleted {") && $0.hasSuffix("}]") })
        #expect(try Block(directory: out).index.labelValues("tenant") == ["a"])
        // Thanos' JSON, field for field.
        let json = try JSONValue.parse(Array("""
            {"sources": ["\(id)"], "deletions_applied": [{"matchers": [{"Type": 0, "Name": "tenant", "Value": "b"}], "request_id": "tenant-b"}]}
            """.utf8))
        #expect(try Block(directory: out).meta.document["thanos"]?["rewrites"]?.arrayValue?.first == json)
    }

    @Test("delete a time range of some series: cut out, the rest as it was")
    func timeRange() async throws {
        let (dir, id, src) = try Self.bucket()
        defer { Fixtures.cleanup((dir as NSString).deletingLastPathComponent); Fixtures.cleanup(dir + ".tmp") }
        let a = Self.t0 * 1000 + 20 * 60_000, b = Self.t0 * 1000 + 50 * 60_000
        let spec = RewriteSpec(deletions: try RewriteConfig.deletionRequests(yaml: """
            - matchers: 'load{host=~"h[01]"}'
              intervals: [{mint: \(a), maxt: \(b)}]
            """, origin: "t"))
        let o = try await Self.rewrite(dir, id, spec)
        let out = try await Self.checked(dir, o, original: try Block(directory: src).meta, spec: spec)
        var want = DumpText(try Promtool.dump([src]))
        want.lines.removeAll { $0.series.hasPrefix("{__name__=\"load\", host=\"h0\"") || $0.series.hasPrefix("{__name__=\"load\", host=\"h1\"") ? (a...b).contains($0.t) : false }
        #expect(try Promtool.dump([out]) == want.text)
        #expect(o.events.filter { $0.action == .deletedSamples }.count == 4)
        #expect(o.events.allSatisfy { $0.intervals.allSatisfy { $0.lowerBound >= a && $0.upperBound <= b } })
        #expect(o.after?.numSeries == 16)
    }

    @Test("relabel away a leaked label: the samples stay, its values leave the index")
    func leakedLabel() async throws {
        let (dir, id, src) = try Self.bucket()
        defer { Fixtures.cleanup((dir as NSString).deletingLastPathComponent); Fixtures.cleanup(dir + ".tmp") }
        let spec = RewriteSpec(relabels: try RewriteConfig.relabelConfigs(yaml: "- {regex: leak, action: labeldrop}", origin: "t"))
        let leaked = try Block(directory: src).index.labelValues("leak")
        try #require(leaked.count == 16)
        let o = try await Self.rewrite(dir, id, spec)
        let out = try await Self.checked(dir, o, original: try Block(directory: src).meta, spec: spec)
        // promtool's dump of the original with the label taken out of every line.
        var want = DumpText(try Promtool.dump([src]))
        for i in want.lines.indices {
            want.lines[i].series = want.lines[i].series.replacingOccurrences(of: #", leak="s[0-9]+""#, with: "", options: .regularExpression)
        }
        let got = DumpText(try Promtool.dump([out]))
        #expect(got.lines.count == want.lines.count)
        #expect(Set(got.lines.map { "\($0.series) \($0.value) \($0.t)" }) == Set(want.lines.map { "\($0.series) \($0.value) \($0.t)" }))
        #expect(o.events.filter { $0.action == .relabelled }.count == 16)
        let index = try Data(contentsOf: URL(fileURLWithPath: out + "/index"))
        for v in leaked { #expect(index.range(of: Data(v.utf8)) == nil, "the leaked value \(v) is still in the index") }
        #expect(!(try Block(directory: out).index.labelNames.contains("leak")))
    }

    @Test("a dry run changes nothing; nothing matched writes nothing; everything deleted marks the source with --delete-blocks")
    func dryRunAndEdges() async throws {
        let (dir, id, _) = try Self.bucket()
        defer { Fixtures.cleanup((dir as NSString).deletingLastPathComponent); Fixtures.cleanup(dir + ".tmp") }
        let before = try FileManager.default.subpathsOfDirectory(atPath: dir).sorted()
        let purge = RewriteSpec(deletions: try RewriteConfig.deletionRequests(yaml: "- matchers: '{tenant=\"b\"}'", origin: "t"))
        let dry = try await Self.rewrite(dir, id, purge, dryRun: true)
        #expect(dry.dryRun && !dry.events.isEmpty)
        guard case .rewritten = dry.status else { throw BlockOpsError.invalid("\(dry.status)") }
        #expect(try FileManager.default.subpathsOfDirectory(atPath: dir).sorted() == before, "a dry run wrote to the bucket")

        let none = RewriteSpec(deletions: try RewriteConfig.deletionRequests(yaml: "- matchers: '{tenant=\"z\"}'", origin: "t"))
        let unchanged = try await Self.rewrite(dir, id, none, deleteBlocks: true)
        #expect(unchanged.status == .unchanged && !unchanged.markedForDeletion)
        #expect(try FileManager.default.subpathsOfDirectory(atPath: dir).sorted() == before)

        let all = RewriteSpec(deletions: try RewriteConfig.deletionRequests(yaml: "- matchers: '{tenant=~\"a|b\"}'", origin: "t"))
        let gone = try await Self.rewrite(dir, id, all, deleteBlocks: true)
        #expect(gone.status == .nothingLeft && gone.markedForDeletion)
        #expect(FileManager.default.fileExists(atPath: dir + "/\(id)/deletion-mark.json"))
    }

    @Test("on the Azure emulator: the block downloaded to the work directory, the rewrite uploaded meta.json last, the source marked")
    func azure() async throws {
        let (dir, id, src) = try Self.bucket()
        defer { Fixtures.cleanup((dir as NSString).deletingLastPathComponent); Fixtures.cleanup(dir + ".tmp") }
        let emu = try AzureEmulator()
        defer { emu.stop() }
        let bucket = try await AzureBucket(config: emu.config(container: "tenants"))
        for f in ["chunks/000001", "index", "meta.json"] { try await bucket.upload("\(id)/\(f)", fromFile: src + "/" + f) }
        let spec = RewriteSpec(deletions: try RewriteConfig.deletionRequests(yaml: "- matchers: '{tenant=\"b\"}'", origin: "t"))
        let o = try await Self.rewrite(dir, id, spec, deleteBlocks: true, bucket: bucket)
        guard case .rewritten(let newID) = o.status else { throw BlockOpsError.invalid("\(o.status)") }
        #expect(o.markedForDeletion)
        let got = try Fixtures.tempDir("rw-azure")
        defer { Fixtures.cleanup(got) }
        _ = try await BlockTransfer.download(newID, from: bucket, to: got)
        _ = try await Self.checked(got, o, original: try Block(directory: src).meta, spec: spec)
        #expect(try Promtool.dump([got + "/\(newID)"]) == Promtool.dump([src], extra: ["--match={__name__=~\".+\",tenant!=\"b\"}"]))
        #expect(try await bucket.exists("\(id)/deletion-mark.json"))
    }

    @Test("killed at every write with --delete-blocks: the source is marked only once its rewrite is complete; re-runs converge")
    func crashes() async throws {
        let spec = RewriteSpec(relabels: try RewriteConfig.relabelConfigs(yaml: "- {regex: leak, action: labeldrop}", origin: "t"))
        let (cdir, cid, _) = try Self.bucket()
        let counting = CrashingBucket(FilesystemBucket(directory: cdir), writes: .max)
        _ = try await Self.rewrite(cdir, cid, spec, deleteBlocks: true, bucket: counting)
        let writes = counting.writesSeen
        Fixtures.cleanup((cdir as NSString).deletingLastPathComponent)
        try #require(writes == 4, "chunks, index, meta.json, the mark; saw \(writes)")
        for k in 0..<writes {
            let (dir, id, _) = try Self.bucket()
            defer { Fixtures.cleanup((dir as NSString).deletingLastPathComponent); Fixtures.cleanup(dir + ".tmp") }
            let real = FilesystemBucket(directory: dir)
            let crashing = CrashingBucket(real, writes: k)
            _ = try? await Self.rewrite(dir, id, spec, deleteBlocks: true, bucket: crashing)
            #expect(crashing.crashed)
            func complete() async throws -> [BlockEntry] {
                try await BucketCatalog(bucket: real).list().0.filter { $0.meta?.thanos?.source == "bucket.rewrite" && !$0.markers.contains(.deletion) }
            }
            if try await real.exists("\(id)/deletion-mark.json") {
                #expect(try await complete().count == 1, "crash at \(k): the source is marked but no complete rewrite exists")
            }
            _ = try await Self.rewrite(dir, id, spec, deleteBlocks: true)
            #expect(try await real.exists("\(id)/deletion-mark.json"), "crash at \(k): the re-run did not mark the source")
            let done = try await complete()
            #expect(done.count == 1, "crash at \(k): \(done.map(\.ulid))")
        }
    }
}

@Suite("Rewrite: the command")
struct RewriteCommandTests {
    @Test("dry run by default, --no-dry-run rewrites; bad configs are usage errors naming the field")
    func command() throws {
        try #require(FileManager.default.isExecutableFile(atPath: BlockyardBinary.path), "build blockyard first")
        let (dir, id, _) = try RewriteTests.bucket()
        defer { Fixtures.cleanup((dir as NSString).deletingLastPathComponent) }
        let tmp = try Fixtures.tempDir("rw-cli")
        defer { Fixtures.cleanup(tmp) }
        func run(_ extra: [String]) throws -> (Int32, String, String) {
            try Run.run(BlockyardBinary.path, ["rewrite", dir, "--id", id.description, "--tmp.dir", tmp] + extra)
        }
        let purge = "--rewrite.to-delete-config=- {matchers: '{tenant=\"b\"}'}"
        let (c0, o0, _) = try run([purge])
        #expect(c0 == 0)
        #expect(o0.contains("Deleted {__name__=\"load\", host=\"h0\"") && o0.contains("would be rewritten (dry run)"), "\(o0)")
        #expect(try Block.directories(at: dir).count == 1, "a dry run wrote a block")

        let (c1, o1, _) = try run([purge, "--no-dry-run", "--delete-blocks"])
        #expect(c1 == 0, "\(o1)")
        #expect(o1.contains("source marked for deletion"))
        #expect(try Block.directories(at: dir).count == 2)
        #expect(FileManager.default.fileExists(atPath: dir + "/\(id)/deletion-mark.json"))

        let (c2, _, e2) = try run(["--rewrite.to-relabel-config=- {action: explode}"])
        #expect(c2 == 64 && e2.contains("--rewrite.to-relabel-config[0].action: unknown relabel action \"explode\""), "\(e2)")
        #expect(try run([]).0 == 64, "no config")
        #expect(try run([purge, "--delete-blocks"]).0 == 64, "--delete-blocks needs --no-dry-run")
    }
}
