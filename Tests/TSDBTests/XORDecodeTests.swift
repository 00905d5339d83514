import Foundation
import Testing
import TestSupport
@testable import TSDB

@Suite("XOR chunks: bulk decoder against the sample-by-sample iterator")
struct XORDecodeTests {
    /// Every XOR chunk payload in the fixtures.
    static let chunks: [[UInt8]] = {
        var out: [[UInt8]] = []
        for dir in Fixtures.allBlocks {
            guard let b = try? Block(directory: dir), let refs = try? b.index.allPostings() else { continue }
            var l: [LabelRef] = [], c: [ChunkMeta] = []
            for r in refs {
                guard (try? b.index.series(r, labels: &l, chunks: &c)) != nil else { continue }
                for m in c {
                    if let raw = try? b.chunks.chunk(m.ref), raw.encoding == .xor { out.append(raw.withData { Array($0) }) }
                }
            }
        }
        return out
    }()

    static func iterate(_ bytes: [UInt8]) throws -> ([Int64], [UInt64]) {
        try bytes.withUnsafeBytes { p in
            var it = try XORIterator(p)
            var t: [Int64] = [], v: [UInt64] = []
            while try it.next() { t.append(it.timestamp); v.append(it.value.bitPattern) }
            return (t, v)
        }
    }

    static func bulk(_ bytes: [UInt8]) throws -> ([Int64], [UInt64]) {
        var t: [Int64] = [], v: [Double] = []
        try bytes.withUnsafeBytes { p in try XORIterator.decodeAll(p, timestamps: &t, values: &v) }
        return (t, v.map(\.bitPattern))
    }

    @Test("every fixture chunk decodes the same both ways, bit for bit")
    func sameAsIterator() throws {
        try #require(Self.chunks.count > 1000)
        for c in Self.chunks {
            let a = try Self.iterate(c)
            let b = try Self.bulk(c)
            #expect(a.0 == b.0)
            #expect(a.1 == b.1)
            #expect(a.0.count == Int(c[0]) << 8 | Int(c[1]))
        }
    }

    @Test("appends after what the arrays already hold")
    func appends() throws {
        let c = try #require(Self.chunks.first { $0.count > 40 })
        var t: [Int64] = [7], v: [Double] = [7]
        try c.withUnsafeBytes { p in try XORIterator.decodeAll(p, timestamps: &t, values: &v) }
        #expect(t.first == 7 && v.first == 7)
        #expect(Array(t.dropFirst()) == (try Self.iterate(c)).0)
    }

    @Test("every prefix of real chunks fails cleanly, or yields a prefix of the samples")
    func truncation() throws {
        for c in Self.chunks.prefix(60) {
            let full = try Self.iterate(c)
            for n in 0..<c.count {
                let cut = Array(c[..<n])
                var t: [Int64] = [], v: [Double] = []
                do {
                    try cut.withUnsafeBytes { p in try XORIterator.decodeAll(p, timestamps: &t, values: &v) }
                    // A cut that keeps every bit the samples need (the old writers' spare
                    // trailing byte, or padding bits) decodes completely.
                    #expect(t == full.0)
                } catch let error as TSDBError {
                    #expect(error.kind == .truncated || error.kind == .corrupt)
                    // What was produced before the error is correct.
                    #expect(Array(full.0.prefix(t.count)) == t)
                }
            }
        }
    }

    @Test("a sample count larger than the data is an error, not samples made of padding")
    func overclaimed() throws {
        let c = try #require(Self.chunks.first { $0.count > 40 })
        var bad = c
        let n = Int(c[0]) << 8 | Int(c[1])
        bad[0] = UInt8((n + 500) >> 8)
        bad[1] = UInt8((n + 500) & 0xFF)
        #expect(throws: TSDBError.self) { try Self.bulk(bad) }
        #expect(throws: TSDBError.self) { try Self.iterate(bad) }
    }

    @Test("flipped bits never crash either decoder")
    func flips() {
        var rng = SeededRandom(seed: 3)
        for c in Self.chunks.prefix(200) {
            for _ in 0..<8 {
                var d = c
                let i = Int.random(in: 0..<d.count, using: &rng)
                d[i] ^= UInt8(1) << UInt8.random(in: 0..<8, using: &rng)
                _ = try? Self.bulk(d)
                _ = try? Self.iterate(d)
            }
        }
    }
}
