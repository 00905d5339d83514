import Logging

/// A storage account, or a directory, that holds one container per cluster: what
/// `--all-containers` walks. Each container is a `Bucket` of its own (with the config's
/// `prefix`, when it has one).
public protocol BucketAccount: Sendable {
    /// A name for messages: type and location, never credentials.
    var description: String { get }

    /// Container names, sorted byte-wise.
    func containers() async throws(ObjectStoreError) -> [String]

    /// The bucket of one container.
    func bucket(_ container: String) -> any Bucket
}

extension BucketFactory {
    /// The account (AZURE: `container` may be left out and is ignored) or directory of
    /// containers (FILESYSTEM: each subdirectory of `directory` is one) a config describes.
    public static func makeAccount(_ config: BucketConfig, logger: Logger? = nil) async throws(ObjectStoreError) -> any BucketAccount {
        switch config.kind {
        case .filesystem:
            return FilesystemAccount(directory: config.filesystemDirectory ?? ".", prefix: config.prefix)
        case .azure:
            guard let a = config.azure else { throw ObjectStoreError(.config, bucket: "objstore config", key: "", "AZURE without config") }
            return try await AzureAccount(config: a, prefix: config.prefix, logger: logger)
        case .memory:
            throw ObjectStoreError(.config, bucket: "objstore config", key: "", "a MEMORY bucket has no containers to list")
        }
    }
}

/// A directory whose subdirectories are containers (FILESYSTEM buckets).
public struct FilesystemAccount: BucketAccount {
    public let directory: String
    public let prefix: String

    public init(directory: String, prefix: String = "") {
        self.directory = directory
        self.prefix = prefix
    }

    public var description: String { "filesystem directory \(directory)" }

    public func containers() async throws(ObjectStoreError) -> [String] {
        let root = FilesystemBucket(directory: directory)
        let names = try await root.list(prefix: "", recursive: false)
        return names.filter { $0.hasSuffix("/") && !$0.hasPrefix(".") }.map { String($0.dropLast()) }
    }

    public func bucket(_ container: String) -> any Bucket {
        let b = FilesystemBucket(directory: directory + "/" + container)
        return prefix.isEmpty ? b : PrefixedBucket(b, prefix: prefix)
    }
}
