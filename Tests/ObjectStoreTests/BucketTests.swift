import Foundation
import ObjectStore
import Testing
import TestSupport

@Suite("Bucket acceptance: memory and filesystem")
struct BucketTests {
    @Test("in-memory bucket")
    func memory() async throws {
        try await bucketAcceptance(MemoryBucket())
    }

    @Test("filesystem bucket")
    func filesystem() async throws {
        let dir = try Fixtures.tempDir("fsbucket")
        defer { Fixtures.cleanup(dir) }
        let b = FilesystemBucket(directory: dir)
        try await bucketAcceptance(b)
        // Deleting the last object of a directory removes the directory (as Thanos does).
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty)
    }

    @Test("filesystem bucket leaves no temporary files and hides them from listings")
    func filesystemTemp() async throws {
        let dir = try Fixtures.tempDir("fsbucket")
        defer { Fixtures.cleanup(dir) }
        let b = FilesystemBucket(directory: dir)
        try await b.upload("a/b", bytes: [1, 2, 3])
        FileManager.default.createFile(atPath: dir + "/a/.blockyard-tmp-crashed", contents: Data([9]))
        #expect(try await b.list(prefix: "a/", recursive: true) == ["a/b"])
        #expect(try await b.list(prefix: "a/", recursive: false) == ["a/b"])
    }

    @Test("keys that escape the bucket are refused", arguments: ["", "/abs", "a/../b", "a//b", "./a", "a/.."])
    func badKeys(key: String) async {
        let b = MemoryBucket()
        await expectKind(.invalidArgument) { try await b.upload(key, bytes: [1]) }
    }
}

@Suite("objstore config")
struct BucketConfigTests {
    @Test("FILESYSTEM and prefix")
    func filesystem() throws {
        let c = try BucketConfig.parse(yaml: "type: FILESYSTEM\nconfig:\n  directory: /data\nprefix: /tenant-a/\n")
        #expect(c.kind == .filesystem)
        #expect(c.filesystemDirectory == "/data")
        #expect(c.prefix == "tenant-a")
    }

    @Test("the Thanos AZURE example with defaults")
    func azure() throws {
        let y = """
            type: AZURE
            config:
              storage_account: "your_storageaccount_name"
              storage_account_key: "your_key"
              container: "your_cluster_name"
              max_retries: 0
            """
        let c = try BucketConfig.parse(yaml: y)
        let a = try #require(c.azure)
        #expect(a.storageAccount == "your_storageaccount_name")
        #expect(a.container == "your_cluster_name")
        #expect(a.endpoint == "blob.core.windows.net")
        #expect(a.storageCreateContainer)
        #expect(a.http.idleConnTimeout == .seconds(90))
        #expect(!a.description.contains("your_key"))
    }

    @Test("max_retries fills the pipeline and reader retries like Thanos")
    func maxRetries() throws {
        let c = try BucketConfig.parse(yaml: """
            type: AZURE
            config: {storage_account: a, storage_account_key: k, container: c, max_retries: 4,
                     reader_config: {max_retry_requests: 2}, http_config: {response_header_timeout: 1m30s}}
            """)
        #expect(c.azure?.pipeline.maxTries == 4)
        #expect(c.azure?.readerMaxRetryRequests == 2)
        #expect(c.azure?.http.responseHeaderTimeout == .seconds(90))
    }

    @Test("bad configs name the field and never echo a secret", arguments: [
        ("type: S3\nconfig: {}", "objstore.type"),
        ("config: {}", "objstore.type"),
        ("type: FILESYSTEM\nconfig: {dir: /x}", "objstore.config.dir"),
        ("type: FILESYSTEM\nconfig: {directory: /x}\nbucket: y", "objstore.bucket"),
        ("type: AZURE\nconfig: {storage_account: a, container: c, storage_account_key: s3cr3tKEYs3cr3tKEY, max_retries: many}", "objstore.config.max_retries"),
        ("type: AZURE\nconfig: {storage_account: a, container: c, storage_account_key: s3cr3tKEYs3cr3tKEY, http_config: {idle_conn_timeout: soon}}", "objstore.config.http_config.idle_conn_timeout"),
        ("type: AZURE\nconfig: {storage_account: a, container: c, storage_account_key: s3cr3tKEYs3cr3tKEY, storage_connection_string: 'AccountKey=s3cr3tKEYs3cr3tKEY'}", "objstore.config.storage_account_key"),
        ("type: AZURE\nconfig: {storage_account: a, storage_account_key: s3cr3tKEYs3cr3tKEY}", "objstore.config.container"),
        ("type: AZURE\nconfig: {storage_account: a, container: c, client_id: x}", "objstore.config.az_tenant_id"),
        ("type: AZURE\nconfig: {storage_account: a, container: c, storage_account_key: s3cr3tKEYs3cr3tKEY, pipeline_config: {max_tries: 3, tries: 4}}", "objstore.config.pipeline_config.tries"),
        ("type: AZURE\nconfig: [storage_account]", "objstore.config"),
        ("type: AZURE\nconfig: {storage_account: a, container: c, storage_account_key: \"s3cr3tKEYs3cr3tKEY", "objstore"),
    ])
    func bad(yaml: String, field: String) {
        do {
            _ = try BucketConfig.parse(yaml: yaml)
            Issue.record("accepted: \(yaml)")
        } catch {
            #expect(error.kind == .config)
            #expect(error.description.contains(field), "\(error)")
            #expect(!error.description.contains("s3cr3tKEY"), "secret in: \(error)")
        }
    }

    @Test("Go durations")
    func durations() {
        #expect(ConfigNode.parseDuration("1m30s") == .seconds(90))
        #expect(ConfigNode.parseDuration("500ms") == .milliseconds(500))
        #expect(ConfigNode.parseDuration("2h") == .seconds(7200))
        #expect(ConfigNode.parseDuration("0") == .zero)
        #expect(ConfigNode.parseDuration("10") == nil)
        #expect(ConfigNode.parseDuration("s") == nil)
    }
}
