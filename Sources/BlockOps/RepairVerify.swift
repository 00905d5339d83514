import Foundation
import ObjectStore
import TSDB

/// Everything repair and rewrite take from the verifier and the remote block reader, in one
/// place: both are being reworked (streamed reads, an async verifier), and this is the
/// only file that has to follow.
enum RepairChecks {
    /// Verify's findings for a block directory on local disk.
    static func findings(directory: String, deep: Bool) async -> [Finding] {
        BlockVerifier(deep: deep).verify(directory: directory)
    }

    /// Verify's findings for an opened block (read from a bucket).
    static func findings(_ block: Block, name: String, sizes: [String: Int64], deep: Bool) async -> [Finding] {
        BlockVerifier(deep: deep).verify(block: block, name: name, fileSizes: sizes)
    }

    /// A block of a bucket, opened for reading: in place for a FILESYSTEM bucket, else
    /// read into memory by ranged reads. With its files' sizes.
    static func open(_ id: ULID, in bucket: any Bucket) async throws -> (block: Block, sizes: [String: Int64]) {
        if let root = localRoot(of: bucket) {
            let dir = root + "/\(id)"
            let block = try Block(directory: dir)
            var sizes: [String: Int64] = [:]
            for f in block.chunks.segmentNames + ["index"] {
                if let n = (try? FileManager.default.attributesOfItem(atPath: dir + "/" + f))?[.size] as? NSNumber {
                    sizes[f] = n.int64Value
                }
            }
            return (block, sizes)
        }
        return try await RemoteBlock.load(id, from: bucket)
    }

    /// Findings of a block in a bucket (`open` first).
    static func findings(_ id: ULID, in bucket: any Bucket, opened: (block: Block, sizes: [String: Int64]), deep: Bool) async -> [Finding] {
        if let root = localRoot(of: bucket) {
            return await findings(directory: root + "/\(id)", deep: deep)
        }
        return await findings(opened.block, name: id.description, sizes: opened.sizes, deep: deep)
    }
}
