import Foundation
import Testing
import TestSupport
import TSDB
@testable import BlockOps

/// Repairing broken copies of a real block (the first demo-bucket block: 60 series of two
/// chunks, with a Thanos section), one kind of damage at a time. Each repaired block must
/// verify clean (with --deep), dump under promtool 2.42 exactly as the unbroken original
/// should (the original's promtool dump, minus what had to be dropped, plus what the
/// damage added), be readable by `promtool tsdb analyze`, and have a repair.log naming
/// every change.
@Suite("Repair: one kind of damage at a time, promtool as the oracle")
struct RepairTests {
    static let source: String = (try? Block.directories(at: Fixtures.fixtures + "/demo-bucket"))?.first ?? ""

    struct Expect {
        /// What verify (with --deep) must find in the broken copy.
        var kinds: Set<Finding.Kind>
        /// What repair.log must record.
        var actions: Set<RepairEvent.Action>
        var lost: Bool
        /// The promtool dump the repaired block must give.
        var dump: String
        /// Text the log must hold (the series and time range of what was dropped).
        var mentions: [String] = []
    }

    struct Damage: Sendable, CustomTestStringConvertible {
        var name: String
        var apply: @Sendable (BrokenBlock, DumpText) throws -> Expect
        var testDescription: String { name }
    }

    static func text(_ l: [(String, String)]) -> String { Labels(l.map { Label(name: $0.0, value: $0.1) }).description }

