import TSDB

/// Arithmetic on float native histograms that downsampling needs, with the semantics of
/// Prometheus `model/histogram` (the version Thanos vendors): adding and subtracting
/// histograms of different schemas and zero thresholds, lowering the schema, and deciding
/// whether a histogram is a counter reset after another. Bucket layouts come out as
/// Prometheus produces them (buckets are inserted into the receiver's spans), so chunks
/// written from the results have Prometheus' layouts.
///
/// Histograms with custom bucket bounds (schema -53) are supported when the bounds agree;
/// Prometheus reconciles differing bounds to their intersection, which is refused here.
struct HistogramMathError: Error, Sendable {
    var detail: String
}

extension FloatHistogram {
    var isCustom: Bool { schema == histogramCustomBucketsSchema }

    /// Go `CopyToSchema`: a copy at a lower (or the same) exponential schema. A copy at a
    /// lower schema has an unknown counter-reset hint, as in Go.
    func reduced(toSchema target: Int32) throws(HistogramMathError) -> FloatHistogram {
        if target == schema { return self }
        guard !isCustom, target != histogramCustomBucketsSchema, target < schema else {
            throw HistogramMathError(detail: "cannot convert a histogram of schema \(schema) to schema \(target)")
        }
        var c = FloatHistogram(schema: target, zeroThreshold: zeroThreshold, zeroCount: zeroCount, count: count, sum: sum)
        (c.positiveSpans, c.positiveBuckets) = try Self.reduceResolution(positiveSpans, positiveBuckets, from: schema, to: target)
        (c.negativeSpans, c.negativeBuckets) = try Self.reduceResolution(negativeSpans, negativeBuckets, from: schema, to: target)
        return c
    }

    /// Go `Add`: adds `other` into this histogram.
    mutating func add(_ other: FloatHistogram) throws(HistogramMathError) {
        try combine(other, negate: false)
    }

    /// Go `Sub`: subtracts `other` from this histogram (same hint handling as `add`).
    mutating func subtract(_ other: FloatHistogram) throws(HistogramMathError) {
        try combine(other, negate: true)
    }

    private mutating func combine(_ other: FloatHistogram, negate: Bool) throws(HistogramMathError) {
        guard isCustom == other.isCustom else {
            throw HistogramMathError(detail: "cannot combine a custom-bucket histogram with an exponential one")
        }
        if isCustom && !sameBounds(customValues, other.customValues) {
            throw HistogramMathError(detail: "histograms with different custom bucket bounds are not supported")
        }
        adjustCounterReset(other)
        if !isCustom {
            let otherZero = try reconcileZeroBuckets(other)
            zeroCount = negate ? zeroCount - otherZero : zeroCount + otherZero
        }
        count = negate ? count - other.count : count + other.count
        sum = negate ? sum - other.sum : sum + other.sum
        if isCustom {
            Self.addBuckets(schema: schema, threshold: zeroThreshold, negate: negate,
                            &positiveSpans, &positiveBuckets, other.positiveSpans, other.positiveBuckets)
            return
        }
        var op = other.positiveSpans, ob = other.positiveBuckets
        var on = other.negativeSpans, onb = other.negativeBuckets
        if other.schema < schema {
            (positiveSpans, positiveBuckets) = try Self.reduceResolution(positiveSpans, positiveBuckets, from: schema, to: other.schema)
            (negativeSpans, negativeBuckets) = try Self.reduceResolution(negativeSpans, negativeBuckets, from: schema, to: other.schema)
            schema = other.schema
        } else if other.schema > schema {
            (op, ob) = try Self.reduceResolution(op, ob, from: other.schema, to: schema)
            (on, onb) = try Self.reduceResolution(on, onb, from: other.schema, to: schema)
        }
        Self.addBuckets(schema: schema, threshold: zeroThreshold, negate: negate, &positiveSpans, &positiveBuckets, op, ob)
        Self.addBuckets(schema: schema, threshold: zeroThreshold, negate: negate, &negativeSpans, &negativeBuckets, on, onb)
    }

    /// Go `adjustCounterReset`: the hint of a sum of two histograms.
    mutating func adjustCounterReset(_ other: FloatHistogram) {
        let a = counterResetHint, b = other.counterResetHint
        if a == b || a == .gauge { return }
        if b == .gauge { counterResetHint = .gauge; return }
        if a == .unknown { return }
        counterResetHint = .unknown  // b unknown, or a reset/no-reset collision
    }

