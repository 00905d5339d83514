import Foundation

/// Streamed uploads: pieces read from another object go straight into Put Block requests, so an
/// object of any size passes through in at most `uploadParallelism` blocks of memory.
extension AzureBucket {
    public func upload(_ key: String, size: Int64, from read: @escaping RangeReader) async throws(ObjectStoreError) -> [UInt8] {
        try checkKey(key, bucket: description)
        let name = description
        if size <= Int64(tuning.putBlobThreshold) {
            let bytes = size == 0 ? [] : try await StreamedUpload.read(read, 0..<size, bucket: name, key: key)
            let md5 = MD5.digest(bytes)
            try await putBlob(key, body: .bytes(bytes), md5: md5)
            return md5
        }
        let ids = blockIDs(StreamedUpload.pieces(size, tuning.blockSize).count)
        let md5 = try await StreamedUpload.pipeline(size: size, pieceSize: tuning.blockSize, parallelism: tuning.uploadParallelism, bucket: name, key: key) { i, r throws(ObjectStoreError) in
            let bytes = try await StreamedUpload.read(read, r, bucket: name, key: key)
            try await self.putBlock(key, id: ids[i], body: .bytes(bytes), md5: MD5.digest(bytes))
            return bytes
        }
        try await putBlockList(key, ids: ids, md5: md5)
        return md5
    }
}
