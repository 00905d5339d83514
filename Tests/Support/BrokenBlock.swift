import Foundation
import TSDB

/// A copy of a real fixture block, to be broken one way at a time for the verify and repair
/// tests: its index rewritten from an edited series list (with IndexBuilder; meta.json
/// stats kept consistent so only the intended fault shows), chunk bytes flipped, chunks
/// appended in a new segment file, meta.json edited.
public struct BrokenBlock {
    public typealias Series = ([(String, String)], [ChunkMeta])
    /// The temporary directory holding the copy (remove with `Fixtures.cleanup`).
    public let work: String
    /// The block directory of the copy.
    public let dir: String
    /// The unbroken fixture block.
    public let original: String

    public init(copying src: String) throws {
        work = try Fixtures.tempDir("broken")
        dir = work + "/" + (src as NSString).lastPathComponent
        original = src
        try FileManager.default.copyItem(atPath: src, toPath: dir)
    }

    /// A block already in place (inside a bucket directory) to break; `original` is its
    /// unbroken source. `work` is then the block directory itself.
    public init(at dir: String, original: String) {
        work = dir
        self.dir = dir
        self.original = original
    }

    public func block() throws -> Block { try Block(directory: dir) }

    /// The series as the index holds them, in index order.
    public func series() throws -> [Series] {
        let b = try block()
        var out: [Series] = []
        for r in try b.index.allPostings() {
            let (l, c) = try b.index.seriesLabels(r)
            out.append((l.pairs.map { ($0.name, $0.value) }, c))
        }
        return out
    }

    /// Writes a new index from `series` and makes meta.json's stats agree with it; the
    /// Thanos files list is dropped (file sizes changed; that list has its own test).
    public func rewriteIndex(_ series: [Series]) throws {
        let b = try block()
        try Data(IndexBuilder(series: series).build(.v2WithLabelIndices)).write(to: URL(fileURLWithPath: dir + "/index"))
        var m = b.meta
        m.stats.numSeries = UInt64(series.count)
        m.stats.numChunks = UInt64(series.reduce(0) { $0 + $1.1.count })
        let fresh = try block()
        var samples: UInt64 = 0
        for (_, cs) in series {
            for c in cs { samples += (try? fresh.chunks.chunk(c.ref).withData { UInt64($0[0]) << 8 | UInt64($0[1]) }) ?? 0 }
        }
        m.stats.numSamples = samples
        m.thanos?.files = []
        try writeMeta(m)
    }

    public func editMeta(_ change: (inout BlockMeta) -> Void) throws {
        var m = try block().meta
        change(&m)
        try writeMeta(m)
    }

    func writeMeta(_ m: BlockMeta) throws {
        try (m.serialized() + "\n").write(toFile: dir + "/meta.json", atomically: true, encoding: .utf8)
    }

    /// XORs one byte of a chunk's data (`at` from the start of its payload).
    public func flip(_ c: ChunkMeta, at: Int, mask: UInt8 = 0x40) throws {
        let raw = try block().chunks.chunk(c.ref)
        let path = dir + "/chunks/" + segmentName(c.ref.segment)
        var d = try Data(contentsOf: URL(fileURLWithPath: path))
        d[raw.dataRange.lowerBound + at] ^= mask
        try d.write(to: URL(fileURLWithPath: path))
    }

    /// Replaces a chunk's payload bytes in place (same length) and writes a matching CRC,
    /// so only decoding can tell.
    public func rewritePayload(_ c: ChunkMeta, _ change: (inout [UInt8]) -> Void) throws {
        let raw = try block().chunks.chunk(c.ref)
        let path = dir + "/chunks/" + segmentName(c.ref.segment)
        var d = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        var payload = Array(d[raw.dataRange])
        let n = payload.count
        change(&payload)
        precondition(payload.count == n, "a rewritten payload keeps its length")
        d.replaceSubrange(raw.dataRange, with: payload)
        let crc = CRC32C.checksum(Array(d[(raw.dataRange.lowerBound - 1)..<raw.dataRange.upperBound]))
        var be: [UInt8] = []
        IndexBuilder.be32(crc, &be)
        d.replaceSubrange(raw.dataRange.upperBound..<(raw.dataRange.upperBound + 4), with: be)
        try Data(d).write(to: URL(fileURLWithPath: path))
    }

