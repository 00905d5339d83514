import Foundation
import TestSupport
@testable import TSDB

/// Hand-made WAL bytes for the error-path tests: records encoded by the layouts of
/// docs/format/wal.md and cut into fragments and pages as Prometheus 2.42's `wlog.log` does.
/// (The real-data tests read the fixtures Prometheus wrote; these build what it never writes.)
enum WALBytes {
    static func uvarint(_ v: UInt64, _ b: inout [UInt8]) { IndexBuilder.uvarint(v, &b) }
    static func varint(_ v: Int64, _ b: inout [UInt8]) { IndexBuilder.varint(v, &b) }
    static func be16(_ v: UInt16, _ b: inout [UInt8]) { withUnsafeBytes(of: v.bigEndian) { b += $0 } }
    static func be32(_ v: UInt32, _ b: inout [UInt8]) { IndexBuilder.be32(v, &b) }
    static func be64(_ v: UInt64, _ b: inout [UInt8]) { IndexBuilder.be64(v, &b) }
    static func str(_ s: String, _ b: inout [UInt8]) { IndexBuilder.str(s, &b) }

    static func series(_ list: [(UInt64, [(String, String)])]) -> [UInt8] {
        var b: [UInt8] = [1]
        for (ref, labels) in list {
            be64(ref, &b)
            uvarint(UInt64(labels.count), &b)
            for (n, v) in labels { str(n, &b); str(v, &b) }
        }
        return b
    }

    /// `baseRef, baseT` from the first entry, then each entry's deltas and its own bytes.
    static func entries<T>(_ type: UInt8, _ list: [T], ref: (T) -> UInt64, t: (T) -> Int64, _ body: (T, inout [UInt8]) -> Void) -> [UInt8] {
        var b: [UInt8] = [type]
        guard let first = list.first else { return b }
        be64(ref(first), &b)
        be64(UInt64(bitPattern: t(first)), &b)
        for e in list {
            varint(Int64(bitPattern: ref(e) &- ref(first)), &b)
            varint(t(e) - t(first), &b)
            body(e, &b)
        }
        return b
    }

    static func samples(_ list: [(ref: UInt64, t: Int64, v: Double)]) -> [UInt8] {
        entries(2, list, ref: \.ref, t: \.t) { s, b in be64(s.v.bitPattern, &b) }
    }

    static func tombstones(_ list: [(ref: UInt64, mint: Int64, maxt: Int64)]) -> [UInt8] {
        var b: [UInt8] = [3]
        for t in list { be64(t.ref, &b); varint(t.mint, &b); varint(t.maxt, &b) }
        return b
    }

    static func spans(_ h: [[HistogramSpan]], _ b: inout [UInt8]) {
        for spans in h {
            uvarint(UInt64(spans.count), &b)
            for sp in spans { varint(Int64(sp.offset), &b); uvarint(UInt64(sp.length), &b) }
        }
    }

    static func histograms(_ list: [(ref: UInt64, t: Int64, h: Histogram)]) -> [UInt8] {
        entries(7, list, ref: \.ref, t: \.t) { s, b in
            b.append(s.h.counterResetHint.rawValue)
            varint(Int64(s.h.schema), &b)
            be64(s.h.zeroThreshold.bitPattern, &b)
            uvarint(s.h.zeroCount, &b)
            uvarint(s.h.count, &b)
            be64(s.h.sum.bitPattern, &b)
            spans([s.h.positiveSpans, s.h.negativeSpans], &b)
            for buckets in [s.h.positiveBuckets, s.h.negativeBuckets] {
                uvarint(UInt64(buckets.count), &b)
                for v in buckets { varint(v, &b) }
            }
        }
    }

    static func floatHistograms(_ list: [(ref: UInt64, t: Int64, h: FloatHistogram)]) -> [UInt8] {
        entries(8, list, ref: \.ref, t: \.t) { s, b in
            b.append(s.h.counterResetHint.rawValue)
            varint(Int64(s.h.schema), &b)
            for f in [s.h.zeroThreshold, s.h.zeroCount, s.h.count, s.h.sum] { be64(f.bitPattern, &b) }
            spans([s.h.positiveSpans, s.h.negativeSpans], &b)
            for buckets in [s.h.positiveBuckets, s.h.negativeBuckets] {
                uvarint(UInt64(buckets.count), &b)
                for v in buckets { be64(v.bitPattern, &b) }
            }
        }
    }

