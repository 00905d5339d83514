/// The first byte of a decoded WAL record (Prometheus `record.Type`).
public struct WALRecordType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let series = WALRecordType(rawValue: 1)
    public static let samples = WALRecordType(rawValue: 2)
    public static let tombstones = WALRecordType(rawValue: 3)
    public static let exemplars = WALRecordType(rawValue: 4)
    /// Written to the out-of-order log (`wbl/`) only.
    public static let mmapMarkers = WALRecordType(rawValue: 5)
    public static let metadata = WALRecordType(rawValue: 6)
    public static let histogramSamples = WALRecordType(rawValue: 7)
    public static let floatHistogramSamples = WALRecordType(rawValue: 8)

    public var description: String {
        switch self {
        case .series: "series"
        case .samples: "samples"
        case .tombstones: "tombstones"
        case .exemplars: "exemplars"
        case .mmapMarkers: "mmap markers"
        case .metadata: "metadata"
        case .histogramSamples: "histogram samples"
        case .floatHistogramSamples: "float histogram samples"
        default: "unknown type \(rawValue)"
        }
    }
}

/// A series record entry: the head's (per-process) series reference and its labels.
public struct WALSeries: Sendable, Equatable {
    public var ref: UInt64
    public var labels: Labels
}

public struct WALFloatSample: Sendable, Equatable {
    public var ref: UInt64
    public var t: Int64
    public var value: Double

    public static func == (a: Self, b: Self) -> Bool {
        a.ref == b.ref && a.t == b.t && a.value.bitPattern == b.value.bitPattern
    }
}

public struct WALHistogramSample: Sendable, Equatable {
    public var ref: UInt64
    public var t: Int64
    public var histogram: Histogram
}

public struct WALFloatHistogramSample: Sendable, Equatable {
    public var ref: UInt64
    public var t: Int64
    public var histogram: FloatHistogram
}

/// A deletion: samples of `ref` with `minTime <= t <= maxTime` are gone.
public struct WALTombstone: Sendable, Equatable {
    public var ref: UInt64
    public var minTime: Int64
    public var maxTime: Int64
}

/// A decoded record. Exemplars, metadata and mmap markers are checked and counted, not kept:
/// blocks do not store them.
public enum WALRecord: Sendable, Equatable {
    case series([WALSeries])
    case samples([WALFloatSample])
    case tombstones([WALTombstone])
    case histogramSamples([WALHistogramSample])
    case floatHistogramSamples([WALFloatHistogramSample])
    case exemplars(count: Int)
    case metadata(count: Int)
    case mmapMarkers(count: Int)

    public var type: WALRecordType {
        switch self {
        case .series: .series
        case .samples: .samples
        case .tombstones: .tombstones
        case .histogramSamples: .histogramSamples
        case .floatHistogramSamples: .floatHistogramSamples
        case .exemplars: .exemplars
        case .metadata: .metadata
        case .mmapMarkers: .mmapMarkers
        }
    }
}
