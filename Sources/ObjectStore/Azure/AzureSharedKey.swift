import Crypto
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Percent-encoding and query building for Blob URLs.
enum AzureURL {
    static let unreserved = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~".utf8)
    /// Blob names keep their `/` separators in the path.
    static let pathAllowed = unreserved.union("/".utf8)

    static func encode(_ s: String, allowed: Set<UInt8>) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        let hex = Array("0123456789ABCDEF".utf8)
        for b in s.utf8 {
            if allowed.contains(b) {
                out.unicodeScalars.append(Unicode.Scalar(b))
            } else {
                out.unicodeScalars.append(Unicode.Scalar(UInt8(ascii: "%")))
                out.unicodeScalars.append(Unicode.Scalar(hex[Int(b >> 4)]))
                out.unicodeScalars.append(Unicode.Scalar(hex[Int(b & 15)]))
            }
        }
        return out
    }

    static func percentDecode(_ s: String) -> String {
        var bytes: [UInt8] = []
        var u = Array(s.utf8)[...]
        while let b = u.popFirst() {
            if b == UInt8(ascii: "%"), u.count >= 2, let v = UInt8(String(decoding: u.prefix(2), as: UTF8.self), radix: 16) {
                bytes.append(v)
                u = u.dropFirst(2)
            } else {
                bytes.append(b)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// `a=1&b=2` with values encoded; pairs are given decoded (as they are signed).
    static func query(_ pairs: [(String, String)]) -> String {
        pairs.map { encode($0.0, allowed: unreserved) + "=" + encode($0.1, allowed: unreserved) }.joined(separator: "&")
    }
}

/// RFC 1123 dates (`Sun, 06 Nov 1994 08:49:37 GMT`), the format of x-ms-date and Last-Modified.
enum HTTPDate {
    static let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    static func format(_ seconds: Double) -> String {
        var t = time_t(seconds)
        var tm = tm()
        gmtime_r(&t, &tm)
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(days[Int(tm.tm_wday)]), \(two(tm.tm_mday)) \(months[Int(tm.tm_mon)]) \(tm.tm_year + 1900) "
            + "\(two(tm.tm_hour)):\(two(tm.tm_min)):\(two(tm.tm_sec)) GMT"
    }

    static func now() -> String { format(Date().timeIntervalSince1970) }

    /// Seconds since the epoch, or nil when the text is not an RFC 1123 date.
    static func parse(_ s: String) -> Double? {
        let f = s.split(separator: " ")
        guard f.count == 6, let day = Int32(f[1]), let mon = months.firstIndex(of: String(f[2])), let year = Int32(f[3]) else { return nil }
        let hms = f[4].split(separator: ":").compactMap { Int32($0) }
        guard hms.count == 3, f[5] == "GMT" || f[5] == "UTC" else { return nil }
        var tm = tm()
        tm.tm_year = year - 1900
        tm.tm_mon = Int32(mon)
        tm.tm_mday = day
        tm.tm_hour = hms[0]
        tm.tm_min = hms[1]
        tm.tm_sec = hms[2]
        return Double(timegm(&tm))
    }

    /// `2099-01-01T00:00:00Z` style, for SAS expiry fields.
    static func iso8601(_ seconds: Double) -> String {
        var t = time_t(seconds)
        var tm = tm()
        gmtime_r(&t, &tm)
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(tm.tm_year + 1900)-\(two(tm.tm_mon + 1))-\(two(tm.tm_mday))T\(two(tm.tm_hour)):\(two(tm.tm_min)):\(two(tm.tm_sec))Z"
    }
}

/// Shared Key authorization (version 2015-02-21 and later).
struct SharedKeySigner: Sendable {
    let account: String
    let key: [UInt8]

    /// Standard headers in string-to-sign order.
    static let standardHeaders = [
        "content-encoding", "content-language", "content-length", "content-md5", "content-type", "date",
        "if-modified-since", "if-match", "if-none-match", "if-unmodified-since", "range",
    ]

    static func hmacSHA256(key: [UInt8], _ message: String) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: Array(message.utf8), using: SymmetricKey(data: key)))
    }

    /// The string to sign for a request whose URL path is `rawPath` (percent-encoded, as sent)
    /// and whose query parameters are `query` (decoded). `headers` are those the request sends;
    /// `contentLength` is the body size curl announces.
    func stringToSign(method: String, rawPath: String, query: [(String, String)], headers: [(String, String)], contentLength: Int64) -> String {
        var byName: [String: [String]] = [:]
        for (n, v) in headers { byName[n.lowercased(), default: []].append(v) }
        var lines = [method.uppercased()]
        for h in Self.standardHeaders {
            if h == "content-length" {
                lines.append(contentLength > 0 ? String(contentLength) : "")
            } else {
                lines.append(byName[h]?.map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: ",") ?? "")
            }
        }
        var canonical = ""
        for name in byName.keys.filter({ $0.hasPrefix("x-ms-") }).sorted() {
            let v = byName[name]!.map { Self.collapse($0) }.joined(separator: ",")
            canonical += "\(name):\(v)\n"
        }
        var resource = "/" + account + (rawPath.isEmpty ? "/" : rawPath)
        var params: [String: [String]] = [:]
        for (n, v) in query { params[n.lowercased(), default: []].append(v) }
        for name in params.keys.sorted() {
            resource += "\n\(name):\(params[name]!.sorted().joined(separator: ","))"
        }
        return lines.joined(separator: "\n") + "\n" + canonical + resource
    }

    func authorization(method: String, rawPath: String, query: [(String, String)], headers: [(String, String)], contentLength: Int64) -> String {
        let sts = stringToSign(method: method, rawPath: rawPath, query: query, headers: headers, contentLength: contentLength)
        let sig = Data(Self.hmacSHA256(key: key, sts)).base64EncodedString()
        return "SharedKey \(account):\(sig)"
    }

    static func collapse(_ v: String) -> String {
        var out = ""
        var space = false
        for c in v.trimmingCharacters(in: .whitespacesAndNewlines) {
            if c == " " || c == "\t" || c == "\r" || c == "\n" {
                space = true
            } else {
                if space { out.append(" ") }
                space = false
                out.append(c)
            }
        }
        return out
    }
}
