#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension ByteStorage {
    /// Tells the kernel the pages wholly inside `range` are not needed for now, so a walk
    /// over a memory-mapped file does not keep what it has passed resident (RSS stays flat
    /// as files grow). The bytes stay readable: a later access reads them from the file
    /// again. No effect on heap storage.
    public func releasePages(_ range: Range<Int>) {
        guard case .munmap = release, let base = raw.baseAddress, !range.isEmpty else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let lo = (max(0, range.lowerBound) + page - 1) / page * page
        let hi = min(raw.count, range.upperBound) / page * page
        guard hi > lo else { return }
        madvise(UnsafeMutableRawPointer(mutating: base + lo), hi - lo, Int32(MADV_DONTNEED))
    }
}