    /// Go `DetectReset`: whether this histogram follows `previous` only through a counter
    /// reset. The hint decides when it says reset or no reset; otherwise any count (total,
    /// zero bucket or a bucket, compared at the lower schema and the larger zero threshold)
    /// that went down, a populated bucket that disappeared, a higher schema or a smaller zero
    /// threshold is a reset.
    func detectReset(after previous: FloatHistogram) -> Bool {
        if counterResetHint == .counterReset { return true }
        if counterResetHint == .notCounterReset { return false }
        if count < previous.count { return true }
        if isCustom {
            if !previous.isCustom || !sameBounds(customValues, previous.customValues) { return true }
        }
        if schema > previous.schema { return true }
        if zeroThreshold < previous.zeroThreshold { return true }
        let (previousZero, threshold) = previous.zeroCountForLargerThreshold(zeroThreshold)
        if threshold != zeroThreshold { return true }
        if zeroCount < previousZero { return true }
        for positive in [true, false] {
            let cur = buckets(positive: positive, skippingUpTo: zeroThreshold, schema: schema)
            let prev = previous.buckets(positive: positive, skippingUpTo: zeroThreshold, schema: schema)
            if Self.bucketsDecreased(cur, prev) { return true }
        }
        return false
    }

    // MARK: - Buckets

    /// The buckets of one side as (index, count), merged down to `schema` (≤ the
    /// histogram's), leaving out the leading buckets whose upper bound is ≤ `start`
    /// (exponential schemas only). Go's `floatBucketIterator`.
    func buckets(positive: Bool, skippingUpTo start: Double, schema target: Int32) -> [(Int32, Double)] {
        let spans = positive ? positiveSpans : negativeSpans
        let values = positive ? positiveBuckets : negativeBuckets
        var out: [(Int32, Double)] = []
        var k = 0
        let shift = Int32(max(0, Int(schema) - Int(target)))
        bucketIndexes(spans) { idx in
            guard k < values.count else { return }
            let t = target == schema ? idx : ((idx &- 1) >> shift) &+ 1
            if let last = out.last, last.0 == t {
                out[out.count - 1].1 += values[k]
            } else {
                out.append((t, values[k]))
            }
            k += 1
        }
        if start != 0 && target != histogramCustomBucketsSchema {
            let skip = out.prefix { histogramBucketBound($0.0, schema: target, customValues: []) <= start }.count
            out.removeFirst(skip)
        }
        return out
    }

    /// Go's `detectReset` over two bucket lists at the same schema.
    static func bucketsDecreased(_ cur: [(Int32, Double)], _ prev: [(Int32, Double)]) -> Bool {
        guard !prev.isEmpty else { return false }
        var p = 0, c = 0
        if cur.isEmpty { return prev.contains { $0.1 != 0 } }
        while true {
            while cur[c].0 < prev[p].0 {
                c += 1
                if c == cur.count { return prev[p...].contains { $0.1 != 0 } }
            }
            if cur[c].0 > prev[p].0 {
                if prev[p].1 != 0 { return true }
            } else if cur[c].1 < prev[p].1 {
                return true
            }
            p += 1
            if p == prev.count { return false }
        }
    }

    // MARK: - Zero bucket

    /// Go `zeroCountForLargerThreshold`: the zero count this histogram would have with a
    /// zero threshold of `larger`, and that threshold, raised to the upper bound of a
    /// populated bucket it would cut through.
    func zeroCountForLargerThreshold(_ larger: Double) -> (Double, Double) {
        if larger == zeroThreshold { return (zeroCount, larger) }
        var threshold = larger
        outer: while true {
            var total = zeroCount
            let pos = buckets(positive: true, skippingUpTo: 0, schema: schema)
            for (idx, c) in pos {
                let lower = bound(idx &- 1), upper = bound(idx)
                if lower >= threshold { break }
                total += c
                if upper > threshold {
                    if c != 0 { threshold = upper }
                    break
                }
            }
            let neg = buckets(positive: false, skippingUpTo: 0, schema: schema)
            for (idx, c) in neg {
                // A negative bucket spans [-bound(idx), -bound(idx-1)).
                if -bound(idx &- 1) <= -threshold { break }
                total += c
                if -bound(idx) < -threshold {
                    if c != 0 {
                        threshold = bound(idx)
                        continue outer
                    }
                    break
                }
            }
            return (total, threshold)
        }
    }

