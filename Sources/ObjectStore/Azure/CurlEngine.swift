import CCurl
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One HTTP exchange as the Azure client describes it to the transport.
struct HTTPRequest: Sendable {
    enum Body: Sendable {
        case none
        case bytes([UInt8])
        /// `length` bytes of an open file from `offset`, read with `pread` as curl asks for them.
        case file(fd: Int32, offset: Int64, length: Int64)
        /// `length` bytes of another transfer's response body (`CurlEngine.splice`).
        case pipe(length: Int64)

        var length: Int64 {
            switch self {
            case .none: 0
            case .bytes(let b): Int64(b.count)
            case .file(_, _, let n): n
            case .pipe(let n): n
            }
        }
    }

    var method: String
    var url: String
    /// Sent in this order; names as written.
    var headers: [(String, String)]
    var body: Body = .none
    var timeouts = HTTPTimeouts()
}

/// Per-request limits; zero means "not set".
struct HTTPTimeouts: Sendable {
    var connect: Duration = .seconds(10)
    /// No response headers after this long → transport error.
    var responseHeader: Duration = .seconds(120)
    /// Whole-request limit (Thanos pipeline_config.try_timeout).
    var total: Duration = .zero
    /// Stall watchdog: less than 1 byte/s for this long aborts the transfer.
    var stall: Duration = .seconds(60)
    var maxConnectionAge: Duration = .seconds(90)
    var caFile: String?
    var certFile: String?
    var keyFile: String?
    var insecureSkipVerify = false
}

/// What came back. A transport failure has `curlCode != 0` and whatever status/headers arrived.
struct HTTPResponse: Sendable {
    var status = 0
    /// Lower-cased names; a repeated header keeps its last value.
    var headers: [String: String] = [:]
    /// The body of a non-2xx response (capped), for error codes and messages.
    var errorBody: [UInt8] = []
    /// Body bytes delivered to the sink.
    var bodyBytes: Int64 = 0
    var curlCode: Int32 = 0
    var curlMessage = ""
    /// The sink refused bytes (local write failure); `sinkError` says why.
    var sinkError: String?
    var cancelled = false
    var duration: Duration = .zero
    /// Connections curl had to open for this transfer (0 when a kept-alive one was reused).
    var newConnections = 0
    /// Why a spliced transfer was stopped by the pipe rather than by its own peer.
    var spliceStop: SpliceStop?

    enum SpliceStop: Sendable {
        /// The other side of the splice ended first; its response says what went wrong.
        case peerEnded
        /// The source sent more bytes than the destination's body length.
        case sourceTooLong
    }

    func header(_ name: String) -> String? { headers[name] }
}

/// Receives a 2xx response body on the transport thread. Returning false aborts the transfer.
class ResponseSink: @unchecked Sendable {
    func write(_ p: UnsafeRawBufferPointer) -> Bool { true }
    /// Why `write` refused, for the error message.
    var failure: String? { nil }
}

/// Collects the body in memory.
final class MemorySink: ResponseSink, @unchecked Sendable {
    private(set) var bytes: [UInt8] = []

    init(expected: Int = 0) {
        bytes.reserveCapacity(min(expected, 64 << 20))
    }

    override func write(_ p: UnsafeRawBufferPointer) -> Bool {
        bytes.append(contentsOf: p)
        return true
    }

    func reset() { bytes.removeAll(keepingCapacity: true) }
}

/// Writes the body into a file at `offset + written` with `pwrite`, so parallel ranges can share
/// one descriptor. `written` survives a failed attempt so a retry can resume after it.
final class FileSink: ResponseSink, @unchecked Sendable {
    let fd: Int32
    let offset: Int64
    /// Refuse bytes beyond this many (a server ignoring the range must not scribble past it).
    let limit: Int64?
    private(set) var written: Int64 = 0
    private var error: String?

    init(fd: Int32, offset: Int64, limit: Int64?) {
        self.fd = fd
        self.offset = offset
        self.limit = limit
    }

    override var failure: String? { error }

    override func write(_ p: UnsafeRawBufferPointer) -> Bool {
        if let limit, written + Int64(p.count) > limit {
            error = "the server sent more bytes than the \(limit) asked for"
            return false
        }
        var done = 0
        while done < p.count {
            guard let base = p.baseAddress else { return true }
            let r = pwrite(fd, base + done, p.count - done, off_t(offset + written + Int64(done)))
            if r < 0 {
                if errno == EINTR { continue }
                error = String(cString: strerror(errno))
                written += Int64(done)
                return false
            }
            done += r
        }
        written += Int64(p.count)
        return true
    }
}

