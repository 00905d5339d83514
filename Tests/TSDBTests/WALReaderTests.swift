import Foundation
import Testing
import TestSupport
@testable import TSDB

/// Damaged and cut-off segments: every error is reported with file and offset, never a trap,
/// and everything readable before and after the damage is still read.
@Suite("WAL reader: damage, truncation, resynchronisation")
struct WALReaderTests {
    /// Records of one fixture segment read cleanly, with their offsets.
    static func clean(_ path: String) throws -> [(offset: Int, record: WALRecord)] {
        var s = WALSegmentScanner(storage: try ByteStorage.map(path: path), file: path)
        var out: [(Int, WALRecord)] = []
        while let e = s.next() {
            guard case .record(let raw) = e else { Issue.record("unexpected \(e) in clean \(path)"); continue }
            out.append((raw.offset, try WALReader.decode(raw)))
        }
        return out
    }

    static func scan(_ bytes: [UInt8], file: String = "seg") -> (records: [(Int, WALRecord)], damage: [WALDamage], cutOff: Int?) {
        var s = WALSegmentScanner(storage: ByteStorage(copying: bytes, name: file), file: file)
        var recs: [(Int, WALRecord)] = []
        var damage: [WALDamage] = []
        var cut: Int?
        while let e = s.next() {
            switch e {
            case .record(let raw):
                do { recs.append((raw.offset, try WALReader.decode(raw))) } catch {
                    damage.append(WALDamage(file: file, offset: raw.offset, resumeOffset: raw.endOffset, error: error, recordsLost: 1, fragmentsSkipped: 0))
                }
            case .damage(let d): damage.append(d)
            case .cutOff(let o, _): cut = o
            }
        }
        return (recs, damage, cut)
    }

    static var lastSegment: String { WALFixture.snappy + "/wal/00000004" }
    static var twoPageSegment: String { WALFixture.snappy + "/wal/00000003" }

    @Test("every prefix of a segment reads a prefix of its records, and the rest is a torn tail")
    func everyPrefix() throws {
        let path = Self.lastSegment
        let storage = try ByteStorage.map(path: path)
        // The whole segment: record offsets and ends.
        var whole: [(offset: Int, end: Int)] = []
        var full = WALSegmentScanner(storage: storage, file: path)
        while let e = full.next() {
            guard case .record(let raw) = e else { Issue.record("\(e)"); return }
            _ = try WALReader.decode(raw)
            whole.append((raw.offset, raw.endOffset))
        }
        #expect(whole.count > 100)
        for n in 0...storage.count {
            var s = WALSegmentScanner(storage: storage, file: path, end: n)
            var got = 0
            var cut: Int?
            var last: WALRawRecord?
            while let e = s.next() {
                switch e {
                case .record(let raw):
                    // Each record read is one of the whole segment's, byte range for byte range.
                    if got < whole.count, raw.offset == whole[got].offset, raw.endOffset == whole[got].end {} else {
                        Issue.record("prefix \(n): record \(got) at \(raw.offset)..<\(raw.endOffset)")
                    }
                    got += 1
                    last = raw
                case .damage(let d): Issue.record("prefix \(n): \(d)")
                case .cutOff(let o, _): cut = o
                }
            }
            // The records that fit are all there; what is missing starts at the cut-off.
            let fit = whole.prefix { $0.end <= n }.count
            #expect(got == fit, "prefix \(n)")
            if fit < whole.count, n > whole[fit].offset {
                #expect(cut == whole[fit].offset, "prefix \(n)")
            } else {
                #expect(cut == nil, "prefix \(n)")
            }
            // A prefix that ends on a record boundary decodes that record.
            if let last, last.endOffset == n { _ = try WALReader.decode(last) }
        }
    }

    @Test("a flipped byte in a record is reported with file and offset; later records and pages are read")
    func flippedByte() throws {
        let path = Self.twoPageSegment
        let all = try Self.clean(path)
        var bytes = try ByteStorage.map(path: path).bytes(0..<(try ByteStorage.map(path: path)).count)
        #expect(bytes.count > WALFormat.pageSize)
        // A record in the middle of the first page.
        let victim = all.firstIndex { $0.offset > 10_000 }!
        let at = all[victim].offset + 12
        bytes[at] ^= 0x40
        let r = Self.scan(bytes, file: path)
        #expect(r.damage.count == 1)
        let d = try #require(r.damage.first)
        #expect(d.file == path && d.offset == all[victim].offset && d.error.kind == .checksum, "\(d)")
        #expect(d.resumeOffset == all[victim + 1].offset)
        #expect(d.recordsLost == 1)
        // Every other record, on this page and the next, is there.
        var expected = all
        expected.remove(at: victim)
        #expect(r.records.map(\.0) == expected.map(\.offset))
        #expect(r.records.map(\.1) == expected.map(\.record))
    }

