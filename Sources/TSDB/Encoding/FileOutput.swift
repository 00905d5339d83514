#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A new file written front to back through a buffer, knowing its position: what the
/// index and chunk writers emit into. Earlier bytes can be patched (`write(_:at:)`), for
/// lengths known only after a section is written.
///
/// The file is created exclusively (an existing file is an error, never overwritten).
/// `close(sync:)` flushes, optionally fsyncs, and closes; `discard()` closes and removes it.
/// Every failure is a `TSDBError(.io)` naming the path.
public final class FileOutput {
    public let path: String
    private var fd: Int32
    private let buffer: UnsafeMutableRawBufferPointer
    private var used = 0
    /// Bytes written so far (buffered or not): the offset the next byte lands at.
    public private(set) var position = 0

    public init(path: String, bufferSize: Int = 1 << 20) throws(TSDBError) {
        self.path = path
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        if fd < 0 { throw TSDBError(.io, file: path, offset: 0, "create: \(errnoText())") }
        buffer = .allocate(byteCount: max(4096, bufferSize), alignment: 16)
    }

    deinit {
        if fd >= 0 { Glibc.close(fd) }
        buffer.deallocate()
    }

    public func write(_ p: UnsafeRawBufferPointer) throws(TSDBError) {
        guard p.count > 0 else { return }
        if used + p.count > buffer.count {
            try flush()
            if p.count >= buffer.count {
                try writeAll(p, at: nil)
                position += p.count
                return
            }
        }
        UnsafeMutableRawBufferPointer(rebasing: buffer[used..<(used + p.count)]).copyMemory(from: p)
        used += p.count
        position += p.count
    }

    public func write(_ bytes: [UInt8]) throws(TSDBError) {
        try withBytes(bytes) { (p) throws(TSDBError) in try write(p) }
    }

    /// Zero bytes up to the next multiple of `alignment`.
    public func pad(to alignment: Int) throws(TSDBError) {
        let n = (alignment - position % alignment) % alignment
        if n == 0 { return }
        let zeros = [UInt8](repeating: 0, count: n)
        try write(zeros)
    }

    /// Overwrites bytes already written at `offset` (they must lie before `position`).
    public func write(_ bytes: [UInt8], at offset: Int) throws(TSDBError) {
        precondition(offset >= 0 && offset + bytes.count <= position, "patch outside the written file")
        try flush()
        try withBytes(bytes) { (p) throws(TSDBError) in try writeAll(p, at: offset) }
    }

    public func flush() throws(TSDBError) {
        guard used > 0 else { return }
        try writeAll(UnsafeRawBufferPointer(rebasing: buffer[0..<used]), at: nil)
        used = 0
    }

    /// Flushes, fsyncs when asked, and closes. The object is unusable afterwards.
    public func close(sync: Bool = true) throws(TSDBError) {
        try flush()
        if sync && fsync(fd) != 0 { throw TSDBError(.io, file: path, offset: position, "fsync: \(errnoText())") }
        let r = Glibc.close(fd)
        fd = -1
        if r != 0 { throw TSDBError(.io, file: path, offset: position, "close: \(errnoText())") }
    }

    /// Closes (if open) and removes the file; for abandoned writes.
    public func discard() {
        if fd >= 0 {
            Glibc.close(fd)
            fd = -1
        }
        unlink(path)
    }

    private func writeAll(_ p: UnsafeRawBufferPointer, at offset: Int?) throws(TSDBError) {
        var done = 0
        while done < p.count {
            let n: Int
            if let offset {
                n = pwrite(fd, p.baseAddress! + done, p.count - done, off_t(offset + done))
            } else {
                n = Glibc.write(fd, p.baseAddress! + done, p.count - done)
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw TSDBError(.io, file: path, offset: (offset ?? position) + done, "write: \(errnoText())")
            }
            done += n
        }
    }
}

/// `Array.withUnsafeBytes` with a typed-throwing body.
@inlinable
func withBytes<R>(_ bytes: [UInt8], _ body: (UnsafeRawBufferPointer) throws(TSDBError) -> R) throws(TSDBError) -> R {
    let r: Result<R, TSDBError> = bytes.withUnsafeBytes { p in
        do throws(TSDBError) { return .success(try body(p)) } catch { return .failure(error) }
    }
    return try r.get()
}

/// fsync of a directory, so a rename or a new entry in it is durable.
public func syncDirectory(_ path: String) throws(TSDBError) {
    let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    if fd < 0 { throw TSDBError(.io, file: path, offset: 0, "open directory: \(errnoText())") }
    defer { close(fd) }
    if fsync(fd) != 0 && errno != EINVAL { throw TSDBError(.io, file: path, offset: 0, "fsync directory: \(errnoText())") }
}
