#!/usr/bin/env python3
"""Sends a fixed set of native histograms to a local Prometheus via remote write and
records what was sent.

Standard library only: the protobuf WriteRequest (prompb, Prometheus 2.42 schema) and a
literal-only snappy block are encoded by hand.

Usage: remote_write.py --url http://127.0.0.1:PORT --expected OUT.json [--api-out API.json]
"""

import argparse
import json
import struct
import sys
import time
import urllib.parse
import urllib.request

STALE_NAN_BITS = 0x7FF0000000000002


# ---------------------------------------------------------------- protobuf encoding

def uvarint(n):
    assert n >= 0
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def zigzag(n):
    return (n << 1) ^ (n >> 63)


def int64_varint(n):
    return uvarint(n & 0xFFFFFFFFFFFFFFFF)


def key(field, wire):
    return uvarint(field << 3 | wire)


def f_varint(field, n):
    return key(field, 0) + uvarint(n)


def f_double(field, x):
    return key(field, 1) + struct.pack("<d", x)


def f_double_bits(field, bits):
    return key(field, 1) + struct.pack("<Q", bits)


def f_bytes(field, data):
    return key(field, 2) + uvarint(len(data)) + data


def f_packed_sint64(field, values):
    if not values:
        return b""
    return f_bytes(field, b"".join(uvarint(zigzag(v) & 0xFFFFFFFFFFFFFFFF) for v in values))


def f_packed_double(field, values):
    if not values:
        return b""
    return f_bytes(field, b"".join(struct.pack("<d", v) for v in values))


RESET_HINT = {"unknown": 0, "counterReset": 1, "notCounterReset": 2, "gauge": 3}


def encode_span(offset, length):
    return f_varint(1, zigzag(offset) & 0xFFFFFFFF) + f_varint(2, length)


def encode_histogram(h):
    """prompb.Histogram. `h` is one sample dict of the expected.json format."""
    out = bytearray()
    is_float = h["kind"] == "float"
    if is_float:
        out += f_double(2, h["count"])
    else:
        out += f_varint(1, h["count"])
    if h.get("stale"):
        out += f_double_bits(3, STALE_NAN_BITS)
    else:
        out += f_double(3, h["sum"])
    out += f_varint(4, zigzag(h["schema"]) & 0xFFFFFFFF)
    out += f_double(5, h["zero_threshold"])
    if is_float:
        out += f_double(7, h["zero_count"])
    else:
        out += f_varint(6, h["zero_count"])
    for o, l in h["negative_spans"]:
        out += f_bytes(8, encode_span(o, l))
    if is_float:
        out += f_packed_double(10, h["negative_buckets"])
    else:
        out += f_packed_sint64(9, h["negative_buckets"])
    for o, l in h["positive_spans"]:
        out += f_bytes(11, encode_span(o, l))
    if is_float:
        out += f_packed_double(13, h["positive_buckets"])
    else:
        out += f_packed_sint64(12, h["positive_buckets"])
    out += f_varint(14, RESET_HINT[h["sent_hint"]])
    out += key(15, 0) + int64_varint(h["t"])
    return bytes(out)


def encode_write_request(series):
    out = bytearray()
    for s in series:
        ts = bytearray()
        for name in sorted(s["labels"]):
            ts += f_bytes(1, f_bytes(1, name.encode()) + f_bytes(2, s["labels"][name].encode()))
        for h in s["samples"]:
            ts += f_bytes(4, encode_histogram(h))
        out += f_bytes(1, bytes(ts))
    return bytes(out)


# ---------------------------------------------------------------- snappy (literals only)

def snappy_block(data):
    out = bytearray(uvarint(len(data)))
    pos = 0
    while pos < len(data):
        chunk = data[pos:pos + 65536]
        n = len(chunk) - 1
        if n < 60:
            out.append(n << 2)
        elif n < 256:
            out += bytes([60 << 2, n])
        else:
            out += bytes([61 << 2]) + struct.pack("<H", n)
        out += chunk
        pos += len(chunk)
    return bytes(out)


# ---------------------------------------------------------------- the data set

def deltas(counts):
    out, prev = [], 0
    for c in counts:
        out.append(c - prev)
        prev = c
    return out


