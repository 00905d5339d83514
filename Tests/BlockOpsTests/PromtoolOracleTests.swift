import Foundation
import Testing
import TestSupport
import TSDB
@testable import BlockOps

/// blockyard's dump and analyze against Prometheus 2.42's promtool on the real fixtures.
@Suite("promtool is the oracle", .enabled(if: Promtool.available, "promtool (Debian package prometheus) is not installed"))
struct PromtoolOracleTests {
    static var sets: [String] {
        Fixtures.blockSets + [Fixtures.fixtures + "/demo-bucket"]
    }

    func ourDump(_ dirs: [String], _ configure: (inout DumpOptions) -> Void = { _ in }, selectors: [String] = []) throws -> String {
        let blocks = try dirs.map { try Block(directory: $0) }
        var o = DumpOptions()
        o.matchers = try parseSelector("{__name__=~\"(?s:.*)\"}")
        configure(&o)
        let out = OutputSink(collecting: ())
        let sel = try selectors.map { try parseSelector($0) }
        try Dumper(blocks: blocks, options: o, out: out, selectors: sel.isEmpty ? nil : sel).run()
        return out.text
    }

    static func sortedLines(_ s: String) -> [Substring] { s.split(separator: "\n").sorted() }

    @Test("dump of every fixture set equals promtool's, line for line after sort", arguments: sets)
    func dumpMatches(set: String) throws {
        let blocks = try Block.directories(at: set)
        try #require(!blocks.isEmpty, "no blocks in \(set): run scripts/make-fixtures.sh")
        let theirs = try Promtool.dump(blocks)
        let ours = try ourDump(blocks)
        #expect(!theirs.isEmpty)
        let (a, b) = (Self.sortedLines(theirs), Self.sortedLines(ours))
        #expect(a.count == b.count, "\(set): promtool \(a.count) lines, blockyard \(b.count)")
        if let i = a.indices.first(where: { $0 < b.count && a[$0] != b[$0] }) {
            Issue.record("\(set): first difference at sorted line \(i):\n promtool: \(a[i])\nblockyard: \(b[i])")
        }
    }

    @Test("dump order is promtool's order, not just the same lines")
    func dumpOrder() throws {
        let set = try #require(Self.sets.first { $0.hasSuffix("/labels") } ?? Self.sets.first)
        let blocks = try Block.directories(at: set)
        #expect(try ourDump(blocks) == Promtool.dump(blocks))
    }

    @Test("--match, --min-time and --max-time select what promtool selects")
    func dumpFilters() throws {
        let set = Fixtures.fixtures + "/demo-bucket"
        let blocks = try Block.directories(at: set)
        let metas = try blocks.map { try Block(directory: $0).meta }
        let mid = (metas.map(\.minTime).min()! + metas.map(\.maxTime).max()!) / 2
        let lo = mid - 3_600_000
        let hi = mid + 1_800_000
        let theirs = try Promtool.dump(blocks, extra: ["--min-time=\(lo)", "--max-time=\(hi)"])
        let ours = try ourDump(blocks) { $0.minTime = lo; $0.maxTime = hi }
        #expect(Self.sortedLines(theirs) == Self.sortedLines(ours))
        #expect(!theirs.isEmpty)

        // Pick a real metric name and one of its label values from the data.
        let b = try Block(directory: blocks[0])
        let name = try #require(try b.index.labelValues("__name__").first)
        for sel in ["\(name)", "{__name__=~\"\(name)|nope\"}", "{__name__!=\"\(name)\"}", "{__name__=~\".+_total\"}"] {
            let t = try Promtool.dump(blocks, extra: ["--match=\(sel)"])
            let o = try ourDump(blocks, selectors: [sel])
            #expect(Self.sortedLines(t) == Self.sortedLines(o), "selector \(sel)")
        }
    }

