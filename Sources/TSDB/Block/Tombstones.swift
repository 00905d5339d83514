/// A deletion request: samples of series `ref` with mint <= t <= maxt are gone.
public struct Tombstone: Hashable, Sendable {
    public var series: SeriesRef
    public var minTime: Int64
    public var maxTime: Int64
    public init(series: SeriesRef, minTime: Int64, maxTime: Int64) {
        self.series = series
        self.minTime = minTime
        self.maxTime = maxTime
    }
}

/// The `tombstones` file: magic, version, then (series, mint, maxt) triples and a CRC32C
/// over the triples. Layout: docs/format/tombstones.md.
public struct Tombstones: Sendable, Equatable {
    public static let magic: UInt32 = 0x0130_BA30
    public private(set) var intervals: [SeriesRef: [ClosedRange<Int64>]] = [:]
    public private(set) var count = 0

    public init() {}

    public init(bytes b: UnsafeRawBufferPointer, file: String = "tombstones") throws(TSDBError) {
        do throws(TSDBError) {
            guard b.count >= 9 else {
                throw TSDBError(.truncated, offset: 0, "tombstones file of \(b.count) bytes, at least 9 needed")
            }
            var r = ByteReader(b)
            let m = try r.readBE32()
            guard m == Self.magic else {
                throw TSDBError(.corrupt, offset: 0, "bad magic \(hex32(m)), want \(hex32(Self.magic))")
            }
            let v = try r.readUInt8()
            guard v == 1 else { throw TSDBError(.unsupported, offset: 4, "tombstones version \(v)") }
            let end = b.count - 4
            try CRC32C.verify(b, 5..<end, crcAt: end, origin: 0)
            var e = ByteReader(UnsafeRawBufferPointer(rebasing: b[..<end]), position: 5)
            while !e.isAtEnd {
                let at = e.position
                let ref = try e.readUvarint()
                let mint = try e.readVarint()
                let maxt = try e.readVarint()
                guard mint <= maxt else {
                    throw TSDBError(.corrupt, offset: at, "tombstone interval [\(mint), \(maxt)] is reversed")
                }
                add(Tombstone(series: ref, minTime: mint, maxTime: maxt))
            }
        } catch {
            throw error.located(file: file, section: "tombstones")
        }
    }

    public mutating func add(_ t: Tombstone) {
        intervals[t.series, default: []].append(t.minTime...t.maxTime)
        count += 1
    }

    /// Whether sample time `t` of series `ref` is deleted.
    @inlinable
    public func isDeleted(_ ref: SeriesRef, _ t: Int64) -> Bool {
        guard let iv = intervals[ref] else { return false }
        return iv.contains { $0.contains(t) }
    }

    public var isEmpty: Bool { intervals.isEmpty }
}

extension Tombstones {
    /// The file's bytes: magic, version 1, the intervals (by series, then time), and the
    /// CRC32C of the intervals. No tombstones give the 9-byte empty file.
    public func serialized() -> [UInt8] {
        var w = ByteWriter(capacity: 9 + count * 12)
        w.putBE32(Self.magic)
        w.putByte(1)
        for ref in intervals.keys.sorted() {
            for iv in intervals[ref]!.sorted(by: { $0.lowerBound < $1.lowerBound }) {
                w.putUvarint(ref)
                w.putVarint(iv.lowerBound)
                w.putVarint(iv.upperBound)
            }
        }
        w.putCRC(from: 5)
        return w.bytes
    }
}
