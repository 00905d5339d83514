#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Immutable bytes that a reader decodes from: a memory-mapped file, or a heap buffer
/// (a ranged read of a remote blob, a test vector).
///
/// Readers keep the storage alive for as long as they hand out views of it, so the raw
/// pointer never outlives its owner. Offsets are `Int` (64-bit), so an index of more
/// than 4 GiB is addressable.
public final class ByteStorage: @unchecked Sendable {
    /// The bytes. Valid for the lifetime of this object.
    @usableFromInline package let raw: UnsafeRawBufferPointer
    /// A human name used in errors: usually the path of the file.
    public let name: String
    let release: Release

    enum Release {
        case none
        case munmap
        case free
        /// A view of part of another storage, kept alive by the view.
        case parent(ByteStorage)
        /// A buffer lent by a pool, given back when the storage goes.
        case pooled(BufferPool, UnsafeMutableRawBufferPointer)
    }

    /// Copies `bytes` into a storage of its own.
    public init<C: Collection>(copying bytes: C, name: String = "<memory>") where C.Element == UInt8 {
        let n = bytes.count
        let p = UnsafeMutableRawBufferPointer.allocate(byteCount: max(n, 1), alignment: 16)
        // One memcpy for contiguous collections ([UInt8] from a bucket read); the generic
        // element-wise copy is an order of magnitude slower.
        let copied: Void? = bytes.withContiguousStorageIfAvailable { src in
            UnsafeMutableRawBufferPointer(rebasing: p[0..<n]).copyMemory(from: UnsafeRawBufferPointer(src))
        }
        if copied == nil { _ = UnsafeMutableRawBufferPointer(rebasing: p[0..<n]).initializeMemory(as: UInt8.self, from: bytes) }
        raw = UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(p)[0..<n])
        self.name = name
        release = .free
    }

    /// Takes ownership of memory from `UnsafeMutableRawBufferPointer.allocate` (freed with
    /// the storage). For objects assembled from ranged reads without an extra copy.
    public static func owning(_ p: UnsafeMutableRawBufferPointer, name: String) -> ByteStorage {
        ByteStorage(raw: UnsafeRawBufferPointer(p), name: name, release: .free)
    }

    /// `count` bytes of a buffer taken from `pool` (the caller has filled them), which goes
    /// back to the pool when the storage is released.
    package static func pooled(_ buffer: UnsafeMutableRawBufferPointer, count: Int, from pool: BufferPool, name: String) -> ByteStorage {
        precondition(count >= 0 && count <= buffer.count)
        return ByteStorage(raw: UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(buffer)[0..<count]), name: name,
                           release: .pooled(pool, buffer))
    }

    /// The bytes in `range` as a storage of their own that keeps this one alive; no copy.
    public func view(_ range: Range<Int>, name: String? = nil) -> ByteStorage {
        precondition(range.lowerBound >= 0 && range.upperBound <= raw.count, "range outside storage")
        return ByteStorage(raw: UnsafeRawBufferPointer(rebasing: raw[range]), name: name ?? self.name, release: .parent(self))
    }

    private init(raw: UnsafeRawBufferPointer, name: String, release: Release) {
        self.raw = raw
        self.name = name
        self.release = release
    }

    /// Maps a whole file read-only. An empty file gives empty storage.
    public static func map(path: String) throws(TSDBError) -> ByteStorage {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw TSDBError(.io, file: path, offset: 0, "open: \(errnoText())") }
        defer { close(fd) }
        var st = stat()
        if fstat(fd, &st) != 0 { throw TSDBError(.io, file: path, offset: 0, "stat: \(errnoText())") }
        if (st.st_mode & S_IFMT) != S_IFREG {
            throw TSDBError(.io, file: path, offset: 0, "not a regular file")
        }
        let size = Int(st.st_size)
        if size == 0 {
            return ByteStorage(raw: UnsafeRawBufferPointer(start: nil, count: 0), name: path, release: .none)
        }
        guard let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
            throw TSDBError(.io, file: path, offset: 0, "mmap: \(errnoText())")
        }
        return ByteStorage(raw: UnsafeRawBufferPointer(start: p, count: size), name: path, release: .munmap)
    }

    deinit {
        switch release {
        case .none, .parent: break
        case .munmap: munmap(UnsafeMutableRawPointer(mutating: raw.baseAddress), raw.count)
        case .free: raw.baseAddress.map { UnsafeMutableRawPointer(mutating: $0).deallocate() }
        case .pooled(let pool, let buffer): pool.giveBack(buffer)
        }
    }

    /// Gives the pages wholly inside `range` back to the kernel when the storage is a
    /// memory-mapped file (a no-op for heap bytes): for readers that pass over a section
    /// once, so resident memory does not grow with the file. The bytes stay readable; a
    /// later read maps them again from the page cache.
    package func releasePages(_ range: Range<Int>) {
        guard case .munmap = release, let base = raw.baseAddress else { return }
        let range = range.clamped(to: 0..<raw.count)
        let page = UInt(Self.pageSize)
        let lo = (UInt(bitPattern: base) + UInt(range.lowerBound) + page - 1) & ~(page - 1)
        let hi = (UInt(bitPattern: base) + UInt(range.upperBound)) & ~(page - 1)
        guard hi > lo else { return }
        _ = madvise(UnsafeMutableRawPointer(bitPattern: lo), Int(hi - lo), MADV_DONTNEED)
    }

    static let pageSize: Int = Int(sysconf(Int32(_SC_PAGESIZE)))

    /// Gives back the pages a one-pass reader has left behind, in steps of at least `step`
    /// bytes: each `madvise` of a mapping shared by several threads costs a TLB shootdown on
    /// every core, so releasing a few KiB per step costs more than the copy it saves.
    package struct ReleaseBehind: Sendable {
        package let storage: ByteStorage
        package let step: Int
        package private(set) var released: Int

        package init(_ storage: ByteStorage, from start: Int, step: Int = 8 << 20) {
            self.storage = storage
            self.step = step
            released = start
        }

        /// The reader has passed `offset`.
        package mutating func passed(_ offset: Int) {
            guard offset - released >= step else { return }
            storage.releasePages(released..<offset)
            released = offset
        }
    }

    public var count: Int { raw.count }

    /// Calls `body` with the bytes in `range`; the pointer must not escape `body`.
    public func withBytes<R, E: Error>(
        _ range: Range<Int>, _ body: (UnsafeRawBufferPointer) throws(E) -> R
    ) throws(E) -> R {
        precondition(range.lowerBound >= 0 && range.upperBound <= raw.count, "range outside storage")
        return try body(UnsafeRawBufferPointer(rebasing: raw[range]))
    }

    /// A copy of the bytes in `range` (checked; an out-of-range request is an error, not a trap).
    public func bytes(_ range: Range<Int>) throws(TSDBError) -> [UInt8] {
        guard range.lowerBound >= 0, range.upperBound <= raw.count else {
            throw TSDBError(.truncated, file: name, offset: range.lowerBound,
                            "need bytes \(range.lowerBound)..<\(range.upperBound), file has \(raw.count)")
        }
        return Array(raw[range])
    }
}

func errnoText() -> String {
    String(cString: strerror(errno))
}