    /// Writes a new segment file holding one chunk; returns its ref.
    public func appendChunk(_ encoding: ChunkEncoding, _ data: [UInt8]) throws -> ChunkRef {
        let segs = try block().chunks.segmentNames.count
        var f: [UInt8] = []
        IndexBuilder.be32(0x85BD_40DD, &f)
        f += [1, 0, 0, 0]
        IndexBuilder.uvarint(UInt64(data.count), &f)
        let body = [encoding.rawValue] + data
        f += body
        IndexBuilder.be32(CRC32C.checksum(body), &f)
        try Data(f).write(to: URL(fileURLWithPath: dir + "/chunks/" + segmentName(segs)))
        return ChunkRef(segment: segs, offset: 8)
    }

    /// The decoded float samples of a chunk.
    public func samples(_ c: ChunkMeta) throws -> ([Int64], [Double]) {
        var ts: [Int64] = [], vs: [Double] = []
        try block().chunks.chunk(c.ref).withData { try XORIterator.decodeAll($0, timestamps: &ts, values: &vs) }
        return (ts, vs)
    }

    func segmentName(_ i: Int) -> String {
        let s = String(i + 1)
        return String(repeating: "0", count: max(0, 6 - s.count)) + s
    }
}

extension Array where Element == BrokenBlock.Series {
    /// Series `i` given twice in a row: its first chunk in the first entry, the rest in the
    /// second (a duplicate series whose merge loses nothing).
    public func splitting(_ i: Int) -> [BrokenBlock.Series] {
        var all = self
        var second = all[i]
        second.1 = [ChunkMeta](all[i].1.dropFirst())
        all[i].1 = [all[i].1[0]]
        all.insert(second, at: i + 1)
        return all
    }
}

/// The lines of a `promtool tsdb dump`, to derive what a repaired block must dump:
/// `{labels} value timestamp`, series in label order, samples in time order.
public struct DumpText {
    public struct Line: Equatable {
        public var series: String
        public var value: String
        public var t: Int64
        var text: String { "\(series) \(value) \(t)" }
    }
    public var lines: [Line]

    public init(_ text: String) {
        lines = text.split(separator: "\n").map { l in
            let parts = l.split(separator: " ", omittingEmptySubsequences: false)
            let t = Int64(parts[parts.count - 1]) ?? 0
            return Line(series: parts[..<(parts.count - 2)].joined(separator: " "), value: String(parts[parts.count - 2]), t: t)
        }
    }

    public var text: String { lines.map(\.text).joined(separator: "\n") + (lines.isEmpty ? "" : "\n") }

    /// Without a series' samples in `range`.
    public func removing(_ series: String, _ range: ClosedRange<Int64>) -> DumpText {
        var d = self
        d.lines.removeAll { $0.series == series && range.contains($0.t) }
        return d
    }

    /// With extra samples of a series (kept in time order, after equal timestamps).
    public func adding(_ series: String, _ extra: [(value: String, t: Int64)]) -> DumpText {
        var d = self
        for e in extra {
            let line = Line(series: series, value: e.value, t: e.t)
            if let i = d.lines.lastIndex(where: { $0.series == series && $0.t <= e.t }) {
                d.lines.insert(line, at: i + 1)
            } else if let i = d.lines.firstIndex(where: { $0.series == series }) {
                d.lines.insert(line, at: i)
            } else {
                d.lines.append(line)
            }
        }
        return d
    }

    public func values(_ series: String) -> [(value: String, t: Int64)] {
        lines.filter { $0.series == series }.map { ($0.value, $0.t) }
    }
}
