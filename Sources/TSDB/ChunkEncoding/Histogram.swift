// Native histogram values as the histogram chunks (encodings 2 and 3) carry them, modelled on
// Prometheus `model/histogram`. Only what a reader needs: the fields, `toFloat()`, and a
// `description` in the format of Go's `String()`.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A run of consecutive buckets. `offset` is the gap in bucket indexes to the previous span
/// (for the first span: the index of its first bucket), `length` the number of buckets.
public struct HistogramSpan: Sendable, Equatable, Hashable, CustomStringConvertible {
    public var offset: Int32
    public var length: UInt32

    public init(offset: Int32, length: UInt32) {
        self.offset = offset
        self.length = length
    }

    public var description: String { "{\(offset),\(length)}" }
}

/// What a histogram says about a counter reset relative to the previous sample
/// (Go `histogram.CounterResetHint`, same raw values).
public enum HistogramCounterResetHint: UInt8, Sendable, Equatable, Hashable {
    /// It is not known whether a reset happened.
    case unknown = 0
    /// This is the first histogram after a counter reset.
    case counterReset = 1
    /// There was no counter reset since the previous histogram.
    case notCounterReset = 2
    /// A gauge histogram: counter resets do not apply.
    case gauge = 3
}

/// Schema of native histograms with custom bucket bounds (NHCB).
public let histogramCustomBucketsSchema: Int32 = -53

/// An integer native histogram. Buckets are delta coded as in Go: the first bucket of each
/// side is an absolute count, every later one the difference to its predecessor.
public struct Histogram: Sendable, Equatable, CustomStringConvertible {
    public typealias CounterResetHint = HistogramCounterResetHint

    public var counterResetHint: CounterResetHint
    public var schema: Int32
    public var zeroThreshold: Double
    public var zeroCount: UInt64
    public var count: UInt64
    public var sum: Double
    public var positiveSpans: [HistogramSpan]
    public var negativeSpans: [HistogramSpan]
    public var positiveBuckets: [Int64]
    public var negativeBuckets: [Int64]
    /// Bucket upper bounds when `schema == -53` (custom buckets); empty otherwise.
    public var customValues: [Double]

    public init(
        counterResetHint: CounterResetHint = .unknown, schema: Int32 = 0, zeroThreshold: Double = 0,
        zeroCount: UInt64 = 0, count: UInt64 = 0, sum: Double = 0,
        positiveSpans: [HistogramSpan] = [], negativeSpans: [HistogramSpan] = [],
        positiveBuckets: [Int64] = [], negativeBuckets: [Int64] = [], customValues: [Double] = []
    ) {
        self.counterResetHint = counterResetHint
        self.schema = schema
        self.zeroThreshold = zeroThreshold
        self.zeroCount = zeroCount
        self.count = count
        self.sum = sum
        self.positiveSpans = positiveSpans
        self.negativeSpans = negativeSpans
        self.positiveBuckets = positiveBuckets
        self.negativeBuckets = negativeBuckets
        self.customValues = customValues
    }

    /// Whether the buckets use custom bounds (`customValues`) rather than an exponential schema.
    public var usesCustomBuckets: Bool { schema == histogramCustomBucketsSchema }

    /// True when the sum is the staleness marker (the other fields are then meaningless).
    public var isStale: Bool { sum.bitPattern == staleNaNBits }

    /// Field-by-field equality, comparing `sum` by bit pattern so that NaN and stale markers
    /// compare equal to themselves (like Go's `Histogram.Equals`, but not ignoring the hint
    /// and not normalising spans).
    public static func == (a: Histogram, b: Histogram) -> Bool {
        a.counterResetHint == b.counterResetHint && a.schema == b.schema
            && a.zeroThreshold == b.zeroThreshold && a.zeroCount == b.zeroCount
            && a.count == b.count && a.sum.bitPattern == b.sum.bitPattern
            && a.positiveSpans == b.positiveSpans && a.negativeSpans == b.negativeSpans
            && a.positiveBuckets == b.positiveBuckets && a.negativeBuckets == b.negativeBuckets
            && sameBits(a.customValues, b.customValues)
    }

