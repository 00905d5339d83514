extension BucketFactory {
    static func makeAzure(_ c: AzureConfig) async throws(ObjectStoreError) -> any Bucket {
        throw ObjectStoreError(.config, bucket: c.description, key: "", "the Azure client is not part of this build yet")
    }
}
