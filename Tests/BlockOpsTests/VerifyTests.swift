import Foundation
import Testing
import TestSupport
import TSDB
@testable import BlockOps

@Suite("Verify: clean blocks are clean, each damage is named")
struct VerifyTests {
    @Test("every fixture block verifies clean")
    func clean() throws {
        let blocks = Fixtures.allBlocks
        try #require(!blocks.isEmpty)
        for b in blocks {
            let f = BlockVerifier().verify(directory: b)
            #expect(f.isEmpty, "\(b): \(f)")
        }
    }

    /// A copy of the first demo block with one change applied.
    func damaged(_ change: (String) throws -> Void) throws -> (String, [Finding]) {
        let src = try #require(try Block.directories(at: Fixtures.fixtures + "/demo-bucket").first)
        let tmp = try Fixtures.tempDir("verify")
        let dir = tmp + "/" + (src as NSString).lastPathComponent
        try FileManager.default.copyItem(atPath: src, toPath: dir)
        try change(dir)
        return (tmp, BlockVerifier().verify(directory: dir))
    }

    @Test("a flipped byte inside a chunk is a chunk-checksum finding naming the segment")
    func chunkFlip() throws {
        let (tmp, findings) = try damaged { dir in
            let b = try Block(directory: dir)
            var l: [LabelRef] = [], c: [ChunkMeta] = []
            try b.index.series(try b.index.allPostings()[3], labels: &l, chunks: &c)
            let raw = try b.chunks.chunk(c[0].ref)
            let path = dir + "/chunks/000001"
            var d = try Data(contentsOf: URL(fileURLWithPath: path))
            d[raw.dataRange.lowerBound + 3] ^= 0x40
            try d.write(to: URL(fileURLWithPath: path))
        }
        defer { Fixtures.cleanup(tmp) }
        #expect(findings.map(\.kind) == [.chunkChecksum])
        #expect(findings.first?.file == "chunks/000001")
        #expect(findings.first?.series != nil)
    }

    @Test("a flipped byte in the TOC makes the block unreadable, naming the index")
    func tocFlip() throws {
        let (tmp, findings) = try damaged { dir in
            let path = dir + "/index"
            var d = try Data(contentsOf: URL(fileURLWithPath: path))
            d[d.count - 20] ^= 0x01
            try d.write(to: URL(fileURLWithPath: path))
        }
        defer { Fixtures.cleanup(tmp) }
        #expect(findings.map(\.kind) == [.unreadable])
        #expect(findings.first?.file == "index")
        #expect(findings.first?.detail.contains("TOC") == true)
    }

    @Test("stats that disagree with the data are reported")
    func stats() throws {
        let (tmp, findings) = try damaged { dir in
            var m = try Block(directory: dir).meta
            m.stats.numSamples += 1
            try m.serialized().write(toFile: dir + "/meta.json", atomically: true, encoding: .utf8)
        }
        defer { Fixtures.cleanup(tmp) }
        #expect(findings.map(\.kind) == [.statsMismatch])
    }

    @Test("a block range that excludes its chunks is reported as chunks outside the block")
    func outside() throws {
        let (tmp, findings) = try damaged { dir in
            var m = try Block(directory: dir).meta
            m.maxTime = m.minTime + 60_000
            try m.serialized().write(toFile: dir + "/meta.json", atomically: true, encoding: .utf8)
        }
        defer { Fixtures.cleanup(tmp) }
        #expect(!findings.isEmpty)
        #expect(findings.allSatisfy { $0.kind == .chunkOutsideBlock || $0.kind == .chunkAtMaxTime })
    }
}

/// Blocks whose index is rewritten (with IndexBuilder) from a real fixture block's series,
/// one fault at a time, with meta.json stats kept consistent so only the fault shows.
@Suite("Verify: rewritten indexes, one fault each")
struct VerifyRewriteTests {
    typealias Series = ([(String, String)], [ChunkMeta])

    func rewritten(_ change: (inout [Series]) -> Void) throws -> (String, [Finding], [Finding]) {
        let src = try #require(try Block.directories(at: Fixtures.fixtures + "/demo-bucket").first)
        let tmp = try Fixtures.tempDir("rewrite")
        let dir = tmp + "/" + (src as NSString).lastPathComponent
        try FileManager.default.copyItem(atPath: src, toPath: dir)
        let b = try Block(directory: dir)
        var series: [Series] = []
        for r in try b.index.allPostings() {
            let (l, c) = try b.index.seriesLabels(r)
            series.append((l.pairs.map { ($0.name, $0.value) }, c))
        }
        change(&series)
        try Data(IndexBuilder(series: series).build(.v2WithLabelIndices)).write(to: URL(fileURLWithPath: dir + "/index"))
        var m = b.meta
        m.stats.numSeries = UInt64(series.count)
        m.stats.numChunks = UInt64(series.reduce(0) { $0 + $1.1.count })
        var samples: UInt64 = 0
        for (_, cs) in series {
            for c in cs { samples += (try? b.chunks.chunk(c.ref).withData { UInt64($0[0]) << 8 | UInt64($0[1]) }) ?? 0 }
        }
        m.stats.numSamples = samples
        m.thanos?.files = []  // sizes changed with the new index; the files list is checked elsewhere
        try m.serialized().write(toFile: dir + "/meta.json", atomically: true, encoding: .utf8)
        let sequential = BlockVerifier().verify(directory: dir)
        // The walk split into many slices must find exactly the same, in the same order.
        var sliced = BlockVerifier()
        sliced.parallelism = 7
        sliced.minSeriesPerSlice = 1
        #expect(sliced.verify(directory: dir).map(\.description) == sequential.map(\.description))
        return (tmp, sequential, BlockVerifier(deep: true).verify(directory: dir))
    }

