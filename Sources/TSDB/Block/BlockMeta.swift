/// `meta.json`: Prometheus's block description plus the optional Thanos section.
///
/// The typed fields are a view over the document as read (`document`); writing merges
/// the typed fields back into it, so fields blockyard does not know survive a round trip.
public struct BlockMeta: Sendable, Equatable {
    public struct Stats: Sendable, Equatable {
        public var numSamples: UInt64 = 0
        public var numFloatSamples: UInt64? = nil
        public var numHistogramSamples: UInt64? = nil
        public var numSeries: UInt64 = 0
        public var numChunks: UInt64 = 0
        public var numTombstones: UInt64 = 0
        public init() {}
    }

    public struct Parent: Sendable, Equatable {
        public var ulid: ULID
        public var minTime: Int64
        public var maxTime: Int64
        public init(ulid: ULID, minTime: Int64, maxTime: Int64) {
            self.ulid = ulid
            self.minTime = minTime
            self.maxTime = maxTime
        }
    }

    public struct Compaction: Sendable, Equatable {
        public var level: Int = 1
        public var sources: [ULID] = []
        public var deletable = false
        public var parents: [Parent] = []
        public var failed = false
        public var hints: [String] = []
        public init() {}
    }

    public var ulid: ULID
    public var minTime: Int64
    public var maxTime: Int64
    public var stats = Stats()
    public var compaction = Compaction()
    public var version: Int = 1
    public var thanos: ThanosMeta?
    /// The whole document as read (or as last written).
    public var document: JSONValue

    public init(ulid: ULID, minTime: Int64, maxTime: Int64) {
        self.ulid = ulid
        self.minTime = minTime
        self.maxTime = maxTime
        document = .object([])
    }

    /// Parses meta.json bytes. `file` names the file in errors.
    public init(bytes: some Collection<UInt8>, file: String = "meta.json") throws(TSDBError) {
        let doc: JSONValue
        do {
            doc = try JSONValue.parse(bytes)
        } catch {
            throw TSDBError(.corrupt, file: file, section: "meta.json", offset: error.offset, error.detail)
        }
        func field(_ k: String) -> TSDBError {
            TSDBError(.corrupt, file: file, section: "meta.json", offset: 0, "field \"\(k)\" is missing or has the wrong type")
        }
        guard case .object = doc else { throw field("(top level object)") }
        guard let u = doc["ulid"]?.stringValue else { throw field("ulid") }
        guard let id = ULID(u) else {
            throw TSDBError(.corrupt, file: file, section: "meta.json", offset: 0, "ulid \"\(u)\" is not a ULID")
        }
        guard let mint = doc["minTime"]?.int64Value else { throw field("minTime") }
        guard let maxt = doc["maxTime"]?.int64Value else { throw field("maxTime") }
        guard let v = doc["version"]?.int64Value else { throw field("version") }
        ulid = id
        minTime = mint
        maxTime = maxt
        version = Int(v)
        document = doc
        if let s = doc["stats"] {
            func u(_ k: String) -> UInt64? { s[k]?.int64Value.map { UInt64(bitPattern: $0) } }
            stats.numSamples = u("numSamples") ?? 0
            stats.numFloatSamples = u("numFloatSamples")
            stats.numHistogramSamples = u("numHistogramSamples")
            stats.numSeries = u("numSeries") ?? 0
            stats.numChunks = u("numChunks") ?? 0
            stats.numTombstones = u("numTombstones") ?? 0
        }
        if let c = doc["compaction"] {
            compaction.level = Int(c["level"]?.int64Value ?? 1)
            for s in c["sources"]?.arrayValue ?? [] {
                guard let str = s.stringValue, let id = ULID(str) else { throw field("compaction.sources") }
                compaction.sources.append(id)
            }
            compaction.deletable = c["deletable"]?.boolValue ?? false
            compaction.failed = c["failed"]?.boolValue ?? false
            compaction.hints = (c["hints"]?.arrayValue ?? []).compactMap(\.stringValue)
            for p in c["parents"]?.arrayValue ?? [] {
                guard let s = p["ulid"]?.stringValue, let id = ULID(s),
                      let a = p["minTime"]?.int64Value, let b = p["maxTime"]?.int64Value
                else { throw field("compaction.parents") }
                compaction.parents.append(Parent(ulid: id, minTime: a, maxTime: b))
            }
        }
        if let t = doc["thanos"] {
            do {
                thanos = try ThanosMeta(t)
            } catch {
                throw TSDBError(.corrupt, file: file, section: "meta.json thanos", offset: 0, error.detail)
            }
        }
    }

