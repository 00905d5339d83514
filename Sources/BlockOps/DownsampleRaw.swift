import TSDB

/// Thanos' downsampling resolutions (milliseconds) and the block ranges from which a
/// block is downsampled (`pkg/compact/downsample`).
public enum DownsampleResolution {
    public static let raw: Int64 = 0
    public static let fiveMinutes: Int64 = 5 * 60 * 1000
    public static let oneHour: Int64 = 60 * 60 * 1000
    /// A raw block of at least this range (40 h) gets a 5m block.
    public static let fiveMinuteMinRange: Int64 = 40 * 60 * 60 * 1000
    /// A 5m block of at least this range (10 days) gets a 1h block.
    public static let oneHourMinRange: Int64 = 10 * 24 * 60 * 60 * 1000

    /// "0", "5m", "1h" (or the milliseconds).
    public static func name(_ r: Int64) -> String {
        switch r {
        case raw: "raw"
        case fiveMinutes: "5m"
        case oneHour: "1h"
        default: "\(r)ms"
        }
    }
}

/// One aggregate chunk of a downsampled series: its time range, its five (optional)
/// sub-chunks, and the number of windows it covers (the count aggregate's samples, which
/// Thanos counts as the chunk's samples).
struct AggregateOutput {
    var minTime: Int64
    var maxTime: Int64
    /// The aggregate chunk's payload (after the 0xFF byte).
    var payload: [UInt8]
    var windows: Int

    init(minTime: Int64, maxTime: Int64, payload: [UInt8], windows: Int) {
        self.minTime = minTime
        self.maxTime = maxTime
        self.payload = payload
        self.windows = windows
    }

    init(minTime: Int64, maxTime: Int64, parts: [AggregateChunk.Part?], windows: Int) {
        self.init(minTime: minTime, maxTime: maxTime, payload: AggregateChunk.encode(parts), windows: windows)
    }

    var chunk: OutputChunk {
        OutputChunk(minTime: minTime, maxTime: maxTime, payload: .encoded(.thanosAggregate, payload))
    }
}

/// Window arithmetic shared by every downsampling path (Thanos `currentWindow`,
/// `targetChunkCount`).
enum DownsampleWindows {
    /// The last millisecond of the window `t` falls into: windows are [k·r, (k+1)·r).
    @inline(__always)
    static func end(_ t: Int64, _ r: Int64) -> Int64 { t &- (t % r) &+ r &- 1 }

    /// How many aggregate chunks a series' samples become: the output samples the range
    /// could hold, scaled by how densely `count` input samples at `inRes` fill it, split so
    /// that a chunk holds at most about 140.
    static func targetChunkCount(minTime: Int64, maxTime: Int64, inRes: Int64, outRes: Int64, count: Int) -> Int {
        let span = maxTime &- minTime
        let maxSamples = Double(span / outRes)
        var fullness = Double(count) / (Double(span) / Double(inRes))
        if fullness > 1 { fullness = 1 }
        let expected = maxSamples * fullness
        // Go converts NaN and infinities to the smallest int; one chunk either way.
        guard expected.isFinite, expected < 9e18 else { return 1 }
        let samples = Int(expected) + 1
        // The smallest x with samples / x <= 140.
        return max(1, samples / 141 + 1)
    }
}

/// Thanos' `floatAggregator`: the statistics of the current window and the counter state
/// since the start of the batch.
struct FloatAggregator {
    var total = 0
    var count = 0
    var sum = 0.0
    var min = 0.0
    var max = 0.0
    var counter = 0.0
    var last = 0.0

    @inline(__always)
    mutating func reset() {
        count = 0
        sum = 0
        min = .greatestFiniteMagnitude
        max = -.greatestFiniteMagnitude
    }

    @inline(__always)
    mutating func add(_ v: Double) {
        if total > 0 {
            // A value below the last one is a counter reset: the counter restarts from 0.
            counter += v < last ? v : v - last
        } else {
            counter = v
        }
        last = v
        sum += v
        count &+= 1
        total &+= 1
        if v < min { min = v }
        if v > max { max = v }
    }
}

/// Raw float samples to 5m or 1h aggregate chunks (Thanos `DownsampleRaw` for floats).
enum RawFloatDownsampler {
    /// `t`/`v` are one series' samples in time order, stale markers and samples going back
    /// in time already removed (other NaNs are still there: they count when the series is
    /// split into batches and are dropped inside each batch, as in Thanos).
    /// `chunks` overrides the chunk-size heuristic (Thanos' tests drive it directly).
    static func downsample(t: UnsafeBufferPointer<Int64>, v: UnsafeBufferPointer<Double>, resolution: Int64,
                           chunks wanted: Int? = nil, into out: inout [AggregateOutput]) {
        let n = t.count
        guard n > 0 else { return }
        // Thanos assumes raw data at 1 sample per minute for the chunk-size heuristic.
        let chunks = wanted ?? DownsampleWindows.targetChunkCount(minTime: t[0], maxTime: t[n - 1], inRes: 60_000,
                                                                  outRes: resolution, count: n)
        let batchSize = n / chunks + 1
        var start = 0
        while start < n {
            var j = min(start + batchSize, n)
            // A batch ends at the end of a window, so batches never share one.
            let windowEnd = DownsampleWindows.end(t[j - 1], resolution)
            while j < n && t[j] <= windowEnd { j += 1 }
            let range = start..<j
            start = j
            if let batch = batch(t, v, range, resolution) { out.append(batch) }
        }
    }

    /// One batch: a window per `resolution`, five XOR sub-chunks. The counter sub-chunk
    /// starts with the batch's first raw sample and ends with its last raw value at the
    /// last window's timestamp, so that readers can detect resets across chunks.
    static func batch(_ t: UnsafeBufferPointer<Int64>, _ v: UnsafeBufferPointer<Double>, _ range: Range<Int>,
                      _ resolution: Int64) -> AggregateOutput? {
        guard let first = range.first(where: { !v[$0].isNaN }),
              let lastIndex = range.last(where: { !v[$0].isNaN }) else { return nil }
        let lastT = t[lastIndex]
        var e = FloatAggregateEncoders()
        e.counter.append(t[first], v[first])
        var a = FloatAggregator()
        var windowT: Int64 = -1
        for i in first...lastIndex {
            let x = v[i]
            if x.isNaN { continue }
            let ti = t[i]
            if ti > windowT {
                if windowT != -1 { e.emit(windowT, a) }
                a.reset()
                windowT = Swift.min(DownsampleWindows.end(ti, resolution), lastT)
            }
            a.add(x)
        }
        e.emit(windowT, a)
        e.counter.append(windowT, v[lastIndex])
        return e.output()
    }
}

/// The five XOR sub-chunks of a float aggregate chunk being built.
struct FloatAggregateEncoders {
    var count = XOREncoder()
    var sum = XOREncoder()
    var min = XOREncoder()
    var max = XOREncoder()
    var counter = XOREncoder()

    /// Appends one window's statistics (all five aggregates).
    @inline(__always)
    mutating func emit(_ at: Int64, _ a: FloatAggregator) {
        count.append(at, Double(a.count))
        sum.append(at, a.sum)
        min.append(at, a.min)
        max.append(at, a.max)
        counter.append(at, a.counter)
    }

    /// The chunk, its range the windows' (the counter's extra samples do not widen it).
    func output() -> AggregateOutput {
        AggregateOutput(minTime: count.minTime, maxTime: count.maxTime,
                        payload: AggregateChunk.encode(xor: [count, sum, min, max, counter]), windows: count.count)
    }
}
