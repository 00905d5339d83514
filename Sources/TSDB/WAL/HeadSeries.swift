/// Samples of one kind in time order. A series' samples are a list of runs; the kind changes
/// from one run to the next (a block writer cuts a chunk there).
public enum HeadSampleRun: Sendable, Equatable {
    case floats(timestamps: [Int64], values: [Double])
    case histograms(timestamps: [Int64], values: [Histogram])
    case floatHistograms(timestamps: [Int64], values: [FloatHistogram])

    public var timestamps: [Int64] {
        switch self {
        case .floats(let t, _), .histograms(let t, _), .floatHistograms(let t, _): t
        }
    }

    public var count: Int { timestamps.count }

    public static func == (a: Self, b: Self) -> Bool {
        switch (a, b) {
        case let (.floats(t1, v1), .floats(t2, v2)): t1 == t2 && v1.map(\.bitPattern) == v2.map(\.bitPattern)
        case let (.histograms(t1, v1), .histograms(t2, v2)): t1 == t2 && v1 == v2
        case let (.floatHistograms(t1, v1), .floatHistograms(t2, v2)): t1 == t2 && v1 == v2
        default: false
        }
    }
}

/// One series of the replayed head restricted to a time range: what a block writer needs.
public struct HeadSeries: Sendable {
    /// The head's series reference (per Prometheus process; not an index series ID).
    public let ref: UInt64
    public let labels: Labels
    /// Every sample in the range, in time order, tombstones applied; never empty.
    public let runs: [HeadSampleRun]

    public var sampleCount: Int { runs.reduce(0) { $0 + $1.count } }
    public var minTime: Int64 { runs.first!.timestamps.first! }
    public var maxTime: Int64 { runs.last!.timestamps.last! }

    /// The float samples, in time order.
    public var floatSamples: [(t: Int64, v: Double)] {
        runs.flatMap { run -> [(t: Int64, v: Double)] in
            guard case .floats(let t, let v) = run else { return [] }
            return Array(zip(t, v)).map { (t: $0.0, v: $0.1) }
        }
    }

    public var histogramSamples: [(t: Int64, h: Histogram)] {
        runs.flatMap { run -> [(t: Int64, h: Histogram)] in
            guard case .histograms(let t, let v) = run else { return [] }
            return Array(zip(t, v)).map { (t: $0.0, h: $0.1) }
        }
    }

    public var floatHistogramSamples: [(t: Int64, h: FloatHistogram)] {
        runs.flatMap { run -> [(t: Int64, h: FloatHistogram)] in
            guard case .floatHistograms(let t, let v) = run else { return [] }
            return Array(zip(t, v)).map { (t: $0.0, h: $0.1) }
        }
    }
}

/// Builds runs from samples given in time order, starting a new run when the kind changes.
struct RunBuilder: Sendable {
    enum Kind { case float, histogram, floatHistogram }
    private(set) var done: [HeadSampleRun] = []
    private var kind: Kind?
    private var t: [Int64] = []
    private var f: [Double] = []
    private var h: [Histogram] = []
    private var fh: [FloatHistogram] = []

    var isEmpty: Bool { kind == nil }

    mutating func float(_ ts: Int64, _ v: Double) {
        if kind != .float { flush(); kind = .float }
        t.append(ts)
        f.append(v)
    }

    mutating func histogram(_ ts: Int64, _ v: Histogram) {
        if kind != .histogram { flush(); kind = .histogram }
        t.append(ts)
        h.append(v)
    }

    mutating func floatHistogram(_ ts: Int64, _ v: FloatHistogram) {
        if kind != .floatHistogram { flush(); kind = .floatHistogram }
        t.append(ts)
        fh.append(v)
    }

    private mutating func flush() {
        switch kind {
        case .float: done.append(.floats(timestamps: t, values: f))
        case .histogram: done.append(.histograms(timestamps: t, values: h))
        case .floatHistogram: done.append(.floatHistograms(timestamps: t, values: fh))
        case nil: break
        }
        kind = nil
        t = []
        f = []
        h = []
        fh = []
    }

    /// The runs so far, the open one included.
    var runs: [HeadSampleRun] {
        var copy = self
        copy.flush()
        return copy.done
    }
}