/// One request in flight. Touched by the caller until it is submitted, then only by the
/// transport thread until the continuation is resumed.
final class CurlTransfer: @unchecked Sendable {
    let request: HTTPRequest
    let sink: ResponseSink?
    /// Set for both sides of a splice: the producer's body goes into it, the consumer's comes out.
    var pipe: CurlPipe?
    var continuation: CheckedContinuation<HTTPResponse, Never>?
    var response = HTTPResponse()
    var easy: UnsafeMutableRawPointer?
    var headerList: UnsafeMutablePointer<curl_slist>?
    var errorBuffer: UnsafeMutablePointer<CChar>?
    var readPosition: Int64 = 0
    var gotHeaders = false
    var started = ContinuousClock.now
    /// When the request body was fully handed to curl; the response-header timeout runs from here
    /// (as Go's ResponseHeaderTimeout does), so a slow upload is left to the stall watchdog.
    var sentAt: ContinuousClock.Instant?
    /// Set under the engine lock by the cancellation handler.
    var cancelRequested = false

    init(request: HTTPRequest, sink: ResponseSink?) {
        self.request = request
        self.sink = sink
    }

    static let errorBodyCap = 64 << 10

    func onHeader(_ p: UnsafeRawBufferPointer) {
        // Trim CR/LF as bytes: "\r\n" is one Character, so String suffix checks miss it.
        var bytes = p[...]
        while let last = bytes.last, last == 10 || last == 13 { bytes = bytes.dropLast() }
        let line = String(decoding: bytes, as: UTF8.self)
        if line.hasPrefix("HTTP/") {
            let parts = line.split(separator: " ", maxSplits: 2)
            response.status = parts.count > 1 ? Int(parts[1]) ?? 0 : 0
            response.headers = [:]
        } else if line.isEmpty {
            if response.status >= 200 { gotHeaders = true }
        } else if let colon = line.firstIndex(of: ":") {
            let name = line[..<colon].trimmingCharacters(in: .whitespaces).lowercased()
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            response.headers[name] = value
        }
    }

    /// Whether this transfer's request body comes from a pipe (else, with a pipe, it feeds one).
    var isPipeConsumer: Bool {
        if case .pipe = request.body { return true }
        return false
    }

    /// Takes response body bytes: returns how many were taken (all of them, or 0 to abort), or
    /// `CURL_WRITEFUNC_PAUSE` when a pipe is full.
    func onBody(_ p: UnsafeRawBufferPointer) -> Int {
        if response.status < 200 || response.status >= 300 {
            let room = Self.errorBodyCap - response.errorBody.count
            if room > 0 { response.errorBody.append(contentsOf: p.prefix(room)) }
            return p.count
        }
        if let pipe, !isPipeConsumer {
            let n = pipe.produce(p, &response)
            if n == p.count { response.bodyBytes += Int64(n) }
            return n
        }
        guard let sink else {
            response.bodyBytes += Int64(p.count)
            return p.count
        }
        if !sink.write(p) {
            response.sinkError = sink.failure ?? "the response sink refused the data"
            return 0
        }
        response.bodyBytes += Int64(p.count)
        return p.count
    }

    /// Moves the upload position (curl replays a body after a dead reused connection).
    func onSeek(_ offset: Int64) -> Bool {
        guard offset >= 0, offset <= request.body.length else { return false }
        // Bytes taken from a pipe are gone: only a body not yet started can be replayed.
        if isPipeConsumer && offset != readPosition { return false }
        readPosition = offset
        return true
    }

