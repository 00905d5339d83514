/// Closed time intervals (ms) kept the way Prometheus' `tombstones.Intervals.Add` keeps
/// them: sorted, with overlapping or adjacent intervals (one step apart; time is discrete)
/// merged into one.
enum Intervals {
    static func normalized(_ xs: [ClosedRange<Int64>]) -> [ClosedRange<Int64>] {
        guard xs.count > 1 else { return xs }
        var out: [ClosedRange<Int64>] = []
        for r in xs.sorted(by: { $0.lowerBound < $1.lowerBound }) {
            if let last = out.last, last.upperBound == .max || r.lowerBound <= last.upperBound + 1 {
                out[out.count - 1] = last.lowerBound...max(last.upperBound, r.upperBound)
            } else {
                out.append(r)
            }
        }
        return out
    }

    /// Whether one interval holds all of `r`.
    static func covers(_ xs: [ClosedRange<Int64>], _ r: ClosedRange<Int64>) -> Bool {
        xs.contains { $0.lowerBound <= r.lowerBound && r.upperBound <= $0.upperBound }
    }

    static func overlaps(_ xs: [ClosedRange<Int64>], _ r: ClosedRange<Int64>) -> Bool {
        xs.contains { $0.overlaps(r) }
    }

    /// Whether `t` lies in one of the (normalized) intervals.
    static func contains(_ xs: [ClosedRange<Int64>], _ t: Int64) -> Bool {
        var lo = 0, hi = xs.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if xs[mid].upperBound < t { lo = mid + 1 } else { hi = mid }
        }
        return lo < xs.count && xs[lo].contains(t)
    }

    /// The parts of the intervals inside `r`.
    static func intersections(_ xs: [ClosedRange<Int64>], _ r: ClosedRange<Int64>) -> [ClosedRange<Int64>] {
        xs.compactMap { $0.overlaps(r) ? max($0.lowerBound, r.lowerBound)...min($0.upperBound, r.upperBound) : nil }
    }

    /// Go's `%v` of `tombstones.Intervals`, as Thanos' change log prints it: `[{1 2} {5 9}]`.
    static func goText(_ xs: [ClosedRange<Int64>]) -> String {
        "[" + xs.map { "{\($0.lowerBound) \($0.upperBound)}" }.joined(separator: " ") + "]"
    }
}
