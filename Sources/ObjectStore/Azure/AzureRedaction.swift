import Synchronization

/// Scrubs secrets from anything that may reach a message or a log line: URLs (SAS `sig=`),
/// headers (`Authorization: SharedKey …`, `Bearer …`), token responses and form bodies, and every
/// secret this client knows literally (account key, client secret, tokens it has fetched).
final class AzureRedactor: Sendable {
    private let literals = Mutex<[String]>([])

    static let mask = "REDACTED"

    /// Query and form fields whose values are secret (matched case-insensitively, up to `&`).
    static let secretFields = ["sig", "client_secret", "client_assertion", "access_token", "refresh_token"]
    /// Connection-string parts whose values are secret (up to `;`).
    static let secretParts = ["AccountKey", "SharedAccessSignature"]

    init(_ secrets: [String] = []) {
        for s in secrets { remember(s) }
    }

    /// Adds a secret to scrub literally (tokens as they are fetched).
    func remember(_ secret: String) {
        guard secret.count >= 6 else { return }
        literals.withLock { list in
            if !list.contains(secret) { list.append(secret) }
            // The percent-encoded form too, as it would appear in a URL or form body.
            let enc = AzureURL.encode(secret, allowed: AzureURL.unreserved)
            if enc != secret, !list.contains(enc) { list.append(enc) }
        }
    }

    func callAsFunction(_ text: String) -> String { redact(text) }

    func redact(_ text: String) -> String {
        var s = text
        for secret in literals.withLock({ $0 }) where s.contains(secret) {
            s = s.replacingOccurrences(of: secret, with: Self.mask)
        }
        for field in Self.secretFields {
            s = Self.maskValues(in: s, after: field + "=", terminators: "&; \t\r\n\"'<>,", wordBoundary: true)
            s = Self.maskValues(in: s, after: "\"" + field + "\":\"", terminators: "\"", wordBoundary: false)
            s = Self.maskValues(in: s, after: "\"" + field + "\": \"", terminators: "\"", wordBoundary: false)
        }
        for part in Self.secretParts {
            s = Self.maskValues(in: s, after: part + "=", terminators: ";\r\n\"'", wordBoundary: true)
        }
        s = Self.maskValues(in: s, after: "Bearer ", terminators: " \t\r\n\"',;", wordBoundary: false)
        s = Self.maskValues(in: s, after: "SharedKey ", terminators: " \t\r\n\"',;", wordBoundary: false, keepUpTo: ":")
        return s
    }

    /// Replaces the value after each case-insensitive occurrence of `marker` up to a terminator.
    /// With `keepUpTo`, the value's prefix through that character is kept (`SharedKey acct:`).
    static func maskValues(in s: String, after marker: String, terminators: String, wordBoundary: Bool, keepUpTo: Character? = nil) -> String {
        let lower = s.lowercased()
        guard lower.count == s.count, lower.contains(marker.lowercased()) else {
            return lower.count == s.count ? s : maskValuesSlow(in: s, after: marker, terminators: terminators)
        }
        let chars = Array(s)
        let lowerChars = Array(lower)
        let m = Array(marker.lowercased())
        let stop = Set(terminators)
        var out = ""
        var i = 0
        while i < chars.count {
            if i + m.count <= chars.count, Array(lowerChars[i..<i + m.count]) == m,
                !wordBoundary || i == 0 || !(chars[i - 1].isLetter || chars[i - 1].isNumber || chars[i - 1] == "_")
            {
                out.append(contentsOf: chars[i..<i + m.count])
                var j = i + m.count
                if let keep = keepUpTo {
                    var k = j
                    while k < chars.count, !stop.contains(chars[k]), chars[k] != keep { k += 1 }
                    if k < chars.count, chars[k] == keep {
                        out.append(contentsOf: chars[j...k])
                        j = k + 1
                    }
                }
                var end = j
                while end < chars.count, !stop.contains(chars[end]) { end += 1 }
                if end > j { out.append(mask) }
                i = end
            } else {
                out.append(chars[i])
                i += 1
            }
        }
        return out
    }

    /// Text whose lower-casing changes its length: mask conservatively, case-sensitively.
    private static func maskValuesSlow(in s: String, after marker: String, terminators: String) -> String {
        var parts = s.components(separatedBy: marker)
        guard parts.count > 1 else { return s }
        let stop = Set(terminators)
        for i in 1..<parts.count {
            let tail = parts[i].drop(while: { !stop.contains($0) })
            parts[i] = (tail.count < parts[i].count ? mask : "") + tail
        }
        return parts.joined(separator: marker)
    }
}
