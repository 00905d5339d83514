extension IndexReader {
    /// The series matching every matcher, in index order, found through postings the way
    /// Prometheus does: a matcher that matches the empty string also selects series that
    /// lack the label, so it subtracts the postings of the values it rejects.
    public func select(_ matchers: [Matcher]) throws(TSDBError) -> [SeriesRef] {
        var result: [SeriesRef]? = nil
        var subtract: [[SeriesRef]] = []
        for m in matchers {
            if m.matches("") {
                // Remove series whose value for m.name does not match.
                guard let r = postingsEntries(for: m.name) else { continue }
                var lists: [[SeriesRef]] = []
                for i in r where !m.matches(valueString(i)) {
                    lists.append(try postingsList(at: postingsListOffset(at: i)))
                }
                subtract.append(mergeUnion(lists))
            } else {
                var lists: [[SeriesRef]] = []
                if m.kind == .equal {
                    lists.append(try postings(name: m.name, value: m.value))
                } else if let r = postingsEntries(for: m.name) {
                    for i in r where m.matches(valueString(i)) {
                        lists.append(try postingsList(at: postingsListOffset(at: i)))
                    }
                }
                let u = mergeUnion(lists)
                result = result.map { intersect($0, u) } ?? u
            }
        }
        var out: [SeriesRef]
        if let result { out = result } else { out = try allPostings() }
        for s in subtract where !s.isEmpty { out = difference(out, s) }
        return out
    }

    func valueString(_ i: Int) -> String {
        String(decoding: UnsafeRawBufferPointer(rebasing: storage.raw[postingsValueRange(at: i)]), as: UTF8.self)
    }
}

func mergeUnion(_ lists: [[SeriesRef]]) -> [SeriesRef] {
    if lists.count == 1 { return lists[0] }
    var all = lists.flatMap { $0 }
    all.sort()
    var out: [SeriesRef] = []
    out.reserveCapacity(all.count)
    for v in all where out.last != v { out.append(v) }
    return out
}

func intersect(_ a: [SeriesRef], _ b: [SeriesRef]) -> [SeriesRef] {
    var i = 0, j = 0
    var out: [SeriesRef] = []
    while i < a.count, j < b.count {
        if a[i] < b[j] { i += 1 } else if a[i] > b[j] { j += 1 } else { out.append(a[i]); i += 1; j += 1 }
    }
    return out
}

func difference(_ a: [SeriesRef], _ b: [SeriesRef]) -> [SeriesRef] {
    var j = 0
    var out: [SeriesRef] = []
    out.reserveCapacity(a.count)
    for v in a {
        while j < b.count, b[j] < v { j += 1 }
        if j < b.count, b[j] == v { continue }
        out.append(v)
    }
    return out
}
