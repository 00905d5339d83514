import Testing
import TSDB
@testable import BlockOps

/// Relabelling with Prometheus' semantics. The cases are those of Prometheus'
/// `model/relabel/relabel_test.go` (v3), written as YAML configs (the form operators give
/// them in) with the expected label sets.
@Suite("Relabel: Prometheus' relabel cases")
struct RelabelTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var input: [String: String]
        var config: String
        /// nil: the series is dropped.
        var output: [String: String]?
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "replace with a group, twice", input: ["a": "foo", "b": "bar", "c": "baz"], config: """
            - source_labels: [a]
              regex: f(.*)
              target_label: d
              replacement: ch${1}-ch${1}
            """, output: ["a": "foo", "b": "bar", "c": "baz", "d": "choo-choo"]),
        Case(name: "rules see what earlier rules wrote", input: ["a": "foo", "b": "bar", "c": "baz"], config: """
            - source_labels: [a, b]
              regex: f(.*);(.*)r
              target_label: a
              replacement: b${1}${2}m
            - source_labels: [c, a]
              regex: (b).*b(.*)ba(.*)
              target_label: d
              replacement: $1$2$2$3
            """, output: ["a": "boobam", "b": "bar", "c": "baz", "d": "boooom"]),
        Case(name: "a drop ends the walk", input: ["a": "foo"], config: """
            - source_labels: [a]
              regex: .*o.*
              action: drop
            - source_labels: [a]
              regex: f(.*)
              target_label: d
              replacement: ch$1-ch$1
            """, output: nil),
        Case(name: "drop matches", input: ["a": "foo", "b": "bar"], config: """
            - {source_labels: [a], regex: .*o.*, action: drop}
            """, output: nil),
        Case(name: "replace with a group in the middle", input: ["a": "abc"], config: """
            - {source_labels: [a], regex: .*(b).*, target_label: d, replacement: $1}
            """, output: ["a": "abc", "d": "b"]),
        Case(name: "drop without a match keeps", input: ["a": "foo"], config: """
            - {source_labels: [a], regex: no-match, action: drop}
            """, output: ["a": "foo"]),
        Case(name: "the regex is anchored", input: ["a": "foo"], config: """
            - {source_labels: [a], regex: f|o, action: drop}
            """, output: ["a": "foo"]),
        Case(name: "keep without a match drops", input: ["a": "foo"], config: """
            - {source_labels: [a], regex: no-match, action: keep}
            """, output: nil),
        Case(name: "keep with a match", input: ["a": "foo"], config: """
            - {source_labels: [a], regex: f.*, action: keep}
            """, output: ["a": "foo"]),
        Case(name: "no replacement without a match", input: ["a": "boo"], config: """
            - {source_labels: [a], regex: f, target_label: b, replacement: bar}
            """, output: ["a": "boo"]),
        Case(name: "a blank replacement deletes the label", input: ["a": "foo", "f": "baz"], config: """
            - {source_labels: [a], regex: (f).*, target_label: $1, replacement: $2}
            """, output: ["a": "foo"]),
        Case(name: "hashmod", input: ["a": "foo", "b": "bar", "c": "baz"], config: """
            - {source_labels: [c], target_label: d, action: hashmod, modulus: 1000}
            """, output: ["a": "foo", "b": "bar", "c": "baz", "d": "976"]),
        Case(name: "hashmod of a value with a newline", input: ["a": "foo\nbar"], config: """
            - {source_labels: [a], target_label: b, action: hashmod, modulus: 1000}
            """, output: ["a": "foo\nbar", "b": "734"]),
        Case(name: "labelmap", input: ["a": "foo", "b1": "bar", "b2": "baz"], config: """
            - {regex: (b.*), replacement: "bar_${1}", action: labelmap}
            """, output: ["a": "foo", "b1": "bar", "b2": "baz", "bar_b1": "bar", "bar_b2": "baz"]),
        Case(name: "labelmap of meta labels", input: ["a": "foo", "__meta_my_bar": "aaa", "__meta_my_baz": "bbb", "__meta_other": "ccc"], config: """
            - {regex: __meta_(my.*), replacement: "${1}", action: labelmap}
            """, output: ["a": "foo", "__meta_my_bar": "aaa", "__meta_my_baz": "bbb", "__meta_other": "ccc", "my_bar": "aaa", "my_baz": "bbb"]),
        Case(name: "target label from a group", input: ["a": "some-name-value"], config: """
            - {source_labels: [a], regex: "some-([^-]+)-([^,]+)", replacement: "${2}", target_label: "${1}"}
            """, output: ["a": "some-name-value", "name": "value"]),
        Case(name: "a replacement naming a missing group is empty", input: ["a": "some-name-value"], config: """
            - {source_labels: [a], regex: "some-([^-]+)-([^,]+)", replacement: "${3}", target_label: "${1}"}
            """, output: ["a": "some-name-value"]),
        Case(name: "a target naming a missing group is empty, so nothing is set", input: ["a": "some-name-0"], config: """
            - {source_labels: [a], regex: "some-([^-]+)-([^,]+)", replacement: "${1}", target_label: "${3}"}
            - {source_labels: [a], regex: "some-([^-]+)-([^,]+)", replacement: "${1}", target_label: "${3}"}
            - {source_labels: [a], regex: "some-([^-]+)(-[^,]+)", replacement: "${1}", target_label: "${3}"}
            """, output: ["a": "some-name-0"]),
        Case(name: "service discovery tags", input: ["__meta_sd_tags": "path:/secret,job:some-job,label:foo=bar"], config: """
            - {source_labels: [__meta_sd_tags], regex: "(?:.+,|^)path:(/[^,]+).*", replacement: "${1}", target_label: __metrics_path__}
            - {source_labels: [__meta_sd_tags], regex: "(?:.+,|^)job:([^,]+).*", replacement: "${1}", target_label: job}
            - {source_labels: [__meta_sd_tags], regex: "(?:.+,|^)label:([^=]+)=([^,]+).*", replacement: "${2}", target_label: "${1}"}
            """, output: ["__meta_sd_tags": "path:/secret,job:some-job,label:foo=bar", "__metrics_path__": "/secret", "job": "some-job", "foo": "bar"]),
        Case(name: "Prometheus issue 12283: a label dropped then set again", input: [
            "__meta_kubernetes_pod_container_port_name": "foo", "__meta_kubernetes_pod_annotation_XXX_metrics_port": "9091",
        ], config: """
            - {regex: ^__meta_kubernetes_pod_container_port_name$, action: labeldrop}
            - {source_labels: [__meta_kubernetes_pod_annotation_XXX_metrics_port], regex: (.+), replacement: metrics, target_label: __meta_kubernetes_pod_container_port_name}
            - {source_labels: [__meta_kubernetes_pod_container_port_name], regex: ^metrics$, action: keep}
            """, output: ["__meta_kubernetes_pod_annotation_XXX_metrics_port": "9091", "__meta_kubernetes_pod_container_port_name": "metrics"]),
        Case(name: "labelkeep", input: ["a": "foo", "b1": "bar", "b2": "baz"], config: """
            - {regex: (b.*), action: labelkeep}
            """, output: ["b1": "bar", "b2": "baz"]),
        Case(name: "labeldrop", input: ["a": "foo", "b1": "bar", "b2": "baz"], config: """
            - {regex: (b.*), action: labeldrop}
            """, output: ["a": "foo"]),
        Case(name: "uppercase and lowercase", input: ["foo": "bAr123Foo"], config: """
            - {source_labels: [foo], action: uppercase, target_label: foo_uppercase}
            - {source_labels: [foo], action: lowercase, target_label: foo_lowercase}
            """, output: ["foo": "bAr123Foo", "foo_lowercase": "bar123foo", "foo_uppercase": "BAR123FOO"]),
        Case(name: "keepequal keeps", input: ["__tmp_port": "1234", "__port1": "1234", "__port2": "5678"], config: """
            - {source_labels: [__tmp_port], action: keepequal, target_label: __port1}
            """, output: ["__tmp_port": "1234", "__port1": "1234", "__port2": "5678"]),
        Case(name: "dropequal drops", input: ["__tmp_port": "1234", "__port1": "1234", "__port2": "5678"], config: """
            - {source_labels: [__tmp_port], action: dropequal, target_label: __port1}
            """, output: nil),
        Case(name: "dropequal keeps", input: ["__tmp_port": "1234", "__port1": "1234", "__port2": "5678"], config: """
            - {source_labels: [__tmp_port], action: dropequal, target_label: __port2}
            """, output: ["__tmp_port": "1234", "__port1": "1234", "__port2": "5678"]),
        Case(name: "keepequal drops", input: ["__tmp_port": "1234", "__port1": "1234", "__port2": "5678"], config: """
            - {source_labels: [__tmp_port], action: keepequal, target_label: __port2}
            """, output: nil),
        Case(name: "dot matches a newline", input: ["a": "line1\nline2", "b": "bar", "c": "baz"], config: """
            - {source_labels: [a], regex: line1.*line2, target_label: d, replacement: "match${1}"}
            """, output: ["a": "line1\nline2", "b": "bar", "c": "baz", "d": "match"]),
        Case(name: "UTF-8 source label", input: ["utf-8.label": "line1\nline2", "b": "bar", "c": "baz"], config: """
            - {source_labels: [utf-8.label], regex: line1.*line2, target_label: d, replacement: "match${1}"}
            """, output: ["utf-8.label": "line1\nline2", "b": "bar", "c": "baz", "d": "match"]),
        Case(name: "UTF-8 target label", input: ["a": "line1\nline2", "b": "bar", "c": "baz"], config: """
            - {source_labels: [a], regex: line1.*line2, target_label: utf-8.label, replacement: "match${1}"}
            """, output: ["a": "line1\nline2", "b": "bar", "c": "baz", "utf-8.label": "match"]),
        Case(name: "UTF-8 target label with a variable", input: ["a": "line1\nline2", "b": "bar", "c": "baz"], config: """
            - {source_labels: [a], regex: line1.*line2, target_label: "utf-8.label${1}", replacement: "match${1}"}
            """, output: ["a": "line1\nline2", "b": "bar", "c": "baz", "utf-8.label": "match"]),
        Case(name: "named groups, braced and bare", input: ["a": "line1\nline2", "b": "bar", "c": "baz"], config: """
            - {source_labels: [a], regex: (line1).*(?<second>line2), target_label: "label1_${1}", replacement: "val_${second}"}
            - {source_labels: [a], regex: (line1).*(?<second>line2), target_label: label2_$1, replacement: val_$second}
            """, output: ["a": "line1\nline2", "b": "bar", "c": "baz", "label1_line1": "val_line2", "label2_line1": "val_line2"]),
        Case(name: "type from the metric name", input: ["__name__": "http_requests_total"], config: """
            - {source_labels: [__name__], regex: .*_total$, target_label: __type__, replacement: counter}
            """, output: ["__name__": "http_requests_total", "__type__": "counter"]),
        Case(name: "unit from the metric name", input: ["__name__": "disk_usage_bytes"], config: """
            - {source_labels: [__name__], regex: .*_bytes$, target_label: __unit__, replacement: bytes}
            """, output: ["__name__": "disk_usage_bytes", "__unit__": "bytes"]),
        // Beyond Prometheus' table: what operators do with rewrite, and Go's edge cases.
        Case(name: "a leaked label removed", input: ["__name__": "http_requests_total", "job": "api", "session_id": "f00"], config: """
            - {regex: session_id, action: labeldrop}
            """, output: ["__name__": "http_requests_total", "job": "api"]),
        Case(name: "a static label added with the defaults (regex (.*), no source labels)", input: ["a": "b"], config: """
            - {target_label: cluster, replacement: eu-1}
            """, output: ["a": "b", "cluster": "eu-1"]),
        Case(name: "$1x names group 1x, which does not exist (Go's rule)", input: ["a": "v"], config: """
            - {source_labels: [a], regex: (v), target_label: t, replacement: "$1x-${1}x"}
            """, output: ["a": "v", "t": "-vx"]),
        Case(name: "$$ is a dollar, a dangling $ stays", input: ["a": "v"], config: """
            - {source_labels: [a], regex: (v), target_label: t, replacement: "$$1 costs $"}
            """, output: ["a": "v", "t": "$1 costs $"]),
        Case(name: "Python-style named group", input: ["a": "x-7"], config: """
            - {source_labels: [a], regex: "x-(?P<n>\\\\d)", target_label: n, replacement: $n}
            """, output: ["a": "x-7", "n": "7"]),
        Case(name: "labelmap: input labels first, then added ones, so the added one wins a target", input: ["b_x": "1", "c_x": "2"], config: """
            - {source_labels: [b_x], target_label: a_x, replacement: "3"}
            - {regex: "(?:a|c)_(x)", replacement: $1, action: labelmap}
            """, output: ["b_x": "1", "c_x": "2", "a_x": "3", "x": "3"]),
        Case(name: "an explicit empty regex matches only the empty string", input: ["a": "v"], config: """
            - source_labels: [a]
              regex:
              target_label: t
              replacement: set
            """, output: ["a": "v"]),
    ]

    static func labels(_ d: [String: String]) -> Labels { Labels(d) }

    @Test("relabel", arguments: cases)
    func relabel(_ c: Case) throws {
        let configs = try RewriteConfig.relabelConfigs(yaml: c.config, origin: "test")
        let got = Relabel.process(Self.labels(c.input), configs)
        #expect(got == c.output.map(Self.labels), "\(c.name): got \(got.map(\.description) ?? "dropped")")
    }

    struct Invalid: Sendable, CustomTestStringConvertible {
        var config: String
        var error: String
        var testDescription: String { error }
    }

    static let invalid: [Invalid] = [
        Invalid(config: "- {action: \"\"}", error: "relabel action cannot be empty"),
        Invalid(config: "- {action: replace}", error: "requires 'target_label' value"),
        Invalid(config: "- {action: lowercase}", error: "requires 'target_label' value"),
        Invalid(config: "- {action: hashmod, target_label: t}", error: "requires non-zero modulus"),
        Invalid(config: "- {action: uppercase, target_label: t, replacement: x}", error: "'replacement' can not be set for uppercase action"),
        Invalid(config: "- {action: keepequal, target_label: t, regex: (.*)}", error: "keepequal action requires only 'source_labels' and `target_label`"),
        Invalid(config: "- {action: labeldrop, regex: a, source_labels: []}", error: "labeldrop action requires only 'regex'"),
        Invalid(config: "- {action: labelkeep, regex: a, target_label: t}", error: "labelkeep action requires only 'regex'"),
        Invalid(config: "- {action: labelmap, regex: a, replacement: \"\"}", error: "is invalid 'replacement' for labelmap action"),
        Invalid(config: "- {action: explode}", error: "test[0].action: unknown relabel action \"explode\""),
        Invalid(config: "- {target_lable: t, replacement: x}", error: "test[0].target_lable: unknown field"),
        Invalid(config: "- {regex: \"(\", target_label: t}", error: "test[0].regex: invalid regex"),
        Invalid(config: "- {modulus: many, action: hashmod, target_label: t}", error: "test[0].modulus: want a whole number"),
        Invalid(config: "a: b", error: "test: want a list"),
        Invalid(config: "- [1, 2]", error: "test[0]: want a mapping of fields"),
        Invalid(config: "- {source_labels: a, target_label: t}", error: "test[0].source_labels: want a list of label names"),
        Invalid(config: "- {action: drop, action: keep}", error: "duplicated key"),
    ]

    @Test("configs Prometheus refuses are refused, naming the rule and field", arguments: invalid)
    func refused(_ c: Invalid) {
        #expect {
            _ = try RewriteConfig.relabelConfigs(yaml: c.config, origin: "test")
        } throws: { e in
            "\(e)".contains(c.error)
        }
    }

    @Test("the action is case-insensitive, and an absent list is no rules")
    func parsing() throws {
        let c = try RewriteConfig.relabelConfigs(yaml: "- {action: LabelDrop, regex: x}", origin: "t")
        #expect(c.first?.action == .labeldrop)
        #expect(try RewriteConfig.relabelConfigs(yaml: "", origin: "t").isEmpty)
        #expect(try RewriteConfig.relabelConfigs(yaml: "# nothing\n", origin: "t").isEmpty)
    }

    @Test("Go's regexp semantics: runes not graphemes, ASCII classes, leftmost-first alternation")
    func regexSemantics() throws {
        // One combining accent after e: two runes for Go (and here), one Character for Swift.
        #expect(try RelabelRegex("e.").matches("e\u{301}"))
        #expect(try !RelabelRegex(".").matches("e\u{301}"))
        // \d and \w are ASCII in RE2.
        #expect(try !RelabelRegex("\\d").matches("٣"))
        #expect(try RelabelRegex("\\d").matches("3"))
        #expect(try !RelabelRegex("\\w+").matches("héllo"))
        // The pattern is anchored but an alternation is grouped first.
        #expect(try RelabelRegex("a|ab").matches("ab"))
        #expect(try RelabelRegex("a|ab").match("ab")?.numbered.first == "ab")
        // Case-insensitive flag.
        #expect(try RelabelRegex("(?i)foo").matches("FoO"))
        // A literal is compared byte for byte (no canonical equivalence).
        #expect(try !RelabelRegex("é").matches("e\u{301}"))
    }

    @Test("case mapping is Go's: one scalar at a time")
    func caseMapping() {
        #expect(Relabel.goCase("straße", upper: true) == "STRAßE")
        #expect(Relabel.goCase("İSTANBUL", upper: false) == "istanbul")
        #expect(Relabel.goCase("ΣΑΣ", upper: false) == "σασ")
    }

    @Test("the JSON Thanos records in thanos.rewrites[].relabels_applied")
    func json() throws {
        let c = try RewriteConfig.relabelConfigs(yaml: """
            - {regex: session_id, action: labeldrop}
            - {source_labels: [a, b], separator: "-", target_label: t, action: hashmod, modulus: 8}
            - {target_label: "x<y", replacement: "a&b"}
            """, origin: "t")
        #expect(c.map { $0.json.serialized(indent: nil) } == [
            #"{"separator":";","regex":"session_id","replacement":"$1","action":"labeldrop"}"#,
            #"{"source_labels":["a","b"],"separator":"-","regex":"(.*)","modulus":8,"target_label":"t","replacement":"$1","action":"hashmod"}"#,
            #"{"separator":";","regex":"(.*)","target_label":"x\u003cy","replacement":"a\u0026b","action":"replace"}"#,
        ])
    }
}

