#!/usr/bin/env python3
"""A scrape target for scripts/make-wal-fixture.sh (Python standard library only).

Serves, on 127.0.0.1 only:
  /om  OpenMetrics text: counters whose `gen` label changes every 20 s (series come and go,
       leaving stale markers), exemplars on them, awkward float values and label text that
       Go must quote (quotes, backslashes, newline, tab, non-ASCII).
  /pb  the delimited protobuf exposition with native histograms: an integer counter histogram
       whose buckets grow over time, a gauge histogram with negative buckets, and a float
       histogram (Prometheus 2.42 ingests these with --enable-feature=native-histograms).
Usage: exporter.py PORT
"""
import http.server
import math
import os
import sys
import time

START = time.time()


def om_escape(v):
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def openmetrics():
    now = time.time()
    age = now - START
    gen = int(now // 20) % 3
    lines = ["# TYPE fixture_churn counter", "# HELP fixture_churn Series that come and go."]
    for shard in range(3):
        value = int(age * (shard + 1))
        lines.append(
            'fixture_churn_total{gen="%d",shard="%d"} %d # {trace_id="t%d-%d"} %d %.3f'
            % (gen, shard, value, gen, int(now), shard + 1, now))
    lines.append("# TYPE fixture_values gauge")
    values = {
        "tiny": "1e-300", "huge": "1.7976931348623157e+308", "negative": "-0.000012345",
        "inf": "+Inf", "ninf": "-Inf", "nan": "NaN", "zero": "-0", "whole": "123456789",
        "million": "1e+06", "fraction": repr(0.1 + age / 7.0), "ramp": repr(age * 1000.5),
    }
    for kind, v in values.items():
        lines.append('fixture_values{kind="%s"} %s' % (kind, v))
    lines.append("# TYPE fixture_text gauge")
    odd = ['quote " backslash \\ end', "newline\nand\ttab", "ünïcødé 日本 ✓", "", "a=b,c"]
    for i, text in enumerate(odd):
        lines.append('fixture_text{n="%d",text="%s"} %d' % (i, om_escape(text), i))
    lines.append("# EOF")
    return ("\n".join(lines) + "\n").encode()


# --- protobuf (io.prometheus.client.MetricFamily, proto2: repeated fields unpacked) ------------
# The wire helpers are the remote-write fixture script's.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "nh"))
from remote_write import f_bytes, f_double, f_varint, key, uvarint as varint, zigzag  # noqa: E402


def f_sint(field, n):
    return key(field, 0) + varint(zigzag(n) & (1 << 64) - 1)


def span(offset, length):
    return f_sint(1, offset) + f_varint(2, length)


def bucket_side(span_field, delta_field, count_field, spans, counts, floats):
    """One side's spans, then its buckets: absolute float counts, or integer deltas."""
    out = b"".join(f_bytes(span_field, span(*sp)) for sp in spans)
    if floats:
        return out + b"".join(f_double(count_field, c) for c in counts)
    prev = 0
    for c in counts:
        out += f_sint(delta_field, c - prev)
        prev = c
    return out


def histogram(schema, zero_threshold, zero_count, total, total_sum, pos_spans, pos, neg_spans=(), neg=(),
              floats=False):
    h = f_double(2, total_sum) + f_sint(5, schema) + f_double(6, zero_threshold)
    if floats:
        h += f_double(4, total) + f_double(8, zero_count)
    else:
        h += f_varint(1, total) + f_varint(7, zero_count)
    return h + bucket_side(9, 10, 11, neg_spans, neg, floats) + bucket_side(12, 13, 14, pos_spans, pos, floats)


def family(name, help_text, mtype, metrics):
    mf = f_bytes(1, name.encode()) + f_bytes(2, help_text.encode()) + f_varint(3, mtype)
    for labels, hist in metrics:
        m = b"".join(f_bytes(1, f_bytes(1, k.encode()) + f_bytes(2, v.encode())) for k, v in labels)
        m += f_bytes(7, hist)
        mf += f_bytes(4, m)
    return varint(len(mf)) + mf


HISTOGRAM, GAUGE_HISTOGRAM = 4, 5


def protobuf():
    age = int(time.time() - START)
    # Counter histogram: buckets 0..k grow; a new bucket appears every 30 s (the head recodes).
    nb = 2 + min(age // 30, 6)
    pos = [age + 3 * i + 1 for i in range(nb)]
    zero = age // 2
    total = sum(pos) + zero
    counter = histogram(3, 0.001, zero, total, age * 1.25 + 0.5, [(0, 2), (1, nb - 2)] if nb > 2 else [(0, 2)], pos)
    # Gauge histogram: goes up and down, negative buckets too.
    wave = int(10 + 8 * math.sin(age / 15.0))
    gpos, gneg = [wave, 20 - wave, 3], [wave // 2 + 1]
    gauge = histogram(0, 0.01, 1, sum(gpos) + sum(gneg) + 1, wave * 0.5 - 2.25, [(-1, 3)], gpos, [(0, 1)], gneg)
    # Float histogram: fractional counts.
    fpos = [age * 0.5 + 0.25, age * 0.125 + 1.5]
    floaty = histogram(1, 0.001, 0.5, sum(fpos) + 0.5, age * 0.1 + 0.01, [(2, 2)], fpos, floats=True)
    return (family("fixture_native_seconds", "A native histogram.", HISTOGRAM, [([("le_kind", "native")], counter)])
            + family("fixture_gauge_native", "A gauge histogram.", GAUGE_HISTOGRAM, [([], gauge)])
            + family("fixture_float_native", "A float histogram.", HISTOGRAM, [([], floaty)]))


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path.startswith("/om"):
            body, ctype = openmetrics(), "application/openmetrics-text; version=1.0.0; charset=utf-8"
        elif self.path.startswith("/pb"):
            body = protobuf()
            ctype = "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
