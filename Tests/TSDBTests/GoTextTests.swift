import Testing
@testable import TSDB

/// Expected strings are what Go's fmt.Sprintf("%g") and strconv.Quote produce.
@Suite("Go-compatible text")
struct GoTextTests {
    static let floats: [(Double, String)] = [
        (0, "0"), (-0.0, "-0"), (1, "1"), (-1, "-1"), (0.1, "0.1"), (0.5, "0.5"), (100000, "100000"),
        (999999, "999999"), (1e6, "1e+06"), (1234567, "1.234567e+06"), (123456.7, "123456.7"),
        (1234567.8, "1.2345678e+06"), (0.0001, "0.0001"), (0.00001, "1e-05"), (2.5e-5, "2.5e-05"),
        (1e-7, "1e-07"), (1e21, "1e+21"), (1e100, "1e+100"), (3.14159, "3.14159"), (-273.15, "-273.15"),
        (123456789, "1.23456789e+08"), (1.7976931348623157e308, "1.7976931348623157e+308"),
        (5e-324, "5e-324"), (0.30000000000000004, "0.30000000000000004"), (1.5, "1.5"), (12.25, "12.25"),
        (.nan, "NaN"), (.infinity, "+Inf"), (-.infinity, "-Inf"), (123456789012.5, "1.234567890125e+11"),
    ]

    @Test("%g", arguments: floats)
    func float(v: Double, want: String) {
        var out: [UInt8] = []
        GoText.appendFloat(v, to: &out)
        #expect(String(decoding: out, as: UTF8.self) == want)
    }

    static let quotes: [([UInt8], String)] = [
        (Array("plain".utf8), "\"plain\""),
        (Array("a\"b\\c".utf8), "\"a\\\"b\\\\c\""),
        (Array("line\nnext\ttab\r".utf8), "\"line\\nnext\\ttab\\r\""),
        (Array("héllo 日本".utf8), "\"héllo 日本\""),
        ([0x7f], "\"\\x7f\""),
        ([0x01], "\"\\x01\""),
        ([0xff, 0x41], "\"\\xffA\""),
        (Array("\u{200b}".utf8), "\"\\u200b\""),
        (Array("\u{a0}".utf8), "\"\\u00a0\""),
        (Array("😀".utf8), "\"😀\""),
        ([0xed, 0xa0, 0x80], "\"\\xed\\xa0\\x80\""),  // a UTF-16 surrogate is not valid UTF-8
    ]

    @Test("strconv.Quote", arguments: quotes)
    func quote(bytes: [UInt8], want: String) {
        var out: [UInt8] = []
        bytes.withUnsafeBytes { GoText.appendQuoted($0, to: &out) }
        #expect(String(decoding: out, as: UTF8.self) == want)
    }

    @Test("label sets print like Prometheus 2.x")
    func labels() {
        let l = Labels(["job": "api", "__name__": "up", "path": "/a\"b"])
        #expect(l.description == "{__name__=\"up\", job=\"api\", path=\"/a\\\"b\"}")
    }

    @Test("byte-wise order differs from Swift String order")
    func byteOrder() {
        // "é" (U+00E9, bytes C3 A9) vs "z": Go orders by bytes, so z < é.
        #expect(byteLess("z", "é"))
        // Precomposed vs decomposed e-acute are equal to Swift but not byte-wise.
        #expect("\u{e9}" == "e\u{301}")
        #expect(byteCompare("\u{e9}", "e\u{301}") != 0)
        #expect(Labels.compare(Labels(["a": "1"]), Labels(["a": "1", "b": "2"])) < 0)
    }

    @Test("Go duration strings")
    func durations() {
        #expect(goDuration(millis: 7_200_000) == "2h0m0s")
        #expect(goDuration(millis: 7_199_999) == "1h59m59.999s")
        #expect(goDuration(millis: 0) == "0s")
        #expect(goDuration(millis: 500) == "500ms")
        #expect(goDuration(millis: 61_500) == "1m1.5s")
    }
}
