import Foundation
import Testing
import TestSupport
@testable import TSDB

/// Truncated and bit-flipped copies of every fixture file must be refused with a
/// `TSDBError` (or, for a flip that lands in slack bytes, read fine) — never crash.
@Suite("Damaged fixture files", .serialized)
struct CorruptionTests {
    static var files: [(block: String, file: String)] {
        var out: [(String, String)] = []
        for b in Fixtures.allBlocks {
            for f in ["meta.json", "index", "tombstones"] where FileManager.default.fileExists(atPath: b + "/" + f) {
                out.append((b, f))
            }
            let chunks = (try? FileManager.default.contentsOfDirectory(atPath: b + "/chunks")) ?? []
            for c in chunks.sorted() { out.append((b, "chunks/" + c)) }
        }
        return out
    }

    /// Copies the block with one file replaced, reads everything, and classifies the result.
    static func readDamaged(_ block: String, _ file: String, _ bytes: [UInt8]) throws -> Bool {
        let dir = try Fixtures.tempDir("damaged") + "/" + (block as NSString).lastPathComponent
        defer { Fixtures.cleanup((dir as NSString).deletingLastPathComponent) }
        try FileManager.default.copyItem(atPath: block, toPath: dir)
        try Data(bytes).write(to: URL(fileURLWithPath: dir + "/" + file))
        do {
            _ = try walkBlock(dir)
            return false
        } catch let e as TSDBError {
            // The error must say where: a file and an offset inside it.
            #expect(!e.file.isEmpty, "\(e)")
            #expect(e.offset >= 0, "\(e)")
            return true
        }
    }

    @Test("clean fixtures read completely")
    func clean() throws {
        let blocks = Fixtures.allBlocks
        try #require(blocks.count >= 5, "fixtures are missing: run scripts/make-fixtures.sh")
        for b in blocks {
            let meta = try Block(directory: b).meta
            let (series, chunks, samples) = try walkBlock(b)
            #expect(UInt64(series) == meta.stats.numSeries, "\(b)")
            #expect(UInt64(chunks) == meta.stats.numChunks, "\(b)")
            #expect(UInt64(samples) == meta.stats.numSamples, "\(b)")
        }
    }

    @Test("truncated copies of every fixture file are refused")
    func truncated() throws {
        var rng = SeededRandom(seed: 42)
        for (block, file) in Self.files {
            let data = try [UInt8](Data(contentsOf: URL(fileURLWithPath: block + "/" + file)))
            // Short files: every prefix. Long ones: the edges and random cut points.
            var cuts = Set(data.count <= 64 ? Array(0..<data.count) : Array(0..<16) + Array((data.count - 16)..<data.count))
            if data.count > 64 { for _ in 0..<12 { cuts.insert(Int.random(in: 0..<data.count, using: &rng)) } }
            let significant = data.lastIndex { ![0x20, 0x0A, 0x0D, 0x09].contains($0) }.map { $0 + 1 } ?? 0
            for n in cuts.sorted() where n < significant {
                let refused = try Self.readDamaged(block, file, Array(data[..<n]))
                // Cutting any significant byte off a block file leaves it unreadable
                // (only trailing whitespace of meta.json may go).
                #expect(refused, "\(file) cut at \(n) of \(data.count) was read without error")
            }
        }
    }

    @Test("bit-flipped copies never crash the reader; checksummed bytes are always caught")
    func flipped() throws {
        var rng = SeededRandom(seed: 7)
        var caught = 0
        var total = 0
        for (block, file) in Self.files where file != "meta.json" {
            let data = try [UInt8](Data(contentsOf: URL(fileURLWithPath: block + "/" + file)))
            for _ in 0..<10 {
                let i = Int.random(in: 0..<data.count, using: &rng)
                var d = data
                d[i] ^= UInt8(1) << UInt8.random(in: 0..<8, using: &rng)
                total += 1
                if try Self.readDamaged(block, file, d) { caught += 1 }
            }
        }
        // Every byte of an index, chunk segment or tombstones file is covered by a CRC,
        // a magic number, or padding the reader skips; nearly all flips must be caught.
        #expect(total > 0)
        #expect(Double(caught) >= 0.85 * Double(total), "caught \(caught) of \(total)")
    }
}
