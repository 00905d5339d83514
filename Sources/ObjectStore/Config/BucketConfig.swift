import Foundation

/// The objstore envelope Thanos components read: `type`, `config`, `prefix`.
public struct BucketConfig: Sendable {
    public enum Kind: String, Sendable { case filesystem = "FILESYSTEM", azure = "AZURE", memory = "MEMORY" }
    public var kind: Kind
    public var prefix: String
    public var filesystemDirectory: String?
    public var azure: AzureConfig?

    /// Parses objstore YAML. Unknown fields and wrong types are errors naming the field.
    /// `accountLevel`: the config names a whole account (AZURE `container` may be left out) or a
    /// directory of containers (FILESYSTEM), as `--all-containers` reads it.
    public static func parse(yaml: String, accountLevel: Bool = false) throws(ObjectStoreError) -> BucketConfig {
        var top = try ConfigNode.parse(yaml: yaml, path: "objstore")
        guard let t = try top.string("type") else {
            throw ConfigNode.error("objstore.type", "missing (FILESYSTEM or AZURE)")
        }
        guard let kind = Kind(rawValue: t.uppercased()) else {
            throw ConfigNode.error("objstore.type", "\(ConfigNode.show(t)) is not supported (FILESYSTEM, AZURE)")
        }
        var prefix = try top.string("prefix") ?? ""
        while prefix.hasPrefix("/") { prefix.removeFirst() }
        while prefix.hasSuffix("/") { prefix.removeLast() }
        var cfg = try top.map("config")
        var out = BucketConfig(kind: kind, prefix: prefix)
        switch kind {
        case .filesystem:
            guard let d = try cfg.string("directory"), !d.isEmpty else {
                throw ConfigNode.error("objstore.config.directory", "missing")
            }
            out.filesystemDirectory = d
        case .azure:
            out.azure = try AzureConfig(&cfg, accountLevel: accountLevel)
        case .memory:
            break
        }
        try cfg.finish()
        try top.finish()
        return out
    }

    public init(kind: Kind, prefix: String = "") {
        self.kind = kind
        self.prefix = prefix
    }

    /// Reads `--objstore.config-file` or `--objstore.config`.
    public static func load(file: String?, inline: String?, accountLevel: Bool = false) throws(ObjectStoreError) -> BucketConfig {
        switch (file, inline) {
        case (let f?, nil):
            guard let d = FileManager.default.contents(atPath: f), let s = String(data: d, encoding: .utf8) else {
                throw ObjectStoreError(.config, bucket: "objstore config", key: "", "cannot read \(f)")
            }
            return try parse(yaml: s, accountLevel: accountLevel)
        case (nil, let y?):
            return try parse(yaml: y, accountLevel: accountLevel)
        case (.some, .some):
            throw ObjectStoreError(.config, bucket: "objstore config", key: "", "give --objstore.config-file or --objstore.config, not both")
        case (nil, nil):
            throw ObjectStoreError(.config, bucket: "objstore config", key: "", "no bucket: give a directory, --objstore.config-file or --objstore.config")
        }
    }
}
