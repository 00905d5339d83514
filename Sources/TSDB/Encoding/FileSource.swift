#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A local file as a `ByteSource`: each read is a `pread` into a buffer from a pool, the
/// way `cat` reads, so a walk touches each byte once, keeps only the windows it holds in
/// memory, and maps nothing. (Mapping and unmapping windows costs more page-table work
/// than the copy.) The file stays open as long as the source.
public final class FileSource: ByteSource, @unchecked Sendable {
    public let name: String
    public let size: Int
    private let fd: Int32
    private let pool: BufferPool

    public init(path: String) throws(TSDBError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw TSDBError(.io, file: path, offset: 0, "open: \(errnoText())") }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw TSDBError(.io, file: path, offset: 0, "not a regular file")
        }
        self.fd = fd
        name = path
        size = Int(st.st_size)
        pool = BufferPool(keep: 8)
        #if os(Linux)
        _ = posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL)
        #endif
    }

    deinit { close(fd) }

    public func read(_ range: Range<Int>) async throws -> ByteStorage {
        try window(range)
    }

    /// The synchronous form of `read`.
    public func window(_ range: Range<Int>) throws(TSDBError) -> ByteStorage {
        guard range.lowerBound >= 0, range.upperBound <= size else {
            throw TSDBError(.truncated, file: name, offset: max(0, range.lowerBound),
                            "need bytes \(range.lowerBound)..<\(range.upperBound), file has \(size)")
        }
        let n = range.count
        let buffer = pool.take(n)
        var done = 0
        while done < n {
            let r = pread(fd, buffer.baseAddress! + done, n - done, off_t(range.lowerBound + done))
            if r < 0 {
                if errno == EINTR { continue }
                pool.giveBack(buffer)
                throw TSDBError(.io, file: name, offset: range.lowerBound + done, "read: \(errnoText())")
            }
            if r == 0 {
                pool.giveBack(buffer)
                throw TSDBError(.io, file: name, offset: range.lowerBound + done, "file shrank while reading")
            }
            done += r
        }
        return .pooled(buffer, count: n, from: pool, name: name)
    }
}
