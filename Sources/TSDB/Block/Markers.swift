/// The marker files Thanos puts next to a block's meta.json.
public enum MarkerKind: String, Sendable, CaseIterable {
    case deletion = "deletion-mark.json"
    case noCompact = "no-compact-mark.json"
    case noDownsample = "no-downsample-mark.json"

    /// The field holding the marker's Unix time (seconds).
    var timeField: String {
        switch self {
        case .deletion: "deletion_time"
        case .noCompact: "no_compact_time"
        case .noDownsample: "no_downsample_time"
        }
    }
}

/// A parsed marker: `{"id", "version": 1, "details", <kind>_time, "reason"?}`.
public struct Marker: Sendable, Equatable {
    public var kind: MarkerKind
    public var id: ULID
    public var version: Int
    public var details: String
    /// Unix seconds.
    public var time: Int64
    public var reason: String?

    public init(kind: MarkerKind, id: ULID, details: String, time: Int64, reason: String? = nil) {
        self.kind = kind
        self.id = id
        version = 1
        self.details = details
        self.time = time
        self.reason = reason
    }

    public init(kind: MarkerKind, bytes: some Collection<UInt8>, file: String) throws(TSDBError) {
        let doc: JSONValue
        do { doc = try JSONValue.parse(bytes) } catch {
            throw TSDBError(.corrupt, file: file, section: kind.rawValue, offset: error.offset, error.detail)
        }
        guard let s = doc["id"]?.stringValue, let id = ULID(s) else {
            throw TSDBError(.corrupt, file: file, section: kind.rawValue, offset: 0, "field \"id\" is missing or not a ULID")
        }
        guard let v = doc["version"]?.int64Value, v == 1 else {
            throw TSDBError(.unsupported, file: file, section: kind.rawValue, offset: 0, "marker version is not 1")
        }
        self.kind = kind
        self.id = id
        version = 1
        details = doc["details"]?.stringValue ?? ""
        time = doc[kind.timeField]?.int64Value ?? 0
        reason = doc["reason"]?.stringValue
    }

    public func serialized() -> String {
        var o: [(String, JSONValue)] = [("id", .string(id.description)), ("version", .int(Int64(version)))]
        if kind != .deletion, let reason { o.append(("reason", .string(reason))) }
        o.append(("details", .string(details)))
        o.append((kind.timeField, .int(time)))
        return JSONValue.object(o).serialized(indent: nil)
    }
}
