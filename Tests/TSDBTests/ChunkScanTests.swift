import Foundation
import Testing
import TestSupport
@testable import TSDB

@Suite("Bulk chunk checks: many CRCs at once, one-pass record scans")
struct ChunkScanTests {
    @Test("checksums of many buffers equal one checksum per buffer, for every count and length mix")
    func many() {
        var rng = SystemRandomNumberGenerator()
        for count in [0, 1, 3, 4, 5, 8, 13, 100] {
            let buffers: [[UInt8]] = (0..<count).map { _ in (0..<Int.random(in: 0...300, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) } }
            // All buffers in one allocation, so every pointer is taken inside one closure.
            let all = buffers.flatMap { $0 }
            let lens = buffers.map(\.count)
            var out = [UInt32](repeating: 0, count: count)
            all.withUnsafeBytes { b in
                var at = 0
                let ptrs: [UnsafeRawPointer?] = lens.map { n in
                    defer { at += n }
                    return b.baseAddress.map { $0 + at }
                }
                ptrs.withUnsafeBufferPointer { p in lens.withUnsafeBufferPointer { l in out.withUnsafeMutableBufferPointer { CRC32C.checksums(p, l, into: $0) } } }
            }
            #expect(out == buffers.map { CRC32C.checksum($0) }, "count \(count)")
        }
    }

    /// Every chunk record of a fixture segment, as (offset, header, samples) read one at a time.
    static func records() throws -> (ByteStorage, [(Int, RawChunk.Header, Int?)]) {
        let dir = try #require(Fixtures.allBlocks.first { $0.contains("/bulk/") })
        let b = try Block(directory: dir)
        var out: [(Int, RawChunk.Header, Int?)] = []
        for r in try b.index.allPostings() {
            for m in try b.index.seriesLabels(r).1 where m.ref.segment == 0 {
                let raw = try b.chunks.chunk(m.ref)
                let h = try #require(try RawChunk.header(b.chunks.segments[0].raw, at: m.ref.offset, origin: 0))
                out.append((m.ref.offset, h, raw.headerSampleCount))
            }
        }
        return (b.chunks.segments[0], out)
    }

    static func scan(_ bytes: UnsafeRawBufferPointer, _ offsets: [Int]) -> [ChunkRecordScan.Result] {
        var out: [ChunkRecordScan.Result] = []
        offsets.map(Int64.init).withUnsafeBufferPointer { o in ChunkRecordScan.scan(bytes, offsets: o, checkCRC: true) { _, r in out.append(r) } }
        return out
    }

    @Test("a scan of a real segment agrees with reading each chunk")
    func agrees() throws {
        let (seg, recs) = try Self.records()
        try #require(recs.count > 10)
        let got = seg.withBytes(0..<seg.count) { Self.scan($0, recs.map(\.0)) }
        for (r, want) in zip(got, recs) {
            #expect(r.status == .ok)
            #expect(r.header.dataLength == want.1.dataLength && r.header.headerLength == want.1.headerLength && r.header.encoding == want.1.encoding)
            #expect(Int(r.samples) == want.2)
        }
    }

    @Test("a flipped byte, a cut window and a runaway length field are told apart")
    func damage() throws {
        let (seg, recs) = try Self.records()
        var bytes = seg.withBytes(0..<seg.count) { Array($0) }
        let (off, h, _) = recs[2]
        bytes[off + h.headerLength + 3] ^= 0x01
        let flipped = bytes.withUnsafeBytes { Self.scan($0, [recs[1].0, off]) }
        #expect(flipped.map(\.status) == [.ok, .checksum])
        let cut = bytes.withUnsafeBytes { Self.scan(UnsafeRawBufferPointer(rebasing: $0[..<(off + 3)]), [off, off + 1]) }
        #expect(cut.map(\.status) == [.pastEnd, .pastEnd])
        for i in 0..<6 { bytes[off + i] = 0xFF }
        #expect(bytes.withUnsafeBytes { Self.scan($0, [off]) }.map(\.status) == [.badLength])
        // Offsets beyond the bytes are past the end, not a crash.
        #expect(bytes.withUnsafeBytes { Self.scan($0, [bytes.count + 10]) }.map(\.status) == [.pastEnd])
    }
}
