import Foundation
import Testing
import TestSupport
import TSDB
@testable import BlockOps

/// Damage helpers shared by the verify suites: copies of the first demo block, changed
/// one way at a time.
enum Damage {
    static var source: String { (try? Block.directories(at: Fixtures.fixtures + "/demo-bucket"))?.first ?? "" }

    /// A copy of the first demo block with `change` applied; returns (temp dir, block dir).
    static func copy(_ change: (String) throws -> Void) throws -> (String, String) {
        let tmp = try Fixtures.tempDir("verify")
        let dir = tmp + "/" + (source as NSString).lastPathComponent
        try FileManager.default.copyItem(atPath: source, toPath: dir)
        try change(dir)
        return (tmp, dir)
    }

    static func edit(_ path: String, _ body: (inout [UInt8]) throws -> Void) throws {
        var d = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        try body(&d)
        try Data(d).write(to: URL(fileURLWithPath: path))
    }

    static func writeMeta(_ dir: String, _ change: (inout BlockMeta) -> Void) throws {
        var m = try Block(directory: dir).meta
        change(&m)
        try m.serialized().write(toFile: dir + "/meta.json", atomically: true, encoding: .utf8)
    }

    /// Rewrites the CRC32C that follows `range` (a chunk's encoding byte and payload).
    static func fixCRC(_ d: inout [UInt8], _ range: Range<Int>) {
        let c = d[range].withUnsafeBytes { CRC32C.checksum($0) }
        withUnsafeBytes(of: c.bigEndian) { for (i, b) in $0.enumerated() { d[range.upperBound + i] = b } }
    }
}

@Suite("Verify: clean blocks are clean, each damage is named")
struct VerifyTests {
    @Test("every fixture block verifies clean, also with --deep")
    func clean() async throws {
        let blocks = Fixtures.allBlocks
        try #require(!blocks.isEmpty)
        for b in blocks {
            let f = await BlockVerifier().verify(directory: b)
            #expect(f.isEmpty, "\(b): \(f)")
            let d = await BlockVerifier(deep: true).verify(directory: b)
            #expect(d.isEmpty, "\(b) --deep: \(d)")
        }
    }

    func damaged(deep: Bool = false, _ change: (String) throws -> Void) async throws -> [Finding] {
        let (tmp, dir) = try Damage.copy(change)
        defer { Fixtures.cleanup(tmp) }
        return await BlockVerifier(deep: deep).verify(directory: dir)
    }

    @Test("the postings pass's slices cover the table once, in order, for any number of slices")
    func postingsSlices() async throws {
        for dir in Fixtures.allBlocks {
            let ix = try Block(directory: dir).index
            let n = ix.postingsTableCount
            for slices in [1, 2, 3, 7, 64, n + 5] {
                let b = PostingsPass.sliceBounds(ix, slices: slices)
                #expect(b.first == 0 && b.last == n, "\(dir): \(slices) slices: \(b)")
                #expect(zip(b, b.dropFirst()).allSatisfy { $0 <= $1 }, "\(dir): \(slices) slices: \(b)")
                #expect(b.count == (slices > 1 && n > 0 ? slices + 1 : 2))
            }
        }
    }

    @Test("a flipped byte inside a chunk is a chunk-checksum finding naming the segment and series")
    func chunkFlip() async throws {
        let f = try await damaged { dir in
            let b = try Block(directory: dir)
            let (_, c) = try b.index.seriesLabels(try b.index.allPostings()[3])
            let raw = try b.chunks.chunk(c[0].ref)
            try Damage.edit(dir + "/chunks/000001") { $0[raw.dataRange.lowerBound + 3] ^= 0x40 }
        }
        #expect(f.map(\.kind) == [.chunkChecksum], "\(f)")
        #expect(f.first?.file == "chunks/000001")
        #expect(f.first?.series?.hasPrefix("{") == true)
    }

    @Test("a flipped byte in the TOC is an index-toc finding")
    func tocFlip() async throws {
        let f = try await damaged { try Damage.edit($0 + "/index") { $0[$0.count - 20] ^= 0x01 } }
        #expect(f.map(\.kind) == [.indexTOC], "\(f)")
        #expect(f.first?.file == "index")
    }

