import Testing
import TestSupport
@testable import TSDB

/// The Thanos aggregate chunk (0xFF): five sub-chunks, each `uvarint len | enc | bytes`
/// or `uvarint 0` when absent. Built here from real XOR chunks of the fixtures.
@Suite("Thanos aggregate chunks")
struct AggregateChunkTests {
    static func xorChunks(_ n: Int) throws -> [[UInt8]] {
        var out: [[UInt8]] = []
        for dir in Fixtures.allBlocks where out.count < n {
            let b = try Block(directory: dir)
            var l: [LabelRef] = [], c: [ChunkMeta] = []
            for r in try b.index.allPostings() where out.count < n {
                try b.index.series(r, labels: &l, chunks: &c)
                let raw = try b.chunks.chunk(c[0].ref)
                if raw.encoding == .xor { out.append(raw.withData { Array($0) }) }
            }
        }
        return out
    }

    static func build(_ parts: [[UInt8]?]) -> [UInt8] {
        var out: [UInt8] = []
        for p in parts {
            guard let p else { out.append(0); continue }
            var v = UInt64(p.count)
            while v >= 0x80 { out.append(UInt8(v & 0x7F) | 0x80); v >>= 7 }
            out.append(UInt8(v))
            out.append(ChunkEncoding.xor.rawValue)
            out += p
        }
        return out
    }

    @Test("five present sub-chunks decode as the XOR chunks they hold")
    func allPresent() throws {
        let subs = try Self.xorChunks(5)
        try #require(subs.count == 5)
        let bytes = Self.build(subs)
        try bytes.withUnsafeBytes { p in
            let a = try AggregateChunk(p)
            #expect(a.present.map(\.0) == AggregateChunk.Kind.allCases)
            for (k, e) in a.present {
                #expect(e.encoding == .xor)
                #expect(Array(p[e.range]) == subs[k.rawValue])
                #expect(try countSamples(.xor, UnsafeRawBufferPointer(rebasing: p[e.range]), origin: 0) > 0)
            }
            #expect(try countSamples(.thanosAggregate, p, origin: 0) == (try subs.map { s in
                try s.withUnsafeBytes { try countSamples(.xor, $0, origin: 0) } }.reduce(0, +)))
        }
    }

    @Test("absent aggregates (native-histogram blocks have no min/max)")
    func absent() throws {
        let subs = try Self.xorChunks(3)
        let bytes = Self.build([subs[0], subs[1], nil, nil, subs[2]])
        try bytes.withUnsafeBytes { p in
            let a = try AggregateChunk(p)
            #expect(a.present.map(\.0) == [.count, .sum, .counter])
            #expect(a[.min] == nil && a[.max] == nil)
        }
    }

    @Test("every prefix is refused, never a crash")
    func truncated() throws {
        let bytes = Self.build(try Self.xorChunks(5))
        for n in 0..<bytes.count {
            #expect(throws: TSDBError.self) {
                try Array(bytes[..<n]).withUnsafeBytes { p in
                    let a = try AggregateChunk(p)
                    for (_, e) in a.present {
                        _ = try countSamples(e.encoding, UnsafeRawBufferPointer(rebasing: p[e.range]), origin: 0)
                    }
                }
            }
        }
    }
}