    static let damages: [Damage] = [
        Damage(name: "a chunk whose CRC fails is dropped, naming the series and time range lost") { b, dump in
            let s = try b.series()[3]
            try b.flip(s.1[0], at: 5)
            let name = text(s.0)
            return Expect(kinds: [.chunkChecksum], actions: [.droppedChunk], lost: true,
                          dump: dump.removing(name, s.1[0].minTime...s.1[0].maxTime).text,
                          mentions: [name, "[\(s.1[0].minTime), \(s.1[0].maxTime)]"])
        },
        Damage(name: "a chunk that passes its CRC but does not decode is dropped") { b, dump in
            let s = try b.series()[8]
            // A sample count far beyond what the bytes hold: the decoder runs out of input.
            var grew: UInt64 = 0
            try b.rewritePayload(s.1[1]) { p in
                grew = UInt64(0x7F - p[0]) << 8
                p[0] = 0x7F
            }
            // meta.json counts samples from chunk headers: keep it in step, so only
            // decoding tells.
            try b.editMeta { $0.stats.numSamples += grew }
            let name = text(s.0)
            return Expect(kinds: [.chunkSamples], actions: [.droppedChunk], lost: true,
                          dump: dump.removing(name, s.1[1].minTime...s.1[1].maxTime).text,
                          mentions: [name, "does not decode"])
        },
        Damage(name: "an exact duplicate chunk is dropped") { b, dump in
            var all = try b.series()
            all[2].1.insert(all[2].1[0], at: 1)
            try b.rewriteIndex(all)
            return Expect(kinds: [.duplicateChunk], actions: [.droppedDuplicates], lost: false, dump: dump.text, mentions: [text(all[2].0)])
        },
        Damage(name: "overlapping chunks are merged sample by sample, one sample per timestamp") { b, dump in
            var all = try b.series()
            let c0 = all[5].1[0]
            // A second chunk over the same time, every sample 1 ms later than the first's.
            let (ts, vs) = try b.samples(c0)
            var e = XOREncoder()
            for (t, v) in zip(ts, vs) { e.append(t + 1, v) }
            let ref = try b.appendChunk(.xor, e.bytes())
            all[5].1.insert(ChunkMeta(minTime: ts.first! + 1, maxTime: ts.last! + 1, ref: ref), at: 1)
            try b.rewriteIndex(all)
            let name = text(all[5].0)
            let shifted = dump.values(name).filter { c0.minTime...c0.maxTime ~= $0.t }.map { (value: $0.value, t: $0.t + 1) }
            return Expect(kinds: [.chunkOrder], actions: [.mergedOverlaps], lost: false, dump: dump.adding(name, shifted).text, mentions: [name])
        },
        Damage(name: "chunks out of time order are put in order") { b, dump in
            var all = try b.series()
            all[7].1.reverse()
            try b.rewriteIndex(all)
            return Expect(kinds: [.chunkOrder], actions: [.reorderedChunks], lost: false, dump: dump.text, mentions: [text(all[7].0)])
        },
        Damage(name: "samples out of time order inside a chunk are re-sorted") { b, dump in
            var all = try b.series()
            let (ts, vs) = try b.samples(all[4].1[0])
            var e = XOREncoder()
            var order = Array(ts.indices)
            order.swapAt(3, 4)
            order.swapAt(10, 20)
            for i in order { e.append(ts[i], vs[i]) }
            all[4].1[0].ref = try b.appendChunk(.xor, e.bytes())
            try b.rewriteIndex(all)
            return Expect(kinds: [.chunkSamples], actions: [.fixedChunk], lost: false, dump: dump.text, mentions: ["re-sorted"])
        },
        Damage(name: "a chunk time range in the index that the samples do not match is corrected") { b, dump in
            var all = try b.series()
            all[1].1[0].minTime += 1
            try b.rewriteIndex(all)
            return Expect(kinds: [.chunkSamples], actions: [.fixedChunk], lost: false, dump: dump.text, mentions: [text(all[1].0)])
        },
        Damage(name: "series out of order are re-sorted") { b, dump in
            var all = try b.series()
            all.swapAt(3, 4)
            all.swapAt(30, 50)
            try b.rewriteIndex(all)
            return Expect(kinds: [.seriesOrder], actions: [.reorderedSeries], lost: false, dump: dump.text)
        },
        Damage(name: "a series given twice is merged into one") { b, dump in
            let all = try b.series().splitting(6)
            try b.rewriteIndex(all)
            return Expect(kinds: [.duplicateSeries], actions: [.mergedSeries], lost: false, dump: dump.text, mentions: [text(all[6].0)])
        },
        Damage(name: "label names out of order inside a series are sorted") { b, dump in
            var all = try b.series()
            all[9].0.reverse()
            try b.rewriteIndex(all)
            return Expect(kinds: [.labelOrder, .seriesOrder], actions: [.sortedLabels], lost: false, dump: dump.text, mentions: [text(all[9].0.reversed())])
        },
        Damage(name: "chunks outside [minTime, maxTime) are trimmed to the block") { b, _ in
            var cut: Int64 = 0
            try b.editMeta { m in
                cut = m.minTime + 45 * 60_000
                m.maxTime = cut
            }
            let expected = try Promtool.dump([b.original], extra: ["--max-time=\(cut - 1)"])
            return Expect(kinds: [.chunkOutsideBlock], actions: [.trimmedChunk, .droppedChunk], lost: true, dump: expected, mentions: ["outside the block"])
        },
        Damage(name: "Prometheus issue 347: a chunk starting at the block's maxTime is dropped") { b, dump in
            var all = try b.series()
            let maxt = try b.block().meta.maxTime
            var e = XOREncoder()
            for k in 0..<4 { e.append(maxt + Int64(k) * 30_000, Double(k)) }
            all[0].1.append(ChunkMeta(minTime: maxt, maxTime: maxt + 90_000, ref: try b.appendChunk(.xor, e.bytes())))
            try b.rewriteIndex(all)
            return Expect(kinds: [.chunkAtMaxTime], actions: [.droppedChunk], lost: true, dump: dump.text, mentions: ["issue 347", text(all[0].0)])
        },
        Damage(name: "a series entry that does not decode is dropped with its chunks") { b, dump in
            let s = try b.series()[2]
            let blk = try b.block()
            let ref = try blk.index.allPostings()[2]
            let off = blk.index.seriesOffset(ref)
            var d = try Data(contentsOf: URL(fileURLWithPath: b.dir + "/index"))
            d[off + 3] ^= 0x20
            try d.write(to: URL(fileURLWithPath: b.dir + "/index"))
            return Expect(kinds: [.seriesEntry], actions: [.unreadableSeries], lost: true,
                          dump: dump.removing(text(s.0), Int64.min...Int64.max).text, mentions: ["unreadable-series series \(ref): "])
        },
        Damage(name: "meta.json stats that disagree with the data are recomputed") { b, dump in
            try b.editMeta { $0.stats.numSamples += 7 }
            return Expect(kinds: [.statsMismatch], actions: [.recomputedStats], lost: false, dump: dump.text, mentions: ["14407 -> 14400"])
        },
        Damage(name: "a Thanos files list that disagrees with the files is recomputed") { b, dump in
            try b.editMeta { m in
                let files = (m.thanos?.files ?? []).map { f in
                    var f = f
                    if f.relPath == "index" { f.sizeBytes = (f.sizeBytes ?? 0) + 1 }
                    return f
                }
                m.thanos?.files = files
            }
            return Expect(kinds: [.filesMismatch], actions: [.recomputedFiles], lost: false, dump: dump.text)
        },
    ]

