import Foundation

/// Streamed uploads: pieces read from another object go straight into Put Block requests, so an
/// object of any size passes through in a bounded number of blocks of memory.
///
/// A piece that comes with the source service's MD5 is sent with that MD5 as its Content-MD5, so
/// this service checks the bytes against the source's own hash and nothing is hashed here; when
/// every piece came so and the caller gave the whole object's MD5, that becomes the blob's MD5
/// without a whole-object hash either. Otherwise the pieces and the whole are hashed here.
extension AzureBucket {
    public func upload(_ key: String, size: Int64, md5 known: [UInt8]?, from read: @escaping PieceReader) async throws(ObjectStoreError) -> [UInt8] {
        try checkKey(key, bucket: description)
        let name = description
        if size <= Int64(tuning.putBlobThreshold) {
            // One piece: sent with the source's MD5 of it when there is one, so this service
            // checks the bytes against the source's hash, as for blocks below.
            let piece = size == 0 ? RangePiece(bytes: []) : try await StreamedUpload.read(read, 0..<size, bucket: name, key: key)
            let md5 = piece.md5 ?? MD5.digest(piece.bytes)
            if let known, known != md5 {
                throw ObjectStoreError(.integrity, bucket: name, key: key, "the source's MD5 of the object is \(Data(known).base64EncodedString()), its only piece came with \(Data(md5).base64EncodedString()) (it changed?)")
            }
            try await putBlob(key, body: .bytes(piece.bytes), md5: md5)
            return md5
        }
        let ids = blockIDs(StreamedUpload.pieces(size, tuning.blockSize).count)
        let trust = known != nil
        let hashed = try await StreamedUpload.pipeline(size: size, pieceSize: tuning.blockSize, parallelism: tuning.uploadParallelism, bucket: name, key: key, hashing: !trust) { i, r throws(ObjectStoreError) in
            let piece = try await StreamedUpload.read(read, r, bucket: name, key: key)
            if trust && piece.md5 == nil {
                throw ObjectStoreError(.invalidArgument, bucket: name, key: key, "a streamed upload given the object's MD5 needs every piece's MD5 from the source; piece at \(r.lowerBound) came without")
            }
            try await self.putBlock(key, id: ids[i], body: .bytes(piece.bytes), md5: piece.md5 ?? MD5.digest(piece.bytes))
            return trust ? [] : piece.bytes
        }
        let md5 = known ?? hashed
        try await putBlockList(key, ids: ids, md5: md5)
        return md5
    }
}

