import Foundation
import ObjectStore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A Python script that serves HTTP on a random loopback port and prints `LISTENING <port>` first.
///
/// It runs under a small shell guard that SIGKILLs it once this test process is gone, so a crashed
/// or killed test run leaves no server behind. (Signals are sent as SIGKILL because children of
/// the test process inherit a signal mask that blocks SIGTERM; a pipe-EOF guard does not work
/// either, since concurrently spawned children inherit each other's pipe ends.)
public final class LoopbackServer: @unchecked Sendable {
    public let port: Int
    /// The python process (not the guard).
    public let pid: Int32
    private let process: Process
    private var stopped = false
    private let lock = NSLock()

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
        public init(_ d: String) { description = d }
    }

    /// Starts `python3 script arguments…` and waits for its `LISTENING <port>` line.
    public init(script: String, arguments: [String]) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        let parent = getpid()
        p.arguments = [
            "-c",
            "python3 \"$@\" </dev/null & p=$!; echo \"PID $p\"; "
                + "while kill -0 \(parent) 2>/dev/null && kill -0 $p 2>/dev/null; do sleep 0.5; done; kill -KILL $p 2>/dev/null",
            "loopback-guard", script,
        ] + arguments
        let out = Pipe()
        p.standardOutput = out
        p.standardInput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        process = p
        let fd = out.fileHandleForReading.fileDescriptor
        func readLine() -> String {
            var line: [UInt8] = []
            var byte: UInt8 = 0
            while read(fd, &byte, 1) == 1, byte != UInt8(ascii: "\n") { line.append(byte) }
            return String(decoding: line, as: UTF8.self)
        }
        var port: Int?
        var pid: Int32?
        var seen: [String] = []
        while port == nil || pid == nil {
            let line = readLine()
            if line.isEmpty { break }
            seen.append(line)
            if line.hasPrefix("LISTENING ") { port = Int(line.dropFirst(10).trimmingCharacters(in: .whitespaces)) }
            if line.hasPrefix("PID ") { pid = Int32(line.dropFirst(4).trimmingCharacters(in: .whitespaces)) }
        }
        guard let port, let pid else {
            if let pid { kill(pid, SIGKILL) }
            throw Failure("\(script) did not start (output: \(seen))")
        }
        self.port = port
        self.pid = pid
        try? out.fileHandleForReading.close()
    }

    deinit { stop() }

    /// Kills the server (the guard notices and exits within half a second).
    public func stop() {
        lock.lock()
        defer { lock.unlock() }
        if stopped { return }
        stopped = true
        kill(pid, SIGKILL)
    }
}

/// A running `Tests/emulator/azblob_emulator.py` with a client for its control API
/// (faults, stats, reset).
public final class AzureEmulator: @unchecked Sendable {
    public static let account = "devstoreaccount1"
    public static let key = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

    public typealias Failure = LoopbackServer.Failure
    private let server: LoopbackServer
    public var port: Int { server.port }

    /// The repository root, found from this file's location.
    public static var repositoryRoot: String {
        var u = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { u.deleteLastPathComponent() }
        return u.path
    }

    public static var script: String { repositoryRoot + "/Tests/emulator/azblob_emulator.py" }

    /// Starts the emulator (`--port 0 --quiet`), optionally accepting bearer tokens.
    public init(bearerTokens: [String] = [], extraArguments: [String] = []) throws {
        var args = ["--port", "0", "--quiet"]
        for t in bearerTokens { args += ["--bearer-token", t] }
        server = try LoopbackServer(script: Self.script, arguments: args + extraArguments)
    }

    public func stop() { server.stop() }


    /// `http://127.0.0.1:PORT/devstoreaccount1`
    public var blobEndpoint: String { "http://127.0.0.1:\(port)/\(Self.account)" }

    public var connectionString: String {
        "DefaultEndpointsProtocol=http;AccountName=\(Self.account);AccountKey=\(Self.key);BlobEndpoint=\(blobEndpoint);"
    }

    // MARK: control API

    /// Replaces the fault rules (a JSON list), or appends to them.
    public func setFaults(_ json: String, append: Bool = false) throws {
        let r = try control("POST", "/__control/faults" + (append ? "?append" : ""), body: json)
        guard r.status / 100 == 2 else { throw Failure("setting faults: HTTP \(r.status) \(r.body)") }
    }

    public func clearFaults() throws { _ = try control("DELETE", "/__control/faults") }

    public func reset() throws { _ = try control("POST", "/__control/reset") }

    public func clearStats() throws { _ = try control("DELETE", "/__control/stats") }

