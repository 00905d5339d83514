/// Decodes the record payloads of `tsdb/record` (Prometheus 2.x, types 1–8). Layouts are in
/// docs/format/wal.md. Offsets in errors are `origin` plus the position in the record.
///
/// Like Go's decoder, every entry must be whole and nothing may follow the last one. Unlike
/// it, counts read from the input are checked against the bytes left before anything is
/// allocated, and a type this decoder does not know is an `.unsupported` error.
public enum WALRecordDecoder {
    public static func decode(_ bytes: UnsafeRawBufferPointer, origin: Int = 0) throws(TSDBError) -> WALRecord {
        var r = ByteReader(bytes, origin: origin)
        guard !r.isAtEnd else { throw TSDBError(.corrupt, offset: origin, "empty record") }
        let type = WALRecordType(rawValue: try r.readUInt8())
        switch type {
        case .series: return .series(try series(&r))
        case .samples: return .samples(try samples(&r))
        case .tombstones: return .tombstones(try tombstones(&r))
        case .histogramSamples: return .histogramSamples(try histograms(&r))
        case .floatHistogramSamples: return .floatHistogramSamples(try floatHistograms(&r))
        case .exemplars: return .exemplars(count: try exemplars(&r))
        case .metadata: return .metadata(count: try metadata(&r))
        case .mmapMarkers: return .mmapMarkers(count: try mmapMarkers(&r))
        default:
            throw TSDBError(.unsupported, offset: origin, "unknown record type \(type.rawValue)")
        }
    }

    /// Series: `{ref u64, labels}` repeated.
    static func series(_ r: inout ByteReader) throws(TSDBError) -> [WALSeries] {
        var out: [WALSeries] = []
        while !r.isAtEnd {
            let ref = try r.readBE64()
            out.append(WALSeries(ref: ref, labels: try labels(&r)))
        }
        return out
    }

    /// `uvarint n`, then n × (name, value) strings. Kept in the order written (sorted by the
    /// writer), as Go's decoder keeps them.
    static func labels(_ r: inout ByteReader) throws(TSDBError) -> Labels {
        let at = r.position
        let n = try r.readUvarint()
        guard n <= UInt64(r.remaining / 2) else {
            throw TSDBError(.corrupt, offset: r.origin + at, "\(n) labels cannot fit in \(r.remaining) bytes")
        }
        var pairs: [Label] = []
        pairs.reserveCapacity(Int(n))
        for _ in 0..<n {
            let name = try string(&r)
            let value = try string(&r)
            pairs.append(Label(name: name, value: value))
        }
        return Labels(sortedUnchecked: pairs)
    }

    static func string(_ r: inout ByteReader) throws(TSDBError) -> String {
        let n = try r.readLength("label string")
        return String(decoding: try r.readBytes(n), as: UTF8.self)
    }

    /// Samples: `baseRef u64, baseT i64`, then `{varint dRef, varint dT, f64 value}` repeated.
    /// An empty record (type byte only) holds no samples.
    static func samples(_ r: inout ByteReader) throws(TSDBError) -> [WALFloatSample] {
        try entries(&r) { (r, ref, t) throws(TSDBError) in
            WALFloatSample(ref: ref, t: t, value: Double(bitPattern: try r.readBE64()))
        }
    }

    /// The shape shared by samples, exemplars and histogram records: `baseRef u64, baseT i64`,
    /// then entries that each start `varint dRef, varint dT`. A record with no entries may
    /// stop after its type byte.
    static func entries<T>(
        _ r: inout ByteReader, _ item: (inout ByteReader, UInt64, Int64) throws(TSDBError) -> T
    ) throws(TSDBError) -> [T] {
        guard !r.isAtEnd else { return [] }
        let baseRef = try r.readBE64()
        let baseT = Int64(bitPattern: try r.readBE64())
        var out: [T] = []
        while !r.isAtEnd {
            let dRef = try r.readVarint()
            let dT = try r.readVarint()
            out.append(try item(&r, baseRef &+ UInt64(bitPattern: dRef), baseT &+ dT))
        }
        return out
    }

    /// Tombstones: `{ref u64, varint mint, varint maxt}` repeated.
    static func tombstones(_ r: inout ByteReader) throws(TSDBError) -> [WALTombstone] {
        var out: [WALTombstone] = []
        while !r.isAtEnd {
            let ref = try r.readBE64()
            let mint = try r.readVarint()
            let maxt = try r.readVarint()
            out.append(WALTombstone(ref: ref, minTime: mint, maxTime: maxt))
        }
        return out
    }

    /// Exemplars: like samples, each followed by its own label set.
    static func exemplars(_ r: inout ByteReader) throws(TSDBError) -> Int {
        try entries(&r) { (r, _, _) throws(TSDBError) in
            _ = try r.readBE64()
            _ = try labels(&r)
        }.count
    }

