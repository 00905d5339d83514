import Foundation
import Testing
import TestSupport

@testable import ObjectStore

/// Account-level configs and listings, for `--all-containers`.
@Suite("Accounts: every container", .serialized)
struct AccountTests {
    @Test("an AZURE config without a container parses only at account level")
    func config() throws {
        let yaml = "type: AZURE\nconfig:\n  storage_account: acct\n  storage_account_key: \(AzureEmulator.key)\n"
        #expect(throws: ObjectStoreError.self) { try BucketConfig.parse(yaml: yaml) }
        do {
            _ = try BucketConfig.parse(yaml: yaml)
        } catch {
            #expect(error.detail.contains("container"))
            #expect(error.detail.contains("--all-containers"))
        }
        let c = try BucketConfig.parse(yaml: yaml, accountLevel: true)
        #expect(c.azure?.container == "")
    }

    @Test("List Containers pages through markers; each container's bucket shares the account", arguments: [nil, 2])
    func azure(pageSize: Int?) async throws {
        let h = try AzureHarness()
        let names = (0..<5).map { "cl\($0)-" + AzureHarness.containerName().prefix(8) }
        for n in names { _ = try await h.bucket(h.config(container: n)) }
        var t = AzureHarness.smallTuning()
        t.listPageSize = pageSize
        var c = h.config(container: "")
        c.container = ""
        try h.emu.clearStats()
        let account = try await AzureAccount(config: c, prefix: "p", logger: h.capture.logger, tuning: t)
        #expect(try h.emu.stats().requests("GetContainerProperties") == 0, "an account handle checks no container")
        let got = try await account.containers()
        #expect(got == names.sorted())
        if let pageSize { #expect(try h.emu.stats().requests("ListContainers") == (names.count + pageSize - 1) / pageSize) }
        let b = account.bucket(names[1])
        try await b.upload("x", bytes: [7])
        let plain = try await h.bucket(h.config(container: names[1]))
        #expect(try await plain.get("p/x") == [7], "the config's prefix applies inside each container")
        #expect(b.description.contains(names[1]))
        h.capture.expectClean(of: [AzureEmulator.key])
    }

    @Test("a directory's subdirectories are its containers")
    func filesystem() async throws {
        let dir = try Fixtures.tempDir("account")
        defer { Fixtures.cleanup(dir) }
        for n in ["b-cluster", "a-cluster"] { try FileManager.default.createDirectory(atPath: dir + "/" + n, withIntermediateDirectories: true) }
        FileManager.default.createFile(atPath: dir + "/stray-file", contents: Data([1]))
        let account = FilesystemAccount(directory: dir)
        #expect(try await account.containers() == ["a-cluster", "b-cluster"])
        try await account.bucket("a-cluster").upload("k", bytes: [1])
        #expect(FileManager.default.fileExists(atPath: dir + "/a-cluster/k"))
    }
}
