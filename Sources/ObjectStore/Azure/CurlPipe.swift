import CCurl

/// Couples two transfers on the transport thread: the response body of one (the producer, a GET)
/// becomes the request body of the other (the consumer, a PUT of known length) through a ring
/// buffer of fixed capacity, so an object of any size passes through in that much memory.
///
/// Back-pressure is curl's own pause: the producer's write callback pauses its transfer when the
/// ring has no room for the bytes offered (curl keeps them and offers them again once unpaused, so
/// nothing is taken in part), and the consumer's read callback pauses its transfer when the ring
/// is empty. Each side asks the engine to unpause the other when it makes room or data; the engine
/// does so outside any callback (`CurlEngine.resumeLater`). A paused socket is not read, so a slow
/// destination slows the source down through TCP instead of growing memory.
///
/// When one side ends, the other is told: a producer that ends without delivering `length` bytes
/// (error status, broken connection, short body) makes the consumer abort, and a consumer that ends
/// first (the destination answered early, or failed) makes the producer abort. The side stopped so
/// carries `spliceStop = .peerEnded`, so the caller blames the side that really failed.
///
/// Only the transport thread touches an instance once the transfers are submitted.
final class CurlPipe: @unchecked Sendable {
    /// The consumer's body length: exactly this many bytes must come from the producer.
    let length: Int64
    private let ring: UnsafeMutableRawBufferPointer
    /// Index of the first buffered byte, and how many are buffered.
    private var start = 0
    private var buffered = 0
    private(set) var produced: Int64 = 0
    private(set) var consumed: Int64 = 0
    /// The two transfers while they run (cleared as each ends, which also breaks the cycle).
    var producer: CurlTransfer?
    var consumer: CurlTransfer?
    private var producerWaits = false
    private var consumerWaits = false
    private var producerEnded = false
    private var producerFailed = false
    private var consumerEnded = false
    /// The largest number of bytes held at once (for tests of the bound).
    private(set) var highWater = 0
    private let resume: (CurlTransfer) -> Void

    /// `capacity` is raised to at least four of curl's largest write-callback deliveries, so the
    /// producer can always make progress once the ring has drained.
    init(length: Int64, capacity: Int, resume: @escaping (CurlTransfer) -> Void) {
        self.length = length
        ring = UnsafeMutableRawBufferPointer.allocate(byteCount: max(capacity, 4 * Int(CURL_MAX_WRITE_SIZE)), alignment: 16)
        self.resume = resume
    }

    deinit { ring.deallocate() }

    var capacity: Int { ring.count }

    /// The producer's write callback: takes all of `p`, pauses (taking nothing) when it does not
    /// fit, or refuses (0) when the source sends more than `length` or the consumer has ended.
    func produce(_ p: UnsafeRawBufferPointer, _ response: inout HTTPResponse) -> Int {
        if produced + Int64(p.count) > length {
            response.spliceStop = .sourceTooLong
            return 0
        }
        if consumerEnded {
            response.spliceStop = .peerEnded
            return 0
        }
        if p.count > ring.count - buffered {
            producerWaits = true
            return Int(CURL_WRITEFUNC_PAUSE)
        }
        guard let src = p.baseAddress, p.count > 0 else { return 0 }
        let end = (start + buffered) % ring.count
        let first = min(p.count, ring.count - end)
        ring.baseAddress!.advanced(by: end).copyMemory(from: src, byteCount: first)
        if first < p.count {
            ring.baseAddress!.copyMemory(from: src.advanced(by: first), byteCount: p.count - first)
        }
        buffered += p.count
        produced += Int64(p.count)
        highWater = max(highWater, buffered)
        if consumerWaits, let c = consumer {
            consumerWaits = false
            resume(c)
        }
        return p.count
    }

    /// The consumer's read callback: fills `dest` from the ring, pauses when it is empty, aborts
    /// when the producer ended without delivering everything.
    func consume(_ dest: UnsafeMutableRawBufferPointer, _ response: inout HTTPResponse) -> Int {
        if producerEnded && (producerFailed || buffered == 0) {
            response.spliceStop = .peerEnded
            return Int(CURL_READFUNC_ABORT)
        }
        if buffered == 0 {
            consumerWaits = true
            return Int(CURL_READFUNC_PAUSE)
        }
        guard let out = dest.baseAddress else { return 0 }
        let n = min(dest.count, buffered)
        let first = min(n, ring.count - start)
        out.copyMemory(from: ring.baseAddress!.advanced(by: start), byteCount: first)
        if first < n {
            out.advanced(by: first).copyMemory(from: ring.baseAddress!, byteCount: n - first)
        }
        start = (start + n) % ring.count
        buffered -= n
        consumed += Int64(n)
        if producerWaits, let p = producer {
            producerWaits = false
            resume(p)
        }
        return n
    }

    /// `t` has finished for good (completed, failed or cancelled): wake the other side so it can
    /// finish too.
    func ended(_ t: CurlTransfer) {
        if t === producer {
            producerEnded = true
            let r = t.response
            producerFailed = r.curlCode != 0 || r.cancelled || r.status < 200 || r.status >= 300 || produced != length
            producer = nil
            if consumerWaits, let c = consumer {
                consumerWaits = false
                resume(c)
            }
        } else if t === consumer {
            consumerEnded = true
            consumer = nil
            if producerWaits, let p = producer {
                producerWaits = false
                resume(p)
            }
        }
    }
}