    @Test("a flipped byte in the symbol table is an index-checksum finding")
    func symbolsFlip() async throws {
        let f = try await damaged { try Damage.edit($0 + "/index") { $0[12] ^= 0x04 } }
        #expect(f.map(\.kind) == [.indexChecksum], "\(f)")
    }

    @Test("a flipped byte in a postings list is an index-checksum finding, and nothing else")
    func postingsFlip() async throws {
        let f = try await damaged { dir in
            let ix = try IndexReader(path: dir + "/index")
            let at = ix.postingsListOffset(at: ix.postingsTableCount / 2)
            try Damage.edit(dir + "/index") { $0[at + 9] ^= 0x01 }
        }
        #expect(f.map(\.kind) == [.indexChecksum], "\(f)")
    }

    @Test("a flipped byte inside a series entry is exactly one series-entry finding at that entry")
    func seriesFlip() async throws {
        var off = 0
        let f = try await damaged { dir in
            let b = try Block(directory: dir)
            off = b.index.seriesOffset(try b.index.allPostings()[2])
            try Damage.edit(dir + "/index") { $0[off + 3] ^= 0x20 }
        }
        #expect(f.map(\.kind) == [.seriesEntry], "\(f)")
        #expect(f.first?.offset == off + 1)
    }

    @Test("a non-zero byte in the padding between series entries is a series-entry finding")
    func paddingFlip() async throws {
        var gap: Int? = nil
        let f = try await damaged { dir in
            let ix = try IndexReader(path: dir + "/index")
            let refs = try ix.allPostings()
            var l: [LabelRef] = [], c: [ChunkMeta] = []
            for i in 0..<(refs.count - 1) {
                let end = try ix.appendSeries(refs[i], labels: &l, chunks: &c)
                if ix.seriesOffset(refs[i + 1]) > end { gap = end; break }
            }
            let at = try #require(gap)
            try Damage.edit(dir + "/index") { $0[at] = 0x07 }
        }
        #expect(f.map(\.kind) == [.seriesEntry], "\(f)")
        #expect(f.first?.offset == gap)
    }

    @Test("stats that disagree with the data are reported")
    func stats() async throws {
        let f = try await damaged { try Damage.writeMeta($0) { $0.stats.numSamples += 1 } }
        #expect(f.map(\.kind) == [.statsMismatch], "\(f)")
    }

    @Test("a block range that excludes its chunks is reported as chunks outside the block")
    func outside() async throws {
        let f = try await damaged { try Damage.writeMeta($0) { $0.maxTime = $0.minTime + 60_000 } }
        #expect(!f.isEmpty)
        #expect(f.allSatisfy { $0.kind == .chunkOutsideBlock || $0.kind == .chunkAtMaxTime }, "\(f)")
    }

    @Test("tombstones that do not parse")
    func tombstones() async throws {
        let f = try await damaged { try Damage.edit($0 + "/tombstones") { $0[2] ^= 0xFF } }
        #expect(f.map(\.kind) == [.tombstones], "\(f)")
        #expect(f.first?.file == "tombstones")
    }

    @Test("meta.json that is not JSON")
    func badMeta() async throws {
        let f = try await damaged { try Data("{\"ulid\": ".utf8).write(to: URL(fileURLWithPath: $0 + "/meta.json")) }
        #expect(f.map(\.kind) == [.unreadable], "\(f)")
        #expect(f.first?.file == "meta.json")
    }

    @Test("meta.json version and ULID")
    func metaFields() async throws {
        let f = try await damaged { dir in
            try Damage.writeMeta(dir) { m in
                m.version = 2
                m.ulid = ULID(high: 1, low: 2)
            }
        }
        #expect(f.map(\.kind) == [.metaMismatch, .metaMismatch], "\(f)")
    }

    @Test("a segment with a bad magic number is reported once, for the file")
    func segmentMagic() async throws {
        let f = try await damaged { try Damage.edit($0 + "/chunks/000001") { $0[0] ^= 0x01 } }
        #expect(f.map(\.kind) == [.unreadable], "\(f)")
        #expect(f.first?.file == "chunks/000001")
    }