    static func metadata(_ list: [(ref: UInt64, type: UInt8, unit: String, help: String)]) -> [UInt8] {
        var b: [UInt8] = [6]
        for m in list {
            uvarint(m.ref, &b)
            b.append(m.type)
            uvarint(2, &b)
            str("UNIT", &b); str(m.unit, &b)
            str("HELP", &b); str(m.help, &b)
        }
        return b
    }

    static func exemplars(_ list: [(ref: UInt64, t: Int64, v: Double, labels: [(String, String)])]) -> [UInt8] {
        entries(4, list, ref: \.ref, t: \.t) { e, b in
            be64(e.v.bitPattern, &b)
            uvarint(UInt64(e.labels.count), &b)
            for (n, v) in e.labels { str(n, &b); str(v, &b) }
        }
    }

    /// One segment: records cut into fragments (never across a 32 KiB page), a page with
    /// fewer than 7 bytes left zero-padded; the last page is left short, as after a crash.
    static func segment(_ records: [[UInt8]], flag: UInt8 = 0) -> (bytes: [UInt8], offsets: [Int]) {
        let page = WALFormat.pageSize
        var out: [UInt8] = []
        var offsets: [Int] = []
        for rec in records {
            offsets.append(out.count)
            var rest = rec[...]
            var first = true
            repeat {
                let room = page - out.count % page - 7
                let part = rest.prefix(room)
                rest = rest.dropFirst(part.count)
                let kind: UInt8 = first && rest.isEmpty ? 1 : rest.isEmpty ? 4 : first ? 2 : 3
                out.append(kind | flag)
                be16(UInt16(part.count), &out)
                be32(CRC32C.checksum(Array(part)), &out)
                out += part
                first = false
                if page - out.count % page < 7 { out += [UInt8](repeating: 0, count: page - out.count % page) }
            } while !rest.isEmpty
        }
        return (out, offsets)
    }

    /// Writes `wal/` segments (numbered from `first`) and an optional checkpoint into a new
    /// data directory; returns its path.
    static func dataDir(segments: [[[UInt8]]], first: Int = 0, checkpoint: (Int, [[UInt8]])? = nil) throws -> String {
        let dir = try Fixtures.tempDir("wal")
        let wal = dir + "/wal"
        try FileManager.default.createDirectory(atPath: wal, withIntermediateDirectories: true)
        for (k, recs) in segments.enumerated() {
            try Data(segment(recs).bytes).write(to: URL(fileURLWithPath: wal + "/" + WALFormat.segmentName(first + k)))
        }
        if let (n, recs) = checkpoint {
            let cp = wal + "/checkpoint." + WALFormat.segmentName(n)
            try FileManager.default.createDirectory(atPath: cp, withIntermediateDirectories: true)
            try Data(segment(recs).bytes).write(to: URL(fileURLWithPath: cp + "/00000000"))
        }
        return dir
    }
}

enum WALFixture {
    static var snappy: String { Fixtures.fixtures + "/wal/snappy" }
    static var zstd: String { Fixtures.fixtures + "/wal/zstd" }

    /// The recorded `promtool tsdb dump` of the snappy directory.
    static func oracle() throws -> String {
        let packed = try ByteStorage.map(path: Fixtures.fixtures + "/wal/promtool-dump.txt.zst")
        let text = try packed.withBytes(0..<packed.count) { (p) throws(TSDBError) in try WALDecompress.zstd(p, origin: 0) }
        return String(decoding: text, as: UTF8.self)
    }

    static func dump(_ head: Head, style: HeadDumpStyle) throws -> String {
        var out: [UInt8] = []
        try head.dump(style: style) { out += $0 }
        return String(decoding: out, as: UTF8.self)
    }

    /// Every record of a WAL directory, with the read report.
    static func records(_ wal: String) throws -> ([WALLocatedRecord], WALReadReport) {
        var r = try WALReader(path: wal)
        var out: [WALLocatedRecord] = []
        while let x = r.next() { out.append(x) }
        return (out, r.report)
    }

    /// A copy of a fixture directory to damage.
    static func copy(_ dir: String) throws -> String {
        let t = try Fixtures.tempDir("walcopy")
        try FileManager.default.copyItem(atPath: dir, toPath: t + "/data")
        return t + "/data"
    }
}
