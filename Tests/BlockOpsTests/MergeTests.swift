import Testing
@testable import TSDB
@testable import BlockOps

/// The chunk merger against the vectors of Thanos' `TestDedupChunkSeriesMerger` (penalty)
/// and Prometheus' `TestCompactingChunkSeriesMerger` (chain): each input chunk is a list of
/// (t, v) samples; the expected output is the list of chunks the merger must produce.
@Suite("Chunk merging: chain and penalty, chunk by chunk")
struct MergeTests {
    typealias Chunk = [(Int64, Double)]

    static func chunk(_ samples: Chunk, input: Int) -> MergeChunk {
        var e = XOREncoder()
        for (t, v) in samples { e.append(t, v) }
        let bytes = e.bytes()
        let storage = ByteStorage(copying: [0x00] + bytes + [0, 0, 0, 0])
        // A RawChunk over a record-shaped buffer: length byte, payload, CRC placeholder.
        let raw = RawChunk(encoding: .xor, storage: storage, dataRange: 1..<(1 + bytes.count), start: 0)
        return MergeChunk(minTime: samples.first!.0, maxTime: samples.last!.0, input: input, body: .raw(raw))
    }

    static func decode(_ out: [OutputChunk]) throws -> [Chunk] {
        try out.map { c in
            var ts: [Int64] = [], vs: [Double] = []
            switch c.payload {
            case .record(let r): try r.withData { try XORIterator.decodeAll($0, timestamps: &ts, values: &vs) }
            case .encoded(_, let d): try d.withUnsafeBytes { try XORIterator.decodeAll($0, timestamps: &ts, values: &vs) }
            }
            #expect(ts.first == c.minTime && ts.last == c.maxTime)
            return Array(zip(ts, vs))
        }
    }

    static func s(_ ts: Int64...) -> Chunk { ts.map { ($0, Double($0)) } }
    static func range(_ from: Int64, _ n: Int64) -> Chunk { (from..<(from + n)).map { ($0, Double($0)) } }

    static func run(_ f: MergeFunction, _ series: [[Chunk]]) throws -> [Chunk] {
        var input: [MergeChunk] = []
        for (i, chunks) in series.enumerated() { for c in chunks { input.append(chunk(c, input: i)) } }
        var m = ChunkMerger(function: f)
        var out: [OutputChunk] = []
        try m.merge(input, into: &out)
        return try decode(out)
    }

    static func same(_ a: [Chunk], _ b: [Chunk]) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { x, y in x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 } }
    }

    static let penaltyCases: [(String, [[Chunk]], [Chunk])] = [
        ("single series", [[s(1, 2), s(3)]], [s(1, 2), s(3)]),
        ("two non overlapping", [[s(1, 2), s(3, 5)], [s(7, 9), s(10)]], [s(1, 2), s(3, 5), s(7, 9), s(10)]),
        ("two overlapping", [[s(1, 2), s(3, 8)], [s(7, 9), s(10)]], [s(1, 2), s(3, 8), s(10)]),
        ("two overlapping with large time diff", [[s(1, 2), s(2, 5008)], [s(7, 9), s(10)]], [s(1, 2, 5008)]),
        ("two duplicated", [[s(1, 2, 3, 5)], [s(2, 3, 5)]], [s(1, 2, 3, 5)]),
        ("three overlapping", [[s(1, 2, 3, 5)], [s(2, 3, 6)], [s(0, 4)]], [s(0, 4)]),
        ("three in chained overlap", [[s(1, 2, 3, 5)], [[(4, 4), (6, 66)]], [s(6, 10)]], [s(1, 2, 3, 5)]),
        ("three in chained overlap complex", [[s(0, 5), s(10, 15)], [s(2, 20), s(25, 30)], [s(18, 26), s(31, 35)]], [s(0, 5), s(31, 35)]),
        ("110 overlapping samples", [[range(0, 110)], [range(60, 50)]], [range(0, 110)]),
        ("150 overlapping samples, no chunk splitting", [[range(0, 90)], [range(60, 90)]], [range(0, 90)]),
    ]

    @Test("penalty: Thanos' vectors", arguments: penaltyCases)
    func penalty(name: String, input: [[Chunk]], want: [Chunk]) throws {
        let got = try Self.run(.penalty, input)
        #expect(Self.same(got, want), "\(name): \(got)")
    }

    static let chainCases: [(String, [[Chunk]], [Chunk])] = [
        ("two non overlapping", [[s(1, 2), s(3, 5)], [s(7, 9), s(10)]], [s(1, 2), s(3, 5), s(7, 9), s(10)]),
        ("two overlapping", [[s(1, 2), s(3, 8)], [s(7, 9), s(10)]], [s(1, 2), s(3, 7, 8, 9), s(10)]),
        ("two duplicated", [[s(1, 2, 3, 5)], [s(2, 3, 5)]], [s(1, 2, 3, 5)]),
        ("three overlapping", [[s(1, 2, 3, 5)], [s(2, 3, 6)], [s(0, 4)]], [s(0, 1, 2, 3, 4, 5, 6)]),
        ("three in chained overlap", [[s(1, 2, 3, 5)], [s(4, 6)], [s(6, 10)]], [s(1, 2, 3, 4, 5, 6, 10)]),
        ("exact 1:1 duplicate chunks are dropped, not merged", [[s(1, 2)], [s(1, 2)], [s(3)]], [s(1, 2), s(3)]),
        ("150 overlapping samples are split at 120", [[range(0, 90)], [range(60, 90)]], [range(0, 120), range(120, 30)]),
    ]

    @Test("chain: one sample per timestamp, 120 per chunk", arguments: chainCases)
    func chain(name: String, input: [[Chunk]], want: [Chunk]) throws {
        let got = try Self.run(.chain, input)
        #expect(Self.same(got, want), "\(name): \(got)")
    }

    @Test("chunks that overlap nothing are copied as the same bytes")
    func copiesUntouched() throws {
        let input = [Self.chunk(Self.s(1, 2), input: 0), Self.chunk(Self.s(5, 6), input: 1)]
        var m = ChunkMerger()
        var out: [OutputChunk] = []
        try m.merge(input, into: &out)
        #expect(m.copied == 2 && m.reencoded == 0)
        for c in out { if case .record = c.payload {} else { Issue.record("re-encoded a chunk that overlapped nothing") } }
    }

    @Test("overlapping histogram chunks are refused, not mangled")
    func refusesHistograms() {
        let storage = ByteStorage(copying: [0, 0, 1, 0, 0, 0, 0, 0])
        let raw = RawChunk(encoding: .histogram, storage: storage, dataRange: 1..<4, start: 0)
        let a = MergeChunk(minTime: 1, maxTime: 5, input: 0, body: .raw(raw))
        let b = MergeChunk(minTime: 3, maxTime: 9, input: 1, body: .raw(raw))
        var m = ChunkMerger()
        var out: [OutputChunk] = []
        #expect(throws: MergeFailure.self) { try m.merge([a, b], into: &out) }
    }
}
