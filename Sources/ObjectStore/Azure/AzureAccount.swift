import Logging

/// A storage account: List Containers (marker paging), and a bucket per container that shares
/// this account's credentials and connections.
public final class AzureAccount: BucketAccount {
    let root: AzureBucket
    let prefix: String

    public var description: String { root.description }

    public convenience init(config: AzureConfig, prefix: String = "", logger: Logger? = nil) async throws(ObjectStoreError) {
        try await self.init(config: config, prefix: prefix, logger: logger, tuning: AzureTuning())
    }

    init(config: AzureConfig, prefix: String, logger: Logger?, tuning: AzureTuning) async throws(ObjectStoreError) {
        root = try await AzureBucket(config: config, logger: logger, tuning: tuning, accountLevel: true)
        self.prefix = prefix
    }

    public func containers() async throws(ObjectStoreError) -> [String] {
        var out: [String] = []
        var marker = ""
        repeat {
            var q: [(String, String)] = [("comp", "list")]
            if !marker.isEmpty { q.append(("marker", marker)) }
            if let n = root.tuning.listPageSize { q.append(("maxresults", String(n))) }
            let sink = MemorySink()
            let op = AzureBucket.Op("ListContainers", "GET", key: "", query: q, expect: [200])
            _ = try await root.send("ListContainers", key: "", tries: root.retry.maxTries) { _, _ in
                sink.reset()
                return (op, sink)
            }
            let page = AzureXML.containerPage(sink.bytes)
            out += page.blobs
            marker = page.nextMarker
        } while !marker.isEmpty
        return Array(Set(out)).sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }

    public func bucket(_ container: String) -> any Bucket {
        let b = AzureBucket(sharing: root, container: container)
        return prefix.isEmpty ? b : PrefixedBucket(b, prefix: prefix)
    }
}