    /// Go `reconcileZeroBuckets`: widens this histogram's zero bucket to cover `other`'s
    /// and returns the zero count `other` would have with the common threshold.
    mutating func reconcileZeroBuckets(_ other: FloatHistogram) throws(HistogramMathError) -> Double {
        var otherCount = other.zeroCount
        var otherThreshold = other.zeroThreshold
        guard !zeroThreshold.isNaN, !otherThreshold.isNaN else {
            throw HistogramMathError(detail: "histogram zero threshold is NaN")
        }
        var rounds = 0
        while otherThreshold != zeroThreshold {
            if zeroThreshold > otherThreshold {
                (otherCount, otherThreshold) = other.zeroCountForLargerThreshold(zeroThreshold)
            }
            if otherThreshold > zeroThreshold {
                (zeroCount, zeroThreshold) = zeroCountForLargerThreshold(otherThreshold)
                trimBucketsInZeroBucket()
            }
            rounds += 1
            if rounds > 10_000 { throw HistogramMathError(detail: "zero thresholds do not converge") }
        }
        return otherCount
    }

    /// Go `trimBucketsInZeroBucket` (whose counts are already in the zero count): empties
    /// the buckets below the zero threshold and drops every empty bucket.
    mutating func trimBucketsInZeroBucket() {
        var k = 0
        for (idx, _) in buckets(positive: true, skippingUpTo: 0, schema: schema) {
            if bound(idx &- 1) >= zeroThreshold { break }
            positiveBuckets[k] = 0
            k += 1
        }
        k = 0
        for (idx, _) in buckets(positive: false, skippingUpTo: 0, schema: schema) {
            if -bound(idx &- 1) <= -zeroThreshold { break }
            negativeBuckets[k] = 0
            k += 1
        }
        (positiveSpans, positiveBuckets) = Self.compacted(positiveSpans, positiveBuckets)
        (negativeSpans, negativeBuckets) = Self.compacted(negativeSpans, negativeBuckets)
    }

    func bound(_ idx: Int32) -> Double { histogramBucketBound(idx, schema: schema, customValues: customValues) }

    // MARK: - Layout operations

    /// Go `Compact(0)`: only the populated buckets, in spans without gaps of zero or
    /// spans of length zero.
    static func compacted(_ spans: [HistogramSpan], _ values: [Double]) -> ([HistogramSpan], [Double]) {
        var outSpans: [HistogramSpan] = []
        var outValues: [Double] = []
        var prev: Int32 = 0
        var k = 0
        bucketIndexes(spans) { idx in
            guard k < values.count else { return }
            let v = values[k]
            k += 1
            guard v != 0 else { return }
            if !outSpans.isEmpty && idx == prev &+ 1 {
                outSpans[outSpans.count - 1].length += 1
            } else {
                outSpans.append(HistogramSpan(offset: outSpans.isEmpty ? idx : idx &- prev &- 1, length: 1))
            }
            outValues.append(v)
            prev = idx
        }
        return (outSpans, outValues)
    }

    /// Go `reduceResolution` for absolute bucket counts: merges the buckets of `from` into
    /// the buckets of the lower schema `to`.
    static func reduceResolution(_ spans: [HistogramSpan], _ values: [Double], from: Int32, to: Int32) throws(HistogramMathError) -> ([HistogramSpan], [Double]) {
        var outSpans: [HistogramSpan] = []
        var outValues: [Double] = []
        var idx: Int32 = 0
        var k = 0
        var lastTarget: Int32 = 0
        let shift = Int32(Int(from) - Int(to))
        for (n, span) in spans.enumerated() {
            if n > 0 && span.offset < 0 {
                throw HistogramMathError(detail: "histogram span \(n + 1) has a negative offset \(span.offset)")
            }
            idx = idx &+ span.offset
            for _ in 0..<span.length {
                guard k < values.count else {
                    throw HistogramMathError(detail: "histogram spans describe more buckets than the \(values.count) it has")
                }
                let t = ((idx &- 1) >> shift) &+ 1
                if outSpans.isEmpty {
                    outSpans.append(HistogramSpan(offset: t, length: 1))
                    outValues.append(values[k])
                    lastTarget = t
                } else if t == lastTarget {
                    outValues[outValues.count - 1] += values[k]
                } else if t == lastTarget &+ 1 {
                    outSpans[outSpans.count - 1].length += 1
                    outValues.append(values[k])
                    lastTarget = t
                } else if t > lastTarget {
                    outSpans.append(HistogramSpan(offset: t &- lastTarget &- 1, length: 1))
                    outValues.append(values[k])
                    lastTarget = t
                }
                idx = idx &+ 1
                k += 1
            }
        }
        guard k == values.count else {
            throw HistogramMathError(detail: "histogram spans describe \(k) buckets, it has \(values.count)")
        }
        return (outSpans, outValues)
    }

