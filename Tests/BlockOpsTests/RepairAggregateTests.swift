import Foundation
import Testing
import TestSupport
import TSDB
@testable import BlockOps

/// Repair of downsampled blocks (Thanos aggregate chunks, encoding 0xFF). The block is made
/// here from a real raw fixture block the way Thanos downsamples to 5m: per raw chunk one
/// aggregate chunk of 5-minute windows (count, sum, min, max, counter; the counter stream
/// starting with the first raw sample and ending with the last raw value repeated at the
/// last window's time). promtool cannot read aggregate chunks, so the oracle is blockyard's
/// own dump of the unbroken block (one line per aggregate), and verify with --deep.
@Suite("Repair: downsampled blocks, aggregate chunks included")
struct RepairAggregateTests {
    static let resolution: Int64 = 300_000

    /// One stream per aggregate (count, sum, min, max, counter).
    typealias Streams = [([Int64], [Double])]

    /// Thanos' 5m aggregation of one batch of raw samples.
    static func aggregate(_ ts: [Int64], _ vs: [Double]) -> Streams {
        var out: Streams = Array(repeating: ([], []), count: 5)
        out[4].0.append(ts[0])
        out[4].1.append(vs[0])
        var counter = 0.0, last = 0.0, seen = 0
        var i = 0
        while i < ts.count {
            let end = min(ts[i] - ts[i] % resolution + resolution - 1, ts.last!)
            var n = 0.0, sum = 0.0, lo = Double.infinity, hi = -Double.infinity
            while i < ts.count && ts[i] <= end {
                let v = vs[i]
                if seen == 0 { counter = v } else if v < last { counter += v } else { counter += v - last }
                last = v
                seen += 1
                n += 1
                sum += v
                lo = min(lo, v)
                hi = max(hi, v)
                i += 1
            }
            for (k, v) in [n, sum, lo, hi, counter].enumerated() {
                out[k].0.append(end)
                out[k].1.append(v)
            }
        }
        out[4].0.append(out[0].0.last!)
        out[4].1.append(vs.last!)
        return out
    }

    /// The aggregate chunk payload, written here independently of the code under test.
    static func payload(_ s: Streams) -> [UInt8] {
        var out: [UInt8] = []
        for (ts, vs) in s {
            if ts.isEmpty {
                out.append(0)
                continue
            }
            var e = XOREncoder()
            for (t, v) in zip(ts, vs) { e.append(t, v) }
            let data = e.bytes()
            IndexBuilder.uvarint(UInt64(data.count), &out)
            out.append(ChunkEncoding.xor.rawValue)
            out += data
        }
        return out
    }

    /// A 5m block made from a raw fixture block, in `parent`.
    static func downsampled(from src: String, into parent: String) throws -> String {
        let raw = try Block(directory: src)
        var series: [(Labels, [ChunkMeta])] = []
        for r in try raw.index.allPostings() { series.append(try raw.index.seriesLabels(r)) }
        let symbols = SymbolSet(series.flatMap { $0.0.flatMap { [$0.name, $0.value] } })
        let id = ULID(milliseconds: UInt64(Date().timeIntervalSince1970 * 1000))
        let w = try BlockWriter(parent: parent, ulid: id, symbols: symbols)
        for (labels, chunks) in series {
            var out: [OutputChunk] = []
            for c in chunks {
                var ts: [Int64] = [], vs: [Double] = []
                try raw.chunks.chunk(c.ref).withData { try XORIterator.decodeAll($0, timestamps: &ts, values: &vs) }
                let a = aggregate(ts, vs)
                out.append(OutputChunk(minTime: a[0].0.first!, maxTime: a[0].0.last!, payload: .encoded(.thanosAggregate, payload(a))))
                w.addSamples(UInt64(a[0].0.count))
            }
            try w.add(labels: symbols.refs(labels)!, chunks: out)
        }
        var m = raw.meta
        m.compaction.level = 2
        var t = m.thanos ?? ThanosMeta()
        t.resolution = resolution
        t.source = "compactor"
        m.thanos = t
        return try w.commit(m).ulid.description
    }

    static func dump(_ dir: String, maxTime: Int64 = .max) throws -> String {
        try CompactRepairTests.dump([try Block(directory: dir)], maxTime: maxTime)
    }

    struct Damage: Sendable, CustomTestStringConvertible {
        var name: String
        var kinds: Set<Finding.Kind>
        var actions: Set<RepairEvent.Action>
        var lost: Bool
        /// Breaks the copy; returns the dump the repaired block must give.
        var apply: @Sendable (BrokenBlock) throws -> String
        var testDescription: String { name }
    }