    @Test("a truncated segment: chunks past its end are chunk-ref findings (and the files list says so)")
    func segmentTruncated() async throws {
        let f = try await damaged { try Damage.edit($0 + "/chunks/000001") { $0.removeLast(300) } }
        #expect(f.contains { $0.kind == .chunkRef }, "\(f)")
        #expect(Set(f.map(\.kind)).isSubset(of: [.chunkRef, .filesMismatch]), "\(f)")
    }

    @Test("an unknown chunk encoding (CRC fixed up) is a chunk-encoding finding only")
    func unknownEncoding() async throws {
        let f = try await damaged { dir in
            let b = try Block(directory: dir)
            let (_, c) = try b.index.seriesLabels(try b.index.allPostings()[5])
            let raw = try b.chunks.chunk(c[0].ref)
            try Damage.edit(dir + "/chunks/000001") { d in
                d[raw.dataRange.lowerBound - 1] = 0x07
                Damage.fixCRC(&d, (raw.dataRange.lowerBound - 1)..<raw.dataRange.upperBound)
            }
        }
        #expect(f.map(\.kind) == [.chunkEncoding], "\(f)")
    }

    @Test("a chunk whose header claims fewer samples (CRC and meta.json fixed up): only --deep sees it")
    func sampleCount() async throws {
        let change: (String) throws -> Void = { dir in
            let b = try Block(directory: dir)
            let (_, c) = try b.index.seriesLabels(try b.index.allPostings()[4])
            let raw = try b.chunks.chunk(c[0].ref)
            try Damage.edit(dir + "/chunks/000001") { d in
                d[raw.dataRange.lowerBound + 1] -= 1  // the low byte of the sample count
                Damage.fixCRC(&d, (raw.dataRange.lowerBound - 1)..<raw.dataRange.upperBound)
            }
            try Damage.writeMeta(dir) { $0.stats.numSamples -= 1 }
        }
        let plain = try await damaged(change)
        #expect(plain.isEmpty, "\(plain)")
        let deep = try await damaged(deep: true, change)
        #expect(deep.map(\.kind) == [.chunkSamples], "\(deep)")
    }

    @Test("a Thanos files list that disagrees with the files")
    func files() async throws {
        let f = try await damaged { dir in
            try Damage.writeMeta(dir) { m in
                let files = m.thanos?.files ?? []
                m.thanos?.files = files.map { f in
                    var f = f
                    if f.relPath == "index" { f.sizeBytes = (f.sizeBytes ?? 0) + 1 }
                    return f
                }
            }
        }
        #expect(f.map(\.kind) == [.filesMismatch], "\(f)")
        #expect(f.first?.file == "index")
    }

    /// No byte of a block, flipped, may crash verify or go unnoticed, except the few a
    /// reader ignores: the index's format version (2 and 3 read alike) and the zero
    /// padding before label indices and postings lists, which no CRC covers.
    @Test("every flipped byte of the index and of a chunk segment is found, nothing crashes")
    func flipEveryByte() async throws {
        let (tmp, dir) = try Damage.copy { _ in }
        defer { Fixtures.cleanup(tmp) }
        let ignored = try Self.uncoveredIndexBytes(dir + "/index")
        for file in ["index", "chunks/000001"] {
            let path = dir + "/" + file
            let original = try Data(contentsOf: URL(fileURLWithPath: path))
            let step = file == "index" ? 5 : 97
            var missed: [Int] = []
            for at in stride(from: 0, to: original.count, by: step) where !(file == "index" && ignored.contains(at)) {
                var d = original
                d[at] ^= 0x10
                try d.write(to: URL(fileURLWithPath: path))
                if await BlockVerifier().verify(directory: dir).isEmpty { missed.append(at) }
            }
            try original.write(to: URL(fileURLWithPath: path))
            #expect(missed.isEmpty, "\(file): flips at \(missed.prefix(20)) went unnoticed")
        }
    }

