/// One line of `promtool tsdb dump` output, `{labels} value timestamp\n`: the series part
/// is written once per series (`appendPrefix`), the rest per sample. Shared by the block
/// dump (BlockOps `Dumper`) and the head dump, so both print exactly what promtool prints.
public enum DumpLine {
    /// `{name="value", ...} ` (Prometheus 2.x label text, values Go-quoted, then a space).
    public static func appendPrefix(_ labels: Labels, to out: inout [UInt8]) {
        labels.appendPrometheusText(to: &out)
        out.append(UInt8(ascii: " "))
    }

    /// A float sample: the value as Go's `%g`.
    @inlinable
    public static func appendFloat(prefix: [UInt8], _ v: Double, _ t: Int64, to out: inout [UInt8]) {
        out.append(contentsOf: prefix)
        GoText.appendFloat(v, to: &out)
        appendTimestamp(t, to: &out)
    }

    /// A sample printed as text (a histogram's `{count:..., sum:..., ...}`).
    public static func appendText(prefix: [UInt8], _ text: String, _ t: Int64, to out: inout [UInt8]) {
        out.append(contentsOf: prefix)
        out.append(contentsOf: text.utf8)
        appendTimestamp(t, to: &out)
    }

    /// ` timestamp\n`.
    @inlinable
    public static func appendTimestamp(_ t: Int64, to out: inout [UInt8]) {
        out.append(UInt8(ascii: " "))
        GoText.appendInt(t, to: &out)
        out.append(UInt8(ascii: "\n"))
    }
}
