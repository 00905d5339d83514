import Foundation
import ObjectStore
import TSDB

/// Everything repair and rewrite take from the verifier and from reading blocks of a bucket,
/// in one place.
enum RepairChecks {
    /// Verify's findings for a block directory on local disk.
    static func findings(directory: String, deep: Bool) async -> [Finding] {
        await BlockVerifier(deep: deep).verify(directory: directory)
    }

    /// Verify's findings for a block of a bucket, checked where it is: in place for a
    /// FILESYSTEM bucket, else streamed by ranged reads (nothing is downloaded for a block
    /// that turns out clean). Throws only storage failures.
    static func findings(_ id: ULID, in bucket: any Bucket, deep: Bool) async throws -> [Finding] {
        if let root = localRoot(of: bucket) {
            return await findings(directory: root + "/\(id)", deep: deep)
        }
        return try await BlockVerifier(deep: deep).verify(.bucket(bucket, id))
    }
}