    /// The version byte and the padding in front of 4-byte-aligned label indices and
    /// postings lists.
    static func uncoveredIndexBytes(_ path: String) throws -> Set<Int> {
        let ix = try IndexReader(path: path)
        var out: Set<Int> = [4]
        var starts = (0..<ix.postingsTableCount).map { ix.postingsListOffset(at: $0) }
        starts += try ix.labelIndexTable().map { Int($0.offset) }
        starts.append(Int(ix.toc.labelIndicesTable))
        starts.append(Int(ix.toc.postingsTable))
        for s in starts { for p in stride(from: s - 1, through: max(0, s - 3), by: -1) { out.insert(p) } }
        return out
    }
}

/// Blocks whose index is rewritten (with IndexBuilder) from a real fixture block's series,
/// one fault at a time, with meta.json stats kept consistent so only the fault shows.
@Suite("Verify: rewritten indexes, one fault each")
struct VerifyRewriteTests {
    typealias Series = ([(String, String)], [ChunkMeta])

    struct Result {
        var plain: [Finding]
        var deep: [Finding]
        var kinds: Set<Finding.Kind> { Set(plain.map(\.kind)) }
    }

    func rewritten(_ change: (inout [Series], BlockMeta) -> Void, patch: ((String) throws -> Void)? = nil) async throws -> Result {
        let (tmp, dir) = try Damage.copy { _ in }
        defer { Fixtures.cleanup(tmp) }
        let b = try Block(directory: dir)
        var series: [Series] = []
        for r in try b.index.allPostings() {
            let (l, c) = try b.index.seriesLabels(r)
            series.append((l.pairs.map { ($0.name, $0.value) }, c))
        }
        change(&series, b.meta)
        try Data(IndexBuilder(series: series).build(.v2WithLabelIndices)).write(to: URL(fileURLWithPath: dir + "/index"))
        try patch?(dir)
        var m = b.meta
        m.stats.numSeries = UInt64(series.count)
        m.stats.numChunks = UInt64(series.reduce(0) { $0 + $1.1.count })
        var samples: UInt64 = 0
        for (_, cs) in series {
            for c in cs { samples += UInt64((try? b.chunks.chunk(c.ref).headerSampleCount ?? 0) ?? 0) }
        }
        m.stats.numSamples = samples
        m.thanos?.files = []  // sizes changed with the new index; the files list is checked elsewhere
        try m.serialized().write(toFile: dir + "/meta.json", atomically: true, encoding: .utf8)
        let sequential = await BlockVerifier().verify(directory: dir)
        // The walk split into many slices, with tiny windows, must find exactly the same.
        var sliced = BlockVerifier()
        sliced.parallelism = 7
        sliced.localSlicesPerWorker = 1
        sliced.minSeriesPerSlice = 1
        sliced.localStream.windowBytes = 4096
        sliced.localStream.chunkSizeHint = 64
        let s = await sliced.verify(directory: dir)
        #expect(s.map(\.description) == sequential.map(\.description))
        // Three workers taking 12 slices of 5 series as they finish, and reading ahead.
        var queued = sliced
        queued.parallelism = 3
        queued.localSlicesPerWorker = 4
        queued.localStream.windowsInFlight = 2
        let q = await queued.verify(directory: dir)
        #expect(q.map(\.description) == sequential.map(\.description))
        return Result(plain: sequential, deep: await BlockVerifier(deep: true).verify(directory: dir))
    }

    @Test("the rewrite itself is clean")
    func unchanged() async throws {
        let r = try await rewritten { _, _ in }
        #expect(r.plain.isEmpty, "\(r.plain)")
        #expect(r.deep.isEmpty, "\(r.deep)")
    }

    @Test("series written out of order", arguments: [3, 8, 9, 17])
    func outOfOrder(at i: Int) async throws {
        // With 60 series in 7 slices of 9, swaps at 8/9 and 17/18 straddle slice boundaries.
        let r = try await rewritten { s, _ in s.swapAt(i, i + 1) }
        #expect(r.kinds == [.seriesOrder], "\(r.plain)")
    }

    @Test("the same series twice")
    func duplicate() async throws {
        // The copy shares the chunks of the original, so nothing else is wrong.
        let r = try await rewritten { s, _ in s.insert(s[5], at: 6) }
        #expect(r.kinds == [.duplicateSeries], "\(r.plain)")
    }

    @Test("an exact duplicate chunk")
    func duplicateChunk() async throws {
        let r = try await rewritten { s, _ in s[2].1.insert(s[2].1[0], at: 1) }
        #expect(r.kinds == [.duplicateChunk], "\(r.plain)")
    }