    @Test("repair", arguments: damages)
    func repair(_ d: Damage) async throws {
        let b = try BrokenBlock(copying: Self.source)
        defer { Fixtures.cleanup(b.work) }
        let original = DumpText(try Promtool.dump([Self.source]))
        let want = try d.apply(b, original)
        let findings = await RepairChecks.findings(directory: b.dir, deep: true)
        #expect(Set(findings.map(\.kind)) == want.kinds, "the damage must be exactly what the case says: \(findings)")

        let out = try Fixtures.tempDir("repaired")
        defer { Fixtures.cleanup(out) }
        let o = await BlockRepair.repair(try b.block(), name: (b.dir as NSString).lastPathComponent, findings: findings, into: out, options: RepairOptions())
        guard case .repaired(let id) = o.status else {
            Issue.record("not repaired: \(o.status)")
            return
        }
        let dir = out + "/\(id)"
        #expect(await RepairChecks.findings(directory: dir, deep: true).isEmpty)
        let got = try Promtool.dump([dir])
        #expect(got == want.dump, "promtool dump of the repaired block differs from what the original data should be")
        _ = try Promtool.analyze(dir, limit: 5)

        // The repair.log names every change.
        let log = try String(contentsOfFile: dir + "/repair.log", encoding: .utf8)
        #expect(log == o.log)
        #expect(Set(o.events.map(\.action)).isSuperset(of: want.actions), "\(o.events)")
        for e in o.events { #expect(log.contains(e.description)) }
        for m in want.mentions { #expect(log.contains(m), "repair.log should mention \(m):\n\(log)") }
        #expect(o.dataLost == want.lost)
        #expect(log.contains("data dropped: \(want.lost ? "yes" : "no")"))
        #expect(BlockRepair.repairedBlock(fromLog: log) == (try b.block().meta.ulid))

        // The meta.json of a repaired block: as Thanos' repair writes it.
        let before = try b.block().meta, after = try Block(directory: dir).meta
        #expect(after.ulid == id && id != before.ulid)
        #expect(after.compaction == before.compaction)
        #expect(after.thanos?.source == "bucket.repair")
        #expect(after.thanos?.labels == before.thanos?.labels)
        #expect(after.resolution == before.resolution)
        #expect(after.minTime == before.minTime && after.maxTime == before.maxTime)
        #expect(after.document["thanos"]?["upload_time"] == nil)
    }

    @Test("a clean block has nothing to repair; a dry run writes nothing")
    func cleanAndDryRun() async throws {
        let clean = await BlockRepair.repair(try Block(directory: Self.source), name: "x", findings: [], into: "/nonexistent", options: RepairOptions())
        #expect(clean.status == .clean && !clean.repaired)

        let b = try BrokenBlock(copying: Self.source)
        defer { Fixtures.cleanup(b.work) }
        try b.flip(try b.series()[3].1[0], at: 5)
        let out = try Fixtures.tempDir("dry")
        defer { Fixtures.cleanup(out) }
        var o = RepairOptions()
        o.dryRun = true
        let r = await BlockRepair.repair(try b.block(), name: "x", findings: await RepairChecks.findings(directory: b.dir, deep: false), into: out, options: o)
        guard case .repaired = r.status else {
            Issue.record("\(r.status)")
            return
        }
        #expect(r.events.contains { $0.action == .droppedChunk })
        #expect(try FileManager.default.contentsOfDirectory(atPath: out).isEmpty, "a dry run leaves nothing behind")
    }

    @Test("every kind of damage at once")
    func everything() async throws {
        let b = try BrokenBlock(copying: Self.source)
        defer { Fixtures.cleanup(b.work) }
        let original = DumpText(try Promtool.dump([Self.source]))
        var all = try b.series()
        let flipped = all[3]
        all[2].1.insert(all[2].1[0], at: 1)
        all[7].1.reverse()
        all[9].0.reverse()
        all.swapAt(30, 50)
        all.insert(all[40], at: 41)
        try b.rewriteIndex(all)
        try b.flip(flipped.1[0], at: 5)
        let out = try Fixtures.tempDir("all")
        defer { Fixtures.cleanup(out) }
        let o = await BlockRepair.repair(try b.block(), name: "x", findings: await RepairChecks.findings(directory: b.dir, deep: true), into: out, options: RepairOptions())
        guard case .repaired(let id) = o.status else {
            Issue.record("\(o.status)")
            return
        }
        #expect(await RepairChecks.findings(directory: out + "/\(id)", deep: true).isEmpty)
        let want = original.removing(Self.text(flipped.0), flipped.1[0].minTime...flipped.1[0].maxTime)
        #expect(try Promtool.dump([out + "/\(id)"]) == want.text)
        #expect(Set(o.events.map(\.action)).isSuperset(of: [.droppedChunk, .droppedDuplicates, .reorderedChunks, .sortedLabels, .reorderedSeries, .mergedSeries]))
    }

    @Test("a block whose index does not open cannot be repaired, and nothing is written")
    func unreadable() async throws {
        let b = try BrokenBlock(copying: Self.source)
        defer { Fixtures.cleanup(b.work) }
        var d = try Data(contentsOf: URL(fileURLWithPath: b.dir + "/index"))
        d[d.count - 20] ^= 0x01
        try d.write(to: URL(fileURLWithPath: b.dir + "/index"))
        let f = await RepairChecks.findings(directory: b.dir, deep: false)
        #expect(f.map(\.kind) == [.indexTOC])
        #expect(throws: TSDBError.self) { _ = try b.block() }
    }
}