    /// Sections as multisets of lines: promtool orders equal counts randomly.
    static func sections(_ text: String) -> [String: [Substring]] {
        var out: [String: [Substring]] = [:]
        var current = "header"
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            if line.hasSuffix(":") && !(line.first?.isNumber ?? false) { current = String(line); continue }
            out[current, default: []].append(line)
        }
        return out.mapValues { $0.sorted() }
    }

    @Test("analyze equals promtool's with every entry listed", arguments: sets)
    func analyzeMatches(set: String) async throws {
        for dir in try Block.directories(at: set).prefix(2) {
            let theirs = try Promtool.analyze(dir, limit: 100_000)
            let ours = try await Analyzer.analyze(try Block(directory: dir), limit: 100_000).text
            #expect(Self.sections(theirs) == Self.sections(ours), "\(dir)")
        }
    }

    @Test("analyze --limit cuts each section like promtool (counts agree; ties may differ)")
    func analyzeLimit() async throws {
        let dir = try #require(try Block.directories(at: Self.sets[0]).first)
        let theirs = Self.sections(try Promtool.analyze(dir, limit: 3))
        let ours = Self.sections(try await Analyzer.analyze(try Block(directory: dir), limit: 3).text)
        #expect(theirs.keys.sorted() == ours.keys.sorted())
        for (k, v) in theirs {
            let counts = { (l: [Substring]) in l.map { $0.split(separator: " ").first ?? "" }.sorted() }
            #expect(counts(v) == counts(ours[k] ?? []), "\(k)")
        }
    }
}

@Suite("Tombstones: dump hides deleted samples as promtool does",
       .enabled(if: Promtool.available, "promtool (Debian package prometheus) is not installed"))
struct TombstoneOracleTests {
    @Test func deletedRangesMatchPromtool() throws {
        let src = try #require(try Block.directories(at: Fixtures.fixtures + "/demo-bucket").first)
        let tmp = try Fixtures.tempDir("tomb")
        defer { Fixtures.cleanup(tmp) }
        let dir = tmp + "/" + (src as NSString).lastPathComponent
        try FileManager.default.copyItem(atPath: src, toPath: dir)
        let block = try Block(directory: dir)
        let refs = try block.index.allPostings()
        let mid = (block.meta.minTime + block.meta.maxTime) / 2
        // Three deletions: part of one series, all of another, two intervals of a third.
        var entries: [(UInt64, Int64, Int64)] = [
            (refs[1], block.meta.minTime, mid),
            (refs[2], .min, .max),
            (refs[3], mid - 600_000, mid), (refs[3], mid + 600_000, mid + 1_200_000),
        ]
        entries.sort { $0.0 < $1.0 }
        var body: [UInt8] = []
        func uv(_ v: UInt64) { var v = v; while v >= 0x80 { body.append(UInt8(v & 0x7F) | 0x80); v >>= 7 }; body.append(UInt8(v)) }
        for (r, a, b) in entries {
            uv(r)
            uv(UInt64(bitPattern: (a << 1) ^ (a >> 63)))
            uv(UInt64(bitPattern: (b << 1) ^ (b >> 63)))
        }
        let crc = CRC32C.checksum(body)
        let file = [0x01, 0x30, 0xba, 0x30, 0x01] + body + withUnsafeBytes(of: crc.bigEndian) { Array($0) }
        try Data(file).write(to: URL(fileURLWithPath: dir + "/tombstones"))

        let theirs = try Promtool.dump([dir])
        let blockAgain = try Block(directory: dir)
        #expect(blockAgain.tombstones.count == 4)
        var o = DumpOptions()
        o.matchers = try parseSelector("{__name__=~\"(?s:.*)\"}")
        let out = OutputSink(collecting: ())
        try Dumper(blocks: [blockAgain], options: o, out: out).run()
        let ours = out.text
        #expect(ours.split(separator: "\n").count < (try Promtool.dump([src])).split(separator: "\n").count)
        #expect(theirs.split(separator: "\n").sorted() == ours.split(separator: "\n").sorted())
    }
}

@Suite("Dump of native histograms (beyond promtool 2.42)")
struct HistogramDumpTests {
    @Test("one line per histogram sample, in the documented {count:..., sum:..., buckets} form")
    func lines() throws {
        let dirs = try Block.directories(at: Fixtures.fixtures + "/native-histograms")
        let block = try Block(directory: try #require(dirs.first))
        var o = DumpOptions()
        o.matchers = try parseSelector("{__name__=~\"nh_.*\"}")
        let out = OutputSink(collecting: ())
        try Dumper(blocks: [block], options: o, out: out).run()
        let lines = out.text.split(separator: "\n")
        #expect(UInt64(lines.count) == block.meta.stats.numSamples)
        for l in lines {
            // {labels} {count:N, sum:S[, buckets]} timestamp
            #expect(l.hasPrefix("{__name__=\"nh_"), "\(l)")
            #expect(l.contains("} {count:"), "\(l)")
            #expect(Int64(l.split(separator: " ").last ?? "") != nil, "\(l)")
        }
        // Stale markers print as histograms with a NaN sum.
        #expect(lines.contains { $0.contains("sum:NaN") })
    }
}