    /// Fills curl's upload buffer; returns the byte count, or `CURL_READFUNC_ABORT`.
    func onRead(_ dest: UnsafeMutableRawBufferPointer) -> Int {
        let total = request.body.length
        let n = Int(min(Int64(dest.count), total - readPosition))
        if n <= 0 { return 0 }
        switch request.body {
        case .none:
            return 0
        case .pipe:
            guard let pipe else { return Int(CURL_READFUNC_ABORT) }
            let got = pipe.consume(UnsafeMutableRawBufferPointer(rebasing: dest[0..<n]), &response)
            guard got > 0, got <= n else { return got }
            readPosition += Int64(got)
            if readPosition == total { sentAt = .now }
            return got
        case .bytes(let b):
            b.withUnsafeBytes { src in
                dest.copyMemory(from: UnsafeRawBufferPointer(rebasing: src[Int(readPosition)..<Int(readPosition) + n]))
            }
        case .file(let fd, let offset, _):
            guard let base = dest.baseAddress else { return 0 }
            var got = 0
            while got < n {
                let r = pread(fd, base + got, n - got, off_t(offset + readPosition + Int64(got)))
                if r < 0 && errno == EINTR { continue }
                if r <= 0 {
                    response.sinkError = r < 0 ? "reading the upload source: \(String(cString: strerror(errno)))" : "the upload source ended early"
                    return Int(CURL_READFUNC_ABORT)
                }
                got += r
            }
        }
        readPosition += Int64(n)
        if readPosition == total { sentAt = .now }
        return n
    }
}

/// The process' HTTP transport: one thread owns a `curl_multi` handle and drives every transfer.
/// Async callers submit a `CurlTransfer` and wait on a continuation; the thread wakes on
/// `curl_multi_wakeup`. Idle easy handles are kept for reuse and connections stay in the multi
/// handle's cache between requests (keep-alive). `splice` runs a GET and a PUT together, one's
/// response body streaming into the other's request body through a `CurlPipe`, paused and
/// unpaused on this thread; no async code is involved until both have finished.
final class CurlEngine: @unchecked Sendable {
    static let shared = CurlEngine()

    private struct Inbox {
        var submitted: [CurlTransfer] = []
        var cancelled: [CurlTransfer] = []
    }

    private let inbox = Mutex(Inbox())
    private let multi: UnsafeMutableRawPointer?
    /// Only touched on the transport thread.
    private var active: [UnsafeMutableRawPointer: CurlTransfer] = [:]
    private var idleHandles: [UnsafeMutableRawPointer] = []
    /// Paused spliced transfers to unpause once curl is out of its callbacks.
    private var toResume: [CurlTransfer] = []
    private let initError: String?

    private init() {
        if let why = by_curl_load() {
            multi = nil
            initError = String(cString: why)
        } else {
            let rc = by_curl_global_init(Int(CURL_GLOBAL_ALL))
            multi = rc == CURLE_OK ? by_curl_multi_init() : nil
            initError = multi == nil ? "libcurl could not be initialised" : nil
        }
        if let multi {
            _ = by_curl_multi_setopt_long(multi, CURLMOPT_MAXCONNECTS, 100)
            let t = Thread { [unowned self] in self.run() }
            t.name = "blockyard-curl"
            t.start()
        }
    }

    /// Runs one request to completion. Never throws: failures are in the response.
    func perform(_ request: HTTPRequest, sink: ResponseSink?) async -> HTTPResponse {
        if let initError { return Self.failedInit(initError) }
        return await submit(CurlTransfer(request: request, sink: sink))
    }

    /// Runs `source` (a GET) and `destination` (a request whose body is `.pipe(length:)`) at
    /// once, the source's response body streaming into the destination's request body through a
    /// `buffer`-byte ring (`CurlPipe`): the memory held is the ring, whatever the length. Returns
    /// both responses; a side stopped because the other ended has `spliceStop == .peerEnded`.
    func splice(_ source: HTTPRequest, into destination: HTTPRequest, buffer: Int) async -> (source: HTTPResponse, destination: HTTPResponse) {
        if let initError { return (Self.failedInit(initError), Self.failedInit(initError)) }
        let pipe = CurlPipe(length: destination.body.length, capacity: buffer) { [unowned self] t in toResume.append(t) }
        let producer = CurlTransfer(request: source, sink: nil)
        let consumer = CurlTransfer(request: destination, sink: nil)
        producer.pipe = pipe
        consumer.pipe = pipe
        pipe.producer = producer
        pipe.consumer = consumer
        async let s = submit(producer)
        async let d = submit(consumer)
        return await (s, d)
    }

    private static func failedInit(_ message: String) -> HTTPResponse {
        var r = HTTPResponse()
        r.curlCode = Int32(CURLE_FAILED_INIT.rawValue)
        r.curlMessage = message
        return r
    }

