#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import TSDB

/// Buffered bytes to a file descriptor (stdout by default) or into memory (tests).
public final class OutputSink {
    public var buffer: [UInt8] = []
    let fd: Int32?
    let limit: Int
    public private(set) var collected: [UInt8] = []

    /// Writes to `fd`, flushing every `limit` bytes.
    public init(fd: Int32 = 1, limit: Int = 1 << 18) {
        self.fd = fd
        self.limit = limit
        buffer.reserveCapacity(limit + 4096)
    }

    /// Collects everything in memory (`collected`).
    public init(collecting: ()) {
        fd = nil
        limit = 1 << 20
    }

    @inline(__always)
    public func flushIfFull() throws {
        if buffer.count >= limit { try flush() }
    }

    public func flush() throws {
        guard let fd else {
            collected.append(contentsOf: buffer)
            buffer.removeAll(keepingCapacity: true)
            return
        }
        try buffer.withUnsafeBytes { p in
            var off = 0
            while off < p.count {
                let n = Glibc.write(fd, p.baseAddress! + off, p.count - off)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw OutputError(detail: "write to output failed: \(String(cString: strerror(errno)))")
                }
                off += n
            }
        }
        buffer.removeAll(keepingCapacity: true)
    }

    public func write(_ s: String) throws {
        buffer.append(contentsOf: s.utf8)
        try flushIfFull()
    }

    public var text: String { String(decoding: collected + buffer, as: UTF8.self) }
}

public struct OutputError: Error, CustomStringConvertible {
    public var detail: String
    public var description: String { detail }
}