    /// Metadata: `{uvarint ref, u8 type, uvarint nFields, nFields × (name, value)}` repeated.
    static func metadata(_ r: inout ByteReader) throws(TSDBError) -> Int {
        var n = 0
        while !r.isAtEnd {
            _ = try r.readUvarint()
            _ = try r.readUInt8()
            let at = r.position
            let fields = try r.readUvarint()
            guard fields <= UInt64(r.remaining / 2) else {
                throw TSDBError(.corrupt, offset: r.origin + at, "\(fields) metadata fields cannot fit in \(r.remaining) bytes")
            }
            for _ in 0..<fields {
                _ = try r.readBytes(try r.readLength("metadata name"))
                _ = try r.readBytes(try r.readLength("metadata value"))
            }
            n += 1
        }
        return n
    }

    /// Mmap markers (out-of-order log): `{ref u64, chunk ref u64}` repeated.
    static func mmapMarkers(_ r: inout ByteReader) throws(TSDBError) -> Int {
        var n = 0
        while !r.isAtEnd {
            _ = try r.readBE64()
            _ = try r.readBE64()
            n += 1
        }
        return n
    }

    /// Histogram samples: after dRef and dT, `u8 hint, varint schema, f64 zeroThreshold,
    /// uvarint zeroCount, uvarint count, f64 sum`, positive then negative spans, positive then
    /// negative bucket deltas (varints).
    static func histograms(_ r: inout ByteReader) throws(TSDBError) -> [WALHistogramSample] {
        try entries(&r) { (r, ref, t) throws(TSDBError) in
            var h = Histogram()
            (h.counterResetHint, h.schema, h.zeroThreshold) = try layout(&r)
            h.zeroCount = try r.readUvarint()
            h.count = try r.readUvarint()
            h.sum = Double(bitPattern: try r.readBE64())
            (h.positiveSpans, h.negativeSpans) = (try spans(&r), try spans(&r))
            h.positiveBuckets = try count(&r, minBytes: 1) { (r) throws(TSDBError) in try r.readVarint() }
            h.negativeBuckets = try count(&r, minBytes: 1) { (r) throws(TSDBError) in try r.readVarint() }
            return WALHistogramSample(ref: ref, t: t, histogram: h)
        }
    }

    /// Float histogram samples: as histograms, with zeroCount, count and every bucket an f64.
    static func floatHistograms(_ r: inout ByteReader) throws(TSDBError) -> [WALFloatHistogramSample] {
        try entries(&r) { (r, ref, t) throws(TSDBError) in
            var h = FloatHistogram()
            (h.counterResetHint, h.schema, h.zeroThreshold) = try layout(&r)
            h.zeroCount = Double(bitPattern: try r.readBE64())
            h.count = Double(bitPattern: try r.readBE64())
            h.sum = Double(bitPattern: try r.readBE64())
            (h.positiveSpans, h.negativeSpans) = (try spans(&r), try spans(&r))
            h.positiveBuckets = try count(&r, minBytes: 8) { (r) throws(TSDBError) in Double(bitPattern: try r.readBE64()) }
            h.negativeBuckets = try count(&r, minBytes: 8) { (r) throws(TSDBError) in Double(bitPattern: try r.readBE64()) }
            return WALFloatHistogramSample(ref: ref, t: t, histogram: h)
        }
    }

    /// `u8 counter reset hint, varint schema, f64 zero threshold`.
    static func layout(_ r: inout ByteReader) throws(TSDBError) -> (HistogramCounterResetHint, Int32, Double) {
        (try hint(&r), try schema(&r), Double(bitPattern: try r.readBE64()))
    }

    static func hint(_ r: inout ByteReader) throws(TSDBError) -> HistogramCounterResetHint {
        let at = r.position
        let b = try r.readUInt8()
        guard let h = HistogramCounterResetHint(rawValue: b) else {
            throw TSDBError(.corrupt, offset: r.origin + at, "counter reset hint \(b) is not 0...3")
        }
        return h
    }

    static func schema(_ r: inout ByteReader) throws(TSDBError) -> Int32 {
        let at = r.position
        let v = try r.readVarint()
        guard let s = Int32(exactly: v) else {
            throw TSDBError(.corrupt, offset: r.origin + at, "histogram schema \(v) does not fit in 32 bits")
        }
        return s
    }

    /// `uvarint n`, then n × `{varint offset, uvarint length}`.
    static func spans(_ r: inout ByteReader) throws(TSDBError) -> [HistogramSpan] {
        try count(&r, minBytes: 2) { (r) throws(TSDBError) in
            let at = r.position
            let offset = try r.readVarint()
            guard let o = Int32(exactly: offset) else {
                throw TSDBError(.corrupt, offset: r.origin + at, "span offset \(offset) does not fit in 32 bits")
            }
            return HistogramSpan(offset: o, length: try r.readUvarint32())
        }
    }

    /// `uvarint n` followed by n items, each at least `minBytes` long.
    static func count<T>(
        _ r: inout ByteReader, minBytes: Int, _ item: (inout ByteReader) throws(TSDBError) -> T
    ) throws(TSDBError) -> [T] {
        let at = r.position
        let n = try r.readUvarint()
        guard n <= UInt64(r.remaining / minBytes) else {
            throw TSDBError(.corrupt, offset: r.origin + at, "\(n) entries cannot fit in \(r.remaining) bytes")
        }
        var out: [T] = []
        out.reserveCapacity(Int(n))
        for _ in 0..<n { out.append(try item(&r)) }
        return out
    }
}
