import Logging

extension BucketFactory {
    static func makeAzure(_ c: AzureConfig, logger: Logger?) async throws(ObjectStoreError) -> any Bucket {
        try await AzureBucket(config: c, logger: logger)
    }
}
