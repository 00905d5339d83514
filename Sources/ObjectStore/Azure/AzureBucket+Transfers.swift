import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Uploads (Put Blob, or Put Block + Put Block List) and parallel ranged downloads.
extension AzureBucket {
    // MARK: upload

    public func upload(_ key: String, bytes: [UInt8]) async throws(ObjectStoreError) {
        try checkKey(key, bucket: description)
        if bytes.count <= tuning.putBlobThreshold {
            try await putBlob(key, body: .bytes(bytes), md5: MD5.digest(bytes))
            return
        }
        let size = Int64(bytes.count)
        let blocks = blockRanges(size)
        let ids = blockIDs(blocks.count)
        let err = await Self.bounded(count: blocks.count, parallelism: tuning.uploadParallelism) { i throws(ObjectStoreError) -> HTTPRequest.Body in
            .bytes(Array(bytes[Int(blocks[i].lowerBound)..<Int(blocks[i].upperBound)]))
        } work: { i, body in
            let md5: [UInt8]
            if case .bytes(let b) = body { md5 = MD5.digest(b) } else { md5 = [] }
            do throws(ObjectStoreError) { try await self.putBlock(key, id: ids[i], body: body, md5: md5) } catch { return error }
            return nil
        }
        if let err { throw err }
        try await putBlockList(key, ids: ids, md5: MD5.digest(bytes))
    }