    static let damages: [Damage] = [
        Damage(name: "an aggregate chunk whose CRC fails is dropped", kinds: [.chunkChecksum], actions: [.droppedChunk], lost: true) { b in
            let s = try b.series()[2]
            try b.flip(s.1[0], at: 4)
            // Without that chunk: the original with the series' first chunk taken out.
            let copy = try BrokenBlock(copying: b.original)
            defer { Fixtures.cleanup(copy.work) }
            var all = try copy.series()
            all[2].1.removeFirst()
            try copy.rewriteIndex(all)
            return try dump(copy.dir)
        },
        Damage(name: "an exact duplicate aggregate chunk is dropped", kinds: [.duplicateChunk], actions: [.droppedDuplicates], lost: false) { b in
            var all = try b.series()
            all[4].1.insert(all[4].1[0], at: 0)
            try b.rewriteIndex(all)
            return try dump(b.original)
        },
        Damage(name: "overlapping aggregate chunks merge per aggregate into the original data", kinds: [.chunkOrder], actions: [.mergedOverlaps], lost: false) { b in
            var all = try b.series()
            let c = all[6].1[0]
            // A second chunk holding windows 3..<9 of the first, as a downsampling of
            // overlapping raw blocks would: the same windows, the same values.
            let raw = try b.block().chunks.chunk(c.ref)
            var streams: Streams = []
            try raw.withData { d in
                let a = try AggregateChunk(d)
                for k in AggregateChunk.Kind.allCases {
                    var ts: [Int64] = [], vs: [Double] = []
                    if let e = a[k] { try XORIterator.decodeAll(UnsafeRawBufferPointer(rebasing: d[e.range]), timestamps: &ts, values: &vs) }
                    // The counter stream starts with the first raw sample: skip it.
                    let off = k == .counter ? 1 : 0
                    streams.append((Array(ts[(3 + off)..<(9 + off)]), Array(vs[(3 + off)..<(9 + off)])))
                }
            }
            let ref = try b.appendChunk(.thanosAggregate, payload(streams))
            all[6].1.insert(ChunkMeta(minTime: streams[0].0.first!, maxTime: streams[0].0.last!, ref: ref), at: 1)
            try b.rewriteIndex(all)
            return try dump(b.original)
        },
        Damage(name: "aggregate chunks out of order are put in order", kinds: [.chunkOrder], actions: [.reorderedChunks], lost: false) { b in
            var all = try b.series()
            all[8].1.reverse()
            try b.rewriteIndex(all)
            return try dump(b.original)
        },
        Damage(name: "aggregate samples outside the block are trimmed", kinds: [.chunkOutsideBlock], actions: [.trimmedChunk], lost: true) { b in
            var cut: Int64 = 0
            try b.editMeta { m in
                cut = m.minTime + 40 * 60_000
                m.maxTime = cut
            }
            return try dump(b.original, maxTime: cut - 1)
        },
    ]

    @Test("repair", arguments: damages)
    func repair(_ d: Damage) async throws {
        let raw = try #require(try Block.directories(at: Fixtures.fixtures + "/demo-bucket").first)
        let made = try Fixtures.tempDir("ds")
        defer { Fixtures.cleanup(made) }
        let id = try Self.downsampled(from: raw, into: made)
        let source = made + "/" + id
        #expect(await RepairChecks.findings(directory: source, deep: true).isEmpty, "the downsampled block itself is clean")
        let b = try BrokenBlock(copying: source)
        defer { Fixtures.cleanup(b.work) }
        let want = try d.apply(b)
        let findings = await RepairChecks.findings(directory: b.dir, deep: true)
        #expect(Set(findings.map(\.kind)) == d.kinds, "\(findings)")

        let out = try Fixtures.tempDir("ds-repaired")
        defer { Fixtures.cleanup(out) }
        let o = await BlockRepair.repair(try b.block(), name: id, findings: findings, into: out, options: RepairOptions())
        guard case .repaired(let newID) = o.status else {
            Issue.record("not repaired: \(o.status)")
            return
        }
        let dir = out + "/\(newID)"
        #expect(await RepairChecks.findings(directory: dir, deep: true).isEmpty)
        #expect(try Self.dump(dir) == want)
        #expect(Set(o.events.map(\.action)).isSuperset(of: d.actions), "\(o.events)")
        #expect(o.dataLost == d.lost)
        let m = try Block(directory: dir).meta
        #expect(m.resolution == Self.resolution && m.thanos?.source == "bucket.repair")
        // Thanos counts a downsampled block's samples as those of its count aggregates.
        var counted: UInt64 = 0
        let rb = try Block(directory: dir)
        var l: [LabelRef] = [], c: [ChunkMeta] = []
        for r in try rb.index.allPostings() {
            try rb.index.series(r, labels: &l, chunks: &c)
            for cm in c { counted += UInt64(ChunkPayload.record(try rb.chunks.chunk(cm.ref)).aggregateSampleCount) }
        }
        #expect(m.stats.numSamples == counted && counted > 0)
    }

    @Test("the merge of overlapping aggregates keeps the counter's first and last raw values")
    func counterMerge() {
        typealias S = AggregateSamples.Stream
        let a = AggregateSamples(streams: [S(t: [10, 20, 30], v: [1, 1, 1]), nil, nil, nil, S(t: [5, 10, 20, 30, 30], v: [0, 1, 2, 3, 2.5])])
        let b = AggregateSamples(streams: [S(t: [20, 40], v: [9, 1]), nil, nil, nil, S(t: [20, 40, 40], v: [9, 4, 4.5])])
        let m = AggregateSamples.merge([b, a])
        #expect(m.streams[0] == S(t: [10, 20, 30, 40], v: [1, 9, 1, 1]))
        #expect(m.streams[4] == S(t: [5, 10, 20, 30, 30, 40, 40], v: [0, 1, 9, 3, 2.5, 4, 4.5]))
        #expect(m.isOrdered)
        #expect(m.streams[1] == nil)
    }
}