    @Test("damage to a fragment header skips to the next page; the record spanning pages is lost whole")
    func brokenHeaderAndSpanningRecord() throws {
        // Records big enough to span pages, between small ones.
        let big = WALBytes.series([(9, [("__name__", String(repeating: "x", count: 40_000))])])
        let small = (0..<50).map { WALBytes.samples([(ref: 1, t: Int64($0) * 1000, v: Double($0))]) }
        let (bytes, offsets) = WALBytes.segment([WALBytes.series([(1, [("a", "b")])])] + small + [big] + small)
        // 1. Bad CRC in the first fragment of the spanning record: its middle/last fragments
        //    on the next pages are skipped too, the small records after it are read.
        var b1 = bytes
        let bigAt = offsets[51]
        b1[bigAt + 20] ^= 1
        let r1 = Self.scan(b1)
        #expect(r1.damage.count == 1 && r1.damage[0].offset == bigAt, "\(r1.damage)")
        let clean = Self.scan(bytes)
        #expect(clean.damage.isEmpty && clean.records.count == offsets.count)
        var fragments = 0
        var sc = WALSegmentScanner(storage: ByteStorage(copying: bytes), file: "seg")
        while let e = sc.next() { if case .record(let raw) = e, raw.offset == bigAt { fragments = raw.fragments } }
        #expect(fragments >= 2)
        #expect(r1.damage[0].fragmentsSkipped == fragments)
        #expect(r1.records.count == offsets.count - 1)
        // 2. An impossible type byte: the rest of its page is skipped; later pages are read.
        var b2 = bytes
        b2[offsets[10]] = 0x27
        let r2 = Self.scan(b2)
        // The spanning record started on that page: its fragment on the next page is skipped too.
        #expect(bigAt < WALFormat.pageSize && offsets[52] > WALFormat.pageSize)
        #expect(r2.damage.count == 1 && r2.damage[0].offset == offsets[10] && r2.damage[0].resumeOffset == offsets[52], "\(r2.damage)")
        #expect(r2.records.map(\.0) == Array(offsets[0..<10] + offsets[52...]))
        // 3. A length that runs past the page end: same.
        var b3 = bytes
        b3[offsets[20] + 1] = 0x7F
        let r3 = Self.scan(b3)
        #expect(r3.damage.first?.offset == offsets[20] && r3.damage.first?.error.kind == .corrupt)
        #expect(r3.records.map(\.0) == Array(offsets[0..<20] + offsets[52...]))
    }

    @Test("an unknown record type is reported and skipped")
    func unknownRecordType() throws {
        let records = [WALBytes.series([(1, [("__name__", "a")])]), [42, 1, 2, 3], WALBytes.samples([(ref: 1, t: 1000, v: 1)])]
        let unknownAt = WALBytes.segment(records).offsets[1]
        let dir = try WALBytes.dataDir(segments: [records])
        defer { Fixtures.cleanup(dir) }
        let (recs, report) = try WALFixture.records(dir + "/wal")
        #expect(recs.map(\.record.type) == [.series, .samples])
        #expect(report.damage.count == 1)
        let d = try #require(report.damage.first)
        #expect(d.error.kind == .unsupported && d.error.detail.contains("unknown record type 42"), "\(d)")
        #expect(d.file.hasSuffix("wal/00000000") && d.offset == unknownAt && d.resumeOffset == unknownAt + 7 + 4)
    }

    @Test("damage in one segment does not hide the next; a torn record is an error only before the last segment")
    func acrossSegments() throws {
        let s0: [[UInt8]] = [WALBytes.series([(1, [("__name__", "a")])]), WALBytes.samples([(ref: 1, t: 1000, v: 1)])]
        let s1: [[UInt8]] = [WALBytes.samples([(ref: 1, t: 2000, v: 2)]), WALBytes.samples([(ref: 1, t: 3000, v: 3)])]
        let s2: [[UInt8]] = [WALBytes.samples([(ref: 1, t: 4000, v: 4)]), WALBytes.samples([(ref: 1, t: 5000, v: 5)])]
        let dir = try WALBytes.dataDir(segments: [s0, s1, s2])
        defer { Fixtures.cleanup(dir) }
        // Cut segment 1 inside its second record, and segment 2 inside its last.
        for (name, cut) in [("00000001", 3), ("00000002", 5)] {
            let p = dir + "/wal/" + name
            let b = try Data(contentsOf: URL(fileURLWithPath: p))
            try b.dropLast(cut).write(to: URL(fileURLWithPath: p))
        }
        let head = try Head.replay(directory: dir)
        let r = head.report.wal
        #expect(r.damage.count == 1 && r.damage[0].file.hasSuffix("00000001") && r.damage[0].error.kind == .truncated, "\(r.damage)")
        #expect(r.tornTail?.file.hasSuffix("00000002") == true)
        var it = head.allSeries()
        let s = try #require(try it.next())
        #expect(s.floatSamples.map(\.t) == [1000, 2000, 4000])
    }

    @Test("a missing wal/ directory is an error naming the directory")
    func noWAL() throws {
        let dir = try Fixtures.tempDir("nowal")
        defer { Fixtures.cleanup(dir) }
        #expect(throws: TSDBError.self) { try Head.replay(directory: dir) }
    }
}
