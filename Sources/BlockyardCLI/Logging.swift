import ArgumentParser
import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// `--log.level` and `--log.format`, as Thanos components spell them.
struct LogOptions: ParsableArguments {
    @Option(name: .customLong("log.level"), help: "debug, info, warn or error.")
    var level: String = "info"

    @Option(name: .customLong("log.format"), help: "logfmt or json.")
    var format: String = "logfmt"

    func validate() throws {
        guard ["debug", "info", "warn", "error"].contains(level) else { throw ValidationError("--log.level must be debug, info, warn or error") }
        guard ["logfmt", "json"].contains(format) else { throw ValidationError("--log.format must be logfmt or json") }
    }

    /// Installs the stderr handler once per process and returns a logger for `label`.
    func logger(_ label: String) -> Logger {
        LogBootstrap.once(level: Self.map(level), json: format == "json")
        return Logger(label: label)
    }

    static func map(_ s: String) -> Logger.Level {
        switch s {
        case "debug": .debug
        case "warn": .warning
        case "error": .error
        default: .info
        }
    }
}

enum LogBootstrap {
    nonisolated(unsafe) static var done = false
    static let lock = NSLock()

    static func once(level: Logger.Level, json: Bool) {
        lock.lock()
        defer { lock.unlock() }
        guard !done else { return }
        done = true
        LoggingSystem.bootstrap { label in
            var h = StderrHandler(label: label, json: json)
            h.logLevel = level
            return h
        }
    }
}

/// One line per event on stderr: logfmt (`ts=… level=info msg="…" key=value`) or JSON.
/// Data goes to stdout, so output stays pipeable.
struct StderrHandler: LogHandler {
    let label: String
    let json: Bool
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let ts = ISO8601DateFormatter().string(from: Date())
        var fields: [(String, String)] = [("ts", ts), ("level", event.level == .warning ? "warn" : "\(event.level)"), ("msg", "\(event.message)")]
        let all = metadata.merging(event.metadata ?? [:]) { $1 }
        for k in all.keys.sorted() { fields.append((k, "\(all[k]!)")) }
        var line: String
        if json {
            line = "{" + fields.map { "\"\($0.0)\":\(quoteJSON($0.1))" }.joined(separator: ",") + "}"
        } else {
            line = fields.map { "\($0.0)=\(quoteLogfmt($0.1))" }.joined(separator: " ")
        }
        line += "\n"
        line.withUTF8 { p in _ = Glibc.write(2, p.baseAddress, p.count) }
    }

    func quoteLogfmt(_ s: String) -> String {
        if !s.isEmpty && !s.contains(where: { $0 == " " || $0 == "\"" || $0 == "=" || $0.isNewline }) { return s }
        return "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n") + "\""
    }

    func quoteJSON(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 { out += String(format: "\\u%04x", u.value) } else { out.unicodeScalars.append(u) }
            }
        }
        return out + "\""
    }
}
