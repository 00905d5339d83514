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