    @Test("the rewrite itself is clean")
    func unchanged() throws {
        let (tmp, f, deep) = try rewritten { _ in }
        defer { Fixtures.cleanup(tmp) }
        #expect(f.isEmpty, "\(f)")
        #expect(deep.isEmpty, "\(deep)")
    }

    @Test("series written out of order", arguments: [3, 8, 9, 17])
    func outOfOrder(at i: Int) throws {
        // With 60 series in 7 slices of 9, swaps at 8/9 and 17/18 straddle slice boundaries.
        let (tmp, f, _) = try rewritten { $0.swapAt(i, i + 1) }
        defer { Fixtures.cleanup(tmp) }
        #expect(Set(f.map(\.kind)) == [.seriesOrder], "\(f)")
    }

    @Test("the same series twice")
    func duplicate() throws {
        let (tmp, f, _) = try rewritten { s in s.insert(s[5], at: 6) }
        defer { Fixtures.cleanup(tmp) }
        // The copy shares the chunks of the original, so nothing else is wrong.
        #expect(Set(f.map(\.kind)) == [.duplicateSeries], "\(f)")
    }

    @Test("an exact duplicate chunk")
    func duplicateChunk() throws {
        let (tmp, f, _) = try rewritten { s in s[2].1.insert(s[2].1[0], at: 1) }
        defer { Fixtures.cleanup(tmp) }
        #expect(Set(f.map(\.kind)) == [.duplicateChunk], "\(f)")
    }

    @Test("chunk times in the index that the samples do not match: only --deep sees it")
    func deepTimes() throws {
        let (tmp, f, deep) = try rewritten { s in s[1].1[0].minTime += 1 }
        defer { Fixtures.cleanup(tmp) }
        #expect(f.isEmpty, "\(f)")
        #expect(Set(deep.map(\.kind)) == [.chunkSamples], "\(deep)")
    }

    @Test("a chunk ref pointing past the segment")
    func badRef() throws {
        let (tmp, f, _) = try rewritten { s in s[7].1[0].ref = ChunkRef(segment: 0, offset: 1 << 30) }
        defer { Fixtures.cleanup(tmp) }
        #expect(f.map(\.kind).contains(.chunkRef), "\(f)")
    }
}

@Suite("Verify: files list and series entries")
struct VerifyFilesTests {
    @Test("a Thanos files list that disagrees with the files")
    func files() throws {
        let src = try #require(try Block.directories(at: Fixtures.fixtures + "/demo-bucket").first)
        let tmp = try Fixtures.tempDir("files")
        defer { Fixtures.cleanup(tmp) }
        let dir = tmp + "/" + (src as NSString).lastPathComponent
        try FileManager.default.copyItem(atPath: src, toPath: dir)
        var m = try Block(directory: dir).meta
        let changed = (m.thanos?.files ?? []).map { f in
            var f = f
            if f.relPath == "index" { f.sizeBytes = (f.sizeBytes ?? 0) + 1 }
            return f
        }
        m.thanos?.files = changed
        try m.serialized().write(toFile: dir + "/meta.json", atomically: true, encoding: .utf8)
        let f = BlockVerifier().verify(directory: dir)
        #expect(f.map(\.kind) == [.filesMismatch], "\(f)")
        #expect(f.first?.file == "index")
    }

    @Test("a flipped byte inside a series entry names the entry")
    func seriesFlip() throws {
        let src = try #require(try Block.directories(at: Fixtures.fixtures + "/demo-bucket").first)
        let tmp = try Fixtures.tempDir("series")
        defer { Fixtures.cleanup(tmp) }
        let dir = tmp + "/" + (src as NSString).lastPathComponent
        try FileManager.default.copyItem(atPath: src, toPath: dir)
        let b = try Block(directory: dir)
        let off = b.index.seriesOffset(try b.index.allPostings()[2])
        var d = try Data(contentsOf: URL(fileURLWithPath: dir + "/index"))
        d[off + 3] ^= 0x20
        try d.write(to: URL(fileURLWithPath: dir + "/index"))
        let f = BlockVerifier().verify(directory: dir)
        #expect(f.first?.kind == .seriesEntry, "\(f)")
        #expect(f.first?.offset == off + 1)
        // The entry's labels are lost, so its postings no longer match the walk.
        #expect(Set(f.map(\.kind)).isSubset(of: [.seriesEntry, .postingsMismatch, .statsMismatch]), "\(f)")
    }
}
