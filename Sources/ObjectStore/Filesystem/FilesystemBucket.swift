import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Thanos `type: FILESYSTEM`: objects are files under a root directory. Writes go to a
/// temporary file in the same directory and are renamed into place, so a reader never
/// sees half an object.
public final class FilesystemBucket: Bucket {
    public let root: String
    public let description: String

    public init(directory: String) {
        var r = directory
        while r.count > 1 && r.hasSuffix("/") { r.removeLast() }
        root = r
        description = "filesystem bucket \(r)"
    }

    func path(_ key: String) -> String { root + "/" + key }

    func fail(_ kind: ObjectStoreError.Kind, _ key: String, _ detail: String) -> ObjectStoreError {
        ObjectStoreError(kind, bucket: description, key: key, detail)
    }

    func errnoError(_ key: String, _ what: String) -> ObjectStoreError {
        let e = errno
        return fail(e == ENOENT || e == ENOTDIR ? .notFound : .io, key, e == ENOENT ? "" : "\(what): \(String(cString: strerror(e)))")
    }

    public func list(prefix: String, recursive: Bool) async throws(ObjectStoreError) -> [String] {
        // Walk from the deepest directory named by the prefix.
        let dirPart = prefix.contains("/") ? String(prefix[..<prefix.lastIndex(of: "/")!]) : ""
        let start = dirPart.isEmpty ? root : root + "/" + dirPart
        var keys: [String] = []
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: start, isDirectory: &isDir), isDir.boolValue else { return [] }
        if recursive {
            guard let e = fm.enumerator(atPath: start) else { return [] }
            while let rel = e.nextObject() as? String {
                let full = start + "/" + rel
                var d: ObjCBool = false
                if fm.fileExists(atPath: full, isDirectory: &d), !d.boolValue, !Self.isTemp(rel) {
                    let key = dirPart.isEmpty ? rel : dirPart + "/" + rel
                    if key.hasPrefix(prefix) { keys.append(key) }
                }
            }
            return keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        }
        let names: [String]
        do { names = try fm.contentsOfDirectory(atPath: start) } catch {
            throw fail(.io, prefix, "listing \(start): \(error.localizedDescription)")
        }
        for n in names where !Self.isTemp(n) {
            let key = dirPart.isEmpty ? n : dirPart + "/" + n
            guard key.hasPrefix(prefix) else { continue }
            var d: ObjCBool = false
            _ = fm.fileExists(atPath: start + "/" + n, isDirectory: &d)
            keys.append(d.boolValue ? key + "/" : key)
        }
        return keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }

    static func isTemp(_ name: String) -> Bool {
        (name as NSString).lastPathComponent.hasPrefix(".blockyard-tmp-")
    }

    public func getRange(_ key: String, offset: Int64, length: Int64?) async throws(ObjectStoreError) -> [UInt8] {
        try checkKey(key, bucket: description)
        guard offset >= 0, length.map({ $0 >= 0 }) ?? true else { throw fail(.invalidArgument, key, "negative range") }
        let fd = open(path(key), O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw errnoError(key, "open") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw errnoError(key, "stat") }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw fail(.notFound, key, "not a file") }
        let size = Int64(st.st_size)
        guard offset <= size else { throw fail(.invalidRange, key, "offset \(offset) beyond size \(size)") }
        let n = Int(min(size - offset, length ?? (size - offset)))
        var out = [UInt8](repeating: 0, count: n)
        var done = 0
        let failure: ObjectStoreError? = out.withUnsafeMutableBytes { p in
            while done < n {
                let r = pread(fd, p.baseAddress! + done, n - done, off_t(offset) + off_t(done))
                if r < 0 {
                    if errno == EINTR { continue }
                    return errnoError(key, "read")
                }
                if r == 0 { return fail(.io, key, "file shrank while reading: got \(done) of \(n) bytes") }
                done += r
            }
            return nil
        }
        if let failure { throw failure }
        return out
    }

    public func attributes(_ key: String) async throws(ObjectStoreError) -> ObjectAttributes {
        try checkKey(key, bucket: description)
        var st = stat()
        guard stat(path(key), &st) == 0 else { throw errnoError(key, "stat") }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw fail(.notFound, key, "not a file") }
        let mtime = Double(st.st_mtim.tv_sec) + Double(st.st_mtim.tv_nsec) / 1e9
        return ObjectAttributes(size: Int64(st.st_size), lastModified: mtime, etag: "\"\(st.st_size)-\(st.st_mtim.tv_sec)-\(st.st_mtim.tv_nsec)\"")
    }

    public func download(_ key: String, toFile dest: String) async throws(ObjectStoreError) {
        try checkKey(key, bucket: description)
        try copyFile(from: path(key), to: dest, key: key, missingIsNotFound: true)
    }

    public func upload(_ key: String, bytes: [UInt8]) async throws(ObjectStoreError) {
        try await writeAtomically(key) { fd, _ throws(ObjectStoreError) in
            let failure: ObjectStoreError? = bytes.withUnsafeBytes { p in
                do throws(ObjectStoreError) { try writeAll(fd, p, key) } catch { return error }
                return nil
            }
            if let failure { throw failure }
        }
    }

    /// Creates `key` through a temporary file in the same directory that `body` fills: synced,
    /// then renamed into place; removed on any failure, so no half object ever appears.
    func writeAtomically<T>(_ key: String, _ body: (Int32, String) async throws(ObjectStoreError) -> T) async throws(ObjectStoreError) -> T {
        try checkKey(key, bucket: description)
        let dest = path(key)
        try makeParent(dest, key)
        let tmp = tempName(dest)
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        if fd < 0 { throw errnoError(key, "create \(tmp)") }
        var ok = false
        defer {
            close(fd)
            if !ok { unlink(tmp) }
        }
        let result = try await body(fd, tmp)
        guard fsync(fd) == 0 else { throw errnoError(key, "fsync") }
        guard rename(tmp, dest) == 0 else { throw errnoError(key, "rename") }
        ok = true
        return result
    }

    public func upload(_ key: String, fromFile src: String) async throws(ObjectStoreError) {
        try checkKey(key, bucket: description)
        let dest = path(key)
        try makeParent(dest, key)
        try copyFile(from: src, to: dest, key: key, missingIsNotFound: false)
    }

    public func delete(_ key: String) async throws(ObjectStoreError) {
        try checkKey(key, bucket: description)
        guard unlink(path(key)) == 0 else { throw errnoError(key, "delete") }
        // Remove directories left empty, up to the root (as Thanos' filesystem bucket does).
        var dir = (path(key) as NSString).deletingLastPathComponent
        while dir.count > root.count, rmdir(dir) == 0 {
            dir = (dir as NSString).deletingLastPathComponent
        }
    }

    // MARK: helpers

    func makeParent(_ dest: String, _ key: String) throws(ObjectStoreError) {
        let parent = (dest as NSString).deletingLastPathComponent
        do { try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true) } catch {
            throw fail(.io, key, "creating \(parent): \(error.localizedDescription)")
        }
    }

    func tempName(_ dest: String) -> String {
        let dir = (dest as NSString).deletingLastPathComponent
        return dir + "/.blockyard-tmp-" + UUID().uuidString
    }

    func writeAll(_ fd: Int32, _ p: UnsafeRawBufferPointer, _ key: String) throws(ObjectStoreError) {
        var off = 0
        while off < p.count {
            let w = write(fd, p.baseAddress! + off, p.count - off)
            if w < 0 {
                if errno == EINTR { continue }
                throw errnoError(key, "write")
            }
            off += w
        }
    }

    /// Streams `src` to `dest` through a temporary file and a rename; removes the
    /// temporary on any failure.
    func copyFile(from src: String, to dest: String, key: String, missingIsNotFound: Bool) throws(ObjectStoreError) {
        let inFd = open(src, O_RDONLY | O_CLOEXEC)
        if inFd < 0 {
            let e = errnoError(key, "open \(src)")
            throw missingIsNotFound ? e : fail(.io, key, "cannot read \(src): \(e.detail.isEmpty ? "no such file" : e.detail)")
        }
        defer { close(inFd) }
        let tmp = tempName(dest)
        let outFd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        if outFd < 0 { throw fail(.io, key, "create \(tmp): \(String(cString: strerror(errno)))") }
        var ok = false
        defer {
            close(outFd)
            if !ok { unlink(tmp) }
        }
        let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { buf.deallocate() }
        while true {
            let r = read(inFd, buf.baseAddress!, buf.count)
            if r < 0 {
                if errno == EINTR { continue }
                throw fail(.io, key, "read \(src): \(String(cString: strerror(errno)))")
            }
            if r == 0 { break }
            try writeAll(outFd, UnsafeRawBufferPointer(rebasing: buf[0..<r]), key)
        }
        guard fsync(outFd) == 0 else { throw fail(.io, key, "fsync \(tmp): \(String(cString: strerror(errno)))") }
        guard rename(tmp, dest) == 0 else { throw fail(.io, key, "rename to \(dest): \(String(cString: strerror(errno)))") }
        ok = true
    }
}