    /// Go `addBuckets`: adds (or subtracts) the buckets B into the buckets A, inserting the
    /// buckets A lacks into its spans (extending a neighbouring span where the new bucket
    /// touches one). B's leading buckets whose upper bound is ≤ `threshold` are left out:
    /// they lie in the zero bucket, whose count the caller already merged.
    static func addBuckets(
        schema: Int32, threshold: Double, negate: Bool,
        _ spansA: inout [HistogramSpan], _ bucketsA: inout [Double],
        _ spansB: [HistogramSpan], _ bucketsB: [Double]
    ) {
        var iSpan = -1, iBucket = -1
        var iInSpan: Int32 = 0
        var indexA: Int32 = 0, indexB: Int32 = 0
        var bIdx = 0
        var belowThreshold = true
        for spanB in spansB {
            indexB = indexB &+ spanB.offset
            var j: UInt32 = 0
            while j < spanB.length {
                defer {
                    indexA = indexB
                    indexB = indexB &+ 1
                    bIdx += 1
                    j += 1
                }
                guard bIdx < bucketsB.count else { return }
                if belowThreshold && schema != histogramCustomBucketsSchema
                    && histogramBucketBound(indexB, schema: schema, customValues: []) <= threshold {
                    continue
                }
                belowThreshold = false
                let b = negate ? -bucketsB[bIdx] : bucketsB[bIdx]
                if iSpan == -1 {
                    if spansA.isEmpty || spansA[0].offset > indexB {
                        // Before every bucket of A.
                        bucketsA.insert(b, at: 0)
                        if !spansA.isEmpty && spansA[0].offset == indexB &+ 1 {
                            spansA[0].length += 1
                            spansA[0].offset -= 1
                            continue
                        }
                        spansA.insert(HistogramSpan(offset: indexB, length: 1), at: 0)
                        if spansA.count > 1 { spansA[1].offset -= indexB &+ 1 }
                        continue
                    } else if spansA[0].offset == indexB {
                        bucketsA[0] += b
                        continue
                    }
                    iSpan = 0
                    iBucket = 0
                    iInSpan = 0
                    indexA = spansA[0].offset
                }
                var delta = indexB &- indexA
                while true {
                    let remaining = Int32(spansA[iSpan].length) &- iInSpan
                    if delta < remaining {
                        iBucket += Int(delta)
                        iInSpan &+= delta
                        bucketsA[iBucket] += b
                        break
                    }
                    delta &-= remaining
                    iBucket += Int(remaining)
                    iSpan += 1
                    if iSpan == spansA.count || delta < spansA[iSpan].offset {
                        // In the gap after the previous span (or past the last one).
                        bucketsA.insert(b, at: iBucket)
                        if delta == 0 {
                            if iSpan < spansA.count { spansA[iSpan].offset -= 1 }
                            iSpan -= 1
                            iInSpan = Int32(spansA[iSpan].length)
                            spansA[iSpan].length += 1
                        } else if iSpan < spansA.count && delta == spansA[iSpan].offset &- 1 {
                            iInSpan = 0
                            spansA[iSpan].offset -= 1
                            spansA[iSpan].length += 1
                        } else {
                            iInSpan = 0
                            if iSpan < spansA.count { spansA[iSpan].offset -= delta &+ 1 }
                            spansA.insert(HistogramSpan(offset: delta, length: 1), at: iSpan)
                        }
                        break
                    }
                    delta &-= spansA[iSpan].offset
                    iInSpan = 0
                }
            }
        }
    }
}

/// Custom bucket bounds compared bit for bit.
func sameBounds(_ a: [Double], _ b: [Double]) -> Bool {
    a.count == b.count && zip(a, b).allSatisfy { $0.bitPattern == $1.bitPattern }
}
