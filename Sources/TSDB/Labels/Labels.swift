#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One label pair.
public struct Label: Hashable, Sendable {
    public var name: String
    public var value: String
    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

/// A series' label set, sorted by name. Ordering is byte-wise over UTF-8 (Go's string
/// order), never Swift's Unicode `String <`.
public struct Labels: Hashable, Sendable, RandomAccessCollection, Comparable, CustomStringConvertible {
    public private(set) var pairs: [Label]

    public init(_ pairs: [Label]) {
        self.pairs = pairs.sorted { byteLess($0.name, $1.name) }
    }

    public init(_ dict: [String: String]) {
        self.init(dict.map { Label(name: $0.key, value: $0.value) })
    }

    /// For pairs already in name order (as stored in an index).
    public init(sortedUnchecked pairs: [Label]) { self.pairs = pairs }

    public var startIndex: Int { 0 }
    public var endIndex: Int { pairs.count }
    public subscript(i: Int) -> Label { pairs[i] }

    public subscript(name: String) -> String? { pairs.first { $0.name == name }?.value }

    /// Prometheus `labels.Compare`: pairwise by name then value; a strict prefix sorts first.
    public static func < (a: Labels, b: Labels) -> Bool { compare(a, b) < 0 }

    public static func compare(_ a: Labels, _ b: Labels) -> Int {
        let n = Swift.min(a.count, b.count)
        for i in 0..<n {
            let c = byteCompare(a.pairs[i].name, b.pairs[i].name)
            if c != 0 { return c }
            let d = byteCompare(a.pairs[i].value, b.pairs[i].value)
            if d != 0 { return d }
        }
        return a.count - b.count
    }

    /// `{a="1", b="2"}` exactly as Prometheus 2.x prints a label set.
    public var description: String {
        var out: [UInt8] = []
        appendPrometheusText(to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    public func appendPrometheusText(to out: inout [UInt8]) {
        out.append(UInt8(ascii: "{"))
        for (i, l) in pairs.enumerated() {
            if i > 0 { out.append(contentsOf: [UInt8(ascii: ","), UInt8(ascii: " ")]) }
            out.append(contentsOf: l.name.utf8)
            out.append(UInt8(ascii: "="))
            var v = l.value
            v.withUTF8 { GoText.appendQuoted(UnsafeRawBufferPointer($0), to: &out) }
        }
        out.append(UInt8(ascii: "}"))
    }
}

@inlinable
public func byteCompare(_ a: String, _ b: String) -> Int {
    var a = a
    var b = b
    return a.withUTF8 { pa in b.withUTF8 { pb in byteCompare(UnsafeRawBufferPointer(pa), UnsafeRawBufferPointer(pb)) } }
}

@inlinable
public func byteLess(_ a: String, _ b: String) -> Bool { byteCompare(a, b) < 0 }

@inlinable
public func byteCompare(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Int {
    let n = Swift.min(a.count, b.count)
    if n > 0 {
        let c = memcmpBytes(a.baseAddress!, b.baseAddress!, n)
        if c != 0 { return c }
    }
    return a.count - b.count
}

/// libc's memcmp (vectorised), as an Int.
@usableFromInline
func memcmpBytes(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer, _ n: Int) -> Int {
    Int(memcmp(a, b, n))
}