    @Test("two chunks of a series out of order")
    func chunkOrder() async throws {
        let r = try await rewritten { s, _ in
            let i = s.firstIndex { $0.1.count >= 2 }!
            s[i].1.swapAt(0, 1)
        }
        #expect(r.kinds == [.chunkOrder], "\(r.plain)")
    }

    @Test("a chunk moved outside the block range")
    func chunkOutside() async throws {
        let r = try await rewritten { s, meta in
            let n = s[4].1.count
            s[4].1[n - 1].minTime = meta.maxTime + 1000
            s[4].1[n - 1].maxTime = meta.maxTime + 9000
        }
        #expect(r.kinds == [.chunkOutsideBlock], "\(r.plain)")
    }

    @Test("a chunk starting exactly at the block's maxTime (Prometheus issue 347)")
    func chunkAtMaxTime() async throws {
        let r = try await rewritten { s, meta in
            let n = s[4].1.count
            s[4].1[n - 1].minTime = meta.maxTime
            s[4].1[n - 1].maxTime = meta.maxTime + 9000
        }
        #expect(r.kinds == [.chunkAtMaxTime], "\(r.plain)")
    }

    @Test("chunk times in the index that the samples do not match: only --deep sees it")
    func deepTimes() async throws {
        let r = try await rewritten { s, _ in s[1].1[0].minTime += 1 }
        #expect(r.plain.isEmpty, "\(r.plain)")
        #expect(Set(r.deep.map(\.kind)) == [.chunkSamples], "\(r.deep)")
    }

    @Test("a chunk ref pointing past the segment")
    func badRef() async throws {
        let r = try await rewritten { s, _ in s[7].1[0].ref = ChunkRef(segment: 0, offset: 1 << 30) }
        #expect(r.kinds == [.chunkRef], "\(r.plain)")
    }

    @Test("a chunk ref naming a segment that does not exist")
    func badSegment() async throws {
        let r = try await rewritten { s, _ in s[7].1[0].ref = ChunkRef(segment: 3, offset: 8) }
        #expect(r.kinds == [.chunkRef], "\(r.plain)")
    }

    @Test("a series without chunks")
    func noChunks() async throws {
        let r = try await rewritten { s, _ in s[10].1 = [] }
        #expect(r.kinds == [.seriesWithoutChunks], "\(r.plain)")
    }

    @Test("a series with no labels")
    func emptyLabels() async throws {
        // The empty label set sorts first.
        let r = try await rewritten { s, _ in s.insert(([], s[0].1), at: 0) }
        #expect(r.kinds == [.emptyLabels], "\(r.plain)")
    }

    @Test("label names out of order inside the last series")
    func labelOrder() async throws {
        let r = try await rewritten { s, _ in
            let i = s.count - 1
            precondition(s[i].0.count >= 3)
            s[i].0.swapAt(1, 2)
        }
        #expect(r.kinds == [.labelOrder], "\(r.plain)")
    }

    @Test("a postings list that names the wrong series (CRC fixed up)")
    func postingsWrongSeries() async throws {
        let r = try await rewritten({ _, _ in }, patch: { dir in
            let ix = try IndexReader(path: dir + "/index")
            let refs = try ix.allPostings()
            // The last pair's list: its first ref replaced by another series' ref.
            let at = ix.postingsListOffset(at: ix.postingsTableCount - 1)
            let (start, _) = try ix.postingsListBody(at: at)
            let first = UInt32(bigEndian: ix.storage.withBytes(start..<(start + 4)) { $0.loadUnaligned(as: UInt32.self) })
            let other = UInt32(refs.first { UInt32($0) != first }!)
            try Damage.edit(dir + "/index") { d in
                withUnsafeBytes(of: other.bigEndian) { for (i, b) in $0.enumerated() { d[start + i] = b } }
                let len = Int(UInt32(bigEndian: d[at..<(at + 4)].withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }))
                Damage.fixCRC(&d, (at + 4)..<(at + 4 + len))
            }
        })
        #expect(r.kinds == [.postingsMismatch], "\(r.plain)")
    }
}