    /// The document with the typed fields merged in, in Go's field order for new keys.
    public var json: JSONValue {
        var d = document
        if case .object = d {} else { d = .object([]) }
        d.set("ulid", .string(ulid.description))
        d.set("minTime", .int(minTime))
        d.set("maxTime", .int(maxTime))
        var s = d["stats"] ?? .object([])
        func put(_ k: String, _ v: UInt64?) { s.set(k, v.flatMap { $0 == 0 ? nil : .number(String($0)) }) }
        put("numSamples", stats.numSamples)
        put("numFloatSamples", stats.numFloatSamples)
        put("numHistogramSamples", stats.numHistogramSamples)
        put("numSeries", stats.numSeries)
        put("numChunks", stats.numChunks)
        put("numTombstones", stats.numTombstones)
        d.set("stats", s)
        var c = d["compaction"] ?? .object([])
        c.set("level", .int(Int64(compaction.level)))
        c.set("sources", compaction.sources.isEmpty ? nil : .array(compaction.sources.map { .string($0.description) }))
        c.set("deletable", compaction.deletable ? .bool(true) : nil)
        c.set("parents", compaction.parents.isEmpty ? nil : .array(compaction.parents.map {
            .object([("ulid", .string($0.ulid.description)), ("minTime", .int($0.minTime)), ("maxTime", .int($0.maxTime))])
        }))
        c.set("failed", compaction.failed ? .bool(true) : nil)
        c.set("hints", compaction.hints.isEmpty ? nil : .array(compaction.hints.map { .string($0) }))
        d.set("compaction", c)
        d.set("version", .int(Int64(version)))
        if let thanos { d.set("thanos", thanos.json(merging: d["thanos"])) }
        return d
    }

    /// meta.json text as Prometheus and Thanos write it (tab-indented).
    public func serialized() -> String { json.serialized(indent: "\t") }

    /// Resolution of a Thanos-downsampled block, 0 for raw data.
    public var resolution: Int64 { thanos?.resolution ?? 0 }
}

/// The `thanos` section of meta.json.
public struct ThanosMeta: Sendable, Equatable {
    public struct File: Sendable, Equatable {
        public var relPath: String
        public var sizeBytes: Int64?
        public init(relPath: String, sizeBytes: Int64?) {
            self.relPath = relPath
            self.sizeBytes = sizeBytes
        }
    }

    /// Absent in what Thanos writes (it means 1); kept only when the document had it.
    public var version: Int? = nil
    public var labels: [String: String] = [:]
    public var resolution: Int64 = 0
    public var source: String = ""
    public var files: [File] = []
    public var segmentFiles: [String] = []
    /// `index_stats`: Thanos' approximate largest series entry and chunk (0 = unset, omitted).
    public var indexStats = IndexStats()
    /// `upload_time` as Unix seconds; nil when absent or Go's zero time.
    public var uploadTime: Double? = nil

    public struct IndexStats: Sendable, Equatable {
        public var seriesMaxSize: Int64 = 0
        public var chunkMaxSize: Int64 = 0
        public init(seriesMaxSize: Int64 = 0, chunkMaxSize: Int64 = 0) {
            self.seriesMaxSize = seriesMaxSize
            self.chunkMaxSize = chunkMaxSize
        }
    }

    public init() {}

    struct BadField: Error { var detail: String }

