/// The index's table of contents: six absolute section offsets at the end of the file.
public struct TOC: Equatable, Sendable {
    public static let size = 52  // 6 x uint64 + CRC32C

    public var symbols: UInt64
    public var series: UInt64
    public var labelIndices: UInt64
    public var labelIndicesTable: UInt64
    public var postings: UInt64
    public var postingsTable: UInt64

    public init(symbols: UInt64, series: UInt64, labelIndices: UInt64, labelIndicesTable: UInt64,
                postings: UInt64, postingsTable: UInt64) {
        self.symbols = symbols
        self.series = series
        self.labelIndices = labelIndices
        self.labelIndicesTable = labelIndicesTable
        self.postings = postings
        self.postingsTable = postingsTable
    }

    /// Reads and checks the TOC at the end of `bytes` (a whole index file).
    public init(indexBytes bytes: UnsafeRawBufferPointer) throws(TSDBError) {
        guard bytes.count >= IndexReader.headerSize + TOC.size else {
            throw TSDBError(.truncated, section: "TOC", offset: 0,
                            "index of \(bytes.count) bytes is shorter than header and TOC (\(5 + TOC.size))")
        }
        let at = bytes.count - TOC.size
        try CRC32C.verify(bytes, at..<(at + 48), crcAt: at + 48, origin: 0)
        var r = ByteReader(bytes, position: at)
        symbols = try r.readBE64()
        series = try r.readBE64()
        labelIndices = try r.readBE64()
        labelIndicesTable = try r.readBE64()
        postings = try r.readBE64()
        postingsTable = try r.readBE64()
        let limit = UInt64(at)
        let fields: [(String, UInt64)] = [
            ("symbols", symbols), ("series", series), ("label indices", labelIndices),
            ("label offset table", labelIndicesTable), ("postings", postings), ("postings offset table", postingsTable),
        ]
        for (name, v) in fields where v > limit || (v != 0 && v < UInt64(IndexReader.headerSize)) {
            throw TSDBError(.corrupt, section: "TOC", offset: at,
                            "\(name) offset \(v) lies outside the index body [5, \(limit))")
        }
    }

    /// The label index sections that Prometheus 2.x and 3.0-3.6 write; absent from 3.7 on,
    /// where the label offset table offset equals the postings offset table's.
    public var hasLabelIndices: Bool {
        labelIndicesTable != 0 && labelIndicesTable != postingsTable
    }
}