    /// The float histogram with the same content (Go `Histogram.ToFloat`): absolute bucket
    /// counts accumulated in floating point; custom-bucket histograms drop the zero bucket
    /// and the negative side.
    public func toFloat() -> FloatHistogram {
        var fh = FloatHistogram(
            counterResetHint: counterResetHint, schema: schema, zeroThreshold: zeroThreshold,
            zeroCount: Double(zeroCount), count: Double(count), sum: sum,
            positiveSpans: positiveSpans, negativeSpans: negativeSpans,
            positiveBuckets: absoluteCounts(positiveBuckets), negativeBuckets: absoluteCounts(negativeBuckets),
            customValues: [])
        if usesCustomBuckets {
            fh.zeroThreshold = 0
            fh.zeroCount = 0
            fh.negativeSpans = []
            fh.negativeBuckets = []
            fh.customValues = customValues
        }
        return fh
    }

    /// Go's `Histogram.String()`: `{count:N, sum:S, <buckets>}` listing the non-empty
    /// buckets from the most negative to the most positive, e.g. `[-1,-0.5):2`.
    public var description: String {
        var s = "{count:\(count), sum:\(goFormatFloat(sum))"
        for b in nonEmptyBuckets() { s += ", " + b.description }
        return s + "}"
    }

    /// The non-empty buckets in the order of Go's `String()`: negative buckets from the most
    /// negative up, the zero bucket (if its count is not 0), then the positive buckets.
    /// Counts are the running sums of the delta-coded buckets (wrapping, as Go's uint64).
    public func nonEmptyBuckets() -> [HistogramBucket<UInt64>] {
        collectBuckets(
            schema: schema, customValues: customValues, zeroThreshold: zeroThreshold,
            zeroCount: zeroCount, isZero: { $0 == 0 },
            negativeSpans: negativeSpans, negativeCount: negativeBuckets.count,
            negativeValue: { negativeBuckets[$0] },
            positiveSpans: positiveSpans, positiveCount: positiveBuckets.count,
            positiveValue: { positiveBuckets[$0] },
            combine: { $0 &+ $1 }, convert: { UInt64(bitPattern: $0) })
    }
}

/// A float native histogram: counts are `Double` and buckets are absolute.
public struct FloatHistogram: Sendable, Equatable, CustomStringConvertible {
    public typealias CounterResetHint = HistogramCounterResetHint

    public var counterResetHint: CounterResetHint
    public var schema: Int32
    public var zeroThreshold: Double
    public var zeroCount: Double
    public var count: Double
    public var sum: Double
    public var positiveSpans: [HistogramSpan]
    public var negativeSpans: [HistogramSpan]
    public var positiveBuckets: [Double]
    public var negativeBuckets: [Double]
    public var customValues: [Double]

    public init(
        counterResetHint: CounterResetHint = .unknown, schema: Int32 = 0, zeroThreshold: Double = 0,
        zeroCount: Double = 0, count: Double = 0, sum: Double = 0,
        positiveSpans: [HistogramSpan] = [], negativeSpans: [HistogramSpan] = [],
        positiveBuckets: [Double] = [], negativeBuckets: [Double] = [], customValues: [Double] = []
    ) {
        self.counterResetHint = counterResetHint
        self.schema = schema
        self.zeroThreshold = zeroThreshold
        self.zeroCount = zeroCount
        self.count = count
        self.sum = sum
        self.positiveSpans = positiveSpans
        self.negativeSpans = negativeSpans
        self.positiveBuckets = positiveBuckets
        self.negativeBuckets = negativeBuckets
        self.customValues = customValues
    }

    public var usesCustomBuckets: Bool { schema == histogramCustomBucketsSchema }

    public var isStale: Bool { sum.bitPattern == staleNaNBits }

    /// Field-by-field equality with counts, sum and buckets compared by bit pattern (data
    /// equality, as in Go's `FloatHistogram.Equals`); the zero threshold compares with `==`.
    public static func == (a: FloatHistogram, b: FloatHistogram) -> Bool {
        a.counterResetHint == b.counterResetHint && a.schema == b.schema
            && a.zeroThreshold == b.zeroThreshold
            && a.zeroCount.bitPattern == b.zeroCount.bitPattern
            && a.count.bitPattern == b.count.bitPattern && a.sum.bitPattern == b.sum.bitPattern
            && a.positiveSpans == b.positiveSpans && a.negativeSpans == b.negativeSpans
            && sameBits(a.positiveBuckets, b.positiveBuckets)
            && sameBits(a.negativeBuckets, b.negativeBuckets)
            && sameBits(a.customValues, b.customValues)
    }

    /// Go's `FloatHistogram.String()`.
    public var description: String {
        var s = "{count:\(goFormatFloat(count)), sum:\(goFormatFloat(sum))"
        for b in nonEmptyBuckets() { s += ", " + b.description }
        return s + "}"
    }

