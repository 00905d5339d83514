import Foundation
import ObjectStore
import Testing

/// The behaviour every `Bucket` must have (after thanos-io/objstore's acceptance test).
/// Call with an empty bucket; it leaves the bucket empty again.
public func bucketAcceptance(_ b: any Bucket, bigUpload: Int = 3 << 20) async throws {
    func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

    // Missing objects are a distinct, testable error everywhere.
    await expectKind(.notFound) { _ = try await b.get("id1/obj_1.some") }
    await expectKind(.notFound) { _ = try await b.attributes("id1/obj_1.some") }
    await expectKind(.notFound) { try await b.delete("id1/obj_1.some") }
    #expect(try await b.exists("id1/obj_1.some") == false)
    #expect(try await b.list(prefix: "", recursive: true).isEmpty)

    try await b.upload("id1/obj_1.some", bytes: bytes("@test-data@"))
    #expect(try await b.exists("id1/obj_1.some"))
    #expect(try await b.get("id1/obj_1.some") == bytes("@test-data@"))
    let a = try await b.attributes("id1/obj_1.some")
    #expect(a.size == 11)
    #expect(abs(a.lastModified - Date().timeIntervalSince1970) < 600)

    // Ranges, including ones running past the end and a zero-length one.
    #expect(try await b.getRange("id1/obj_1.some", offset: 1, length: 3) == bytes("tes"))
    #expect(try await b.getRange("id1/obj_1.some", offset: 3, length: nil) == bytes("st-data@"))
    #expect(try await b.getRange("id1/obj_1.some", offset: 5, length: 1000) == bytes("-data@"))
    #expect(try await b.getRange("id1/obj_1.some", offset: 0, length: 0) == [])
    await expectKind(.invalidRange) { _ = try await b.getRange("id1/obj_1.some", offset: 100, length: 1) }

    // Overwrite is allowed and idempotent.
    try await b.upload("id1/obj_1.some", bytes: bytes("@test-data2@"))
    try await b.upload("id1/obj_1.some", bytes: bytes("@test-data2@"))
    #expect(try await b.get("id1/obj_1.some") == bytes("@test-data2@"))

    // Empty objects.
    try await b.upload("id1/empty", bytes: [])
    #expect(try await b.get("id1/empty") == [])
    #expect(try await b.attributes("id1/empty").size == 0)

    try await b.upload("id1/obj_2.some", bytes: bytes("x"))
    try await b.upload("id1/sub/obj_3.some", bytes: bytes("y"))
    try await b.upload("id2/obj_4.some", bytes: bytes("z"))
    try await b.upload("obj_5.some", bytes: bytes("w"))

    #expect(try await b.list(prefix: "", recursive: false) == ["id1/", "id2/", "obj_5.some"])
    #expect(try await b.list(prefix: "id1/", recursive: false) == ["id1/empty", "id1/obj_1.some", "id1/obj_2.some", "id1/sub/"])
    #expect(try await b.list(prefix: "id1/", recursive: true) == ["id1/empty", "id1/obj_1.some", "id1/obj_2.some", "id1/sub/obj_3.some"])
    #expect(try await b.list(prefix: "id1/obj_", recursive: true) == ["id1/obj_1.some", "id1/obj_2.some"])
    #expect(try await b.list(prefix: "nothing/", recursive: false).isEmpty)

    // Streaming to and from files; a big file goes through the block path where there is one.
    let dir = NSTemporaryDirectory() + "blockyard-acceptance-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    var rng = SeededRandom(seed: 11)
    let big = (0..<bigUpload).map { _ in UInt8.random(in: 0...255, using: &rng) }
    try Data(big).write(to: URL(fileURLWithPath: dir + "/big"))
    try await b.upload("id3/big", fromFile: dir + "/big")
    #expect(try await b.attributes("id3/big").size == Int64(big.count))
    try await b.download("id3/big", toFile: dir + "/big.back")
    #expect(try Data(contentsOf: URL(fileURLWithPath: dir + "/big.back")) == Data(big))
    #expect(try await b.getRange("id3/big", offset: 1_000_000, length: 17) == Array(big[1_000_000..<1_000_017]))
    await expectKind(.notFound) { try await b.download("id3/missing", toFile: dir + "/missing") }
    #expect(!FileManager.default.fileExists(atPath: dir + "/missing"), "a failed download left a file behind")
    await expectKind(.io) { try await b.upload("id3/x", fromFile: dir + "/does-not-exist") }

    // Delete everything; the bucket lists empty again.
    for k in try await b.list(prefix: "", recursive: true) { try await b.delete(k) }
    #expect(try await b.list(prefix: "", recursive: true).isEmpty)
    #expect(try await b.list(prefix: "", recursive: false).isEmpty)
}

/// Expects `body` to throw an ObjectStoreError of `kind` whose message names the key.
public func expectKind(_ kind: ObjectStoreError.Kind, sourceLocation: SourceLocation = #_sourceLocation,
                       _ body: () async throws -> Void) async {
    do {
        try await body()
        Issue.record("expected \(kind), nothing was thrown", sourceLocation: sourceLocation)
    } catch let e as ObjectStoreError {
        #expect(e.kind == kind, "\(e)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected ObjectStoreError \(kind), got \(error)", sourceLocation: sourceLocation)
    }
}
