/// The few XML answers the Blob service gives that blockyard reads: List Blobs pages and error
/// bodies. A small scanner over the bytes (no XML library on every platform); it understands
/// elements, attributes, self-closing tags, the five entities and numeric references, CDATA,
/// and skips declarations and comments.
enum AzureXML {
    /// One element's text with the path of element names leading to it.
    struct Text {
        var path: [String]
        var attributes: [String: String]
        var value: String
    }

    /// Every text node (including empty elements, as an empty value) with its element path.
    static func texts(_ bytes: [UInt8]) -> [Text] {
        var out: [Text] = []
        var stack: [(String, [String: String])] = []
        var text: [UInt8] = []
        var sawChild = false
        var i = 0
        let n = bytes.count
        func starts(_ s: String, at j: Int) -> Bool {
            let u = Array(s.utf8)
            return j + u.count <= n && Array(bytes[j..<j + u.count]) == u
        }
        while i < n {
            if bytes[i] != UInt8(ascii: "<") {
                text.append(bytes[i])
                i += 1
                continue
            }
            if starts("<![CDATA[", at: i) {
                var j = i + 9
                while j < n && !starts("]]>", at: j) { j += 1 }
                // Escape-free: mark by appending raw bytes with '&' protected.
                for b in bytes[(i + 9)..<min(j, n)] {
                    if b == UInt8(ascii: "&") { text.append(contentsOf: Array("&amp;".utf8)) } else { text.append(b) }
                }
                i = min(n, j + 3)
                continue
            }
            if starts("<!--", at: i) {
                var j = i + 4
                while j < n && !starts("-->", at: j) { j += 1 }
                i = min(n, j + 3)
                continue
            }
            var j = i + 1
            var quote: UInt8 = 0
            while j < n {
                let b = bytes[j]
                if quote != 0 {
                    if b == quote { quote = 0 }
                } else if b == UInt8(ascii: "\"") || b == UInt8(ascii: "'") {
                    quote = b
                } else if b == UInt8(ascii: ">") {
                    break
                }
                j += 1
            }
            let inner = String(decoding: bytes[(i + 1)..<min(j, n)], as: UTF8.self)
            i = min(n, j + 1)
            if inner.hasPrefix("?") || inner.hasPrefix("!") { continue }
            if inner.hasPrefix("/") {
                if let top = stack.popLast(), !sawChild {
                    out.append(Text(path: stack.map(\.0) + [top.0], attributes: top.1, value: decode(text)))
                }
                sawChild = true
                text = []
                continue
            }
            let selfClosing = inner.hasSuffix("/")
            let body = selfClosing ? String(inner.dropLast()) : inner
            let (name, attrs) = parseTag(body)
            if selfClosing {
                out.append(Text(path: stack.map(\.0) + [name], attributes: attrs, value: ""))
                sawChild = true
            } else {
                stack.append((name, attrs))
                sawChild = false
            }
            text = []
        }
        return out
    }

    private static func parseTag(_ s: String) -> (String, [String: String]) {
        let t = trimmed(Substring(s))
        guard let sp = t.firstIndex(where: { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }) else { return (String(t), [:]) }
        var attrs: [String: String] = [:]
        var rest = t[sp...]
        while let eq = rest.firstIndex(of: "=") {
            let name = String(trimmed(rest[..<eq]))
            var after = rest[rest.index(after: eq)...].drop(while: { $0 == " " })
            guard let q = after.first, q == "\"" || q == "'" else { break }
            after = after.dropFirst()
            guard let end = after.firstIndex(of: q) else { break }
            attrs[name] = decode(Array(after[..<end].utf8))
            rest = after[after.index(after: end)...]
        }
        return (String(t[..<sp]), attrs)
    }

    /// XML whitespace trimmed from both ends, without bridging to NSString (this runs for
    /// every tag of a listing page).
    static func trimmed(_ s: Substring) -> Substring {
        func ws(_ c: Character) -> Bool { c == " " || c == "\t" || c == "\n" || c == "\r" || c == "\r\n" }
        guard let a = s.firstIndex(where: { !ws($0) }), let b = s.lastIndex(where: { !ws($0) }) else { return "" }
        return s[a...b]
    }

    static func decode(_ b: [UInt8]) -> String {
        let s = String(decoding: b, as: UTF8.self)
        guard s.contains("&") else { return s }
        var out = ""
        var i = s.startIndex
        while i < s.endIndex {
            if s[i] == "&", let semi = s[i...].firstIndex(of: ";"), s.distance(from: i, to: semi) <= 10 {
                let ent = s[s.index(after: i)..<semi]
                var rep: String?
                switch ent {
                case "amp": rep = "&"
                case "lt": rep = "<"
                case "gt": rep = ">"
                case "quot": rep = "\""
                case "apos": rep = "'"
                default:
                    if ent.hasPrefix("#x") || ent.hasPrefix("#X"), let v = UInt32(ent.dropFirst(2), radix: 16), let u = Unicode.Scalar(v) {
                        rep = String(Character(u))
                    } else if ent.hasPrefix("#"), let v = UInt32(ent.dropFirst()), let u = Unicode.Scalar(v) {
                        rep = String(Character(u))
                    }
                }
                if let rep {
                    out += rep
                    i = s.index(after: semi)
                    continue
                }
            }
            out.append(s[i])
            i = s.index(after: i)
        }
        return out
    }

    /// One List Blobs page: blob names, `BlobPrefix` names, and the marker for the next page.
    struct ListPage {
        var blobs: [String] = []
        var prefixes: [String] = []
        var nextMarker = ""
    }

    static func listPage(_ bytes: [UInt8]) -> ListPage {
        var page = ListPage()
        for t in texts(bytes) {
            let p = t.path
            if p.count >= 2, p[p.count - 1] == "Name" {
                // Names with characters XML cannot carry come percent-encoded, flagged Encoded="true".
                let name = t.attributes["Encoded"]?.lowercased() == "true" ? AzureURL.percentDecode(t.value) : t.value
                if p[p.count - 2] == "Blob" { page.blobs.append(name) }
                if p[p.count - 2] == "BlobPrefix" { page.prefixes.append(name) }
            } else if p.last == "NextMarker", p.count == 2 {
                page.nextMarker = t.value
            }
        }
        return page
    }

    /// One List Containers page: container names (in `blobs`) and the next marker.
    static func containerPage(_ bytes: [UInt8]) -> ListPage {
        var page = ListPage()
        for t in texts(bytes) {
            let p = t.path
            if p.count == 4, p[1] == "Containers", p[2] == "Container", p[3] == "Name" {
                page.blobs.append(t.value)
            } else if p.last == "NextMarker", p.count == 2 {
                page.nextMarker = t.value
            }
        }
        return page
    }

    /// `Code` and `Message` of an `<Error>` body.
    static func error(_ bytes: [UInt8]) -> (code: String?, message: String?) {
        var code: String?
        var message: String?
        for t in texts(bytes) where t.path.count == 2 && t.path[0] == "Error" {
            if t.path[1] == "Code" { code = t.value }
            if t.path[1] == "Message" { message = t.value }
        }
        return (code, message)
    }
}