    /// The non-empty buckets in the order of Go's `String()` (see `Histogram.nonEmptyBuckets`).
    public func nonEmptyBuckets() -> [HistogramBucket<Double>] {
        collectBuckets(
            schema: schema, customValues: customValues, zeroThreshold: zeroThreshold,
            zeroCount: zeroCount, isZero: { $0 == 0 },
            negativeSpans: negativeSpans, negativeCount: negativeBuckets.count,
            negativeValue: { negativeBuckets[$0] },
            positiveSpans: positiveSpans, positiveCount: positiveBuckets.count,
            positiveValue: { positiveBuckets[$0] },
            combine: { $1 }, convert: { $0 })
    }
}

/// One bucket with its bounds (Go `histogram.Bucket`).
public struct HistogramBucket<Count: Sendable & Equatable>: Sendable, Equatable, CustomStringConvertible {
    public var lower: Double
    public var upper: Double
    public var lowerInclusive: Bool
    public var upperInclusive: Bool
    public var count: Count
    /// Bucket index in the schema; 0 for the zero bucket.
    public var index: Int32

    /// Go's `Bucket.String()`, e.g. `(0.5,1]:3` or `[-0.001,0.001]:12`.
    public var description: String {
        let c: String
        if let d = count as? Double { c = goFormatFloat(d) } else { c = "\(count)" }
        return (lowerInclusive ? "[" : "(") + goFormatFloat(lower) + "," + goFormatFloat(upper)
            + (upperInclusive ? "]" : ")") + ":" + c
    }
}

// MARK: - Helpers

/// Bit pattern of the Prometheus staleness marker.
public let staleNaNBits: UInt64 = 0x7ff0_0000_0000_0002

@usableFromInline
func sameBits(_ a: [Double], _ b: [Double]) -> Bool {
    a.count == b.count && zip(a, b).allSatisfy { $0.bitPattern == $1.bitPattern }
}

/// Accumulates delta-coded integer buckets into absolute float counts, in floating point
/// like Go does.
func absoluteCounts(_ deltas: [Int64]) -> [Double] {
    var out: [Double] = []
    out.reserveCapacity(deltas.count)
    var current = 0.0
    for d in deltas {
        current += Double(d)
        out.append(current)
    }
    return out
}

/// Walks the buckets described by `spans`, calling `body` with each bucket's index and count.
/// `combine(previous, value)` yields the bucket's count: a wrapping sum for delta-coded
/// integer buckets, the value itself for absolute float buckets. Stops early
/// when there are fewer bucket values than spans describe, like Go's iterators.
func forEachBucket<C: AdditiveArithmetic>(
    spans: [HistogramSpan], count: Int, combine: (C, C) -> C,
    value: (Int) -> C, body: (Int32, C) -> Void
) {
    var bucket = 0
    var idx: Int32 = 0
    var current = C.zero
    for (n, span) in spans.enumerated() {
        // The first span's offset is absolute; later offsets are gaps after the previous
        // bucket. Wrapping arithmetic: corrupt spans must not trap.
        idx = n == 0 ? span.offset &- 1 : idx &+ span.offset
        var i: UInt32 = 0
        while i < span.length {
            if bucket >= count { return }
            idx = idx &+ 1
            current = combine(current, value(bucket))
            body(idx, current)
            bucket += 1
            i += 1
        }
    }
}

func collectBuckets<Raw: AdditiveArithmetic, Count>(
    schema: Int32, customValues: [Double], zeroThreshold: Double,
    zeroCount: Count, isZero: (Count) -> Bool,
    negativeSpans: [HistogramSpan], negativeCount: Int, negativeValue: (Int) -> Raw,
    positiveSpans: [HistogramSpan], positiveCount: Int, positiveValue: (Int) -> Raw,
    combine: (Raw, Raw) -> Raw, convert: (Raw) -> Count
) -> [HistogramBucket<Count>] {
    var negative: [HistogramBucket<Count>] = []
    forEachBucket(spans: negativeSpans, count: negativeCount, combine: combine, value: negativeValue) { idx, raw in
        let c = convert(raw)
        if !isZero(c) { negative.append(makeBucket(idx, positive: false, schema: schema, customValues: customValues, count: c)) }
    }
    var out: [HistogramBucket<Count>] = negative.reversed()
    if !isZero(zeroCount) {
        out.append(HistogramBucket(lower: -zeroThreshold, upper: zeroThreshold, lowerInclusive: true,
                                   upperInclusive: true, count: zeroCount, index: 0))
    }
    forEachBucket(spans: positiveSpans, count: positiveCount, combine: combine, value: positiveValue) { idx, raw in
        let c = convert(raw)
        if !isZero(c) { out.append(makeBucket(idx, positive: true, schema: schema, customValues: customValues, count: c)) }
    }
    return out
}

