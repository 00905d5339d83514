import Yams

/// A YAML mapping being read into a typed config, with the path of every field kept for
/// error messages (`config.http_config.idle_conn_timeout: want a duration like 90s`).
/// Unknown fields are rejected: `finish()` names any key that was not read.
public struct ConfigNode {
    let mapping: [(String, Node)]
    public let path: String
    private var read: Set<String> = []

    init(_ node: Node?, path: String) throws(ObjectStoreError) {
        self.path = path
        guard let node else { mapping = []; return }
        if case .scalar(let s) = node, ["", "~", "null"].contains(s.string) {
            mapping = []
            return
        }
        guard case .mapping(let m) = node else {
            throw ConfigNode.error(path, "want a mapping of fields")
        }
        var out: [(String, Node)] = []
        for (k, v) in m {
            guard case .scalar(let ks) = k else { throw ConfigNode.error(path, "field names must be strings") }
            if out.contains(where: { $0.0 == ks.string }) { throw ConfigNode.error(path + "." + ks.string, "given twice") }
            out.append((ks.string, v))
        }
        mapping = out
    }

    /// Parses a YAML document whose top level is a mapping.
    public static func parse(yaml: String, path: String) throws(ObjectStoreError) -> ConfigNode {
        let node: Node?
        do { node = try Yams.compose(yaml: yaml) } catch {
            // Yams' message can quote the document; keep only its position text.
            throw ConfigNode.error(path, "not valid YAML: \(ConfigNode.scrub(String(describing: error)))")
        }
        return try ConfigNode(node, path: path)
    }

    /// Error text from the YAML parser may echo document lines (and so secrets): keep the
    /// first line, without quoted content.
    static func scrub(_ s: String) -> String {
        let first = s.split(separator: "\n").first.map(String.init) ?? s
        return first.replacingOccurrences(of: #""[^"]*""#, with: "\"…\"", options: .regularExpression)
    }

    public static func error(_ path: String, _ detail: String) -> ObjectStoreError {
        ObjectStoreError(.config, bucket: "objstore config", key: "", "\(path): \(detail)")
    }

    func field(_ k: String) -> String { path + "." + k }

    mutating func node(_ k: String) -> Node? {
        read.insert(k)
        return mapping.first { $0.0 == k }?.1
    }

    mutating func scalar(_ k: String) throws(ObjectStoreError) -> String? {
        guard let n = node(k) else { return nil }
        if case .scalar(let s) = n {
            // An explicit null is the same as leaving the field out.
            if s.style == .plain && ["~", "null", ""].contains(s.string) { return nil }
            return s.string
        }
        throw ConfigNode.error(field(k), "want a single value, got a \(n.isMapping ? "mapping" : "list")")
    }

    public mutating func string(_ k: String) throws(ObjectStoreError) -> String? {
        try scalar(k)
    }

    public mutating func int(_ k: String) throws(ObjectStoreError) -> Int? {
        guard let s = try scalar(k) else { return nil }
        guard let v = Int(s) else { throw ConfigNode.error(field(k), "want a whole number, got \(ConfigNode.show(s))") }
        return v
    }

    public mutating func bool(_ k: String) throws(ObjectStoreError) -> Bool? {
        guard let s = try scalar(k) else { return nil }
        switch s.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default: throw ConfigNode.error(field(k), "want true or false, got \(ConfigNode.show(s))")
        }
    }

    /// A Go/Prometheus duration: `90s`, `1m30s`, `500ms`, `2h`; a bare 0 is zero.
    public mutating func duration(_ k: String) throws(ObjectStoreError) -> Duration? {
        guard let s = try scalar(k) else { return nil }
        guard let d = ConfigNode.parseDuration(s) else {
            throw ConfigNode.error(field(k), "want a duration like 30s or 1m30s, got \(ConfigNode.show(s))")
        }
        return d
    }

    public mutating func map(_ k: String) throws(ObjectStoreError) -> ConfigNode {
        try ConfigNode(node(k), path: field(k))
    }

    public var isEmpty: Bool { mapping.isEmpty }
    public var keys: [String] { mapping.map(\.0) }

    /// Rejects fields nobody read.
    public func finish() throws(ObjectStoreError) {
        for (k, _) in mapping where !read.contains(k) {
            throw ConfigNode.error(field(k), "unknown field")
        }
    }

    /// Values are shown only when short and not secret-looking.
    static func show(_ s: String) -> String {
        s.count <= 24 ? "\"\(s)\"" : "a value of \(s.count) characters"
    }

    public static func parseDuration(_ s: String) -> Duration? {
        if s == "0" { return .zero }
        var total: Double = 0
        var num = ""
        var unit = ""
        var any = false
        func flush() -> Bool {
            guard let v = Double(num) else { return false }
            let mult: Double
            switch unit {
            case "ns": mult = 1e-9
            case "us", "µs": mult = 1e-6
            case "ms": mult = 1e-3
            case "s": mult = 1
            case "m": mult = 60
            case "h": mult = 3600
            case "d": mult = 86400
            case "w": mult = 604800
            case "y": mult = 31_536_000
            default: return false
            }
            total += v * mult
            any = true
            num = ""
            unit = ""
            return true
        }
        for c in s {
            if c.isNumber || c == "." {
                if !unit.isEmpty { guard flush() else { return nil } }
                num.append(c)
            } else {
                guard !num.isEmpty else { return nil }
                unit.append(c)
            }
        }
        guard !num.isEmpty, flush(), any else { return nil }
        return .nanoseconds(Int64(total * 1e9))
    }
}

extension Node {
    var isMapping: Bool { if case .mapping = self { true } else { false } }
}