    /// Waits until the emulator has counted `count` requests of `op` since the stats were last
    /// cleared. A request is counted once its response is built, before its body is sent, so a test
    /// that changes a blob after this returns races only the body, not the request's arrival.
    /// Throws when `timeout` passes first.
    public func waitForRequests(_ op: String, count: Int = 1, timeout: Duration = .seconds(20)) async throws {
        let deadline = ContinuousClock.now + timeout
        while try stats().requests(op) < count {
            guard ContinuousClock.now < deadline else {
                throw Failure("\(op): \(count) request(s) did not reach the emulator within \(timeout)")
            }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    /// The parsed `/__control/stats` JSON.
    public func stats() throws -> Stats {
        let r = try control("GET", "/__control/stats")
        guard let obj = try JSONSerialization.jsonObject(with: Data(r.body.utf8)) as? [String: Any] else {
            throw Failure("stats is not a JSON object: \(r.body)")
        }
        return Stats(raw: obj)
    }

    public struct Stats: @unchecked Sendable {
        public var raw: [String: Any]
        public var requestsTotal: Int { raw["requests_total"] as? Int ?? 0 }
        /// Requests of one operation (`GetBlob`, `PutBlock`, …).
        public func requests(_ op: String) -> Int { (raw["requests"] as? [String: Any])?[op] as? Int ?? 0 }
        /// Responses with a status (`"503"`, `"reset"`).
        public func statuses(_ s: String) -> Int { (raw["statuses"] as? [String: Any])?[s] as? Int ?? 0 }
        public var faultsInjected: Int { raw["faults_injected"] as? Int ?? 0 }
        /// Body bytes of requests received and responses sent, and bytes Put Block From URL moved.
        public var bytesReceived: Int { raw["bytes_received"] as? Int ?? 0 }
        public var bytesSent: Int { raw["bytes_sent"] as? Int ?? 0 }
        public var bytesCopied: Int { raw["bytes_copied"] as? Int ?? 0 }

        /// The counters of one container (`account/container`).
        public func container(_ name: String, account: String = AzureEmulator.account) -> ContainerCounters {
            let c = (raw["containers"] as? [String: Any])?["\(account)/\(name)"] as? [String: Any] ?? [:]
            return ContainerCounters(
                requests: c["requests"] as? Int ?? 0, bytesReceived: c["bytes_received"] as? Int ?? 0,
                bytesSent: c["bytes_sent"] as? Int ?? 0, bytesCopiedIn: c["bytes_copied_in"] as? Int ?? 0,
                bytesCopiedOut: c["bytes_copied_out"] as? Int ?? 0)
        }

        /// Body bytes received and sent by one operation (`PutBlock`, `GetBlob`, …).
        public func operationBytes(_ op: String) -> (received: Int, sent: Int) {
            let o = (raw["operation_bytes"] as? [String: Any])?[op] as? [String: Any] ?? [:]
            return (o["received"] as? Int ?? 0, o["sent"] as? Int ?? 0)
        }
    }

    public struct ContainerCounters: Sendable, Equatable {
        public var requests: Int
        public var bytesReceived: Int
        public var bytesSent: Int
        public var bytesCopiedIn: Int
        public var bytesCopiedOut: Int
    }

    /// A blocking request to the control API.
    public func control(_ method: String, _ path: String, body: String = "") throws -> (status: Int, body: String) {
        try server.request(method, path, body: body)
    }
}

extension LoopbackServer {
    /// A blocking HTTP/1.1 exchange with the server (Connection: close), for control calls.
    public func request(_ method: String, _ path: String, body: String = "") throws -> (status: Int, body: String) {
        let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard s >= 0 else { throw Failure("socket: \(errno)") }
        defer { close(s) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(s, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else { throw Failure("connecting to 127.0.0.1:\(port): errno \(errno)") }
        let payload = Array(body.utf8)
        let head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nContent-Type: application/json\r\nContent-Length: \(payload.count)\r\nConnection: close\r\n\r\n"
        let out = Array(head.utf8) + payload
        var sent = 0
        while sent < out.count {
            let n = out[sent...].withUnsafeBytes { send(s, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { throw Failure("sending to 127.0.0.1:\(port): errno \(errno)") }
            sent += n
        }
        var resp: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 16384)
        while true {
            let n = buf.withUnsafeMutableBytes { recv(s, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            resp += buf[0..<n]
        }
        let text = String(decoding: resp, as: UTF8.self)
        guard let split = text.range(of: "\r\n\r\n") else { throw Failure("bad answer: \(text)") }
        let statusLine = text[..<split.lowerBound].split(separator: "\r\n").first ?? ""
        let status = Int(statusLine.split(separator: " ").dropFirst().first ?? "") ?? 0
        return (status, String(text[split.upperBound...]))
    }
}

import ObjectStore

extension AzureEmulator {
    /// A Shared Key config for a container on this emulator.
    public func config(container: String) -> AzureConfig {
        var c = AzureConfig()
        c.storageAccount = Self.account
        c.storageAccountKey = Self.key
        c.endpoint = "http://127.0.0.1:\(port)"
        c.container = container
        return c
    }

    /// The same, as the objstore YAML a `blockyard` process reads.
    public func objstoreYAML(container: String, maxRetries: Int = 1) -> String {
        """
        type: AZURE
        config:
          storage_account: \(Self.account)
          storage_account_key: \(Self.key)
          container: \(container)
          endpoint: http://127.0.0.1:\(port)
          max_retries: \(maxRetries)
        """
    }
}