    init(_ t: JSONValue) throws(BadField) {
        guard case .object = t else { throw BadField(detail: "thanos is not an object") }
        version = t["version"]?.int64Value.map { Int($0) }
        for (k, v) in t["labels"]?.objectValue ?? [] {
            guard let s = v.stringValue else { throw BadField(detail: "label \(k) is not a string") }
            labels[k] = s
        }
        resolution = t["downsample"]?["resolution"]?.int64Value ?? 0
        source = t["source"]?.stringValue ?? ""
        segmentFiles = (t["segment_files"]?.arrayValue ?? []).compactMap(\.stringValue)
        for f in t["files"]?.arrayValue ?? [] {
            guard let p = f["rel_path"]?.stringValue else { throw BadField(detail: "files entry without rel_path") }
            files.append(File(relPath: p, sizeBytes: f["size_bytes"]?.int64Value))
        }
        indexStats.seriesMaxSize = t["index_stats"]?["series_max_size"]?.int64Value ?? 0
        indexStats.chunkMaxSize = t["index_stats"]?["chunk_max_size"]?.int64Value ?? 0
        uploadTime = t["upload_time"]?.stringValue.flatMap(parseRFC3339)
    }

    func json(merging old: JSONValue?) -> JSONValue {
        var d = old ?? .object([])
        if case .object = d {} else { d = .object([]) }
        d.set("version", version.map { .int(Int64($0)) })
        d.set("labels", .object(labels.sorted { byteLess($0.key, $1.key) }.map { ($0.key, .string($0.value)) }))
        var ds = d["downsample"] ?? .object([])
        ds.set("resolution", .int(resolution))
        d.set("downsample", ds)
        d.set("source", .string(source))
        d.set("segment_files", segmentFiles.isEmpty ? nil : .array(segmentFiles.map { .string($0) }))
        d.set("files", files.isEmpty ? nil : .array(files.map { f in
            var o: [(String, JSONValue)] = [("rel_path", .string(f.relPath))]
            if let s = f.sizeBytes { o.append(("size_bytes", .int(s))) }
            return .object(o)
        }))
        if d["index_stats"] != nil || indexStats != IndexStats() {
            var st = d["index_stats"] ?? .object([])
            st.set("series_max_size", indexStats.seriesMaxSize == 0 ? nil : .int(indexStats.seriesMaxSize))
            st.set("chunk_max_size", indexStats.chunkMaxSize == 0 ? nil : .int(indexStats.chunkMaxSize))
            d.set("index_stats", st)
        }
        return d
    }
}

/// Go's RFC 3339 (`time.RFC3339Nano`) to Unix seconds; nil for malformed text and for Go's
/// zero time (year 1), which Thanos writes when a time was never set.
public func parseRFC3339(_ s: String) -> Double? {
    let b = Array(s.utf8)
    func num(_ r: Range<Int>) -> Int? {
        guard r.upperBound <= b.count else { return nil }
        var v = 0
        for i in r {
            guard b[i] >= 48 && b[i] <= 57 else { return nil }
            v = v * 10 + Int(b[i] - 48)
        }
        return v
    }
    guard b.count >= 20, b[4] == 45, b[7] == 45, b[10] == 84 || b[10] == 116, b[13] == 58, b[16] == 58,
          let y = num(0..<4), let mo = num(5..<7), let d = num(8..<10),
          let h = num(11..<13), let mi = num(14..<16), let sec = num(17..<19),
          (1...12).contains(mo), (1...31).contains(d), h < 24, mi < 60, sec < 61
    else { return nil }
    if y <= 1 { return nil }
    var i = 19
    var frac = 0.0
    if i < b.count && b[i] == 46 {
        i += 1
        var scale = 0.1
        while i < b.count, b[i] >= 48 && b[i] <= 57 {
            frac += Double(b[i] - 48) * scale
            scale /= 10
            i += 1
        }
    }
    var offset = 0
    guard i < b.count else { return nil }
    if b[i] == 90 || b[i] == 122 {
        i += 1
    } else if b[i] == 43 || b[i] == 45, let oh = num((i + 1)..<(i + 3)), i + 3 < b.count, b[i + 3] == 58, let om = num((i + 4)..<(i + 6)) {
        offset = (oh * 3600 + om * 60) * (b[i] == 43 ? 1 : -1)
        i += 6
    } else {
        return nil
    }
    guard i == b.count else { return nil }
    // Days from 1970-01-01 of a proleptic Gregorian date.
    let yy = mo <= 2 ? y - 1 : y
    let era = (yy >= 0 ? yy : yy - 399) / 400
    let yoe = yy - era * 400
    let doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
    let days = era * 146097 + doe - 719468
    return Double(days * 86400 + h * 3600 + mi * 60 + sec - offset) + frac
}
