import Synchronization

/// Reusable heap buffers for windows read by `pread` or from a bucket: a walk that reads
/// window after window reuses a few buffers instead of allocating (and page-faulting in)
/// fresh memory for each. Buffers beyond `keep` are freed when given back.
package final class BufferPool: Sendable {
    private struct Buffer: @unchecked Sendable { var p: UnsafeMutableRawBufferPointer }
    private let free = Mutex<[Buffer]>([])
    let keep: Int
    let minimum: Int

    package init(keep: Int = 8, minimum: Int = 1 << 20) {
        self.keep = keep
        self.minimum = minimum
    }

    deinit {
        free.withLock { for b in $0 { b.p.deallocate() } }
    }

    /// A buffer of at least `count` bytes.
    package func take(_ count: Int) -> UnsafeMutableRawBufferPointer {
        if let b = free.withLock({ list -> Buffer? in
            guard let i = list.firstIndex(where: { $0.p.count >= count }) else { return nil }
            return list.remove(at: i)
        }) {
            return b.p
        }
        let size = max(minimum, (count + 65535) & ~65535)
        return .allocate(byteCount: size, alignment: 64)
    }

    package func giveBack(_ p: UnsafeMutableRawBufferPointer) {
        let dropped: Buffer? = free.withLock { list in
            list.append(Buffer(p: p))
            if list.count > keep, let i = list.indices.min(by: { list[$0].p.count < list[$1].p.count }) {
                return list.remove(at: i)
            }
            return nil
        }
        dropped?.p.deallocate()
    }
}