def int_sample(t, schema, zt, zc, pspans, pcounts, nspans=(), ncounts=(), hint="unknown", sum_=None):
    count = zc + sum(pcounts) + sum(ncounts)
    return {
        "kind": "int", "t": t, "schema": schema, "zero_threshold": zt, "zero_count": zc,
        "count": count, "sum": sum_ if sum_ is not None else round(count * 1.25 + 0.5, 6),
        "positive_spans": [list(s) for s in pspans], "negative_spans": [list(s) for s in nspans],
        "positive_buckets": deltas(list(pcounts)), "negative_buckets": deltas(list(ncounts)),
        "sent_hint": hint, "stale": False,
    }


def stale_sample(t, kind="int"):
    return {
        "kind": kind, "t": t, "schema": 0, "zero_threshold": 0.0, "zero_count": 0, "count": 0,
        "sum": None, "positive_spans": [], "negative_spans": [], "positive_buckets": [],
        "negative_buckets": [], "sent_hint": "unknown", "stale": True,
    }


def build_series(base):
    step = 15000
    default_zt = 2.0 ** -128
    series = []

    def add(name, samples, **extra):
        s = {"labels": {"__name__": name, "fixture": "native-histograms"}, "samples": samples}
        s.update(extra)
        series.append(s)

    # Every series gets its own millisecond offset so that timestamps are unique across
    # the whole fixture: a decoded sample maps to exactly one sent sample.
    # 1. Plain counter histogram, schema 0, two positive spans, default zero threshold.
    t0 = base + 1
    add("nh_basic", [
        int_sample(t0 + i * step, 0, default_zt, 0, [(0, 3), (2, 2)],
                   [i + 1, 2 * i + 1, 3 * i, i // 2, 5 * i + 3])
        for i in range(40)])

    # 2. Negative and positive buckets, schema 1, a non power-of-two zero threshold.
    t0 = base + 2
    add("nh_negative", [
        int_sample(t0 + i * step, 1, 0.001, i // 3, [(-1, 2), (3, 1)], [i, 2 * i + 1, 7],
                   nspans=[(0, 3)], ncounts=[3 * i + 2, i, 1 + i // 4])
        for i in range(36)])

    # 3. Zero bucket heavy, schema -2, zero threshold 0.5, occasional empty positive buckets.
    t0 = base + 3
    add("nh_zero", [
        int_sample(t0 + i * step, -2, 0.5, 10 * i + 5, [(0, 2)], [i, 0])
        for i in range(30)])

    # 4. Counter resets: counts drop at samples 18 and 36. Prometheus 2.42 re-encodes the
    # *open* head chunk when snapshotting and loses its counter-reset header there (the type
    # assertion on the wrapped head chunk fails), so the second reset closes the chunk that
    # starts at the first one and keeps its CounterReset header intact in the block.
    t0 = base + 4
    samples = []
    for i in range(40):
        k = i if i < 18 else (i - 18 if i < 36 else i - 36)
        samples.append(int_sample(t0 + i * step, 0, default_zt, k, [(1, 3)], [k + 1, 2 * k, k // 2 + 1]))
    add("nh_reset", samples, reset_at=t0 + 18 * step)

    # 5. Gauge histogram: counts go up and down. Prometheus 2.42 cannot snapshot an *open*
    # gauge head chunk (its re-encoder applies counter-reset checks and fails with "detected
    # unexpected counter reset"), so a final staleness marker (hint unknown) closes the gauge
    # chunk; closed head chunks are copied into the block unchanged.
    t0 = base + 5
    samples = [
        int_sample(t0 + i * step, 2, default_zt, (i * 7) % 5, [(-3, 4)],
                   [(i * 3) % 7, (i * 5) % 11, 4, (i * 13) % 6], nspans=[(2, 1)], ncounts=[(i * 2) % 3],
                   hint="gauge", sum_=float((i * 37) % 23) - 11.5)
        for i in range(32)]
    samples.append(stale_sample(t0 + 32 * step))
    add("nh_gauge", samples)

    # 6. Schema change: schema 3 for 16 samples, then schema 2.
    t0 = base + 6
    samples = []
    for i in range(32):
        if i < 16:
            samples.append(int_sample(t0 + i * step, 3, default_zt, 0, [(4, 4)], [i, i + 1, 2 * i, 3]))
        else:
            samples.append(int_sample(t0 + i * step, 2, default_zt, 0, [(2, 2)], [4 * i, 3 * i + 3]))
    add("nh_schema_change", samples, schema_change_at=t0 + 16 * step)

    # 7. Ends with a staleness marker.
    t0 = base + 7
    samples = [int_sample(t0 + i * step, 0, default_zt, 1, [(0, 2)], [i, i + 2]) for i in range(12)]
    samples.append(stale_sample(t0 + 12 * step))
    add("nh_stale", samples)

    # 8. Float histograms (encoding 3 chunks).
    t0 = base + 8
    samples = []
    for i in range(24):
        pc = [0.5 * i + 0.25, 1.5 * i, 3.0]
        nc = [0.125 * i, 2.75]
        zc = 0.25 * (i // 3)
        samples.append({
            "kind": "float", "t": t0 + i * step, "schema": 0, "zero_threshold": default_zt,
            "zero_count": zc, "count": zc + sum(pc) + sum(nc), "sum": 1.1 * i - 3.3,
            "positive_spans": [[0, 2], [1, 1]], "negative_spans": [[-2, 2]],
            "positive_buckets": pc, "negative_buckets": nc, "sent_hint": "unknown", "stale": False,
        })
    add("nh_float", samples)
    return series


# ---------------------------------------------------------------- main

def post(url, body, headers):
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.status, resp.read()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--expected", required=True)
    ap.add_argument("--api-out")
    ap.add_argument("--base", type=int, help="first timestamp (ms); default: start of the previous 2h window + 1m")
    ap.add_argument("--only", help="comma-separated metric names to send (debugging)")
    args = ap.parse_args()

    base = args.base
    if base is None:
        now = int(time.time() * 1000)
        base = (now // 7_200_000) * 7_200_000 - 7_200_000 + 60_000
    series = build_series(base)
    if args.only:
        keep = set(args.only.split(","))
        series = [s for s in series if s["labels"]["__name__"] in keep]

    body = snappy_block(encode_write_request(series))
    status, text = post(args.url + "/api/v1/write", body, {
        "Content-Type": "application/x-protobuf",
        "Content-Encoding": "snappy",
        "X-Prometheus-Remote-Write-Version": "0.1.0",
        "User-Agent": "blockyard-fixture/1",
    })
    if status // 100 != 2:
        sys.exit(f"remote write failed: {status} {text!r}")

    # What Prometheus itself reports for the data (its Go bucket bounds), for cross-checks.
    if args.api_out:
        last = max(h["t"] for s in series for h in s["samples"])
        results = {}
        for s in series:
            name = s["labels"]["__name__"]
            q = urllib.parse.urlencode({"query": f"{name}[4h]", "time": f"{(last + 1) / 1000:.3f}"})
            with urllib.request.urlopen(args.url + "/api/v1/query?" + q, timeout=10) as resp:
                data = json.load(resp)
            if data.get("status") != "success":
                sys.exit(f"query {name} failed: {data}")
            results[name] = data["data"]["result"]
        with open(args.api_out, "w") as f:
            # One series per line: [labels, [[t_seconds, histogram], ...]].
            f.write("{\n")
            items = sorted(results.items())
            for n, (name, result) in enumerate(items):
                f.write(json.dumps(name) + ": " + json.dumps(result, separators=(",", ":"), sort_keys=True))
                f.write(",\n" if n + 1 < len(items) else "\n")
            f.write("}\n")

    with open(args.expected, "w") as f:
        # Compact, one sample per line.
        f.write('{"base": %d, "series": [\n' % base)
        for i, s in enumerate(series):
            head = {k: v for k, v in s.items() if k != "samples"}
            f.write(json.dumps(head, sort_keys=True)[:-1] + ', "samples": [\n')
            for j, h in enumerate(s["samples"]):
                f.write("  " + json.dumps(h, sort_keys=True, separators=(",", ":")))
                f.write(",\n" if j + 1 < len(s["samples"]) else "\n")
            f.write("]}" + (",\n" if i + 1 < len(series) else "\n"))
        f.write("]}\n")


if __name__ == "__main__":
    main()