    /// Hands `transfer` to the transport thread and waits for it (cancellation aborts it).
    private func submit(_ transfer: CurlTransfer) async -> HTTPResponse {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<HTTPResponse, Never>) in
                inbox.withLock { box in
                    transfer.continuation = c
                    box.submitted.append(transfer)
                }
                wake()
            }
        } onCancel: {
            inbox.withLock { box in
                transfer.cancelRequested = true
                box.cancelled.append(transfer)
            }
            wake()
        }
    }

    private func wake() {
        if let multi { _ = by_curl_multi_wakeup(multi) }
    }

    // MARK: transport thread

    private func run() {
        guard let multi else { return }
        while true {
            let (submitted, cancelled) = inbox.withLock { box -> ([CurlTransfer], [CurlTransfer]) in
                defer { box = Inbox() }
                return (box.submitted, box.cancelled)
            }
            for t in submitted {
                if inbox.withLock({ _ in t.cancelRequested }) {
                    t.response.cancelled = true
                    complete(t)
                } else {
                    start(t, multi)
                }
            }
            for t in cancelled {
                if let easy = t.easy, active[easy] != nil {
                    t.response.cancelled = true
                    finish(t, easy, code: CURLE_ABORTED_BY_CALLBACK, multi)
                }
            }
            var running: Int32 = 0
            _ = by_curl_multi_perform(multi, &running)
            var queued: Int32 = 0
            while let msg = by_curl_multi_info_read(multi, &queued) {
                guard msg.pointee.msg == CURLMSG_DONE, let easy = msg.pointee.easy_handle,
                    let t = active[easy]
                else { continue }
                finish(t, easy, code: msg.pointee.data.result, multi)
            }
            checkHeaderDeadlines(multi)
            let resumed = resumePaused()
            var fds: Int32 = 0
            _ = by_curl_multi_poll(multi, nil, 0, resumed ? 0 : active.isEmpty ? 1000 : 100, &fds)
        }
    }

    /// Unpauses the spliced transfers their pipes asked for. Unpausing a receiver hands it the
    /// bytes curl held back at once, which may ask for more unpausing: repeat until none is left.
    private func resumePaused() -> Bool {
        var any = false
        while !toResume.isEmpty {
            let batch = toResume
            toResume = []
            for t in batch {
                guard let easy = t.easy, active[easy] === t else { continue }
                _ = by_curl_easy_pause(easy, CURLPAUSE_CONT)
                any = true
            }
        }
        return any
    }

    private func checkHeaderDeadlines(_ multi: UnsafeMutableRawPointer) {
        let now = ContinuousClock.now
        for (easy, t) in active where !t.gotHeaders && t.request.timeouts.responseHeader > .zero {
            guard let since = t.request.body.length == 0 ? t.started : t.sentAt else { continue }
            if now - since > t.request.timeouts.responseHeader {
                t.response.curlMessage = "no response headers within \(t.request.timeouts.responseHeader)"
                finish(t, easy, code: CURLE_OPERATION_TIMEDOUT, multi)
            }
        }
    }

    private func start(_ t: CurlTransfer, _ multi: UnsafeMutableRawPointer) {
        guard let easy = idleHandles.popLast() ?? by_curl_easy_init() else {
            t.response.curlCode = Int32(CURLE_FAILED_INIT.rawValue)
            t.response.curlMessage = "curl_easy_init failed"
            complete(t)
            return
        }
        t.easy = easy
        t.started = .now
        if let failure = configure(t, easy) {
            t.response.curlCode = Int32(CURLE_FAILED_INIT.rawValue)
            t.response.curlMessage = failure
            release(t, easy)
            complete(t)
            return
        }
        active[easy] = t
        if by_curl_multi_add_handle(multi, easy) != CURLM_OK {
            active[easy] = nil
            t.response.curlCode = Int32(CURLE_FAILED_INIT.rawValue)
            t.response.curlMessage = "curl_multi_add_handle failed"
            release(t, easy)
            complete(t)
        }
    }

    /// Sets every option of one transfer; returns a message when libcurl refuses one.
    private func configure(_ t: CurlTransfer, _ easy: UnsafeMutableRawPointer) -> String? {
        let r = t.request
        var failed: String?
        func check(_ rc: CURLcode, _ what: String) {
            if rc != CURLE_OK && failed == nil { failed = "libcurl refused \(what): \(String(cString: by_curl_easy_strerror(rc)))" }
        }
        func ms(_ d: Duration) -> Int {
            let c = d.components
            return Int(c.seconds) * 1000 + Int(c.attoseconds / 1_000_000_000_000_000)
        }
        check(by_curl_easy_setopt_string(easy, CURLOPT_URL, r.url), "the URL")
        check(by_curl_easy_setopt_long(easy, CURLOPT_NOSIGNAL, 1), "NOSIGNAL")
        check(by_curl_easy_setopt_long(easy, CURLOPT_FOLLOWLOCATION, 0), "FOLLOWLOCATION")
        check(by_curl_easy_setopt_string(easy, CURLOPT_PROTOCOLS_STR, "http,https"), "PROTOCOLS_STR")
        if r.timeouts.connect > .zero { check(by_curl_easy_setopt_long(easy, CURLOPT_CONNECTTIMEOUT_MS, ms(r.timeouts.connect)), "CONNECTTIMEOUT") }
        if r.timeouts.total > .zero { check(by_curl_easy_setopt_long(easy, CURLOPT_TIMEOUT_MS, ms(r.timeouts.total)), "TIMEOUT") }
        if r.timeouts.stall > .zero {
            check(by_curl_easy_setopt_long(easy, CURLOPT_LOW_SPEED_LIMIT, 1), "LOW_SPEED_LIMIT")
            check(by_curl_easy_setopt_long(easy, CURLOPT_LOW_SPEED_TIME, max(1, ms(r.timeouts.stall) / 1000)), "LOW_SPEED_TIME")
        }
        if r.timeouts.maxConnectionAge > .zero {
            check(by_curl_easy_setopt_long(easy, CURLOPT_MAXAGE_CONN, max(1, ms(r.timeouts.maxConnectionAge) / 1000)), "MAXAGE_CONN")
        }
        if let ca = r.timeouts.caFile { check(by_curl_easy_setopt_string(easy, CURLOPT_CAINFO, ca), "CAINFO") }
        if let cert = r.timeouts.certFile { check(by_curl_easy_setopt_string(easy, CURLOPT_SSLCERT, cert), "SSLCERT") }
        if let key = r.timeouts.keyFile { check(by_curl_easy_setopt_string(easy, CURLOPT_SSLKEY, key), "SSLKEY") }
        if r.timeouts.insecureSkipVerify {
            check(by_curl_easy_setopt_long(easy, CURLOPT_SSL_VERIFYPEER, 0), "SSL_VERIFYPEER")
            check(by_curl_easy_setopt_long(easy, CURLOPT_SSL_VERIFYHOST, 0), "SSL_VERIFYHOST")
        }

        switch r.method {
        case "GET":
            check(by_curl_easy_setopt_long(easy, CURLOPT_HTTPGET, 1), "HTTPGET")
        case "HEAD":
            check(by_curl_easy_setopt_long(easy, CURLOPT_NOBODY, 1), "NOBODY")
        case "PUT":
            check(by_curl_easy_setopt_long(easy, CURLOPT_UPLOAD, 1), "UPLOAD")
            check(by_curl_easy_setopt_offt(easy, CURLOPT_INFILESIZE_LARGE, curl_off_t(r.body.length)), "INFILESIZE")
        case "POST":
            // A streamed POST body: POST + POSTFIELDSIZE + read callback (never POSTFIELDS).
            check(by_curl_easy_setopt_long(easy, CURLOPT_POST, 1), "POST")
            check(by_curl_easy_setopt_offt(easy, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(r.body.length)), "POSTFIELDSIZE")
        default:
            check(by_curl_easy_setopt_string(easy, CURLOPT_CUSTOMREQUEST, r.method), "CUSTOMREQUEST")
        }

        var list: UnsafeMutablePointer<curl_slist>?
        // An empty "Expect:" stops curl from waiting for 100-continue before a PUT body.
        for (name, value) in r.headers + [("Expect", "")] {
            let line = value.isEmpty ? "\(name):" : "\(name): \(value)"
            guard let grown = by_curl_slist_append(list, line) else {
                by_curl_slist_free_all(list)
                return "curl_slist_append failed"
            }
            list = grown
        }
        t.headerList = list
        check(by_curl_easy_setopt_slist(easy, CURLOPT_HTTPHEADER, list), "HTTPHEADER")

        let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE))
        errorBuffer.initialize(to: 0)
        t.errorBuffer = errorBuffer
        check(by_curl_easy_setopt_pointer(easy, CURLOPT_ERRORBUFFER, errorBuffer), "ERRORBUFFER")

        // The transfer stays in `active` (retained) while curl may call back with this pointer.
        let context = Unmanaged.passUnretained(t).toOpaque()
        check(by_curl_easy_setopt_pointer(easy, CURLOPT_HEADERDATA, context), "HEADERDATA")
        check(by_curl_easy_setopt_header_function(easy) { ptr, size, count, ctx in
            guard let ctx else { return 0 }
            let n = size * count
            Unmanaged<CurlTransfer>.fromOpaque(ctx).takeUnretainedValue()
                .onHeader(UnsafeRawBufferPointer(start: ptr, count: n))
            return n
        }, "HEADERFUNCTION")
        check(by_curl_easy_setopt_pointer(easy, CURLOPT_WRITEDATA, context), "WRITEDATA")
        check(by_curl_easy_setopt_write_function(easy) { ptr, size, count, ctx in
            guard let ctx else { return 0 }
            return Unmanaged<CurlTransfer>.fromOpaque(ctx).takeUnretainedValue()
                .onBody(UnsafeRawBufferPointer(start: ptr, count: size * count))
        }, "WRITEFUNCTION")
        if r.method == "PUT" || r.method == "POST" {
            check(by_curl_easy_setopt_pointer(easy, CURLOPT_READDATA, context), "READDATA")
            check(by_curl_easy_setopt_read_function(easy) { ptr, size, count, ctx in
                guard let ctx else { return Int(CURL_READFUNC_ABORT) }
                return Unmanaged<CurlTransfer>.fromOpaque(ctx).takeUnretainedValue()
                    .onRead(UnsafeMutableRawBufferPointer(start: ptr, count: size * count))
            }, "READFUNCTION")
            // curl rewinds the body when it replays a request on a fresh connection.
            check(by_curl_easy_setopt_pointer(easy, CURLOPT_SEEKDATA, context), "SEEKDATA")
            check(by_curl_easy_setopt_seek_function(easy) { ctx, offset, origin in
                guard let ctx, origin == SEEK_SET else { return Int32(CURL_SEEKFUNC_CANTSEEK) }
                return Unmanaged<CurlTransfer>.fromOpaque(ctx).takeUnretainedValue().onSeek(Int64(offset))
                    ? Int32(CURL_SEEKFUNC_OK) : Int32(CURL_SEEKFUNC_FAIL)
            }, "SEEKFUNCTION")
        }
        return failed
    }

    private func finish(_ t: CurlTransfer, _ easy: UnsafeMutableRawPointer, code: CURLcode, _ multi: UnsafeMutableRawPointer) {
        _ = by_curl_multi_remove_handle(multi, easy)
        active[easy] = nil
        if code != CURLE_OK {
            t.response.curlCode = Int32(code.rawValue)
            if t.response.curlMessage.isEmpty {
                let detail = t.errorBuffer.map { String(cString: $0) } ?? ""
                t.response.curlMessage = detail.isEmpty ? String(cString: by_curl_easy_strerror(code)) : detail
            }
        }
        var status = 0
        if by_curl_easy_getinfo_long(easy, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK, status != 0 {
            t.response.status = status
        }
        var connects = 0
        if by_curl_easy_getinfo_long(easy, CURLINFO_NUM_CONNECTS, &connects) == CURLE_OK {
            t.response.newConnections = connects
        }
        release(t, easy)
        complete(t)
    }

    private func release(_ t: CurlTransfer, _ easy: UnsafeMutableRawPointer) {
        by_curl_easy_reset(easy)
        if idleHandles.count < 32 { idleHandles.append(easy) } else { by_curl_easy_cleanup(easy) }
        if let l = t.headerList { by_curl_slist_free_all(l) }
        t.headerList = nil
        t.errorBuffer?.deallocate()
        t.errorBuffer = nil
        t.easy = nil
    }

    private func complete(_ t: CurlTransfer) {
        t.pipe?.ended(t)
        t.pipe = nil
        t.response.duration = .now - t.started
        let c = inbox.withLock { _ in
            defer { t.continuation = nil }
            return t.continuation
        }
        c?.resume(returning: t.response)
    }
}
