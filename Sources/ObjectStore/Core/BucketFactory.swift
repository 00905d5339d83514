import Logging

/// Builds the bucket a config describes, wrapped in its prefix.
public enum BucketFactory {
    public static func make(_ config: BucketConfig, logger: Logger? = nil) async throws(ObjectStoreError) -> any Bucket {
        let base: any Bucket
        switch config.kind {
        case .filesystem:
            base = FilesystemBucket(directory: config.filesystemDirectory ?? ".")
        case .memory:
            base = MemoryBucket()
        case .azure:
            guard let a = config.azure else { throw ObjectStoreError(.config, bucket: "objstore config", key: "", "AZURE without config") }
            base = try await makeAzure(a, logger: logger)
        }
        return config.prefix.isEmpty ? base : PrefixedBucket(base, prefix: config.prefix)
    }
}