@Suite("Rewrite: deletion requests")
struct DeletionRequestTests {
    @Test("Thanos' matching: every matcher must match a label the series has")
    func matching() throws {
        let d = try RewriteConfig.deletionRequests(yaml: """
            - matchers: '{tenant="b", job!="x"}'
              intervals: [{mint: 10, maxt: 20}, {mint: 21, maxt: 30}, {mint: 100, maxt: 200}]
              request_id: purge-b
            - matchers: 'up'
            """, origin: "t")
        #expect(d.count == 2)
        #expect(d[0].matches(Labels(["tenant": "b", "job": "y"])))
        #expect(!d[0].matches(Labels(["tenant": "b"])), "a != matcher on an absent label does not match in Thanos")
        #expect(!d[0].matches(Labels(["tenant": "a", "job": "y"])))
        let spec = RewriteSpec(deletions: d)
        #expect(spec.deleted(Labels(["tenant": "b", "job": "y"])) == [10...30, 100...200], "adjacent intervals merge")
        #expect(spec.deleted(Labels(["__name__": "up", "tenant": "b", "job": "y"])) == [Int64.min...Int64.max])
        #expect(spec.deleted(Labels(["__name__": "down"])) == [])
        #expect(d[0].json.serialized(indent: nil)
            == #"{"matchers":[{"Type":0,"Name":"tenant","Value":"b"},{"Type":1,"Name":"job","Value":"x"}],"intervals":[{"Mint":10,"Maxt":20},{"Mint":21,"Maxt":30},{"Mint":100,"Maxt":200}],"request_id":"purge-b"}"#)
    }

    @Test("bad deletion configs are refused naming the field", arguments: [
        ("- {intervals: [{mint: 1, maxt: 2}]}", "t[0].matchers: a series selector is required"),
        ("- {matchers: '{a=~\"(\"}'}", "t[0].matchers"),
        ("- {matchers: up, intervals: [{mint: 5, maxt: 1}]}", "t[0].intervals[0]: mint 5 is after maxt 1"),
        ("- {matchers: up, intervals: [{mint: 1.5, maxt: 2}]}", "t[0].intervals[0].mint: want milliseconds"),
        ("- {matchers: up, intervals: [{start: 1}]}", "t[0].intervals[0].start: unknown field"),
        ("- {matcher: up}", "t[0].matcher: unknown field"),
    ])
    func refused(_ yaml: String, _ error: String) {
        #expect {
            _ = try RewriteConfig.deletionRequests(yaml: yaml, origin: "t")
        } throws: { e in
            "\(e)".contains(error)
        }
    }
}