    public func upload(_ key: String, fromFile path: String) async throws(ObjectStoreError) {
        try checkKey(key, bucket: description)
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw fail(.io, key, "opening \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw fail(.io, key, "stat \(path): \(String(cString: strerror(errno)))") }
        let size = Int64(st.st_size)
        if size <= Int64(tuning.putBlobThreshold) {
            var h = MD5.Hasher()
            try hashFile(fd, range: 0..<size, into: &h, path: path, key: key)
            try await putBlob(key, body: .file(fd: fd, offset: 0, length: size), md5: h.finalize())
            return
        }
        // Blocks are read (and hashed, for the whole-file MD5) in order by this task, then sent
        // with bounded parallelism, each streamed from the file by curl's read callback.
        let blocks = blockRanges(size)
        let ids = blockIDs(blocks.count)
        let whole = Whole()
        let err = await Self.bounded(count: blocks.count, parallelism: tuning.uploadParallelism) { i throws(ObjectStoreError) -> [UInt8] in
            var block = MD5.Hasher()
            try self.hashFile(fd, range: blocks[i], into: &block, also: &whole.hasher, path: path, key: key)
            return block.finalize()
        } work: { i, md5 in
            let r = blocks[i]
            do throws(ObjectStoreError) {
                try await self.putBlock(key, id: ids[i], body: .file(fd: fd, offset: r.lowerBound, length: r.upperBound - r.lowerBound), md5: md5)
            } catch { return error }
            return nil
        }
        if let err { throw err }
        try await putBlockList(key, ids: ids, md5: whole.hasher.finalize())
    }

    /// The whole-file hash, updated only by the task that prepares blocks in order.
    private final class Whole: @unchecked Sendable {
        var hasher = MD5.Hasher()
    }

    func putBlob(_ key: String, body: HTTPRequest.Body, md5: [UInt8]) async throws(ObjectStoreError) {
        let headers = [("x-ms-blob-type", "BlockBlob"), ("Content-MD5", Data(md5).base64EncodedString())]
        _ = try await send(Op("PutBlob", "PUT", key: key, headers: headers, body: body, expect: [201]))
    }

    func putBlock(_ key: String, id: String, body: HTTPRequest.Body, md5: [UInt8]) async throws(ObjectStoreError) {
        let op = Op(
            "PutBlock", "PUT", key: key, query: [("comp", "block"), ("blockid", id)],
            headers: [("Content-MD5", Data(md5).base64EncodedString())], body: body, expect: [201])
        _ = try await send(op)
    }

    func putBlockList(_ key: String, ids: [String], md5: [UInt8]) async throws(ObjectStoreError) {
        _ = try await send(blockListOp(key, ids: ids, md5: md5))
    }

    func blockRanges(_ size: Int64) -> [Range<Int64>] {
        let bs = Int64(max(1, tuning.blockSize))
        return stride(from: Int64(0), to: size, by: Int(bs)).map { $0..<min(size, $0 + bs) }
    }

    /// Base64 ids of equal length, unique to this upload: `<uuid>-<8-digit index>`.
    func blockIDs(_ n: Int) -> [String] {
        let upload = UUID().uuidString.lowercased()
        return (0..<n).map { i in
            let digits = String(i)
            return Data((upload + "-" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits).utf8).base64EncodedString()
        }
    }

    func hashFile(_ fd: Int32, range: Range<Int64>, into h: inout MD5.Hasher, path: String, key: String) throws(ObjectStoreError) {
        var none: MD5.Hasher? = nil
        try hashFile(fd, range: range, into: &h, alsoOptional: &none, path: path, key: key)
    }

    func hashFile(_ fd: Int32, range: Range<Int64>, into h: inout MD5.Hasher, also other: inout MD5.Hasher, path: String, key: String) throws(ObjectStoreError) {
        var o: MD5.Hasher? = other
        try hashFile(fd, range: range, into: &h, alsoOptional: &o, path: path, key: key)
        if let o { other = o }
    }

    /// Reads `range` of the file in 1 MiB pieces into the hashers.
    private func hashFile(_ fd: Int32, range: Range<Int64>, into h: inout MD5.Hasher, alsoOptional other: inout MD5.Hasher?, path: String, key: String) throws(ObjectStoreError) {
        var buf = [UInt8](repeating: 0, count: 1 << 20)
        var pos = range.lowerBound
        while pos < range.upperBound {
            let want = Int(min(Int64(buf.count), range.upperBound - pos))
            let n = buf.withUnsafeMutableBytes { p in pread(fd, p.baseAddress, want, off_t(pos)) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 { throw fail(.io, key, "reading \(path): \(String(cString: strerror(errno)))") }
            if n == 0 { throw fail(.io, key, "\(path) shrank while it was being uploaded") }
            buf.withUnsafeBytes { p in
                let chunk = UnsafeRawBufferPointer(rebasing: p[0..<n])
                h.update(chunk)
                other?.update(chunk)
            }
            pos += Int64(n)
        }
    }

    /// Runs `work` for 0..<count with at most `parallelism` in flight. `prepare` runs in index order
    /// on the calling task before each item starts. Returns the first error.
    static func bounded<P: Sendable>(
        count: Int, parallelism: Int,
        prepare: (Int) throws(ObjectStoreError) -> P,
        work: @escaping @Sendable (Int, P) async -> ObjectStoreError?
    ) async -> ObjectStoreError? {
        await withTaskGroup(of: ObjectStoreError?.self) { group in
            var next = 0
            var first: ObjectStoreError?
            func launch() {
                guard first == nil, next < count else { return }
                let i = next
                next += 1
                do throws(ObjectStoreError) {
                    let p = try prepare(i)
                    group.addTask { await work(i, p) }
                } catch {
                    first = error
                }
            }
            for _ in 0..<max(1, parallelism) { launch() }
            while let r = await group.next() {
                if let r, first == nil {
                    first = r
                    group.cancelAll()
                }
                launch()
            }
            return first
        }
    }

    // MARK: download

    /// Ranged GETs of `downloadChunkSize` with bounded parallelism into `path + ".blockyard-partial"`
    /// (pwrite at each range's offset), then the whole-blob MD5 check, then a rename. The first range
    /// learns the size and ETag; every later range, and every resumed try, sends `If-Match`, so a
    /// blob replaced mid-download fails (412) instead of producing a mixed file.
    public func download(_ key: String, toFile path: String) async throws(ObjectStoreError) {
        try checkKey(key, bucket: description)
        let partial = path + ".blockyard-partial"
        let dir = (path as NSString).deletingLastPathComponent
        if !dir.isEmpty {
            do { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) } catch {
                throw fail(.io, key, "creating \(dir): \(error.localizedDescription)")
            }
        }
        let fd = open(partial, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        if fd < 0 { throw fail(.io, key, "creating \(partial): \(String(cString: strerror(errno)))") }
        var closed = false
        do throws(ObjectStoreError) {
            try await downloadInto(fd, key: key, partial: partial)
            closed = true
            if close(fd) != 0 { throw fail(.io, key, "closing \(partial): \(String(cString: strerror(errno)))") }
            if rename(partial, path) != 0 { throw fail(.io, key, "renaming \(partial) to \(path): \(String(cString: strerror(errno)))") }
        } catch {
            if !closed { close(fd) }
            unlink(partial)
            throw error
        }
    }

    /// The state of one range across tries.
    private final class RangeState: @unchecked Sendable {
        var etag: String?
        init(etag: String?) { self.etag = etag }
    }

    private func fetchRange(_ key: String, fd: Int32, range: ClosedRange<Int64>?, state: RangeState, sink: FileSink) async throws(ObjectStoreError) -> HTTPResponse {
        try await send("GetBlob", key: key, tries: readTries) { _, previous throws(ObjectStoreError) in
            if state.etag == nil, let p = previous, p.status >= 200, p.status < 300, let e = p.header("etag") {
                state.etag = e
            }
            var headers: [(String, String)] = []
            if let range {
                headers.append(("x-ms-range", "bytes=\(range.lowerBound + sink.written)-\(range.upperBound)"))
            } else if sink.written > 0 {
                headers.append(("x-ms-range", "bytes=\(sink.written)-"))
            }
            if let e = state.etag { headers.append(("If-Match", e)) }
            return (Op("GetBlob", "GET", key: key, headers: headers, expect: [200, 206]), sink)
        }
    }

    private func downloadInto(_ fd: Int32, key: String, partial: String) async throws(ObjectStoreError) {
        let chunk = Int64(max(1, tuning.downloadChunkSize))
        let firstSink = FileSink(fd: fd, offset: 0, limit: chunk)
        let firstState = RangeState(etag: nil)
        let first: HTTPResponse
        do {
            first = try await fetchRange(key, fd: fd, range: 0...(chunk - 1), state: firstState, sink: firstSink)
        } catch where error.kind == .preconditionFailed {
            throw changed(key, etag: firstState.etag, error)
        } catch where error.kind == .invalidRange {
            // 416 on a range starting at 0: the blob is empty. Fetch it whole to be sure.
            let sink = FileSink(fd: fd, offset: 0, limit: nil)
            let r = try await fetchRange(key, fd: fd, range: nil, state: RangeState(etag: nil), sink: sink)
            try verifyFile(fd, key: key, size: sink.written, md5: r.header("content-md5"), partial: partial)
            return
        }
        let etag = firstState.etag ?? first.header("etag")
        let total: Int64
        if first.status == 206, let cr = first.header("content-range"), let slash = cr.lastIndex(of: "/"), let t = Int64(cr[cr.index(after: slash)...]) {
            total = t
        } else {
            total = firstSink.written
        }
        let md5 = first.header("x-ms-blob-content-md5") ?? (first.status == 200 ? first.header("content-md5") : nil)
        if total > firstSink.written {
            let rest = stride(from: firstSink.written, to: total, by: Int(chunk)).map { $0...min(total, $0 + chunk) - 1 }
            let err = await Self.bounded(count: rest.count, parallelism: tuning.downloadParallelism) { i throws(ObjectStoreError) -> FileSink in
                FileSink(fd: fd, offset: rest[i].lowerBound, limit: rest[i].upperBound - rest[i].lowerBound + 1)
            } work: { (i: Int, sink: FileSink) -> ObjectStoreError? in
                do throws(ObjectStoreError) {
                    _ = try await self.fetchRange(key, fd: fd, range: rest[i], state: RangeState(etag: etag), sink: sink)
                    let want = rest[i].upperBound - rest[i].lowerBound + 1
                    if sink.written != want {
                        return self.fail(.transport, key, "GetBlob: range \(rest[i].lowerBound)-\(rest[i].upperBound) gave \(sink.written) of \(want) bytes")
                    }
                } catch {
                    return error.kind == .preconditionFailed ? self.changed(key, etag: etag, error) : error
                }
                return nil
            }
            if let err { throw err }
        }
        try verifyFile(fd, key: key, size: total, md5: md5, partial: partial)
    }

    private func changed(_ key: String, etag: String?, _ error: ObjectStoreError) -> ObjectStoreError {
        ObjectStoreError(.preconditionFailed, bucket: description, key: key, "the blob changed during the download (ETag \(etag ?? "?") no longer matches): \(error.detail)")
    }

    /// Checks the file's size and, when the service gave one, its MD5 by reading it back.
    private func verifyFile(_ fd: Int32, key: String, size: Int64, md5: String?, partial: String) throws(ObjectStoreError) {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw fail(.io, key, "stat \(partial): \(String(cString: strerror(errno)))") }
        if Int64(st.st_size) != size {
            throw fail(.transport, key, "GetBlob: downloaded \(st.st_size) bytes, the blob has \(size)")
        }
        guard let md5, let expected = Data(base64Encoded: md5) else { return }
        let rfd = open(partial, O_RDONLY | O_CLOEXEC)
        if rfd < 0 { throw fail(.io, key, "reopening \(partial): \(String(cString: strerror(errno)))") }
        defer { close(rfd) }
        var h = MD5.Hasher()
        try hashFile(rfd, range: 0..<size, into: &h, path: partial, key: key)
        let got = h.finalize()
        if got != Array(expected) {
            throw fail(.integrity, key, "GetBlob: the blob's Content-MD5 is \(md5) but the \(size) bytes downloaded hash to \(Data(got).base64EncodedString())")
        }
    }
}