extension FilesystemBucket {
    public var isLocal: Bool { true }

    /// Pieces are read (a few at once) and written with `pwrite` at their offsets into a temporary
    /// file beside the destination, hashed in order, then the file is synced and renamed into place.
    /// `md5` is not trusted here: the bytes written are hashed (local CPU, no network).
    public func upload(_ key: String, size: Int64, md5: [UInt8]?, from read: @escaping PieceReader) async throws(ObjectStoreError) -> [UInt8] {
        let name = description
        return try await writeAtomically(key) { fd, tmp throws(ObjectStoreError) in
            try await StreamedUpload.pipeline(size: size, pieceSize: Self.streamPiece, parallelism: Self.streamParallelism, bucket: name, key: key) { _, r throws(ObjectStoreError) in
                let bytes = try await StreamedUpload.read(read, r, bucket: name, key: key).bytes
                let failure: String? = bytes.withUnsafeBytes { p in
                    var off = 0
                    while off < p.count {
                        let w = pwrite(fd, p.baseAddress! + off, p.count - off, off_t(r.lowerBound) + off_t(off))
                        if w < 0 {
                            if errno == EINTR { continue }
                            return String(cString: strerror(errno))
                        }
                        off += w
                    }
                    return nil
                }
                if let failure { throw ObjectStoreError(.io, bucket: name, key: key, "write \(tmp): \(failure)") }
                return bytes
            }
        }
    }

    static let streamPiece = 8 << 20
    static let streamParallelism = 4
}
