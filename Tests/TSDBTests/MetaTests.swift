import Foundation
import Testing
import TestSupport
@testable import TSDB

@Suite("meta.json, markers, ULID, tombstones")
struct MetaTests {
    @Test("ULIDs round-trip and reject bad text")
    func ulid() throws {
        let s = "01ARYZ6S41TSV4RRFFQ69G5FAV"
        let u = try #require(ULID(s))
        #expect(u.description == s)
        #expect(u.timestamp == 1_469_918_176_385)
        #expect(ULID("01aryz6s41tsv4rrffq69g5fav") == u)
        #expect(ULID("01ARZ3NDEKTSV4RRFFQ69G5FA") == nil)
        #expect(ULID("81ARZ3NDEKTSV4RRFFQ69G5FAV") == nil)  // overflows 128 bits
        #expect(ULID("01ARZ3NDEKTSV4RRFFQ69G5FA!") == nil)
        var g = SeededRandom(seed: 1)
        let n = ULID(milliseconds: 1_700_000_000_000, random: &g)
        #expect(n.timestamp == 1_700_000_000_000)
        #expect(ULID(n.description) == n)
    }

    @Test("every fixture meta.json re-serialises byte-for-byte as Go wrote it")
    func fixtureMetaRoundTrip() throws {
        let blocks = Fixtures.allBlocks
        try #require(!blocks.isEmpty, "fixtures are missing: run scripts/make-fixtures.sh")
        for b in blocks {
            let raw = try #require(FileManager.default.contents(atPath: b + "/meta.json"))
            let meta = try BlockMeta(bytes: raw, file: b)
            #expect(meta.ulid.description == (b as NSString).lastPathComponent)
            #expect(meta.version == 1)
            #expect(meta.minTime < meta.maxTime)
            let text = String(decoding: raw, as: UTF8.self)
            #expect(meta.serialized() == text.trimmingCharacters(in: .newlines), "\(b)")
        }
    }

    @Test("unknown fields survive, typed edits land in place")
    func unknownFields() throws {
        let text = """
            {"ulid":"01ARZ3NDEKTSV4RRFFQ69G5FAV","minTime":1,"maxTime":7200001,"stats":{"numSamples":5,"numSeries":1,"numChunks":1},\
            "compaction":{"level":1,"sources":["01ARZ3NDEKTSV4RRFFQ69G5FAV"]},"version":1,"future":{"x":[1,2.5e3,null,true]},\
            "thanos":{"labels":{"cluster":"demo"},"downsample":{"resolution":0},"source":"sidecar","extensions":{"a":1},\
            "files":[{"rel_path":"index","size_bytes":10},{"rel_path":"meta.json"}]}}
            """
        var m = try BlockMeta(bytes: Array(text.utf8))
        #expect(m.thanos?.labels == ["cluster": "demo"])
        #expect(m.thanos?.files.count == 2)
        #expect(m.thanos?.files[1].sizeBytes == nil)
        m.stats.numSamples = 9
        m.thanos?.labels["replica"] = "1"
        let back = try BlockMeta(bytes: Array(m.serialized().utf8))
        #expect(back.stats.numSamples == 9)
        #expect(back.document["future"] == m.document["future"])
        #expect(back.document["future"]?["x"]?.arrayValue?[1] == .number("2.5e3"))
        #expect(back.document["thanos"]?["extensions"]?["a"] == .number("1"))
        #expect(back.thanos?.labels == ["cluster": "demo", "replica": "1"])
    }

    @Test("broken meta.json names the field", arguments: [
        "{", "[]", "{\"ulid\":\"nope\",\"minTime\":0,\"maxTime\":1,\"version\":1}",
        "{\"ulid\":\"01ARZ3NDEKTSV4RRFFQ69G5FAV\",\"maxTime\":1,\"version\":1}",
        "{\"ulid\":\"01ARZ3NDEKTSV4RRFFQ69G5FAV\",\"minTime\":\"0\",\"maxTime\":1,\"version\":1}",
    ])
    func badMeta(text: String) {
        #expect(throws: TSDBError.self) { try BlockMeta(bytes: Array(text.utf8), file: "x/meta.json") }
        do { _ = try BlockMeta(bytes: Array(text.utf8), file: "x/meta.json") } catch {
            #expect(error.file == "x/meta.json")
        }
    }

    @Test("markers parse and serialise")
    func markers() throws {
        let id = try #require(ULID("01ARZ3NDEKTSV4RRFFQ69G5FAV"))
        let m = Marker(kind: .noCompact, id: id, details: "too big", time: 1_700_000_000, reason: "manual")
        let back = try Marker(kind: .noCompact, bytes: Array(m.serialized().utf8), file: "no-compact-mark.json")
        #expect(back == m)
        let d = #"{"id":"01ARZ3NDEKTSV4RRFFQ69G5FAV","version":1,"details":"","deletion_time":1700000000}"#
        #expect(try Marker(kind: .deletion, bytes: Array(d.utf8), file: "m").time == 1_700_000_000)
        #expect(throws: TSDBError.self) {
            try Marker(kind: .deletion, bytes: Array(#"{"id":"01ARZ3NDEKTSV4RRFFQ69G5FAV","version":2}"#.utf8), file: "m")
        }
    }

    @Test("tombstones: the empty file, entries, and damage")
    func tombstones() throws {
        let empty: [UInt8] = [0x01, 0x30, 0xba, 0x30, 0x01, 0x00, 0x00, 0x00, 0x00]
        #expect(try empty.withUnsafeBytes { try Tombstones(bytes: $0) }.isEmpty)
        // One entry: series 3, [10, 20].
        let body: [UInt8] = [0x03, 0x14, 0x28]
        let crc = CRC32C.checksum(body)
        let file = [0x01, 0x30, 0xba, 0x30, 0x01] + body + withUnsafeBytes(of: crc.bigEndian) { Array($0) }
        let t = try file.withUnsafeBytes { try Tombstones(bytes: $0) }
        #expect(t.isDeleted(3, 10) && t.isDeleted(3, 20) && !t.isDeleted(3, 21) && !t.isDeleted(2, 15))
        for n in 0..<file.count {
            #expect(throws: TSDBError.self) { try Array(file[..<n]).withUnsafeBytes { try Tombstones(bytes: $0) } }
        }
        var flipped = file
        flipped[6] ^= 0x10
        #expect(throws: TSDBError.self) { try flipped.withUnsafeBytes { try Tombstones(bytes: $0) } }
    }
}