func makeBucket<Count>(_ idx: Int32, positive: Bool, schema: Int32, customValues: [Double], count: Count) -> HistogramBucket<Count> {
    let lower: Double
    let upper: Double
    if positive {
        upper = histogramBucketBound(idx, schema: schema, customValues: customValues)
        lower = histogramBucketBound(idx &- 1, schema: schema, customValues: customValues)
    } else {
        lower = -histogramBucketBound(idx, schema: schema, customValues: customValues)
        upper = -histogramBucketBound(idx &- 1, schema: schema, customValues: customValues)
    }
    let lowerInclusive: Bool
    let upperInclusive: Bool
    if schema == histogramCustomBucketsSchema {
        lowerInclusive = idx == 0
        upperInclusive = true
    } else {
        lowerInclusive = lower < 0
        upperInclusive = upper > 0
    }
    return HistogramBucket(lower: lower, upper: upper, lowerInclusive: lowerInclusive,
                           upperInclusive: upperInclusive, count: count, index: idx)
}

/// The upper bound of bucket `idx` (Go `getBound`).
///
/// Custom buckets: `customValues[idx]`, `+Inf` for `idx == customValues.count`, `-Inf` for
/// -1, and NaN for any other index (Go panics there). Exponential schemas: `2^(idx / 2^schema)`;
/// the bound that would round to `+Inf` is `Double.greatestFiniteMagnitude`, as in Go.
///
/// For `schema > 0` the fractional powers of two are computed with `exp2`, whereas Go reads
/// them from a precomputed table whose entries are often one unit in the last place below
/// the correctly rounded value (e.g. Go's `2^-0.5` is 0.7071067811865475, `exp2` gives
/// 0.7071067811865476). Bounds at integer powers of two, and every bound for `schema <= 0`,
/// are exact and identical to Go's.
public func histogramBucketBound(_ idx: Int32, schema: Int32, customValues: [Double]) -> Double {
    if schema == histogramCustomBucketsSchema {
        let n = customValues.count
        let i = Int(idx)
        if i == n { return .infinity }
        if i == -1 { return -.infinity }
        if i < -1 || i > n { return .nan }
        return customValues[i]
    }
    if schema < 0 {
        let shift = min(Int(-Int64(schema)), 40)
        let exp = Int(idx) << shift
        if exp == 1024 { return .greatestFiniteMagnitude }
        return ldexpSafe(exp)
    }
    if schema > 52 { return .nan }
    let s = Int(schema)
    let fracIdx = Int(idx) & ((1 << s) - 1)
    let exp = (Int(idx) >> s) + 1
    if fracIdx == 0 && exp == 1025 { return .greatestFiniteMagnitude }
    let frac = fracIdx == 0 ? 0.5 : exp2(Double(fracIdx) / Double(1 << s)) / 2
    // frac · 2^exp in one step (2^exp alone may overflow where the product does not).
    return Double(sign: .plus, exponent: exp, significand: frac)
}

/// 2^exp, saturating to +Inf / 0 (with gradual underflow) like Go's `math.Ldexp(1, exp)`.
func ldexpSafe(_ exp: Int) -> Double {
    if exp > 1023 { return .infinity }
    if exp < -1074 { return 0 }
    if exp >= -1022 { return Double(sign: .plus, exponentBitPattern: UInt(exp + 1023), significandBitPattern: 0) }
    return Double(sign: .plus, exponentBitPattern: 0, significandBitPattern: UInt64(1) << UInt64(exp + 1074))
}

/// Formats a float like Go's `fmt` verbs `%g` / `%v` for float64: the shortest digits that
/// round-trip, in exponent form when the decimal exponent is below -4 or at least 6
/// (`0.25`, `100000`, `1e+06`, `1.5e-05`, `+Inf`, `-Inf`, `NaN`, `-0`).
///
/// The digits come from Swift's `description`, which like Go's `strconv` yields the
/// shortest digit string that round-trips (closest to the exact value on ties).
public func goFormatFloat(_ v: Double) -> String {
    var out: [UInt8] = []
    GoText.appendFloat(v, to: &out)
    return String(decoding: out, as: UTF8.self)
}
